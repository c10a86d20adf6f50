"""The VOT toolkit's in-process Python protocol: ``run_vot`` drives the whole tracking loop.

The VOT toolkit starts your tracker script once per sequence and talks to it through TraX; the
script uses the ``vot.py`` integration module of the toolkit's Python integration examples
(https://github.com/votchallenge/integration; put it on the Python path, e.g. next to the
script; it needs ``pip install vot-trax``). With ``run_vot`` the script is:

>>> from alpha_refine import Refiner  # doctest: +SKIP
>>> from alpha_refine.trackers import create_tracker, run_vot  # doctest: +SKIP
>>> refiner = Refiner.from_pretrained()  # doctest: +SKIP
>>> run_vot(create_tracker("csrt"), refiner, region_format="mask")  # doctest: +SKIP

and the toolkit's ``trackers.ini`` runs it with ``protocol = traxpython``. Single-object
sequences only (``multiobject`` VOT experiments are not supported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine._inputs import check_choice
from alpha_refine.geometry import threshold_mask
from alpha_refine.refiner import Refiner
from alpha_refine.trackers.base import Box, Tracker, as_box, clip_box_to_frame, is_valid_box
from alpha_refine.trackers.refined import Feedback, RefinedTracker

RegionFormat = Literal["rectangle", "mask"]
REGION_FORMATS: tuple[str, ...] = ("rectangle", "mask")
VOT_MISSING = (
    "run_vot needs the VOT toolkit's vot.py integration module on the Python path (copy it "
    "next to your tracker script) and TraX (pip install vot-trax); see docs/integrations/vot.md"
)


def _import_vot() -> Any:
    try:
        import vot
    except ImportError as error:
        raise ImportError(VOT_MISSING) from error
    if not hasattr(vot, "VOT"):
        raise ImportError(
            f"the module 'vot' found at {getattr(vot, '__file__', '?')} has no VOT class (is it "
            f"the vot-toolkit package instead of its integration file vot.py?). {VOT_MISSING}"
        )
    return vot


def read_vot_frame(path: Any) -> NDArray[np.uint8]:
    """The BGR ``uint8`` ``H x W x 3`` frame at ``path`` (what ``handle.frame()`` returned; for
    multi-channel sequences a list of paths, of which the first, the colour image, is read)."""
    if isinstance(path, list | tuple):
        if not path:
            raise ValueError("the VOT client sent an empty list of image paths")
        path = path[0]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read the frame the VOT client sent: {path}")
    return np.asarray(image, dtype=np.uint8)


def vot_region_to_box(region: Any, frame_shape: tuple[int, ...]) -> Box:
    """The ``x, y, w, h`` pixel box of a VOT region on a frame of ``frame_shape``.

    Args:
        region: a ``vot.Rectangle`` (``x, y, width, height``), a ``vot.Polygon`` (its bounding
            box), or a mask array (``handle.region()`` in ``"mask"`` format; its tight bounding
            box, the mask may be smaller than the frame).
        frame_shape: ``(H, W, ...)`` of the first frame, to which masks are cut.
    """
    if isinstance(region, np.ndarray):
        mask = vot_mask_to_frame(region, frame_shape)
        rows, cols = np.nonzero(mask)
        if not len(rows):
            raise ValueError("the initial VOT mask is empty: no target to track")
        return np.array(
            [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1],
            dtype=np.float64,
        )
    if all(hasattr(region, a) for a in ("x", "y", "width", "height")):
        box = as_box([region.x, region.y, region.width, region.height])
    elif hasattr(region, "points"):
        points = np.asarray([[p.x, p.y] for p in region.points], dtype=np.float64)
        low, high = points.min(axis=0), points.max(axis=0)
        box = np.array([low[0], low[1], high[0] - low[0], high[1] - low[1]])
    else:
        raise TypeError(
            f"region must be a vot Rectangle, Polygon or a mask array, got {type(region).__name__}"
        )
    if not is_valid_box(box):
        raise ValueError(f"the initial VOT region {box.tolist()} has no area")
    return box


def vot_mask_to_frame(mask: NDArray[Any], frame_shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """A VOT mask (anchored at the frame's top-left corner, possibly smaller or larger than the
    frame) padded or cut to ``H x W`` booleans."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    source = np.asarray(mask) != 0
    if source.ndim != 2:
        raise ValueError(f"a VOT mask must be 2-D, got shape {source.shape}")
    full = np.zeros((height, width), dtype=bool)
    h, w = min(height, source.shape[0]), min(width, source.shape[1])
    full[:h, :w] = source[:h, :w]
    return full


def box_to_vot_mask(box: Box, frame_shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """The ``H x W`` ``uint8`` (0/1) mask of the pixels inside ``box`` (rounded corners)."""
    height, width = int(frame_shape[0]), int(frame_shape[1])
    mask = np.zeros((height, width), dtype=np.uint8)
    if not is_valid_box(box):
        return mask
    x, y, w, h = clip_box_to_frame(box, frame_shape)
    x1, y1 = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    x2, y2 = max(int(np.floor(x + w + 0.5)), x1 + 1), max(int(np.floor(y + h + 0.5)), y1 + 1)
    mask[y1:y2, x1:x2] = 1
    return mask


def run_vot(
    tracker: Tracker | Callable[[], Tracker],
    refiner: Refiner | None = None,
    region_format: RegionFormat = "rectangle",
    *,
    feedback: Feedback = "auto",
    mask_threshold: float = 0.65,
) -> int:
    """Track one VOT sequence through the toolkit's ``vot`` integration module.

    Creates ``handle = vot.VOT(region_format)``, starts the tracker on ``handle.region()`` and
    the first ``handle.frame()``, then for every further frame path reports the (refined) region
    with ``handle.report(region, confidence)`` until ``handle.frame()`` returns nothing. Frames
    are read with OpenCV (BGR ``uint8``), as the package's trackers want them.

    Args:
        tracker: the base tracker (:class:`~alpha_refine.trackers.Tracker`), or a function
            without arguments that builds it (called after the handshake with the toolkit;
            build heavy trackers before calling ``run_vot`` if the handshake times out).
        refiner: refines every box with :class:`~alpha_refine.trackers.RefinedTracker`;
            ``None`` reports the base tracker's boxes (the baseline).
        region_format: ``"rectangle"`` reports ``vot.Rectangle(x, y, width, height)``;
            ``"mask"`` reports an ``H x W`` ``uint8`` (0/1) mask: Alpha-Refine's mask above
            ``mask_threshold`` when the refiner has a mask head, else (or when that mask is
            empty, or on frames with no refined box) the filled box.
        feedback: ``RefinedTracker``'s feedback mode.
        mask_threshold: probability above which a pixel is in the reported mask (0.65, as the
            published VOT2020 entries).

    Returns:
        The number of frames tracked after the first.

    The confidence reported is the base tracker's ``last_score`` when it has one (the pysot
    and pytracking adapters do), else ``None`` (no confidence).
    """
    check_choice("region_format", region_format, REGION_FORMATS)
    if not 0.0 <= mask_threshold <= 1.0:
        raise ValueError(f"mask_threshold must be in [0, 1], got {mask_threshold}")
    if refiner is not None and not isinstance(refiner, Refiner):
        raise TypeError(f"refiner must be a Refiner or None, got {type(refiner).__name__}")
    if not isinstance(tracker, Tracker) and not callable(tracker):
        raise TypeError(
            "tracker must be an alpha_refine.trackers.Tracker or a function that returns one, "
            f"got {type(tracker).__name__}"
        )
    vot = _import_vot()
    handle = vot.VOT(region_format)
    region = handle.region()
    path = handle.frame()
    if not path:
        return 0
    base = tracker if isinstance(tracker, Tracker) else tracker()
    if not isinstance(base, Tracker):
        raise TypeError(f"the tracker factory returned {type(base).__name__}, not a Tracker")
    with_mask = (
        region_format == "mask" and refiner is not None and refiner.network.mask_head is not None
    )
    runner: Tracker = (
        RefinedTracker(base, refiner, feedback, return_mask=with_mask)
        if refiner is not None
        else base
    )
    frame = read_vot_frame(path)
    runner.init(frame, vot_region_to_box(region, frame.shape))
    frames = 0
    while True:
        path = handle.frame()
        if not path:
            return frames
        frame = read_vot_frame(path)
        box = as_box(runner.update(frame))
        score = getattr(base, "last_score", None)
        confidence = None if score is None else float(score)
        if region_format == "rectangle":
            handle.report(vot.Rectangle(*(float(v) for v in box)), confidence)
        else:
            handle.report(_output_mask(runner, box, frame.shape, mask_threshold), confidence)
        frames += 1


def _output_mask(
    runner: Tracker, box: Box, frame_shape: tuple[int, ...], threshold: float
) -> NDArray[np.uint8]:
    probabilities = runner.last_mask if isinstance(runner, RefinedTracker) else None
    if probabilities is not None:
        mask = threshold_mask(probabilities, threshold).astype(np.uint8)
        if mask.any():
            return mask
    return box_to_vot_mask(box, frame_shape)

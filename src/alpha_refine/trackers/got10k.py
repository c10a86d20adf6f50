"""Adapter for the got10k toolkit (``pip install 'alpha-refine[got10k]'``).

``Got10kTracker`` is a ``got10k.trackers.Tracker``, so the toolkit's experiments (GOT-10k, OTB,
LaSOT, VOT, UAV123, NfS, TColor128, DTB70) run any base tracker with or without Alpha-Refine:

>>> from got10k.experiments import ExperimentOTB  # doctest: +SKIP
>>> from alpha_refine import Refiner  # doctest: +SKIP
>>> from alpha_refine.trackers import Got10kTracker, create_tracker  # doctest: +SKIP
>>> tracker = Got10kTracker(create_tracker("csrt"), Refiner.from_pretrained())  # doctest: +SKIP
>>> ExperimentOTB("data/OTB", version=2015).run(tracker)  # doctest: +SKIP

The toolkit gives **PIL RGB** images and ``x, y, w, h`` numpy boxes; the adapter converts the
images to the package's BGR ``uint8`` arrays for the wrapped tracker and the refiner.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.refiner import Refiner
from alpha_refine.trackers.base import Box, Tracker, as_box
from alpha_refine.trackers.refined import Feedback, RefinedTracker

EXTRA_HINT = "pip install 'alpha-refine[got10k]' (or pip install got10k six)"

try:
    from got10k.trackers import Tracker as _ToolkitTracker
except ImportError as error:  # pragma: no cover - the dev environment has got10k
    raise ImportError(
        f"alpha_refine.trackers.Got10kTracker needs the got10k toolkit: {EXTRA_HINT}"
    ) from error


def bgr_from_toolkit(image: Any, argument: str = "image") -> NDArray[np.uint8]:
    """A got10k toolkit image as a C-contiguous BGR ``uint8`` ``H x W x 3`` array.

    Args:
        image: a PIL image (any mode; converted to RGB first, as the toolkit does) or an RGB
            ``uint8`` ``H x W x 3`` array.
        argument: the argument's name for error messages.
    """
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    elif isinstance(image, np.ndarray):
        rgb = image
    else:
        raise TypeError(
            f"{argument} must be a PIL image or an RGB uint8 array, got {type(image).__name__}"
        )
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise TypeError(
            f"{argument} must be RGB uint8 H x W x 3, got shape {rgb.shape} {rgb.dtype}"
        )
    return np.ascontiguousarray(rgb[..., ::-1])


class Got10kTracker(_ToolkitTracker):  # type: ignore[misc]
    """Any tracker, optionally refined by Alpha-Refine, as a got10k toolkit ``Tracker``.

    ``init(image, box)`` and ``update(image) -> box`` take the toolkit's **PIL RGB** images (RGB
    ``uint8`` arrays work too) and ``x, y, w, h`` pixel boxes; ``update`` returns a ``(4,)``
    ``float64`` numpy box. The images are converted to BGR ``uint8`` for the wrapped tracker,
    which follows :class:`~alpha_refine.trackers.Tracker` (an OpenCV adapter, a
    :class:`~alpha_refine.trackers.PysotTracker` or
    :class:`~alpha_refine.trackers.PytrackingTracker`, or your own). The toolkit's
    ``track(img_files, box)`` and every experiment's ``run(tracker)`` then work as for the
    toolkit's own trackers.

    Args:
        tracker: the base tracker.
        refiner: a refiner (``color="bgr"``, ``box_format="xywh"``: the defaults) to refine every
            box with :class:`~alpha_refine.trackers.RefinedTracker`; ``None`` runs the base
            tracker alone (the baseline, under its own name).
        feedback: ``RefinedTracker``'s feedback mode (``"auto"``: ``"state"`` for trackers with
            ``set_state``, else ``"none"``).
        return_mask: also compute Alpha-Refine's mask each frame (:attr:`last_mask`).
        name: result folder name (default ``tracker.name``, plus ``"+AR"`` when refined).
        is_deterministic: tell the toolkit the tracker repeats exactly (it then runs one
            repetition where it would run several); OpenCV's MIL, for one, does not.

    Attributes:
        tracker: what runs each frame: the :class:`RefinedTracker`, or the base tracker.
        refined: the :class:`RefinedTracker`, or ``None`` without a refiner.
    """

    def __init__(
        self,
        tracker: Tracker,
        refiner: Refiner | None = None,
        *,
        feedback: Feedback = "auto",
        return_mask: bool = False,
        name: str | None = None,
        is_deterministic: bool = False,
    ) -> None:
        if not isinstance(tracker, Tracker):
            raise TypeError(
                "tracker must follow alpha_refine.trackers.Tracker (name, init(frame, box), "
                f"update(frame)); got {type(tracker).__name__}"
            )
        if refiner is not None and not isinstance(refiner, Refiner):
            raise TypeError(f"refiner must be a Refiner or None, got {type(refiner).__name__}")
        self.refined = (
            RefinedTracker(tracker, refiner, feedback, return_mask=return_mask)
            if refiner is not None
            else None
        )
        self.tracker: Tracker = self.refined if self.refined is not None else tracker
        super().__init__(name or self.tracker.name, is_deterministic=is_deterministic)

    @property
    def last_mask(self) -> NDArray[np.float32] | None:
        """With ``return_mask``, the last frame's ``H x W`` ``float32`` foreground
        probabilities (``None`` otherwise)."""
        return None if self.refined is None else self.refined.last_mask

    def init(self, image: Any, box: ArrayLike) -> None:
        """Start on the first image (PIL RGB) with ``box`` (``x, y, w, h`` pixels)."""
        self.tracker.init(bgr_from_toolkit(image), as_box(box))

    def update(self, image: Any) -> Box:
        """The (refined) ``(4,)`` ``float64`` ``x, y, w, h`` box on the next image (PIL RGB)."""
        return as_box(self.tracker.update(bgr_from_toolkit(image)))

    def __repr__(self) -> str:
        return f"Got10kTracker({self.tracker!r}, name={self.name!r})"

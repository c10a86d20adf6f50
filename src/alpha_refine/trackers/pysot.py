"""Adapter for pysot trackers (SiamRPN++, SiamMask, SiamRPN, SiamFC-style ``SiameseTracker``).

pysot is not on PyPI: clone https://github.com/STVIR/pysot, build it and load a tracker as its
``tools/demo.py`` does (``cfg.merge_from_file(config)``, ``ModelBuilder()``, load the snapshot,
``build_tracker(model)``); see ``docs/integrations/pysot.md`` and ``examples/pysot_siamrpn.py``.

>>> from alpha_refine import Refiner  # doctest: +SKIP
>>> from alpha_refine.trackers import PysotTracker, RefinedTracker  # doctest: +SKIP
>>> base = PysotTracker(build_tracker(model))  # doctest: +SKIP
>>> tracker = RefinedTracker(base, Refiner.from_pretrained())  # doctest: +SKIP
>>> tracker.init(frame_bgr, (x, y, w, h))  # doctest: +SKIP
>>> box = tracker.update(frame_bgr)  # doctest: +SKIP

pysot works on **BGR** frames (it reads them with ``cv2.imread``), so frames pass through
unchanged. Its box is ``x, y, w, h`` in pixels; its state is ``tracker.center_pos`` (``[cx, cy]``)
and ``tracker.size`` (``[w, h]``), two ``float64`` numpy arrays, and pysot's own output box is
``[cx - w / 2, cy - h / 2, w, h]``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from alpha_refine.trackers.base import Box
from alpha_refine.trackers.library import LibraryTracker


class PysotTracker(LibraryTracker):
    """A pysot tracker (``build_tracker(model)``) as a
    :class:`~alpha_refine.trackers.StatefulTracker`.

    Wraps any object with ``init(img, bbox)`` and ``track(img) -> {'bbox': [x, y, w, h], ...}``
    (``'best_score'`` for all pysot trackers, plus ``'mask'`` and ``'polygon'`` for SiamMask).
    Frames are BGR ``uint8`` ``H x W x 3``, as pysot wants them; boxes ``x, y, w, h`` pixels.

    :meth:`set_state` does what the published Alpha-Refine wrapper of SiamRPN++ does with the
    refined box: ``tracker.center_pos = [x + w / 2, y + h / 2]`` and ``tracker.size = [w, h]``
    (numpy ``float64``), so pysot crops its next search region around the refined box. It is the
    exact inverse of pysot's output box, so feeding pysot's own box back changes nothing.

    Args:
        tracker: the pysot tracker object.
        name: name for results (default: the class name in lower case, e.g. ``siamrpntracker``).

    Attributes:
        last_score: pysot's ``best_score`` on the last frame.
        last_mask: SiamMask's ``H x W`` ``float32`` mask on the last frame (``None`` for trackers
            without one); Alpha-Refine's own mask is ``RefinedTracker.last_mask``.
    """

    library: ClassVar[str] = "pysot"
    library_color: ClassVar[Literal["bgr", "rgb"]] = "bgr"
    box_key: ClassVar[str] = "bbox"
    score_keys: ClassVar[tuple[str, ...]] = ("best_score",)

    def __init__(self, tracker: Any, name: str | None = None) -> None:
        super().__init__(tracker, name)
        self.last_mask: NDArray[np.float32] | None = None

    def _start(self, image: NDArray[np.uint8], box: Box) -> None:
        self.tracker.init(image, [float(v) for v in box])
        self.last_mask = None

    def update(self, frame: NDArray[Any]) -> Box:
        """pysot's box on ``frame`` (BGR), ``(4,)`` float64 ``x, y, w, h``; see the class docs."""
        box = super().update(frame)
        mask = self.last_output.get("mask")
        self.last_mask = None if mask is None else np.asarray(mask, dtype=np.float32)
        return box

    def _write_state(self, box: Box) -> None:
        x, y, w, h = (float(v) for v in box)
        self.tracker.center_pos = np.array([x + w / 2, y + h / 2])
        self.tracker.size = np.array([w, h])

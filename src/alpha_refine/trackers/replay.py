"""``ReplayTracker``: saved results played back as a tracker (offline refinement)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.trackers.base import Box


class ReplayTracker:
    """Returns the boxes of a saved result, one per ``update``, whatever the frames show.

    It ignores the frames and the ``init`` box: the saved trajectory cannot react to anything,
    so refining it offline can never feed the refined box back (use ``feedback="none"``).

    Args:
        boxes: ``N x 4`` saved ``x, y, w, h`` boxes in pixels, row 0 for the first frame.
        name: the results' name (e.g. the tracker that produced them).
    """

    def __init__(self, boxes: ArrayLike, name: str = "replay") -> None:
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.name = name
        self._next = 0

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Rewind to the second saved box (the first is the starting frame's)."""
        self._next = 1

    def update(self, frame: NDArray[Any]) -> Box:
        """The next saved box; ``IndexError`` past the end of the saved trajectory."""
        if self._next >= len(self.boxes):
            raise IndexError(f"{self.name}: only {len(self.boxes)} saved boxes")
        box: Box = self.boxes[self._next].copy()
        self._next += 1
        return box

"""The base-tracker protocol every adapter follows, and box helpers shared by the adapters.

Frames are ``H x W x 3`` BGR ``uint8`` arrays (OpenCV order); boxes are ``x, y, w, h`` in pixels
(top-left corner, width, height), ``float64`` arrays of shape ``(4,)``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

Box = NDArray[np.float64]


class TrackerUnavailableError(ValueError):
    """The tracker is unknown, not provided by the installed OpenCV build, or lacks its model
    files."""


@runtime_checkable
class Tracker(Protocol):
    """A single-object tracker: ``init`` on the first frame, ``update`` on every later frame.

    Attributes:
        name: short name used for result folders and tables (``"mil"``, ``"csrt"``...).
    """

    name: str

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Start tracking the target in ``box`` (xywh pixels) on ``frame`` (BGR uint8).

        Calling it again restarts the tracker from scratch on the new frame and box.
        """
        ...

    def update(self, frame: NDArray[Any]) -> Box:
        """The target's box (xywh pixels, ``(4,)`` float64) on the next frame."""
        ...


@runtime_checkable
class StatefulTracker(Tracker, Protocol):
    """A tracker whose target state can be overwritten without restarting it.

    :class:`~alpha_refine.trackers.RefinedTracker` with ``feedback="state"`` (or ``"auto"``)
    calls :meth:`set_state` with the refined box after every frame, as the published trackers
    do with their internal position and size. None of the OpenCV adapters can offer it: their
    state lives in C++ objects that only ``init`` can set.
    """

    def set_state(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Make ``box`` (xywh pixels) on ``frame`` the current estimate, keeping the model."""
        ...


def as_box(box: ArrayLike) -> Box:
    """A ``(4,)`` float64 ``x, y, w, h`` box; ``ValueError`` for any other shape."""
    array = np.asarray(box, dtype=np.float64)
    if array.shape != (4,):
        raise ValueError(f"a box must be 4 numbers x, y, w, h; got shape {array.shape}")
    return array


def check_frame(frame: Any, who: str, argument: str = "frame") -> NDArray[np.uint8]:
    """``frame`` as a C-contiguous ``H x W x 3`` ``uint8`` array, else a ``TypeError`` that
    names ``who`` needs it, the ``argument`` and what was given."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(
            f"{who} needs {argument} as an H x W x 3 uint8 numpy array, got {type(frame).__name__}"
        )
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise TypeError(
            f"{who} needs {argument} as an H x W x 3 uint8 array, got shape {frame.shape} "
            f"{frame.dtype}"
        )
    return np.ascontiguousarray(frame)


def is_valid_box(box: ArrayLike) -> bool:
    """Finite with positive width and height."""
    array = np.asarray(box, dtype=np.float64)
    return bool(np.all(np.isfinite(array)) and array[2] > 0 and array[3] > 0)


def clip_box_to_frame(box: ArrayLike, frame_shape: tuple[int, ...]) -> Box:
    """The part of ``box`` inside the frame, at least 1 pixel wide and high.

    A box wholly outside the frame becomes a 1-pixel box at the nearest frame edge.
    """
    x, y, w, h = as_box(box)
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x1 = float(np.clip(x, 0.0, width - 1.0))
    y1 = float(np.clip(y, 0.0, height - 1.0))
    x2 = float(np.clip(x + w, x1 + 1.0, float(width)))
    y2 = float(np.clip(y + h, y1 + 1.0, float(height)))
    return np.array([x1, y1, x2 - x1, y2 - y1])


def round_box(box: ArrayLike, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """An integer ``x, y, w, h`` box inside the frame, for APIs that take ``cv::Rect``.

    The corners (not the size) are rounded to the nearest integer, halves up, so the rounded box
    covers the same pixels as the float box to within half a pixel on every side; the result
    is clipped to the frame and is at least 1 pixel wide and high.
    """
    x, y, w, h = clip_box_to_frame(box, frame_shape)
    height, width = int(frame_shape[0]), int(frame_shape[1])
    x1 = min(int(np.floor(x + 0.5)), width - 1)
    y1 = min(int(np.floor(y + 0.5)), height - 1)
    x2 = min(max(int(np.floor(x + w + 0.5)), x1 + 1), width)
    y2 = min(max(int(np.floor(y + h + 0.5)), y1 + 1), height)
    return x1, y1, x2 - x1, y2 - y1

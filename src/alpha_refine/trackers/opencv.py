"""Adapters for OpenCV's classic trackers, discovered at run time.

``opencv-python-headless`` (a dependency) has only MIL; CSRT, KCF, MOSSE, MedianFlow, TLD and
Boosting come with ``opencv-contrib-python-headless`` (the ``opencv-contrib`` extra), which
replaces the main package: install the same version as the ``opencv-python-headless`` you have.
Which factories exist depends on the OpenCV version (OpenCV >= 4.5.1 moved MOSSE, MedianFlow, TLD
and Boosting to ``cv2.legacy``), so every adapter tries its known factory names in order.

Box conversion: the current API (``cv2.TrackerMIL``, ``TrackerCSRT``, ``TrackerKCF``) takes an
integer ``cv::Rect``, so boxes are clipped to the frame and their corners rounded to the nearest
pixel (see :func:`~alpha_refine.trackers.base.round_box`); the legacy API takes a ``cv::Rect2d``,
so boxes are only clipped to the frame. Boxes partly outside the frame are clipped because the
OpenCV trackers assert (MIL) or misbehave on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.trackers.base import (
    Box,
    as_box,
    check_frame,
    clip_box_to_frame,
    is_valid_box,
    round_box,
)

MAIN_PACKAGE = "opencv-python-headless"
CONTRIB_PACKAGE = "opencv-contrib-python-headless"
CONTRIB_EXTRA = "opencv-contrib"


class TrackerUnavailableError(ValueError):
    """The tracker is unknown or not provided by the installed OpenCV build."""


class TrackerInitError(RuntimeError):
    """OpenCV refused to start on a box (MIL, for one, asserts on a box as wide as the frame)."""


@dataclass(frozen=True)
class OpenCVTrackerInfo:
    """One OpenCV tracker: its factory names (tried in order) and the package that has it."""

    name: str
    label: str
    factories: tuple[str, ...]
    package: str
    summary: str


OPENCV_TRACKERS: dict[str, OpenCVTrackerInfo] = {
    info.name: info
    for info in (
        OpenCVTrackerInfo(
            "mil",
            "MIL",
            ("TrackerMIL_create", "legacy.TrackerMIL_create"),
            MAIN_PACKAGE,
            "multiple-instance learning on Haar features (Babenko et al. 2009)",
        ),
        OpenCVTrackerInfo(
            "csrt",
            "CSRT",
            ("TrackerCSRT_create", "legacy.TrackerCSRT_create"),
            CONTRIB_PACKAGE,
            "discriminative correlation filter with channel and spatial reliability",
        ),
        OpenCVTrackerInfo(
            "kcf",
            "KCF",
            ("TrackerKCF_create", "legacy.TrackerKCF_create"),
            CONTRIB_PACKAGE,
            "kernelized correlation filter (fixed box size)",
        ),
        OpenCVTrackerInfo(
            "mosse",
            "MOSSE",
            ("legacy.TrackerMOSSE_create", "TrackerMOSSE_create"),
            CONTRIB_PACKAGE,
            "minimum output sum of squared error filter on grey values (fixed box size)",
        ),
        OpenCVTrackerInfo(
            "medianflow",
            "MedianFlow",
            ("legacy.TrackerMedianFlow_create", "TrackerMedianFlow_create"),
            CONTRIB_PACKAGE,
            "forward-backward optical flow of a point grid",
        ),
        OpenCVTrackerInfo(
            "tld",
            "TLD",
            ("legacy.TrackerTLD_create", "TrackerTLD_create"),
            CONTRIB_PACKAGE,
            "tracking-learning-detection",
        ),
        OpenCVTrackerInfo(
            "boosting",
            "Boosting",
            ("legacy.TrackerBoosting_create", "TrackerBoosting_create"),
            CONTRIB_PACKAGE,
            "online AdaBoost on Haar features (fixed box size)",
        ),
    )
}


def _lookup(path: str) -> Callable[[], Any] | None:
    obj: Any = cv2
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) else None


def _resolve(info: OpenCVTrackerInfo) -> tuple[Callable[[], Any], str] | None:
    for path in info.factories:
        factory = _lookup(path)
        if factory is not None:
            return factory, path
    return None


def available_trackers() -> list[str]:
    """Names of the OpenCV trackers the installed ``cv2`` provides, in registry order."""
    return [name for name, info in OPENCV_TRACKERS.items() if _resolve(info) is not None]


def _unavailable_message(info: OpenCVTrackerInfo) -> str:
    have = ", ".join(available_trackers()) or "none"
    return (
        f"OpenCV tracker {info.name!r} ({info.label}) is not in the installed OpenCV "
        f"{cv2.__version__} (available here: {have}). It comes with {info.package}: install "
        f"the {CONTRIB_EXTRA!r} extra, pip install 'alpha-refine[{CONTRIB_EXTRA}]', choosing "
        f"the same version as your {MAIN_PACKAGE} (both provide the cv2 module; see "
        "docs/trackers.md)"
    )


def tracker_info(name: str) -> OpenCVTrackerInfo:
    """The registry entry for ``name`` (case-insensitive); :class:`TrackerUnavailableError`
    naming the known trackers if there is none."""
    info = OPENCV_TRACKERS.get(name.strip().lower())
    if info is None:
        raise TrackerUnavailableError(
            f"unknown tracker {name!r}; known OpenCV trackers: {', '.join(OPENCV_TRACKERS)} "
            f"(available here: {', '.join(available_trackers()) or 'none'})"
        )
    return info


class OpenCVTracker:
    """An OpenCV tracker behind the :class:`~alpha_refine.trackers.Tracker` protocol.

    Frames are BGR ``uint8`` ``H x W x 3``; boxes ``x, y, w, h`` pixels (float64 out). Every
    :meth:`init` builds a new OpenCV object, so re-initialising forgets everything the tracker
    learnt (OpenCV offers no way to set the state of a running tracker). When OpenCV reports a
    failure (or raises) on a frame, :meth:`update` returns the last good box and sets
    :attr:`lost`; :attr:`failures` counts such frames since :meth:`init`.

    Args:
        name: a key of :data:`OPENCV_TRACKERS` (``"mil"``, ``"csrt"``, ``"kcf"``...).

    Raises:
        TrackerUnavailableError: unknown name, or the installed OpenCV lacks the tracker (the
            message names the package and extra that provide it).
    """

    def __init__(self, name: str) -> None:
        self.info = tracker_info(name)
        resolved = _resolve(self.info)
        if resolved is None:
            raise TrackerUnavailableError(_unavailable_message(self.info))
        self._factory, self.factory = resolved
        self.name = self.info.name
        # The legacy API takes cv::Rect2d (floats); the current one only integer cv::Rect.
        self.float_boxes = self.factory.startswith("legacy.")
        self._tracker: Any = None
        self._box: Box | None = None
        self.lost = False
        self.failures = 0

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Start on ``frame`` with ``box`` (xywh pixels), clipped to the frame (and rounded for
        the integer API); a new OpenCV object each time.

        Raises:
            TrackerInitError: OpenCV refused the box; the adapter keeps its previous tracker.
        """
        image = _check_frame(frame)
        start = as_box(box)
        if not is_valid_box(start):
            raise ValueError(f"{self.name}: cannot start on box {start.tolist()}")
        rect: tuple[float, ...] = (
            tuple(float(v) for v in clip_box_to_frame(start, image.shape))
            if self.float_boxes
            else round_box(start, image.shape)
        )
        tracker = self._factory()
        try:
            started = tracker.init(image, rect)
        except cv2.error as error:
            raise TrackerInitError(
                f"OpenCV {self.info.label} could not start on box {rect} in a "
                f"{image.shape[1]}x{image.shape[0]} frame: {str(error).strip()}"
            ) from error
        if started is False:  # the legacy API reports failure, the current one raises
            raise TrackerInitError(f"OpenCV {self.info.label} could not start on box {rect}")
        # Only now replace the running tracker: a failed init leaves the adapter as it was.
        self._tracker = tracker
        self._box = start.copy()
        self.lost = False
        self.failures = 0

    def update(self, frame: NDArray[Any]) -> Box:
        """The box (xywh pixels, float64) on the next frame; the last good box on failure."""
        if self._tracker is None or self._box is None:
            raise RuntimeError(f"{self.name}: update() called before init(frame, box)")
        image = _check_frame(frame)
        try:
            ok, rect = self._tracker.update(image)
        except cv2.error:
            ok, rect = False, None
        box = np.asarray(rect, dtype=np.float64) if ok else None
        if box is not None and box.shape == (4,) and is_valid_box(box):
            self._box = box
            self.lost = False
        else:
            self.lost = True
            self.failures += 1
        result: Box = self._box.copy()
        return result

    def __repr__(self) -> str:
        return f"OpenCVTracker({self.name!r}, factory='cv2.{self.factory}')"


def _check_frame(frame: NDArray[Any]) -> NDArray[np.uint8]:
    return check_frame(frame, "OpenCV trackers (BGR)")


def create_tracker(name: str) -> OpenCVTracker:
    """The OpenCV tracker called ``name``; see :class:`OpenCVTracker`."""
    return OpenCVTracker(name)

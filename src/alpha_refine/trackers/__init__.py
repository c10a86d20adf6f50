"""Base trackers for Alpha-Refine: a small protocol, OpenCV adapters, and ``RefinedTracker``.

>>> from alpha_refine.trackers import RefinedTracker, create_tracker  # doctest: +SKIP
>>> tracker = RefinedTracker(create_tracker("mil"), Refiner.from_pretrained(...))  # doctest: +SKIP
>>> tracker.init(first_frame, gt_box)          # doctest: +SKIP
>>> box = tracker.update(frame)                # doctest: +SKIP

Frames are BGR ``uint8`` ``H x W x 3``; boxes are ``x, y, w, h`` in pixels. See
``docs/trackers.md`` for what feedback means for each adapter.
"""

from alpha_refine.trackers.base import (
    Box,
    StatefulTracker,
    Tracker,
    clip_box_to_frame,
    is_valid_box,
    round_box,
)
from alpha_refine.trackers.opencv import (
    OPENCV_TRACKERS,
    OpenCVTracker,
    OpenCVTrackerInfo,
    TrackerInitError,
    TrackerUnavailableError,
    available_trackers,
    create_tracker,
    tracker_info,
)
from alpha_refine.trackers.refined import (
    FEEDBACK_MODES,
    Feedback,
    FrameTiming,
    RefinedTracker,
    resolve_feedback,
)
from alpha_refine.trackers.replay import ReplayTracker

__all__ = [
    "FEEDBACK_MODES",
    "OPENCV_TRACKERS",
    "Box",
    "Feedback",
    "FrameTiming",
    "OpenCVTracker",
    "OpenCVTrackerInfo",
    "RefinedTracker",
    "ReplayTracker",
    "StatefulTracker",
    "Tracker",
    "TrackerInitError",
    "TrackerUnavailableError",
    "available_trackers",
    "clip_box_to_frame",
    "create_tracker",
    "is_valid_box",
    "resolve_feedback",
    "round_box",
    "tracker_info",
]

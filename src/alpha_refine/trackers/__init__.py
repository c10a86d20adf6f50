"""Base trackers for Alpha-Refine: a small protocol, adapters, and ``RefinedTracker``.

>>> from alpha_refine.trackers import RefinedTracker, create_tracker  # doctest: +SKIP
>>> tracker = RefinedTracker(create_tracker("mil"), Refiner.from_pretrained(...))  # doctest: +SKIP
>>> tracker.init(first_frame, gt_box)          # doctest: +SKIP
>>> box = tracker.update(frame)                # doctest: +SKIP

Frames are BGR ``uint8`` ``H x W x 3``; boxes are ``x, y, w, h`` in pixels. Adapters:
:class:`OpenCVTracker` (OpenCV's trackers, classic and deep: ``create_tracker("csrt")``,
``create_tracker("nano")``; the deep ones' model files: :mod:`alpha_refine.trackers.models`),
:class:`PysotTracker` (SiamRPN++, SiamMask), :class:`PytrackingTracker` (DiMP, ATOM, ToMP),
``Got10kTracker`` (the got10k toolkit; imported on first use, it needs the ``got10k`` extra) and
:func:`run_vot` (the VOT toolkit). See ``docs/trackers.md`` and ``docs/integrations/`` for what
feedback means for each.
"""

from typing import TYPE_CHECKING, Any

from alpha_refine.trackers.base import (
    Box,
    StatefulTracker,
    Tracker,
    clip_box_to_frame,
    is_valid_box,
    round_box,
)
from alpha_refine.trackers.library import LibraryTracker
from alpha_refine.trackers.models import (
    MODEL_FILES,
    TrackerModelsMissingError,
    download_models,
    find_model_files,
)
from alpha_refine.trackers.opencv import (
    OPENCV_TRACKERS,
    OpenCVTracker,
    OpenCVTrackerInfo,
    TrackerInitError,
    TrackerModelError,
    TrackerUnavailableError,
    available_trackers,
    create_tracker,
    tracker_info,
)
from alpha_refine.trackers.pysot import PysotTracker
from alpha_refine.trackers.pytracking import PytrackingTracker
from alpha_refine.trackers.refined import (
    FEEDBACK_MODES,
    Feedback,
    FrameTiming,
    RefinedTracker,
    resolve_feedback,
)
from alpha_refine.trackers.replay import ReplayTracker
from alpha_refine.trackers.vot import run_vot

if TYPE_CHECKING:
    from alpha_refine.trackers.got10k import Got10kTracker as Got10kTracker


def __getattr__(name: str) -> Any:
    # Got10kTracker subclasses the got10k toolkit's Tracker, an optional dependency: import it
    # only when asked for (the ImportError then names the extra to install).
    if name == "Got10kTracker":
        from alpha_refine.trackers.got10k import Got10kTracker

        return Got10kTracker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FEEDBACK_MODES",
    "MODEL_FILES",
    "OPENCV_TRACKERS",
    "Box",
    "Feedback",
    "FrameTiming",
    "LibraryTracker",
    "OpenCVTracker",
    "OpenCVTrackerInfo",
    "PysotTracker",
    "PytrackingTracker",
    "RefinedTracker",
    "ReplayTracker",
    "StatefulTracker",
    "Tracker",
    "TrackerInitError",
    "TrackerModelError",
    "TrackerModelsMissingError",
    "TrackerUnavailableError",
    "available_trackers",
    "clip_box_to_frame",
    "create_tracker",
    "download_models",
    "find_model_files",
    "is_valid_box",
    "resolve_feedback",
    "round_box",
    "run_vot",
    "tracker_info",
]

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from alpha_refine import Refiner
from alpha_refine.trackers import (
    OPENCV_TRACKERS,
    OpenCVTracker,
    RefinedTracker,
    ReplayTracker,
    StatefulTracker,
    Tracker,
    TrackerInitError,
    TrackerUnavailableError,
    available_trackers,
    clip_box_to_frame,
    create_tracker,
    round_box,
)
from tracking_fixtures import moving_box_frames, random_refiner


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    return random_refiner()


# The CI machine is shared: one thread is much faster than an oversubscribed pool.
pytestmark = pytest.mark.usefixtures("one_thread")


class FakeTracker:
    """A Python tracker that moves its box by (1, 1) per frame; records calls."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.box = np.zeros(4)
        self.inits: list[NDArray[np.float64]] = []

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        self.box = np.asarray(box, dtype=np.float64).copy()
        self.inits.append(self.box.copy())

    def update(self, frame: NDArray[Any]) -> NDArray[np.float64]:
        self.box = self.box + np.array([1.0, 1.0, 0.0, 0.0])
        return self.box.copy()


class FakeStatefulTracker(FakeTracker):
    def __init__(self) -> None:
        super().__init__("stateful")
        self.states: list[NDArray[np.float64]] = []

    def set_state(self, frame: NDArray[Any], box: ArrayLike) -> None:
        self.box = np.asarray(box, dtype=np.float64).copy()
        self.states.append(self.box.copy())


def test_mil_is_always_available_and_listed_in_registry_order() -> None:
    names = available_trackers()
    assert "mil" in names
    assert names == [n for n in OPENCV_TRACKERS if n in names]


def test_unknown_and_unavailable_trackers_name_the_fix() -> None:
    with pytest.raises(TrackerUnavailableError, match="known OpenCV trackers: mil, csrt"):
        create_tracker("nope")
    missing = [n for n in OPENCV_TRACKERS if n not in available_trackers()]
    if not missing:
        pytest.skip("opencv-contrib is installed: every tracker is available")
    with pytest.raises(TrackerUnavailableError, match=r"alpha-refine\[opencv-contrib\]"):
        create_tracker(missing[0])


def test_box_rounding_rounds_corners_and_clips_to_the_frame() -> None:
    shape = (100, 200, 3)
    assert round_box([10.4, 20.5, 30.2, 40.0], shape) == (10, 21, 31, 40)  # x2 = 40.6 -> 41
    assert round_box([-5.0, -5.0, 20.0, 20.0], shape) == (0, 0, 15, 15)
    assert round_box([190.0, 95.0, 50.0, 50.0], shape) == (190, 95, 10, 5)
    assert round_box([500.0, 500.0, 5.0, 5.0], shape) == (199, 99, 1, 1)
    np.testing.assert_allclose(clip_box_to_frame([-2.5, 3.0, 10.0, 4.0], shape), [0, 3, 7.5, 4])


def test_mil_follows_a_moving_target() -> None:
    frames, boxes = moving_box_frames(8, seed=1)
    tracker = create_tracker("MIL")
    assert isinstance(tracker, Tracker) and not isinstance(tracker, StatefulTracker)
    with pytest.raises(RuntimeError, match="before init"):
        tracker.update(frames[0])
    tracker.init(frames[0], boxes[0] + [0.3, 0.3, 0.0, 0.0])
    for frame, truth in zip(frames[1:], boxes[1:], strict=True):
        box = tracker.update(frame)
        assert box.shape == (4,) and box.dtype == np.float64
        # MIL samples nearby positions at random (not repeatable): close, not exact.
        assert np.all(np.abs(box - truth) <= 20)
    assert not tracker.lost and tracker.failures == 0
    with pytest.raises(ValueError, match="cannot start"):
        tracker.init(frames[0], [1, 2, 0, 5])


def test_failed_update_returns_the_last_good_box() -> None:
    frames, boxes = moving_box_frames(3, seed=2)
    tracker = OpenCVTracker("mil")
    tracker.init(frames[0], boxes[0])

    class Failing:
        def update(self, frame: NDArray[Any]) -> tuple[bool, tuple[int, ...]]:
            return False, (0, 0, 0, 0)

    tracker._tracker = Failing()
    np.testing.assert_array_equal(tracker.update(frames[1]), boxes[0])
    assert tracker.lost and tracker.failures == 1


def test_refined_tracker_refines_times_and_keeps_the_base_box(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(4, seed=3)
    base = FakeTracker()
    tracker = RefinedTracker(base, refiner, feedback="auto")
    assert tracker.feedback == "none" and tracker.name == "fake+AR"
    tracker.init(frames[0], boxes[0])
    assert tracker.last_timing.refine > 0
    for frame in frames[1:]:
        box = tracker.update(frame)
        assert box.shape == (4,) and np.all(np.isfinite(box))
        assert box[0] >= 0 and box[1] >= 0
        assert box[0] + box[2] <= 128 + 1e-9 and box[1] + box[3] <= 96 + 1e-9
        np.testing.assert_array_equal(tracker.last_base_box, base.box)
        timing = tracker.last_timing
        assert timing.base >= 0 and timing.refine > 0 and timing.feedback >= 0
        assert timing.total == pytest.approx(timing.base + timing.refine + timing.feedback)
    assert tracker.last_mask is None  # not asked for
    # feedback "none": the base tracker never saw the refined boxes.
    np.testing.assert_array_equal(base.box, boxes[0] + [3, 3, 0, 0])
    assert len(base.inits) == 1


def test_feedback_modes(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(3, seed=4)
    stateful = FakeStatefulTracker()
    tracker = RefinedTracker(stateful, refiner)  # auto -> state
    assert tracker.feedback == "state"
    tracker.init(frames[0], boxes[0])
    refined = tracker.update(frames[1])
    np.testing.assert_array_equal(stateful.states[-1], refined)
    assert len(stateful.inits) == 1

    plain = FakeTracker()
    reinit = RefinedTracker(plain, refiner, feedback="reinit")
    reinit.init(frames[0], boxes[0])
    refined = reinit.update(frames[1])
    assert len(plain.inits) == 2
    np.testing.assert_array_equal(plain.inits[-1], refined)

    with pytest.raises(ValueError, match="no set_state"):
        RefinedTracker(create_tracker("mil"), refiner, feedback="state")
    with pytest.raises(ValueError, match="feedback must be one of"):
        RefinedTracker(plain, refiner, feedback="sometimes")  # type: ignore[arg-type]


def test_opencv_reinit_feedback_restarts_on_the_refined_box(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(4, seed=5)
    tracker = RefinedTracker(create_tracker("mil"), refiner, feedback="reinit")
    tracker.init(frames[0], boxes[0])
    for frame in frames[1:]:
        tracker.update(frame)
        assert tracker.last_timing.feedback > 0  # a new OpenCV tracker is built every frame


def test_invalid_base_boxes_pass_through_and_refiner_format_is_checked(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(3, seed=6)
    saved = np.array([boxes[0], [np.nan] * 4, boxes[2]])
    tracker = RefinedTracker(ReplayTracker(saved, "saved"), refiner, feedback="none")
    tracker.init(frames[0], boxes[0])
    assert np.all(np.isnan(tracker.update(frames[1])))
    assert np.all(np.isfinite(tracker.update(frames[2])))
    with pytest.raises(IndexError):
        tracker.update(frames[2])
    xyxy = Refiner.from_network(refiner.network, device="cpu", box_format="xyxy")
    with pytest.raises(ValueError, match="box_format='xywh'"):
        RefinedTracker(FakeTracker(), xyxy)


def test_refused_reinit_keeps_the_running_tracker(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(3, seed=7)
    mil = create_tracker("mil")
    mil.init(frames[0], boxes[0])
    running = mil._tracker
    with pytest.raises(TrackerInitError, match="could not start"):
        mil.init(frames[1], [0, 10, 128, 40])  # MIL needs room around the box to sample
    assert mil._tracker is running
    assert mil.update(frames[1]).shape == (4,)

    class Refusing(FakeTracker):
        def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
            if self.inits:
                raise TrackerInitError("no")
            super().init(frame, box)

    base = Refusing()
    tracker = RefinedTracker(base, refiner, feedback="reinit")
    tracker.init(frames[0], boxes[0])
    tracker.update(frames[1])
    tracker.update(frames[2])
    assert tracker.feedback_failures == 2
    np.testing.assert_array_equal(base.box, boxes[0] + [2, 2, 0, 0])


def test_masks_on_request(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(2, seed=8)
    tracker = RefinedTracker(FakeTracker(), refiner, return_mask=True)
    tracker.init(frames[0], boxes[0])
    assert tracker.last_mask is None
    tracker.update(frames[1])
    assert tracker.last_mask is not None and tracker.last_mask.shape == (96, 128)
    assert tracker.last_mask.dtype == np.float32

"""Adapters for pysot, pytracking, the got10k toolkit and the VOT toolkit.

pysot and pytracking are not installable from PyPI, so their adapters are checked against small
classes with those libraries' method and attribute names and conventions (pysot: BGR frames,
numpy ``center_pos`` [cx, cy] and ``size`` [w, h], output ``[cx - w/2, cy - h/2, w, h]``;
pytracking: RGB frames, torch ``pos`` [y, x], ``target_sz`` [h, w], ``target_scale``,
``base_target_sz``, output ``[x_c - (w-1)/2, y_c - (h-1)/2, w, h]``). The got10k adapter runs
through the real toolkit; the VOT loop through a fake ``vot`` module with the real API.
"""

from __future__ import annotations

import collections
import math
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from numpy.typing import ArrayLike, NDArray

from alpha_refine import Refiner, threshold_mask
from alpha_refine.trackers import (
    PysotTracker,
    PytrackingTracker,
    RefinedTracker,
    StatefulTracker,
    create_tracker,
    run_vot,
)
from alpha_refine.trackers.vot import box_to_vot_mask
from tracking_fixtures import FRAME_SHAPE, moving_box_frames, random_refiner


@pytest.fixture(scope="module")
def refiner() -> Refiner:
    return random_refiner()


# The CI machine is shared: one thread is much faster than an oversubscribed pool.
pytestmark = pytest.mark.usefixtures("one_thread")


# --- pysot -------------------------------------------------------------------------------------


class SiamRPNTracker:
    """pysot's tracker interface: state ``center_pos``/``size``, moves (+2, +1) per frame."""

    def __init__(self) -> None:
        self.images: list[NDArray[np.uint8]] = []

    def init(self, img: NDArray[np.uint8], bbox: list[float]) -> None:
        self.images.append(img)
        self.center_pos = np.array([bbox[0] + (bbox[2] - 1) / 2, bbox[1] + (bbox[3] - 1) / 2])
        self.size = np.array([bbox[2], bbox[3]])

    def track(self, img: NDArray[np.uint8]) -> dict[str, Any]:
        self.images.append(img)
        cx, cy = self.center_pos + np.array([2.0, 1.0])
        width, height = self.size
        self.center_pos = np.array([cx, cy])
        return {
            "bbox": [cx - width / 2, cy - height / 2, width, height],
            "best_score": 0.75,
        }


class SiamMaskTracker(SiamRPNTracker):
    def track(self, img: NDArray[np.uint8]) -> dict[str, Any]:
        out = super().track(img)
        mask = np.zeros(img.shape[:2], dtype=np.float32)
        x, y, w, h = (round(v) for v in out["bbox"])
        mask[y : y + h, x : x + w] = 1
        return {**out, "mask": mask, "polygon": []}


def test_pysot_adapter_passes_bgr_frames_and_reports_box_and_score() -> None:
    frames, boxes = moving_box_frames(3, seed=1)
    library = SiamRPNTracker()
    tracker = PysotTracker(library)
    assert isinstance(tracker, StatefulTracker)
    assert tracker.name == "siamrpntracker"
    tracker.init(frames[0], boxes[0])
    box = tracker.update(frames[1])
    assert np.array_equal(library.images[0], frames[0])  # BGR, unchanged
    assert np.array_equal(library.images[1], frames[1])
    x, y, w, h = boxes[0]
    np.testing.assert_allclose(box, [x + 2 - 0.5, y + 1 - 0.5, w, h])
    assert box.dtype == np.float64
    assert box.shape == (4,)
    assert tracker.last_score == 0.75
    assert tracker.last_mask is None


def test_pysot_set_state_writes_center_pos_and_size() -> None:
    frames, boxes = moving_box_frames(2, seed=1)
    library = SiamRPNTracker()
    tracker = PysotTracker(library, name="siamrpn++")
    tracker.init(frames[0], boxes[0])
    tracker.set_state(frames[0], (10.0, 20.0, 30.0, 40.0))
    assert isinstance(library.center_pos, np.ndarray)
    assert isinstance(library.size, np.ndarray)
    np.testing.assert_array_equal(library.center_pos, [25.0, 40.0])  # [x + w/2, y + h/2]
    np.testing.assert_array_equal(library.size, [30.0, 40.0])
    # The exact inverse of pysot's output: feeding its own box back changes nothing.
    own = tracker.update(frames[1])
    centre, size = library.center_pos.copy(), library.size.copy()
    tracker.set_state(frames[1], own)
    np.testing.assert_allclose(library.center_pos, centre, atol=1e-12)
    np.testing.assert_allclose(library.size, size, atol=1e-12)


def test_refined_pysot_feeds_the_refined_box_back(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(4, seed=2)
    library = SiamMaskTracker()
    tracker = RefinedTracker(PysotTracker(library), refiner)
    assert tracker.feedback == "state"
    tracker.init(frames[0], boxes[0])
    for frame in frames[1:]:
        refined = tracker.update(frame)
        x, y, w, h = refined
        np.testing.assert_allclose(library.center_pos, [x + w / 2, y + h / 2])
        np.testing.assert_allclose(library.size, [w, h])
    base = tracker.base
    assert isinstance(base, PysotTracker)
    assert base.last_mask is not None
    assert base.last_mask.shape == FRAME_SHAPE
    assert base.last_score == 0.75


# --- pytracking --------------------------------------------------------------------------------


class DiMP:
    """pytracking's tracker interface: RGB images, torch state, moves (+1 in y, +2 in x)."""

    def __init__(self) -> None:
        self.images: list[NDArray[np.uint8]] = []
        self.img_sample_sz = torch.Tensor([288.0, 288.0])

    def initialize(self, image: NDArray[np.uint8], info: dict[str, Any]) -> dict[str, Any]:
        self.images.append(image)
        state = info["init_bbox"]
        self.pos = torch.Tensor([state[1] + (state[3] - 1) / 2, state[0] + (state[2] - 1) / 2])
        self.target_sz = torch.Tensor([state[3], state[2]])
        search_area = torch.prod(self.target_sz * 4.0).item()
        self.target_scale = math.sqrt(search_area) / self.img_sample_sz.prod().sqrt()
        self.base_target_sz = self.target_sz / self.target_scale
        return {"time": 0.0}

    def track(self, image: NDArray[np.uint8], info: dict[str, Any] | None = None) -> dict[str, Any]:
        self.images.append(image)
        self.pos = self.pos + torch.Tensor([1.0, 2.0])
        new_state = torch.cat(
            (self.pos[[1, 0]] - (self.target_sz[[1, 0]] - 1) / 2, self.target_sz[[1, 0]])
        )
        return {"target_bbox": new_state.tolist(), "object_presence_score": 0.5}


class LostDiMP(DiMP):
    """Reports pytracking's ``output_not_found_box`` marker."""

    def track(self, image: NDArray[np.uint8], info: dict[str, Any] | None = None) -> dict[str, Any]:
        super().track(image)
        return {"target_bbox": [-1, -1, -1, -1], "object_presence_score": 0.0}


def test_pytracking_adapter_gives_rgb_frames_and_init_bbox() -> None:
    frames, boxes = moving_box_frames(2, seed=3)
    library = DiMP()
    tracker = PytrackingTracker(library)
    tracker.init(frames[0], boxes[0])
    box = tracker.update(frames[1])
    assert np.array_equal(library.images[0], frames[0][..., ::-1])  # RGB
    assert np.array_equal(library.images[1], frames[1][..., ::-1])
    assert library.images[0].flags.c_contiguous
    x, y, w, h = boxes[0]
    np.testing.assert_allclose(box, [x + 2, y + 1, w, h], atol=1e-4)
    assert tracker.last_score == 0.5
    assert tracker.name == "dimp"


def test_pytracking_set_state_writes_pos_target_sz_and_target_scale() -> None:
    frames, boxes = moving_box_frames(2, seed=3)
    library = DiMP()
    tracker = PytrackingTracker(library)
    tracker.init(frames[0], boxes[0])
    base_target_sz = library.base_target_sz.clone()
    tracker.set_state(frames[0], (10.0, 20.0, 30.0, 40.0))
    for name in ("pos", "target_sz", "target_scale"):
        value = getattr(library, name)
        assert isinstance(value, torch.Tensor)
        assert value.dtype == torch.float32
    torch.testing.assert_close(library.pos, torch.tensor([20 + 39 / 2, 10 + 29 / 2]))  # [y, x]
    torch.testing.assert_close(library.target_sz, torch.tensor([40.0, 30.0]))  # [h, w]
    expected_scale = math.sqrt(40 * 30 / base_target_sz.prod().item())
    assert library.target_scale.item() == pytest.approx(expected_scale, rel=1e-6)
    torch.testing.assert_close(library.base_target_sz, base_target_sz)  # kept
    # Same aspect ratio as at initialisation: target_sz == base_target_sz * target_scale.
    x, y, w, h = boxes[0]
    tracker.set_state(frames[0], (x, y, 2 * w, 2 * h))
    torch.testing.assert_close(library.target_sz, base_target_sz * library.target_scale)
    # The exact inverse of pytracking's output: feeding its own box back changes nothing.
    own = tracker.update(frames[1])
    pos, size = library.pos.clone(), library.target_sz.clone()
    tracker.set_state(frames[1], own)
    torch.testing.assert_close(library.pos, pos)
    torch.testing.assert_close(library.target_sz, size)


def test_refined_pytracking_feeds_back_and_skips_not_found_frames(refiner: Refiner) -> None:
    frames, boxes = moving_box_frames(3, seed=4)
    library = DiMP()
    tracker = RefinedTracker(PytrackingTracker(library), refiner)
    tracker.init(frames[0], boxes[0])
    x, y, w, h = tracker.update(frames[1])
    expected_pos = torch.tensor([y + (h - 1) / 2, x + (w - 1) / 2], dtype=torch.float32)
    torch.testing.assert_close(library.pos, expected_pos)
    torch.testing.assert_close(library.target_sz, torch.tensor([h, w], dtype=torch.float32))

    lost = LostDiMP()
    tracker = RefinedTracker(PytrackingTracker(lost), refiner)
    tracker.init(frames[0], boxes[0])
    box = tracker.update(frames[1])
    np.testing.assert_array_equal(box, [-1, -1, -1, -1])  # passed through, not refined
    # The "not found" marker is not fed back: the state is what the tracker itself set.
    x0, y0, w0, h0 = boxes[0]
    torch.testing.assert_close(lost.target_sz, torch.tensor([h0, w0], dtype=torch.float32))
    expected_pos = torch.tensor([y0 + (h0 - 1) / 2 + 1, x0 + (w0 - 1) / 2 + 2], dtype=torch.float32)
    torch.testing.assert_close(lost.pos, expected_pos)


def test_library_adapters_reject_bad_input() -> None:
    with pytest.raises(TypeError, match=r"pysot tracker object with init\(\) and track\(\)"):
        PysotTracker(object())
    with pytest.raises(TypeError, match="has no initialize"):
        PytrackingTracker(SiamRPNTracker())
    frames, boxes = moving_box_frames(2, seed=5)
    tracker = PytrackingTracker(DiMP())
    with pytest.raises(TypeError, match=r"frame as an H x W x 3 uint8 array.*float32"):
        tracker.init(frames[0].astype(np.float32), boxes[0])
    with pytest.raises(ValueError, match="box must be finite"):
        tracker.init(frames[0], (0, 0, 0, 10))
    tracker.init(frames[0], boxes[0])
    with pytest.raises(ValueError, match="box: a box must be 4 numbers"):
        tracker.set_state(frames[0], (1, 2, 3))

    class Broken(SiamRPNTracker):
        def track(self, img: NDArray[np.uint8]) -> dict[str, Any]:
            return {"box": [0, 0, 1, 1]}

    broken = PysotTracker(Broken())
    broken.init(frames[0], boxes[0])
    with pytest.raises(
        TypeError, match=r"must return a dict with 'bbox'; got dict with keys \['box'\]"
    ):
        broken.update(frames[1])


# --- got10k toolkit ----------------------------------------------------------------------------


class RecordingTracker:
    """Follows the package protocol; records the frames it gets and returns a fixed drift."""

    name = "recording"

    def __init__(self) -> None:
        self.frames: list[NDArray[np.uint8]] = []
        self.box = np.zeros(4)

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        self.frames.append(frame)
        self.box = np.asarray(box, dtype=np.float64).copy()

    def update(self, frame: NDArray[Any]) -> NDArray[np.float64]:
        self.frames.append(frame)
        self.box = self.box + np.array([3.0, 2.0, 0.0, 0.0])
        box: NDArray[np.float64] = self.box.copy()
        return box


def _write_frames(folder: Path, frames: list[NDArray[np.uint8]]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"{index + 1:08d}.png"
        cv2.imwrite(str(path), frame)
        paths.append(str(path))
    return paths


def test_got10k_toolkit_tracks_files_with_bgr_frames_for_the_base(tmp_path: Path) -> None:
    from got10k.trackers import Tracker as ToolkitTracker

    from alpha_refine.trackers import Got10kTracker

    frames, boxes = moving_box_frames(5, seed=6)
    files = _write_frames(tmp_path / "seq", frames)
    base = RecordingTracker()
    tracker = Got10kTracker(base, is_deterministic=True)
    assert isinstance(tracker, ToolkitTracker)
    assert tracker.name == "recording"
    assert tracker.is_deterministic
    results, times = tracker.track(files, boxes[0])
    assert results.shape == (5, 4)
    assert times.shape == (5,)
    np.testing.assert_array_equal(results[0], boxes[0])
    np.testing.assert_allclose(results[1:], boxes[0] + np.outer(np.arange(1, 5), [3, 2, 0, 0]))
    for frame, seen in zip(frames, base.frames, strict=True):  # PIL RGB in, BGR to the tracker
        assert seen.dtype == np.uint8
        assert np.array_equal(seen, frame)


def test_got10k_toolkit_runs_an_opencv_tracker_with_the_refiner(
    tmp_path: Path, refiner: Refiner
) -> None:
    from alpha_refine.trackers import Got10kTracker

    frames, boxes = moving_box_frames(6, seed=7)
    files = _write_frames(tmp_path / "seq", frames)
    tracker = Got10kTracker(create_tracker("mil"), refiner, return_mask=True)
    assert tracker.name == "mil+AR"
    assert tracker.refined is not None
    results, _ = tracker.track(files, boxes[0])
    assert results.shape == (6, 4)
    assert np.all(np.isfinite(results))
    height, width = FRAME_SHAPE
    assert np.all(results[1:, 2:] >= 10)  # the refiner's minimum size
    assert np.all(results[1:, 0] >= 0)
    assert np.all(results[1:, 0] + results[1:, 2] <= width + 1e-9)
    assert np.all(results[1:, 1] + results[1:, 3] <= height + 1e-9)
    assert tracker.last_mask is not None
    assert tracker.last_mask.shape == FRAME_SHAPE
    with pytest.raises(TypeError, match="image must be a PIL image or an RGB uint8 array"):
        tracker.update("frame.png")


def test_got10k_refiner_sees_the_same_bgr_frames_as_a_direct_run(
    tmp_path: Path, refiner: Refiner
) -> None:
    frames, boxes = moving_box_frames(4, seed=8)
    files = _write_frames(tmp_path / "seq", frames)
    from alpha_refine.trackers import Got10kTracker

    results, _ = Got10kTracker(RecordingTracker(), refiner).track(files, boxes[0])
    direct = RefinedTracker(RecordingTracker(), refiner)
    direct.init(frames[0], boxes[0])
    expected = [direct.update(frame) for frame in frames[1:]]
    np.testing.assert_allclose(results[1:], expected, atol=1e-9)


def test_got10k_adapter_names_the_extra_when_the_toolkit_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "got10k", None)
    monkeypatch.setitem(sys.modules, "got10k.trackers", None)
    monkeypatch.delitem(sys.modules, "alpha_refine.trackers.got10k", raising=False)
    import alpha_refine.trackers as trackers

    with pytest.raises(ImportError, match=r"alpha-refine\[got10k\]"):
        trackers.Got10kTracker  # noqa: B018


# --- VOT toolkit -------------------------------------------------------------------------------

Rectangle = collections.namedtuple("Rectangle", ["x", "y", "width", "height"])
Point = collections.namedtuple("Point", ["x", "y"])
Polygon = collections.namedtuple("Polygon", ["points"])


def fake_vot_module(initial_region: Any, paths: list[str]) -> types.ModuleType:
    """A ``vot`` module with the integration file's API, serving ``paths`` one per ``frame()``
    and recording every ``report``; ``VOT`` checks region types as the real one does."""
    module = types.ModuleType("vot")
    reports: list[tuple[Any, float | None]] = []
    formats: list[str] = []

    class VOT:
        def __init__(self, region_format: str, channels: Any = None, multiobject: Any = None):
            assert region_format in ("rectangle", "polygon", "mask")
            formats.append(region_format)
            self._paths = list(paths)

        def region(self) -> Any:
            return initial_region

        def frame(self) -> str | None:
            return self._paths.pop(0) if self._paths else None

        def report(self, status: Any, confidence: float | None = None) -> None:
            if not isinstance(status, Rectangle | Polygon | np.ndarray):
                raise TypeError(f"cannot report a {type(status).__name__}")
            reports.append((status, confidence))

    module.VOT = VOT  # type: ignore[attr-defined]
    module.Rectangle = Rectangle  # type: ignore[attr-defined]
    module.Point = Point  # type: ignore[attr-defined]
    module.Polygon = Polygon  # type: ignore[attr-defined]
    module.reports = reports  # type: ignore[attr-defined]
    module.formats = formats  # type: ignore[attr-defined]
    return module


@pytest.fixture
def vot_sequence(tmp_path: Path) -> tuple[list[NDArray[np.uint8]], NDArray[np.float64], list[str]]:
    frames, boxes = moving_box_frames(5, seed=9)
    return frames, boxes, _write_frames(tmp_path / "vot", frames)


def test_vot_rectangle_loop_reports_the_base_boxes_and_scores(
    vot_sequence: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, boxes, paths = vot_sequence
    vot = fake_vot_module(Rectangle(*boxes[0]), paths)
    monkeypatch.setitem(sys.modules, "vot", vot)
    library = SiamRPNTracker()
    assert run_vot(PysotTracker(library)) == len(frames) - 1
    assert vot.formats == ["rectangle"]
    assert len(vot.reports) == len(frames) - 1
    x, y, w, h = boxes[0]
    for index, (region, confidence) in enumerate(vot.reports, start=1):
        assert isinstance(region, Rectangle)
        np.testing.assert_allclose(region, [x + 2 * index - 0.5, y + index - 0.5, w, h])
        assert confidence == 0.75
    for seen, frame in zip(library.images, frames, strict=True):
        assert np.array_equal(seen, frame)  # read as BGR


def test_vot_rectangle_loop_with_refiner_matches_a_direct_run(
    vot_sequence: Any, refiner: Refiner, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, boxes, paths = vot_sequence
    vot = fake_vot_module(Rectangle(*boxes[0]), paths)
    monkeypatch.setitem(sys.modules, "vot", vot)
    run_vot(PysotTracker(SiamRPNTracker()), refiner, "rectangle")
    direct = RefinedTracker(PysotTracker(SiamRPNTracker()), refiner)
    direct.init(frames[0], boxes[0])
    expected = [direct.update(frame) for frame in frames[1:]]
    np.testing.assert_allclose([region for region, _ in vot.reports], expected, atol=1e-9)


def test_vot_mask_loop(
    vot_sequence: Any, refiner: Refiner, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, boxes, paths = vot_sequence
    x, y, w, h = boxes[0].astype(int)
    # VOT masks start at the frame's corner and may end before its far edges.
    initial = np.zeros((y + h + 3, x + w + 5), dtype=np.uint8)
    initial[y : y + h, x : x + w] = 1
    base = RecordingTracker()
    vot = fake_vot_module(initial, paths)
    monkeypatch.setitem(sys.modules, "vot", vot)
    assert run_vot(lambda: base, None, region_format="mask") == len(frames) - 1
    np.testing.assert_array_equal(base.frames[0], frames[0])
    for index, (mask, confidence) in enumerate(vot.reports, start=1):
        expected_box = boxes[0] + np.array([3.0 * index, 2.0 * index, 0, 0])
        np.testing.assert_array_equal(mask, box_to_vot_mask(expected_box, FRAME_SHAPE))
        assert mask.dtype == np.uint8
        assert int(mask.sum()) == w * h
        assert confidence is None  # the recording tracker has no score

    vot = fake_vot_module(initial, paths)
    monkeypatch.setitem(sys.modules, "vot", vot)
    run_vot(RecordingTracker(), refiner, "mask", mask_threshold=0.5)
    direct = RefinedTracker(RecordingTracker(), refiner, return_mask=True)
    direct.init(frames[0], boxes[0])
    for (mask, _), frame in zip(vot.reports, frames[1:], strict=True):
        box = direct.update(frame)
        assert direct.last_mask is not None
        refined_mask = threshold_mask(direct.last_mask, 0.5).astype(np.uint8)
        expected = refined_mask if refined_mask.any() else box_to_vot_mask(box, FRAME_SHAPE)
        assert mask.shape == FRAME_SHAPE
        np.testing.assert_array_equal(mask, expected)


def test_vot_errors_name_the_problem(
    vot_sequence: Any, refiner: Refiner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, boxes, paths = vot_sequence
    monkeypatch.setitem(sys.modules, "vot", None)
    with pytest.raises(ImportError, match=r"vot\.py integration module"):
        run_vot(RecordingTracker(), refiner)
    monkeypatch.setitem(sys.modules, "vot", types.ModuleType("vot"))
    with pytest.raises(ImportError, match="has no VOT class"):
        run_vot(RecordingTracker(), refiner)
    monkeypatch.setitem(sys.modules, "vot", fake_vot_module(Rectangle(*boxes[0]), paths))
    with pytest.raises(ValueError, match="region_format must be one of"):
        run_vot(RecordingTracker(), refiner, "polygon")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tracker must be an alpha_refine\.trackers\.Tracker"):
        run_vot(42, refiner)  # type: ignore[arg-type]
    empty = np.zeros(FRAME_SHAPE, dtype=np.uint8)
    monkeypatch.setitem(sys.modules, "vot", fake_vot_module(empty, paths))
    with pytest.raises(ValueError, match="initial VOT mask is empty"):
        run_vot(RecordingTracker(), None, "mask")
    monkeypatch.setitem(sys.modules, "vot", fake_vot_module(Rectangle(*boxes[0]), ["missing.png"]))
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        run_vot(RecordingTracker(), None)

"""The app's functions without a browser: boxes from clicks, limits, bad files, the files a run
writes, and that a run's boxes are ``alpha-refine demo``'s for the same clip, box and tracker."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from alpha_refine import Refiner
from alpha_refine.app.results import (
    RefinerPool,
    RunOptions,
    format_summary,
    iou_curves,
    read_boxes_csv,
    summary,
    track,
    write_outputs,
)
from alpha_refine.app.session import AppError, Cancelled, Limits, Workspace
from alpha_refine.app.video import (
    box_from_corners,
    check_box,
    first_frame,
    generated_video,
    open_video,
    parse_box,
    video_sequence,
)
from alpha_refine.demo import demo_sequence, run_demo
from alpha_refine.demo import video_sequence as demo_video_sequence
from alpha_refine.eval.tracking import RefinerOptions, load_refiner


class TemplateTracker:
    """A deterministic stand-in for OpenCV's MIL (which draws random samples): grey template
    matching in a window around the last box, fixed size."""

    name = "template"

    def init(self, frame: np.ndarray, box: Any) -> None:
        self.box = np.asarray(box, dtype=np.float64)
        x, y, w, h = (round(v) for v in self.box)
        self.template = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[y : y + h, x : x + w]

    def update(self, frame: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        height, width = self.template.shape
        x, y = round(self.box[0]), round(self.box[1])
        x0, y0 = max(x - 16, 0), max(y - 16, 0)
        x1 = min(x + width + 16, gray.shape[1])
        y1 = min(y + height + 16, gray.shape[0])
        scores = cv2.matchTemplate(gray[y0:y1, x0:x1], self.template, cv2.TM_CCOEFF_NORMED)
        _, _, _, best = cv2.minMaxLoc(scores)
        self.box = np.array([x0 + best[0], y0 + best[1], self.box[2], self.box[3]], np.float64)
        return self.box.copy()


@pytest.fixture
def deterministic_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tracker the demo (and so the app) creates is a :class:`TemplateTracker`."""
    monkeypatch.setattr("alpha_refine.demo.create_tracker", lambda name, **_: TemplateTracker())


@pytest.fixture(scope="module")
def refiner() -> Iterator[Refiner]:
    """The embedded model in float32 on the CPU, one thread, as the app loads it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHA_REFINE_BACKEND", "torch")
        loaded = load_refiner("default", "cpu", RefinerOptions())
    assert loaded is not None
    yield loaded
    torch.set_num_threads(threads)


def write_clip(path: Path, frames: int = 6, fourcc: str = "MJPG") -> Path:
    """``frames`` frames of the generated clip as a video file."""
    clip = demo_sequence()
    height, width = clip.frame(0).shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 15, (width, height))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(clip.frame(index))
    writer.release()
    return path


def test_two_clicks_give_the_box_between_them_in_either_order() -> None:
    assert box_from_corners((10, 20), (50, 80)) == (10, 20, 40, 60)
    assert box_from_corners((50, 80), (10, 20)) == (10, 20, 40, 60)
    assert box_from_corners((50, 20), (10, 80)) == (10, 20, 40, 60)


def test_typed_boxes_and_checks() -> None:
    video = generated_video()  # 480 x 360
    assert parse_box("1, 2, 30.5 40") == (1, 2, 30.5, 40)
    with pytest.raises(AppError, match="four numbers"):
        parse_box("1, 2, 3")
    with pytest.raises(AppError, match="four numbers"):
        parse_box("a, b, c, d")
    assert check_box((0, 0, 480, 360), video) == (0, 0, 480, 360)
    with pytest.raises(AppError, match="at least 2 x 2"):
        check_box((10, 10, 0, 20), video)
    with pytest.raises(AppError, match="not inside the 480 x 360 frame"):
        check_box((470, 10, 20, 20), video)
    with pytest.raises(AppError, match="not inside"):
        check_box((-1, 10, 20, 20), video)
    with pytest.raises(AppError, match="not finite"):
        check_box((float("nan"), 10, 20, 20), video)


def test_limits_are_checked() -> None:
    assert Limits().max_frames == 300
    with pytest.raises(ValueError, match="max_frames"):
        Limits(max_frames=1)
    with pytest.raises(ValueError, match="max_megabytes"):
        Limits(max_megabytes=0)


def test_a_video_is_opened_and_counted(tmp_path: Path) -> None:
    video = open_video(write_clip(tmp_path / "clip.avi", frames=7), Limits())
    assert (video.frames, video.width, video.height) == (7, 480, 360)
    assert video.fps == pytest.approx(15) and not video.has_truth
    assert first_frame(video).shape == (360, 480, 3)


def test_bad_files_get_a_message(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(AppError, match="not a video file name"):
        open_video(text, Limits())
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video either, whatever the name says")
    with pytest.raises(AppError, match=r"fake\.mp4: (OpenCV cannot read it|no frames)"):
        open_video(fake, Limits())
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match=r"empty\.webm"):
        open_video(empty, Limits())
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(write_clip(tmp_path / "whole.avi").read_bytes()[:300])
    with pytest.raises(AppError, match=r"damaged\.avi"):
        open_video(damaged, Limits())


def test_videos_over_the_limits_are_refused(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=6)
    with pytest.raises(AppError, match=r"more than 5 frames.*--max-frames"):
        open_video(clip, Limits(max_frames=5))
    with pytest.raises(AppError, match=r"limit of 0\.001 MB.*--max-megabytes"):
        open_video(clip, Limits(max_megabytes=0.001))
    one = write_clip(tmp_path / "one.avi", frames=1)
    with pytest.raises(AppError, match="only one frame"):
        open_video(one, Limits())


def test_sessions_have_their_own_folders_deleted_at_the_end(tmp_path: Path) -> None:
    with Workspace(tmp_path) as workspace:
        upload = workspace.root / "0123abcd" / "clip.avi"
        upload.parent.mkdir()
        upload.write_bytes(b"video")
        adopted = workspace.adopt(upload, "session-a")
        assert adopted == workspace.session_dir("session-a") / "upload" / "clip.avi"
        assert adopted.read_bytes() == b"video" and not upload.parent.exists()
        workspace.session_dir("session-b")
        outside = tmp_path / "elsewhere.avi"
        outside.write_bytes(b"x")
        with pytest.raises(AppError, match="not an upload of this app"):
            workspace.adopt(outside, "session-b")
        with pytest.raises(AppError, match="bad session id"):
            workspace.session_dir("../escape")
        workspace.cancel_flag("session-a").set()
        workspace.end_session("session-a")
        assert not workspace.cancel_flag("session-a").is_set()
        assert not (workspace.root / "sessions" / "session-a").exists()
        assert (workspace.root / "sessions" / "session-b").is_dir()
        root = workspace.root
    assert not root.exists() and outside.exists()


@pytest.mark.usefixtures("deterministic_tracker")
def test_a_run_on_the_generated_clip_gives_the_demos_boxes(
    refiner: Refiner, tmp_path: Path
) -> None:
    video = generated_video()
    box = box_from_corners((194, 213), (261, 254))  # the clip's first box
    run = track(video, box, refiner.clone(), RunOptions("mil"))
    sequence = demo_sequence()
    sequence.boxes[0] = box
    expected = run_demo(sequence, refiner.clone(), "mil", progress=False)
    np.testing.assert_array_equal(run.result.base_boxes, expected.base_boxes)
    np.testing.assert_array_equal(run.result.refined_boxes, expected.refined_boxes)

    outputs = write_outputs(run, tmp_path / "run")
    names = [path.name for path in outputs.downloads]
    assert names == ["boxes.csv", "boxes.json", "result.mp4"]
    base, refined = read_boxes_csv(outputs.downloads[0])
    np.testing.assert_array_equal(base, expected.base_boxes)
    np.testing.assert_array_equal(refined, expected.refined_boxes)
    content = json.loads(outputs.downloads[1].read_text())
    assert content["box_format"] == "xywh" and content["frames"] == 100
    np.testing.assert_array_equal(content["refined"], expected.refined_boxes)
    assert outputs.shown.suffix in (".webm", ".mp4")
    capture = cv2.VideoCapture(str(outputs.shown))
    assert capture.read()[0] and capture.get(cv2.CAP_PROP_FRAME_COUNT) in (0, 100, -1)
    capture.release()

    curves = iou_curves(run)
    assert set(curves) == {"base", "base + AR"} and len(curves["base"]) == 100
    info = summary(run)
    assert 0 < info["mean_iou"]["base + AR"] <= 1 and info["refine_ms_per_frame"] > 0
    text = format_summary(info, blend_asked=False)
    assert "ms per frame" in text and "base + AR" in text


@pytest.mark.usefixtures("deterministic_tracker")
def test_a_run_on_a_video_file_reads_it_as_the_demo_does(refiner: Refiner, tmp_path: Path) -> None:
    video = open_video(write_clip(tmp_path / "clip.avi", frames=8), Limits())
    box = (194.0, 213.0, 67.0, 41.0)
    run = track(video, box, refiner.clone(), RunOptions("mil", mask=False))
    assert video.path is not None
    sequence = demo_video_sequence(video.path, np.asarray(box), max_frames=300)
    expected = run_demo(sequence, refiner.clone(), "mil", progress=False)
    np.testing.assert_array_equal(run.result.refined_boxes, expected.refined_boxes)
    assert list(iou_curves(run)) == ["base vs base + AR"]
    outputs = write_outputs(run, tmp_path / "run")
    assert all(path.stat().st_size > 0 for path in outputs.downloads)


@pytest.mark.usefixtures("deterministic_tracker")
def test_a_run_stops_when_cancelled(refiner: Refiner) -> None:
    seen: list[int] = []

    def on_frame(index: int, frames: int) -> None:
        seen.append(index)
        if index == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        track(generated_video(), (194, 213, 67, 41), refiner.clone(), RunOptions(), on_frame)
    assert seen[-1] == 3 and len(seen) < 10


def test_refiner_pool_loads_once_per_flip_and_clones() -> None:
    loaded: list[bool] = []

    def load(flip: bool) -> Any:
        loaded.append(flip)
        return SimpleNamespace(clone=lambda: SimpleNamespace(blend=None), blend=False)

    pool = RefinerPool(load)
    first, second = pool.get(blend=True, flip=False), pool.get(blend=False, flip=False)
    assert first is not second and (first.blend, second.blend) == (True, False)
    pool.get(blend=False, flip=True)
    assert loaded == [False, True]


def test_the_first_frame_of_a_sequence_is_the_drawn_box() -> None:
    sequence = video_sequence(generated_video(), (1.0, 2.0, 30.0, 40.0))
    assert tuple(sequence.boxes[0]) == (1, 2, 30, 40)
    assert np.isfinite(sequence.boxes[1:]).all()  # the ground truth stays


def test_handlers_keep_each_sessions_own_data(refiner: Refiner, tmp_path: Path) -> None:
    gr = pytest.importorskip("gradio")
    from alpha_refine.app.ui import Handlers, Selection

    with Workspace(tmp_path) as workspace:
        handlers = Handlers(workspace, RefinerPool(lambda flip: refiner), Limits())
        one, two = SimpleNamespace(session_hash="one"), SimpleNamespace(session_hash="two")
        selection, preview, _, status, _ = handlers.load_generated(one)
        assert "100 frames" in status and Path(preview).parent.parent.name == "one"
        click = SimpleNamespace(index=[190, 210])
        selection, _, text, status = handlers.click(selection, click, one)
        assert selection.corner == (190, 210) and text == ""
        selection, _, text, status = handlers.click(
            selection, SimpleNamespace(index=[262, 255]), one
        )
        assert selection.box == (190, 210, 72, 45) and text == "190, 210, 72, 45"

        upload = workspace.root / "fedcba" / "notes.mp4"
        upload.parent.mkdir()
        upload.write_text("no video here")
        other, _, _, status, _ = handlers.load_upload(str(upload), two)
        assert other == Selection() and "notes.mp4" in status and "Error" in status
        assert handlers.run(other, "mil", True, False, False, two, lambda *a, **k: None)[
            -1
        ].startswith("Load a video")
        assert selection.box == (190, 210, 72, 45)  # the first session's box is untouched

        typed, _, status = handlers.type_box(selection, "0, 0, 500, 10", one)
        assert typed == selection and "not inside" in status
        handlers.end(one)
        assert not (workspace.root / "sessions" / "one").exists()
        assert gr is not None


@pytest.mark.slow
def test_the_app_command_serves_until_stopped_then_deletes_its_folder(tmp_path: Path) -> None:
    pytest.importorskip("gradio")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),  # where the app makes its folder
        "ALPHA_REFINE_BACKEND": "torch",
        "ALPHA_REFINE_CACHE": str(tmp_path / "graph-cache"),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "alpha_refine.cli", "app", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        output, deadline = "", time.monotonic() + 120
        while "open http" not in output and time.monotonic() < deadline:
            if select.select([process.stdout], [], [], 1.0)[0]:
                line = process.stdout.readline()
                if not line:
                    break
                output += line
        address = f"http://127.0.0.1:{port}/"
        assert address in output, output
        with urllib.request.urlopen(address, timeout=30) as response:
            assert response.status == 200
        folders = list(tmp_path.glob("alpha-refine-app-*"))
        assert len(folders) == 1 and folders[0].is_dir()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not folders[0].exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

"""OpenCV's deep trackers (NanoTrack, VitTrack, DaSiamRPN): model files, adapters, download.

The real model files are never in the repository. Tests that run the trackers look for them in
``$ALPHA_REFINE_TRACKER_MODELS`` or the checkout's ``data/opencv-trackers`` and skip, saying
so, when they are absent (as on CI); the others use stand-in files the tests make.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from alpha_refine.cli import main
from alpha_refine.eval.runner import evaluate_trackers
from alpha_refine.trackers import (
    MODEL_FILES,
    OpenCVTracker,
    StatefulTracker,
    TrackerModelError,
    TrackerModelsMissingError,
    TrackerUnavailableError,
    available_trackers,
    create_tracker,
    find_model_files,
)
from alpha_refine.trackers import models as tracker_models
from alpha_refine.trackers.models import ModelFile, download_models, file_digest
from tracking_fixtures import moving_box_frames, write_plain_dataset

ROOT = Path(__file__).resolve().parents[1]
NANO = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")


def _real_models() -> Path | None:
    """The folder with the real nano and vit files, or ``None``."""
    candidates = [os.environ.get(tracker_models.MODELS_ENV, ""), str(ROOT / "data/opencv-trackers")]
    for candidate in filter(None, candidates):
        folder = Path(candidate)
        if all((folder / name).is_file() for name in (*NANO, "vitTracker.onnx")):
            return folder
    return None


REAL = _real_models()
needs_real = pytest.mark.skipif(
    REAL is None,
    reason="the NanoTrack and VitTrack model files are not here (they are never in git); run "
    "`alpha-refine download-trackers` or set ALPHA_REFINE_TRACKER_MODELS to run these tests",
)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty explicit, environment and cache folders; the environment variable and the cache
    point at the last two."""
    made = {
        "explicit": tmp_path / "explicit",
        "env": tmp_path / "env",
        "cache": tmp_path / "cache" / "opencv-trackers",
    }
    for folder in made.values():
        folder.mkdir(parents=True)
    monkeypatch.setenv(tracker_models.MODELS_ENV, str(made["env"]))
    monkeypatch.setenv("ALPHA_REFINE_CACHE", str(tmp_path / "cache"))
    return made


def _stand_ins(folder: Path, names: tuple[str, ...] = NANO) -> None:
    for name in names:
        (folder / name).write_bytes(f"stand-in {folder.name}/{name}".encode())


# ------------------------------------------------------------------------------ finding files


def test_a_missing_file_names_itself_the_places_looked_at_and_the_fix(
    folders: dict[str, Path],
) -> None:
    _stand_ins(folders["env"], NANO[:1])  # only the backbone: the head is missing
    with pytest.raises(TrackerModelsMissingError) as caught:
        create_tracker("nano")
    message = str(caught.value)
    assert "nanotrack_head_sim.onnx (neckhead)" in message
    assert "nanotrack_backbone_sim.onnx" not in message.split("Looked in")[0]
    assert f"{folders['env']} ($ALPHA_REFINE_TRACKER_MODELS)" in message
    assert f"{folders['cache']} (the cache folder)" in message
    assert "`alpha-refine download-trackers nano`" in message
    assert "HonglinChu/SiamTrackers/8fe6791fecf13b95e6f19770af8963a9fc98759b" in message
    # A TrackerUnavailableError: eval and the CLI report it like an uninstalled tracker.
    assert isinstance(caught.value, TrackerUnavailableError)
    assert "nano" not in available_trackers()


def test_dasiamrpn_says_which_of_its_three_files_are_missing(folders: dict[str, Path]) -> None:
    # Its files (about 160 MB) are not available here: only the error path can be tested.
    _stand_ins(folders["env"], ("dasiamrpn_model.onnx",))
    with pytest.raises(TrackerModelsMissingError) as caught:
        create_tracker("dasiamrpn")
    message = str(caught.value)
    missing = "dasiamrpn_kernel_cls1.onnx (kernel_cls1), dasiamrpn_kernel_r1.onnx (kernel_r1)"
    assert missing in message and "dasiamrpn_model.onnx (model)" not in message
    assert "download-trackers dasiamrpn` (about 160 MB in all)" in message
    assert "dropbox.com/s/qvmtszx5h339a0w/dasiamrpn_kernel_cls1.onnx" in message


def test_an_explicit_folder_or_file_is_never_skipped(folders: dict[str, Path]) -> None:
    _stand_ins(folders["env"])
    with pytest.raises(TrackerModelsMissingError, match="model_dir") as caught:
        find_model_files("nano", model_dir=folders["explicit"])
    assert f"download-trackers nano --dir {folders['explicit']}" in str(caught.value)
    missing = folders["explicit"] / "nope.onnx"
    with pytest.raises(TrackerModelsMissingError, match=f"neckhead file {missing}"):
        find_model_files("nano", files={"neckhead": missing})
    with pytest.raises(ValueError, match="files: vit has no model file 'backbone'"):
        find_model_files("vit", files={"backbone": missing})


def test_files_are_found_explicit_first_then_environment_then_cache(
    folders: dict[str, Path],
) -> None:
    for folder in folders.values():
        _stand_ins(folder)
    explicit, env, cache = folders["explicit"], folders["env"], folders["cache"]
    assert find_model_files("nano", model_dir=explicit)["backbone"] == explicit / NANO[0]
    assert find_model_files("nano")["backbone"] == env / NANO[0]
    for name in NANO:
        (env / name).unlink()
    assert find_model_files("nano")["neckhead"] == cache / NANO[1]
    # One file given by path, the other from the first folder that has it.
    own = explicit / "my-backbone.onnx"
    own.write_bytes(b"mine")
    found = find_model_files("nano", files={"backbone": own})
    assert found == {"backbone": own, "neckhead": cache / NANO[1]}


def test_a_tracker_never_mixes_files_of_two_folders(folders: dict[str, Path]) -> None:
    _stand_ins(folders["env"], NANO[:1])  # the environment's folder lacks the head
    _stand_ins(folders["cache"])
    found = find_model_files("nano")
    assert set(found.values()) == {folders["cache"] / n for n in NANO}


def test_the_newer_vittrack_file_is_accepted(folders: dict[str, Path]) -> None:
    _stand_ins(folders["cache"], ("object_tracking_vittrack_2023sep.onnx",))
    assert find_model_files("vit")["net"].name == "object_tracking_vittrack_2023sep.onnx"
    _stand_ins(folders["cache"], ("vitTracker.onnx",))
    assert find_model_files("vit")["net"].name == "vitTracker.onnx"  # the pinned name first


def test_with_the_cache_off_only_the_environment_is_searched(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHA_REFINE_CACHE", "off")
    monkeypatch.delenv(tracker_models.MODELS_ENV)
    with pytest.raises(TrackerModelsMissingError, match="nowhere"):
        find_model_files("vit")
    with pytest.raises(ValueError, match="pass --dir"):
        tracker_models.default_download_folder()


def test_unloadable_files_fail_when_the_adapter_is_made(folders: dict[str, Path]) -> None:
    _stand_ins(folders["env"], ("vitTracker.onnx",))
    with pytest.raises(TrackerModelError, match=r"VitTrack could not load .*vitTracker\.onnx"):
        create_tracker("vit")
    with pytest.raises(ValueError, match="files: OpenCV MIL has no model files"):
        create_tracker("mil", files={"net": folders["env"] / "vitTracker.onnx"})


# ------------------------------------------------------------------------ the real trackers


@needs_real
def test_the_pinned_hashes_are_those_of_the_files_here() -> None:
    assert REAL is not None
    for tracker in ("nano", "vit"):
        for entry in MODEL_FILES[tracker]:
            assert entry.sha256 == file_digest(REAL / entry.filename)
            if entry.sha1 is not None:
                assert entry.sha1 == file_digest(REAL / entry.filename, "sha1")


@needs_real
@pytest.mark.parametrize("name", ["nano", "vit"])
def test_deep_trackers_follow_a_moving_target_and_report_a_score(name: str) -> None:
    frames, boxes = moving_box_frames(8, seed=1)
    # The tracker needs a larger frame than the fixtures' 128 x 96 for its search region.
    tracker = create_tracker(name, model_dir=REAL)
    assert isinstance(tracker, OpenCVTracker) and not isinstance(tracker, StatefulTracker)
    assert set(tracker.model_files) == {m.param for m in MODEL_FILES[name]}
    tracker.init(frames[0], boxes[0] + [0.3, 0.0, 0.0, 0.0])
    assert tracker.last_score is None
    scores = []
    for frame, truth in zip(frames[1:], boxes[1:], strict=True):
        box = tracker.update(frame)
        assert box.shape == (4,) and box.dtype == np.float64
        assert np.all(np.abs(box[:2] - truth[:2]) <= 8), (box, truth)
        assert tracker.last_score is not None
        scores.append(tracker.last_score)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert not tracker.lost
    assert name in available_trackers(REAL)


@needs_real
def test_separate_adapters_run_side_by_side_in_threads() -> None:
    frames, boxes = moving_box_frames(6, seed=4)

    def run(into: list[np.ndarray]) -> None:
        tracker = create_tracker("nano", model_dir=REAL)
        tracker.init(frames[0], boxes[0])
        into.extend(tracker.update(frame) for frame in frames[1:])

    alone: list[np.ndarray] = []
    run(alone)
    results: list[list[np.ndarray]] = [[], []]
    threads = [threading.Thread(target=run, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(np.array(result), np.array(alone))


@needs_real
@pytest.mark.slow
def test_eval_runs_deep_trackers_in_worker_processes(tmp_path: Path) -> None:
    dataset = f"plain:{write_plain_dataset(tmp_path / 'plain', ['alpha', 'bravo'], 4)}"
    out = tmp_path / "out"
    report = evaluate_trackers(
        dataset,
        ["nano", "vit"],
        out,
        workers=2,
        tracker_models=REAL,
        progress=False,
        plots=False,
    )
    assert report is not None and [c.tracker for c in report.comparisons] == ["nano", "vit"]
    run = json.loads((out / "nano" / "run.json").read_text())
    assert run["tracker_models"] == {m.filename: m.sha256 for m in MODEL_FILES["nano"]}


# -------------------------------------------------------------------------------- download


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (in a thread) serving a folder; yields its URL and the folder."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _fake_tracker(monkeypatch: pytest.MonkeyPatch, contents: dict[str, bytes]) -> None:
    """Make ``nano``'s files the given stand-ins, pinned by SHA-256 (the first) or SHA-1."""
    entries = []
    for index, (name, content) in enumerate(contents.items()):
        sha256 = hashlib.sha256(content).hexdigest() if index == 0 else None
        sha1 = None if index == 0 else hashlib.sha1(content).hexdigest()
        entries.append(ModelFile(f"p{index}", name, f"unused://{name}", sha256, sha1, "test"))
    monkeypatch.setitem(tracker_models.MODEL_FILES, "nano", tuple(entries))


def test_download_checks_hashes_and_keeps_good_files(
    server: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, served = server
    contents = {"one.onnx": b"first file" * 1000, "two.onnx": b"second file"}
    _fake_tracker(monkeypatch, contents)
    for name, content in contents.items():
        (served / name).write_bytes(content)
    target = tmp_path / "models"
    assert main(["download-trackers", "nano", "--dir", str(target), "--base-url", url]) == 0
    for name, content in contents.items():
        assert (target / name).read_bytes() == content
    assert "SHA256 checked" in capsys.readouterr().out
    done = download_models(["nano"], target, base_url=url)
    assert [d.status for d in done] == ["present", "present"]


def test_a_hash_mismatch_fails_and_writes_nothing(
    server: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, served = server
    _fake_tracker(monkeypatch, {"one.onnx": b"pinned", "two.onnx": b"pinned too"})
    (served / "one.onnx").write_bytes(b"pinned")
    (served / "two.onnx").write_bytes(b"changed upstream")
    target = tmp_path / "models"
    assert main(["download-trackers", "nano", "--dir", str(target), "--base-url", url]) == 2
    error = capsys.readouterr().err
    assert "two.onnx: SHA1" in error and hashlib.sha1(b"pinned too").hexdigest() in error
    assert sorted(p.name for p in target.iterdir()) == ["one.onnx"]  # no temporary left


def test_a_different_file_there_is_replaced_only_with_force(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    _fake_tracker(monkeypatch, {"one.onnx": b"pinned"})
    (served / "one.onnx").write_bytes(b"pinned")
    target = tmp_path / "models"
    target.mkdir()
    (target / "one.onnx").write_bytes(b"a user's own export")
    with pytest.raises(ValueError, match="pass --force"):
        download_models(["nano"], target, base_url=url)
    assert (target / "one.onnx").read_bytes() == b"a user's own export"
    download_models(["nano"], target, base_url=url, force=True)
    assert (target / "one.onnx").read_bytes() == b"pinned"


def test_download_failures_name_the_url(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    _fake_tracker(monkeypatch, {"absent.onnx": b"x"})
    with pytest.raises(OSError, match=r"cannot download http://.*/absent\.onnx \(HTTP 404"):
        download_models(["nano"], tmp_path / "models", base_url=url)
    assert list((tmp_path / "models").iterdir()) == []


def test_download_goes_where_the_adapters_look(
    server: tuple[str, Path], folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = server
    _fake_tracker(monkeypatch, {"one.onnx": b"pinned"})
    (served / "one.onnx").write_bytes(b"pinned")
    assert download_models(["nano"], base_url=url)[0].path == folders["env"] / "one.onnx"
    monkeypatch.delenv(tracker_models.MODELS_ENV)
    assert download_models(["nano"], base_url=url)[0].path == folders["cache"] / "one.onnx"
    assert find_model_files("nano") == {"p0": folders["cache"] / "one.onnx"}


def test_download_command_rejects_unknown_trackers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download-trackers", "csrt"]) == 2
    assert "trackers with model files: nano, vit, dasiamrpn" in capsys.readouterr().err

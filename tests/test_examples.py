"""The runnable examples run (offline, on generated data, with the embedded default model).

pysot_siamrpn.py and pytracking_dimp.py need those libraries and their weights; their adapters
are tested in test_integrations.py.
"""

from __future__ import annotations

import math
import pickle
import runpy
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from test_integrations import DiMP, Rectangle, SiamMaskTracker, fake_vot_module
from tracking_fixtures import moving_box_frames

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# The CI machine is shared: one thread is much faster than an oversubscribed pool.
pytestmark = pytest.mark.usefixtures("one_thread")


def _load(name: str) -> dict[str, Any]:
    """The example's globals, without running its ``__main__`` block."""
    return runpy.run_path(str(EXAMPLES / name), run_name=f"example_{Path(name).stem}")


def test_opencv_example(capsys: pytest.CaptureFixture[str]) -> None:
    main = _load("opencv_tracker.py")["main"]
    means = main(["--frames", "6", "--device", "cpu"])
    assert set(means) == {"base", "refined"}
    assert all(0.0 <= value <= 1.0 for value in means.values())
    assert "mil on 6 generated frames (feedback none)" in capsys.readouterr().out
    own = main(["--frames", "5", "--own", "--feedback", "reinit", "--device", "cpu"])
    assert own["base"] > 0.3  # the hand-made MIL wrapper follows the target
    assert "own-mil on 5 generated frames (feedback reinit)" in capsys.readouterr().out


def test_got10k_example_runs_the_toolkit_experiment(tmp_path: Path) -> None:
    main = _load("got10k_experiment.py")["main"]
    performance = main(
        ["--sequences", "1", "--frames", "6", "--device", "cpu", "--out", str(tmp_path / "out")]
    )
    assert set(performance) == {"mil", "mil+AR"}
    for scores in performance.values():
        assert 0.0 <= scores["overall"]["ao"] <= 1.0
        assert scores["seq_wise"]["GOT-10k_Val_000001"]["length"] == 5
    results = tmp_path / "out" / "results" / "GOT-10k" / "mil+AR" / "GOT-10k_Val_000001"
    boxes = np.loadtxt(results / "GOT-10k_Val_000001_001.txt", delimiter=",")
    assert boxes.shape == (6, 4)
    assert (tmp_path / "out" / "reports" / "GOT-10k" / "mil" / "performance.json").is_file()


def test_vot_example_in_mask_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames, boxes = moving_box_frames(4, seed=11)
    paths = []
    for index, frame in enumerate(frames):
        path = tmp_path / f"{index:08d}.png"
        cv2.imwrite(str(path), frame)
        paths.append(str(path))
    vot = fake_vot_module(Rectangle(*boxes[0]), paths)
    monkeypatch.setitem(sys.modules, "vot", vot)
    monkeypatch.setenv("ALPHA_REFINE_VOT_TRACKER", "mil")
    monkeypatch.setenv("ALPHA_REFINE_VOT_FORMAT", "mask")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _load("vot_integration.py")  # the toolkit imports the module; the loop runs on import
    assert vot.formats == ["mask"]
    assert len(vot.reports) == len(frames) - 1
    for mask, confidence in vot.reports:
        assert mask.shape == frames[0].shape[:2]
        assert mask.dtype == np.uint8
        assert mask.any()
        assert confidence is None


def test_figure_example(tmp_path: Path) -> None:
    main = _load("track_figure.py")["main"]
    out = main(["--out", str(tmp_path / "figure.jpg"), "--frames", "6", "--panels", "2"])
    image = cv2.imread(str(out))
    assert image is not None
    assert image.shape == (30 + 240, 2 * 320 + 4, 3)  # legend, two doubled 160 x 120 crops
    assert not math.isclose(float(image.std()), 0.0)


# --- pysot and pytracking examples, on stand-ins of those libraries ---------------------------


def _install_modules(monkeypatch: pytest.MonkeyPatch, **modules: Any) -> None:
    """Put ``modules`` (dotted name -> attributes) into ``sys.modules`` with their parents."""
    for name, attributes in modules.items():
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix not in sys.modules or depth == len(parts):
                monkeypatch.setitem(sys.modules, prefix, types.ModuleType(prefix))
        for key, value in attributes.items():
            setattr(sys.modules[name], key, value)


def _write_images(folder: Path, count: int, seed: int) -> np.ndarray:
    folder.mkdir()
    frames, boxes = moving_box_frames(count, seed=seed)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:08d}.png"), frame)
    return boxes


def test_pysot_example_reads_a_glob_and_writes_every_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes = _write_images(tmp_path / "img", 4, seed=31)
    merged: list[str] = []
    config = types.SimpleNamespace(CUDA=None, merge_from_file=merged.append)
    built: list[SiamMaskTracker] = []

    def build_tracker(model: torch.nn.Module) -> SiamMaskTracker:
        assert not model.training
        built.append(SiamMaskTracker())
        return built[-1]

    _install_modules(
        monkeypatch,
        **{
            "pysot.core.config": {"cfg": config},
            "pysot.models.model_builder": {"ModelBuilder": lambda: torch.nn.Linear(2, 2)},
            "pysot.tracker.tracker_builder": {"build_tracker": build_tracker},
        },
    )
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "model.pth")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main = _load("pysot_siamrpn.py")["main"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for step in ("git clone https://github.com/STVIR/pysot", "np.float64", "Type mismatch"):
        assert step in help_text

    out = tmp_path / "out.mp4"
    x, y, w, h = (round(float(v)) for v in boxes[0])
    main(
        [
            *("--config", "config.yaml", "--snapshot", str(tmp_path / "model.pth")),
            *("--video", str(tmp_path / "img" / "*.png"), "--box", f"{x},{y},{w},{h}"),
            *("--out", str(out)),
        ]
    )
    assert merged == ["config.yaml"]
    assert config.CUDA is False
    assert len(built[0].images) == 4  # init and three tracked frames
    assert len(capsys.readouterr().out.splitlines()) == 3
    video = cv2.VideoCapture(str(out))
    written = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        written.append(frame)
    assert len(written) == 4  # frame 0 too
    # Frame 0 shows the given box in green.
    edge = written[0][y, x + 2 : x + w - 2].astype(int)
    assert (edge[:, 1] > 150).all() and (edge[:, 2] < 100).all()


TOMP_ON_CPU = ["--tracker", "tomp", "--param", "tomp50", "--device", "cpu"]


class _Params(types.SimpleNamespace):
    def has(self, name: str) -> bool:
        return hasattr(self, name)


def _fake_pytracking(monkeypatch: pytest.MonkeyPatch, tracker: DiMP) -> list[_Params]:
    """``pytracking.evaluation.Tracker`` whose parameter files ask for the GPU, as the real ones
    do (``params.use_gpu = True``, ``NetWithBackbone(..., use_gpu=params.use_gpu)``)."""
    created: list[_Params] = []

    class Tracker:
        def __init__(self, name: str, parameter_name: str) -> None:
            self.name, self.parameter_name = name, parameter_name

        def get_parameters(self) -> _Params:
            return _Params(use_gpu=True, net=types.SimpleNamespace(use_gpu=True))

        def create_tracker(self, params: _Params) -> DiMP:
            created.append(params)
            return tracker

    _install_modules(monkeypatch, **{"pytracking.evaluation": {"Tracker": Tracker}})
    return created


def test_pytracking_example_runs_tomp_on_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boxes = _write_images(tmp_path / "img", 4, seed=32)
    tomp = DiMP()
    created = _fake_pytracking(monkeypatch, tomp)
    main = _load("pytracking_dimp.py")["main"]
    box = ",".join(str(round(float(v))) for v in boxes[0])
    printf = str(tmp_path / "img" / "%08d.png")
    main([*TOMP_ON_CPU, "--video", printf, "--box", box])
    (params,) = created
    assert params.use_gpu is False
    assert params.device == "cpu"
    assert params.net.use_gpu is False
    assert (params.tracker_name, params.param_name) == ("tomp", "tomp50")
    assert len(tomp.images) == 4
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("1: tomp50 ")

    with pytest.raises(SystemExit, match=r"dimp needs CUDA.*--tracker tomp"):
        main(["--tracker", "dimp", "--device", "cpu", "--video", printf, "--box", box])
    assert len(created) == 1  # refused before pytracking builds anything


class _UnloadableNetwork(DiMP):
    """torch >= 2.6 refusing pytracking's pickled network, when ``initialize`` loads it."""

    def initialize(self, image: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
        raise pickle.UnpicklingError("Weights only load failed ... NetConstructor")


def test_pytracking_example_names_the_weights_only_workaround(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boxes = _write_images(tmp_path / "img", 2, seed=33)
    _fake_pytracking(monkeypatch, _UnloadableNetwork())
    main = _load("pytracking_dimp.py")["main"]
    box = ",".join(str(round(float(v))) for v in boxes[0])
    with pytest.raises(SystemExit, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1"):
        main([*TOMP_ON_CPU, "--video", str(tmp_path / "img"), "--box", box])

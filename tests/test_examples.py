"""The runnable examples run (offline, on generated data, with the embedded default model).

pysot_siamrpn.py and pytracking_dimp.py need those libraries and their weights; their adapters
are tested in test_integrations.py.
"""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from test_integrations import Rectangle, fake_vot_module
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

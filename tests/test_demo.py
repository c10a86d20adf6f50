from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.demo import demo, demo_sequence, format_summary


def test_demo_writes_video_plot_and_summary(tmp_path: Path) -> None:
    torch.manual_seed(0)
    refiner = Refiner.from_network(AlphaRefineNet(ModelConfig(backbone="resnet18")), device="cpu")
    sequence = demo_sequence(length=8)
    summary = demo(refiner, tmp_path, sequence=sequence, progress=False)
    assert summary["frames"] == 8 and "base" in summary and "refined" in summary
    assert 0 <= summary["refined"]["mean_iou"] <= 1
    capture = cv2.VideoCapture(summary["video"])
    ok, frame = capture.read()
    assert ok and frame.shape == sequence.frame(0).shape
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 8
    assert (tmp_path / "iou.png").stat().st_size > 0
    assert json.loads((tmp_path / "demo.json").read_text())["tracker"] == "mil"
    assert "base + AR" in format_summary(summary)


def test_demo_on_a_folder_of_frames(tmp_path: Path) -> None:
    from alpha_refine.demo import folder_sequence

    sequence = demo_sequence(length=5)
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), sequence.frame(i))
    folder = folder_sequence(tmp_path, sequence.boxes[0], max_frames=4)
    assert len(folder) == 4 and np.isnan(folder.boxes[1]).all()
    torch.manual_seed(0)
    refiner = Refiner.from_network(AlphaRefineNet(ModelConfig(backbone="resnet18")), device="cpu")
    summary = demo(refiner, tmp_path / "out", sequence=folder, progress=False)
    assert "base" not in summary and Path(summary["video"]).exists()


def test_demo_command_turns_the_blend_head_and_flip_on(tmp_path: Path) -> None:
    from alpha_refine.cli import main

    out = tmp_path / "demo"
    args = ["demo", "--blend", "on", "--flip", "on", "--max-frames", "4", "--out", str(out)]
    assert main([*args, "--device", "cpu"]) == 0
    refiner = json.loads((out / "demo.json").read_text())["refiner"]
    assert "blend=on" in refiner and "flip=on" in refiner

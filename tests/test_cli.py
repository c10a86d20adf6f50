from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alpha_refine import Refiner
from alpha_refine.cli import main
from fake_published import save_training_checkpoint


def test_convert_then_info(
    published_state_dict: dict[str, torch.Tensor],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = save_training_checkpoint(tmp_path / "ckpt", published_state_dict)["legacy"]
    assert main(["convert", str(checkpoint), str(tmp_path / "ar34"), "--dtype", "float16"]) == 0
    assert "model.safetensors" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "ar34")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == {"backbone": "resnet34", "mask_head": True}
    assert info["dtype"] == "float16" and info["parameters"] == 10_197_975
    assert info["provenance"]["license"].startswith("GPL-3.0")
    refiner = Refiner.from_pretrained(tmp_path / "ar34", device="cpu")
    assert refiner.network.backbone.conv1.weight.dtype == torch.float32


def test_info_default_is_the_embedded_model(capsys: pytest.CaptureFixture[str]) -> None:
    from alpha_refine.weights import load_pretrained

    assert main(["info", "default"]) == 0
    info = json.loads(capsys.readouterr().out)
    network, expected = load_pretrained()
    assert info["model"] == expected.model.to_dict()
    assert info["parameters"] == sum(p.numel() for p in network.parameters())


def test_errors_exit_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tmp_path / "missing.pth.tar"), str(tmp_path / "out")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    (tmp_path / "junk.pth.tar").write_bytes(b"\x00" * 64)
    assert main(["convert", str(tmp_path / "junk.pth.tar"), str(tmp_path / "out")]) == 2
    assert "not a PyTorch checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

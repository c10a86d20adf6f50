"""The oracle experiment's good-box, near-perfect and mask-J views, and its splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alpha_refine import Refiner
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.oracle import (
    OracleFrame,
    filled_box,
    ground_truth_kind,
    group_frames,
    mask_iou,
    oracle_experiment,
    size_bin,
    summarize_frames,
)
from tracking_fixtures import random_refiner, random_weights, write_plain_dataset

_BOX = np.array([60.0, 40.0, 50.0, 30.0])


def _rectangle_sequence(frames: int = 4) -> Sequence:
    """A bright rectangle on texture whose mask is exactly its box."""
    rng = np.random.default_rng(1)
    images = []
    for _ in range(frames):
        image = rng.integers(0, 60, size=(120, 160, 3), dtype=np.uint8)
        image[40:70, 60:110] = (30, 200, 240)
        images.append(image)
    mask = np.zeros((120, 160), bool)
    mask[40:70, 60:110] = True
    return Sequence(
        "rectangle",
        np.tile(_BOX, (frames, 1)),
        lambda index: images[index],
        mask_loader=lambda index: mask,
    )


def test_mask_iou_and_filled_box() -> None:
    mask = filled_box(_BOX, (120, 160))
    assert mask.sum() == 50 * 30 and mask[40, 60] and not mask[39, 60] and not mask[40, 110]
    shifted = filled_box(_BOX + np.array([25.0, 0, 0, 0]), (120, 160))
    assert mask_iou(shifted, mask) == pytest.approx(25 / 75)
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_oracle_scores_masks_and_good_boxes(refiner: Refiner) -> None:
    sequence = _rectangle_sequence()
    result = oracle_experiment(refiner, [sequence], masks=True, seed=0)
    assert result.masks is not None and result.masks.frames == 3
    # The filled ground-truth box is this object's mask exactly; a jittered one is not.
    assert result.masks.j_filled_truth == 1.0
    assert result.masks.j_filled_jittered < 1.0
    assert 0.0 <= result.masks.j_from_truth <= 1.0
    # Hardly jittered boxes are all "good"; their mean is the plain before-mean.
    tiny = oracle_experiment(refiner, [sequence], scale_jitter=0.01, centre_jitter=0.01)
    assert tiny.good_frames == tiny.frames == 3 and tiny.masks is None
    assert tiny.good_before == pytest.approx(tiny.iou_before)
    assert tiny.good_after == pytest.approx(tiny.iou_after)
    wild = oracle_experiment(refiner, [sequence], scale_jitter=2.0, centre_jitter=2.0)
    assert wild.good_frames < wild.frames


def _target_sequence(name: str, box: tuple[int, int, int, int], *, masks: bool) -> Sequence:
    """A still textured frame with one bright box-shaped target of the given size."""
    x, y, w, h = box
    rng = np.random.default_rng(len(name))
    frames = []
    for _ in range(3):
        image = rng.integers(0, 60, size=(120, 160, 3), dtype=np.uint8)
        image[y : y + h, x : x + w] = (30, 200, 240)
        frames.append(image)
    mask = np.zeros((120, 160), bool)
    mask[y : y + h, x : x + w] = True
    boxes = np.tile(np.array(box, dtype=np.float64), (3, 1))
    return Sequence.from_arrays(name, frames, boxes, masks=[mask] * 3 if masks else None)


def _frame(sequence: str = "s", size: float = 50.0, **values: Any) -> OracleFrame:
    defaults: dict[str, Any] = {"iou_before": 0.6, "iou_after": 0.8, "area_ratio": 1.0}
    return OracleFrame(sequence, 1, values.pop("ground_truth", "hand"), size, **defaults | values)


def test_size_bins_and_ground_truth_kinds() -> None:
    assert [size_bin(s) for s in (1.0, 31.9, 32.0, 63.9, 64.0, 127.9, 128.0, 900.0)] == [
        "under 32",
        "under 32",
        "32-64",
        "32-64",
        "64-128",
        "64-128",
        "128 and over",
        "128 and over",
    ]
    with pytest.raises(ValueError, match="not a positive number"):
        size_bin(float("nan"))
    with_masks = _target_sequence("a", (10, 10, 20, 20), masks=True)
    without = _target_sequence("b", (10, 10, 20, 20), masks=False)
    assert ground_truth_kind(with_masks) == "masks" and ground_truth_kind(without) == "hand"
    assert ground_truth_kind(with_masks, {"a": "hand"}) == "hand"
    assert ground_truth_kind(without, {"a": "hand"}) == "hand"
    with pytest.raises(ValueError, match="unknown ground-truth kind 'drawn'"):
        ground_truth_kind(without, {"b": "drawn"})


def test_summarize_frames_counts_near_perfect_frames_by_their_input_iou() -> None:
    frames = [
        _frame(near_before=0.90, near_after=0.80, near_area_ratio=1.2),  # worse by 0.10
        _frame(near_before=0.95, near_after=0.93, near_area_ratio=1.0),  # worse by 0.02 only
        _frame(near_before=0.85, near_after=0.90, near_area_ratio=0.9),  # just good
        _frame(near_before=0.80, near_after=0.20, near_area_ratio=5.0),  # not a good input
        _frame(iou_before=0.2, iou_after=0.5, area_ratio=3.0),  # near-perfect pass off
    ]
    scores = summarize_frames(frames)
    assert scores.frames == 5 and scores.near_frames == 3
    assert scores.iou_before == pytest.approx(0.52) and scores.iou_after == pytest.approx(0.74)
    assert scores.gain == pytest.approx(0.22) and scores.area_ratio == 1.0
    assert scores.near_before == pytest.approx(0.90)
    assert scores.near_after == pytest.approx((0.80 + 0.93 + 0.90) / 3)
    assert scores.near_worse_share == pytest.approx(1 / 3) and scores.near_area_ratio == 1.0
    off = summarize_frames(frames[-1:])
    assert off.near_frames == 0 and np.isnan(off.near_before)
    assert off.to_dict()["near_perfect"]["mean_iou_before"] is None
    with pytest.raises(ValueError, match="no frames"):
        summarize_frames([])
    # Groups in the given order, empty ones left out.
    groups = group_frames(
        frames, lambda f: "high" if f.iou_before > 0.5 else "low", ["none", "low", "high"]
    )
    assert list(groups) == ["low", "high"] and groups["high"].frames == 4


def test_oracle_splits_frames_by_ground_truth_and_target_size(one_thread: None) -> None:
    refiner = random_refiner()
    sequences = [
        _target_sequence("small-masks", (70, 50, 24, 20), masks=True),  # 21.9 px
        _target_sequence("mid-hand", (40, 30, 80, 50), masks=False),  # 63.2 px
        _target_sequence("large-override", (20, 10, 110, 100), masks=False),  # 104.9 px
    ]
    kinds = {"large-override": "masks"}
    on = oracle_experiment(refiner, sequences, near_perfect=0.05, ground_truth_kinds=kinds)
    assert on.frames == len(on.records) == 6 and on.near_perfect == 0.05
    expected = {"small-masks": ("masks", "under 32"), "mid-hand": ("hand", "32-64")}
    expected["large-override"] = ("masks", "64-128")
    for record in on.records:
        assert (record.ground_truth, size_bin(record.size)) == expected[record.sequence]
        assert record.near_before is not None and record.near_area_ratio is not None
    splits = on.splits()
    assert {k: g.frames for k, g in splits["ground_truth"].items()} == {"masks": 4, "hand": 2}
    assert {k: g.frames for k, g in splits["target_size"].items()} == {
        "under 32": 2,
        "32-64": 2,
        "64-128": 2,
    }
    for groups in splits.values():
        assert sum(g.frames for g in groups.values()) == on.frames
        assert sum(g.near_frames for g in groups.values()) == on.overall().near_frames
    assert splits["ground_truth"]["hand"].iou_after == pytest.approx(on.per_sequence["mid-hand"][1])
    # The near-perfect pass leaves the jittered results as they were ...
    off = oracle_experiment(refiner, sequences, ground_truth_kinds=kinds)
    assert off.near_perfect is None and off.overall().near_frames == 0
    assert (off.iou_before, off.iou_after, off.per_sequence) == (
        on.iou_before,
        on.iou_after,
        on.per_sequence,
    )
    assert off.good_frames == on.good_frames
    assert off.good_after == pytest.approx(on.good_after, nan_ok=True)
    assert off.frame_ious == on.frame_ious
    assert [r.near_before for r in off.records] == [None] * 6
    # ... and its boxes are those of a run jittered by 0.05.
    small = oracle_experiment(refiner, sequences, scale_jitter=0.05, centre_jitter=0.05)
    assert [r.near_before for r in on.records] == [r.iou_before for r in small.records]
    assert [r.near_after for r in on.records] == [r.iou_after for r in small.records]


def test_cli_oracle_prints_and_writes_the_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    from alpha_refine.cli import main

    root = write_plain_dataset(tmp_path / "plain", ["alpha", "bravo"], 4)  # 26 x 30 px targets
    weights = str(random_weights(tmp_path / "random-r18"))
    args = ["oracle", "--dataset", f"plain:{root}", "--refiner", weights, "--device", "cpu"]
    args += ["--frames-per-sequence", "2", "--no-progress", "--threads", "1"]
    on_path, off_path = tmp_path / "on.json", tmp_path / "off.json"
    assert main([*args, "--ground-truth", "alpha=masks", "--out", str(on_path)]) == 0
    printed = capsys.readouterr().out
    for text in ("Near-perfect inputs: ground truth jittered by 0.05", "boxes from masks"):
        assert text in printed
    assert "boxes drawn by hand" in printed and "size under 32" in printed
    assert "area x" in printed and "size 32-64" not in printed
    summary = json.loads(on_path.read_text())
    assert summary["near_perfect"]["jitter"] == 0.05
    assert summary["per_sequence"]["alpha"]["ground_truth"] == "masks"
    assert {k: v["frames"] for k, v in summary["splits"]["ground_truth"].items()} == {
        "masks": 2,
        "hand": 2,
    }
    assert summary["splits"]["target_size"]["under 32"]["frames"] == 4
    assert summary["splits"]["target_size"]["under 32"]["near_perfect"]["frames"] >= 1
    assert len(summary["frame_records"]) == 4 and summary["frame_records"][0]["size"] < 32
    assert summary["size_bins"]["128 and over"] == [128.0, None]

    assert main([*args, "--near-perfect", "off", "--out", str(off_path)]) == 0
    printed = capsys.readouterr().out
    assert "Near-perfect" not in printed and "size under 32" in printed
    off = json.loads(off_path.read_text())
    assert (
        off["near_perfect"] is None
        and "near_perfect" not in off["splits"]["target_size"]["under 32"]
    )
    assert off["splits"]["ground_truth"] == {"hand": off["splits"]["ground_truth"]["hand"]}
    for key in ("mean_iou_before", "mean_iou_after", "per_sequence", "good_boxes"):
        if key == "per_sequence":
            for name in off[key]:
                assert off[key][name]["mean_iou_after"] == summary[key][name]["mean_iou_after"]
        else:
            assert off[key] == summary[key]
    with pytest.raises(SystemExit):
        main([*args, "--ground-truth", "alpha=drawn"])
    assert "NAME=masks or NAME=hand" in capsys.readouterr().err

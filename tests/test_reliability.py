"""Reliability: the per-call confidence, the safe-refine gate, shared weights and threads,
saved target state, and failures (a full disk) that keep earlier outputs."""

from __future__ import annotations

import copy
import errno
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import alpha_refine._atomic
from alpha_refine import AlphaRefineNet, ModelConfig, Refiner, RefineResult, RefinerState
from alpha_refine._atomic import WriteError, write_atomic
from alpha_refine.cli import main
from alpha_refine.gate import GateConfig, as_gate, crop_mask_boxes, gate_targets
from alpha_refine.geometry import clip_boxes
from alpha_refine.model.heads import corner_confidence
from alpha_refine.refiner import PRETRAINED_GATE
from alpha_refine.weights import WeightsError, load_weights_file, save_weights
from fake_published import save_training_checkpoint

BOXES = np.array([[100.0, 80.0, 80.0, 80.0], [20.0, 30.0, 60.0, 40.0], [200.0, 150.0, 90.0, 70.0]])
NO_CHECKS = {"min_iou": None, "max_scale_change": None, "max_aspect_change": None}


@pytest.fixture(scope="module")
def r18() -> AlphaRefineNet:
    """A ResNet-18 network with mask head and random (seeded) weights: a fixture."""
    torch.manual_seed(1)
    return AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=True)).eval()


def _refiner(network: AlphaRefineNet, **options: Any) -> Refiner:
    return Refiner.from_network(network, device="cpu", **options)


# --- the result and its confidence ------------------------------------------------------


def test_result_unpacks_as_box_and_mask_and_carries_confidence(
    r18: AlphaRefineNet, frame: np.ndarray
) -> None:
    refiner = _refiner(r18)
    refiner.initialize(frame, BOXES[0])
    result = refiner.refine(frame, BOXES[0] + 3, return_mask=True)
    box, mask = result
    assert len(result) == 2 and box is result.box and mask is result.mask
    assert isinstance(result, tuple) and isinstance(result, RefineResult)
    assert result.confidence.shape == () and 0.0 <= float(result.confidence) <= 1.0
    assert result.gated.shape == () and not result.gated
    for twin in (pickle.loads(pickle.dumps(result)), copy.copy(result)):
        np.testing.assert_array_equal(twin.box, box)
        assert twin.confidence == result.confidence and twin.gated == result.gated
    assert "confidence=" in repr(result)

    refiner.initialize(frame, BOXES)
    many = refiner.refine(frame, BOXES)
    assert many.box.shape == (3, 4) and many.confidence.shape == (3,) and many.gated.shape == (3,)
    assert many.confidence.dtype == np.float64 and many.gated.dtype == np.bool_


def test_corner_confidence_measures_the_peak() -> None:
    def peaks(*cells: tuple[int, int]) -> torch.Tensor:
        logits = torch.full((1, 1, 16, 16), -50.0)
        for row, col in cells:
            logits[0, 0, row, col] = 50.0
        return logits

    flat = torch.zeros(1, 1, 16, 16)
    assert float(corner_confidence(peaks((5, 9)))) == pytest.approx(1.0)
    # Two neighbours share the mass: half a cell from the decoded corner.
    spread = 0.5 / np.sqrt(2 * (16**2 - 1) / 12)
    assert float(corner_confidence(peaks((5, 9), (5, 10)))) == pytest.approx(1 - spread)
    assert float(corner_confidence(flat)) == pytest.approx(0.0, abs=1e-6)
    # Two far peaks: the decoded corner lies between them, where nothing is.
    assert float(corner_confidence(peaks((0, 0), (15, 15)))) == pytest.approx(0.0, abs=1e-6)
    both = torch.cat((peaks((5, 9)), flat), dim=1)  # the mean over the two corners
    assert float(corner_confidence(both)) == pytest.approx(0.5)
    logits = torch.randn(8, 2, 16, 16, generator=torch.Generator().manual_seed(0)) * 5
    confidence = corner_confidence(logits)
    assert confidence.shape == (8,) and bool(((confidence >= 0) & (confidence <= 1)).all())


# --- the gate ---------------------------------------------------------------------------


def test_gate_checks_each_criterion() -> None:
    base = np.array([[10.0, 10.0, 40.0, 20.0]] * 6)
    refined = np.array(
        [
            [11.0, 10.0, 40.0, 21.0],  # close: kept
            [40.0, 10.0, 40.0, 20.0],  # shifted: IoU 0.14
            [10.0, 10.0, 60.0, 30.0],  # 1.5 x larger (IoU 0.44)
            [10.0, 10.0, 44.0, 17.0],  # aspect x 1.29
            [10.0, 10.0, 40.0, 20.0],  # identical but unsure
            [10.0, 10.0, 40.0, 20.0],  # identical, mask elsewhere
        ]
    )
    confidence = np.array([0.9, 0.9, 0.9, 0.9, 0.05, 0.9])
    masks = np.array([[10, 10, 40, 20]] * 5 + [[80, 80, 5, 5]], dtype=np.float64)
    gate = GateConfig(min_iou=0.5, max_scale_change=1.4, max_aspect_change=1.2, min_confidence=0.1)
    expected = [False, True, True, True, True, False]
    assert gate_targets(gate, base, refined, confidence).tolist() == expected
    with_mask = GateConfig(**{**gate.to_dict(), "min_mask_iou": 0.5})
    assert gate_targets(with_mask, base, refined, confidence, masks)[5]
    masks[5] = np.nan  # an empty mask fails the check too
    assert gate_targets(with_mask, base, refined, confidence, masks)[5]
    assert not gate_targets(GateConfig(**NO_CHECKS), base, refined, confidence).any()


def test_crop_mask_boxes() -> None:
    probabilities = np.zeros((2, 8, 8), dtype=np.float32)
    probabilities[0, 2:5, 3:7] = 0.9
    boxes = crop_mask_boxes(probabilities)
    np.testing.assert_array_equal(boxes[0], [3, 2, 4, 3])
    assert np.all(np.isnan(boxes[1]))


def test_gated_targets_keep_the_clipped_input_box(r18: AlphaRefineNet, frame: np.ndarray) -> None:
    plain = _refiner(r18)
    always = _refiner(r18, gate={**NO_CHECKS, "min_confidence": 1.0})
    never = _refiner(r18, gate={**NO_CHECKS, "min_confidence": 0.0})
    moved = BOXES + np.array([3.0, -2.0, 4.0, 1.0])
    moved[2, 2] = 400.0  # across the frame's right edge
    for refiner in (plain, always, never):
        refiner.initialize(frame, BOXES)
    expected = plain.refine(frame, moved)
    gated = always.refine(frame, moved)
    assert gated.gated.all()
    np.testing.assert_array_equal(gated.box, clip_boxes(moved, frame.shape[:2]))
    np.testing.assert_array_equal(gated.confidence, expected.confidence)
    kept = never.refine(frame, moved)
    assert not kept.gated.any()
    np.testing.assert_array_equal(kept.box, expected.box)
    # The mask check needs a mask: skipped without, applied with one.
    masked = _refiner(r18, gate={**NO_CHECKS, "min_mask_iou": 1.0})
    masked.initialize(frame, BOXES)
    assert not masked.refine(frame, moved).gated.any()
    assert masked.refine(frame, moved, return_mask=True).gated.all()
    # xyxy in and out: the gated box is the input box in the same format.
    xyxy = _refiner(r18, box_format="xyxy", gate=always.gate)
    xyxy.initialize(frame, [100, 80, 180, 160])
    np.testing.assert_array_equal(xyxy.refine(frame, [102, 81, 181, 163]).box, [102, 81, 181, 163])


def test_gate_option_values(r18: AlphaRefineNet) -> None:
    assert _refiner(r18).gate is None
    assert _refiner(r18, gate=True).gate == GateConfig()
    refiner = _refiner(r18, gate={"min_iou": 0.3})
    assert refiner.gate == GateConfig(min_iou=0.3) and "gate=on" in repr(refiner)
    refiner.gate = False
    assert refiner.gate is None and as_gate(None) is None
    with pytest.raises(TypeError, match="gate must be"):
        _refiner(r18, gate="yes")
    with pytest.raises(ValueError, match=r"unknown gate setting.*min_overlap"):
        GateConfig.from_dict({"min_overlap": 0.5})
    with pytest.raises(ValueError, match="min_iou must be in"):
        GateConfig(min_iou=1.5)
    with pytest.raises(ValueError, match="max_scale_change must be a factor >= 1"):
        GateConfig(max_scale_change=0.5)
    with pytest.raises(TypeError, match="min_confidence must be a number"):
        GateConfig(min_confidence="high")  # type: ignore[arg-type]
    assert GateConfig(**NO_CHECKS).describe() == "no checks"


def test_pretrained_gate_default_comes_from_the_weights(
    r18: AlphaRefineNet, tmp_path: Path
) -> None:
    save_weights(r18, tmp_path / "plain")
    assert Refiner.from_pretrained(tmp_path / "plain", device="cpu").gate == PRETRAINED_GATE
    save_weights(r18, tmp_path / "gated", inference={"gate": {"min_iou": 0.25}})
    loaded = Refiner.from_pretrained(tmp_path / "gated", device="cpu")
    assert loaded.gate == GateConfig(min_iou=0.25)
    assert Refiner.from_pretrained(tmp_path / "gated", device="cpu", gate=False).gate is None
    on = Refiner.from_pretrained(tmp_path / "gated", device="cpu", gate=True)
    assert on.gate == GateConfig(min_iou=0.25)  # on: with the weights' thresholds
    assert Refiner.from_pretrained(tmp_path / "plain", device="cpu", gate=True).gate == (
        PRETRAINED_GATE or GateConfig()
    )


# --- shared weights, threads, state -----------------------------------------------------


def test_refiners_share_weights_but_not_targets(r18: AlphaRefineNet, frame: np.ndarray) -> None:
    first, second = _refiner(r18), _refiner(r18)
    reference = _refiner(r18)
    first.initialize(frame, BOXES[:2])
    reference.initialize(frame, BOXES[:2])
    second.initialize(frame, BOXES[2])
    second.add_targets(frame, BOXES[0])
    twin = first.clone()
    assert twin._engine is first._engine and twin.num_targets == 0  # shared, not copied
    twin.initialize(frame, BOXES)
    first.remove_targets(1)
    reference.remove_targets(1)
    assert first.target_ids.tolist() == [0] and second.target_ids.tolist() == [0, 1]
    assert twin.target_ids.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(
        first.refine(frame, BOXES[0] + 2).box, reference.refine(frame, BOXES[0] + 2).box
    )


def test_clones_refine_in_parallel_threads(
    r18: AlphaRefineNet, frame: np.ndarray, one_thread: None
) -> None:
    refiner = _refiner(r18)
    clones = [refiner.clone() for _ in range(3)]
    inputs = [BOXES[i] + np.array([2.0 * k, -k, k, 0.5 * k]) for i in range(3) for k in range(3)]
    expected = {}
    for index, clone in enumerate(clones):
        clone.initialize(frame, BOXES[index])
        expected[index] = [clone.refine(frame, b).box for b in inputs[3 * index : 3 * index + 3]]
    results: dict[int, list[np.ndarray]] = {}
    barrier = threading.Barrier(len(clones))

    def work(index: int) -> None:
        barrier.wait()
        results[index] = [
            clones[index].refine(frame, b).box for b in inputs[3 * index : 3 * index + 3]
        ]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clones))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in expected:
        np.testing.assert_array_equal(np.stack(results[index]), np.stack(expected[index]))


def test_state_round_trip_resumes_bit_identically(
    r18: AlphaRefineNet, frame: np.ndarray, tmp_path: Path
) -> None:
    refiner = _refiner(r18)
    refiner.initialize(frame, BOXES[:2])
    refiner.add_targets(frame, BOXES[2])
    refiner.remove_targets(0)
    state = refiner.get_state()
    path = state.save(tmp_path / "session.safetensors")
    later = frame[::-1].copy()
    expected = refiner.refine(later, BOXES[1:] + 4, return_mask=True)
    next_ids = refiner.add_targets(frame, BOXES[0])

    in_memory = _refiner(r18)
    in_memory.set_state(state)
    resumed = _refiner(r18)  # another refiner, as after a restart
    resumed.set_state(RefinerState.load(path))
    for other in (in_memory, resumed):
        assert other.target_ids.tolist() == [1, 2]
        result = other.refine(later, BOXES[1:] + 4, return_mask=True)
        for got, want in zip(
            (*result, result.confidence, result.gated),
            (*expected, expected.confidence, expected.gated),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)
        assert other.add_targets(frame, BOXES[0]).tolist() == next_ids.tolist()

    refiner.reset()
    empty = refiner.get_state()
    resumed.set_state(RefinerState.load(empty.save(tmp_path / "empty.safetensors")))
    assert resumed.num_targets == 0
    with pytest.raises(RuntimeError, match="before initialize"):
        resumed.refine(frame, BOXES[0])


def test_state_from_other_weights_or_files_is_refused(
    r18: AlphaRefineNet, frame: np.ndarray, tmp_path: Path
) -> None:
    refiner = _refiner(r18)
    refiner.initialize(frame, BOXES[0])
    torch.manual_seed(5)
    other = _refiner(AlphaRefineNet(ModelConfig(backbone="resnet18")))
    with pytest.raises(ValueError, match="state was made with other weights"):
        other.set_state(refiner.get_state())
    with pytest.raises(TypeError, match="state must be a RefinerState"):
        other.set_state({"kernels": None})  # type: ignore[arg-type]
    save_weights(r18, tmp_path / "weights")
    with pytest.raises(WeightsError, match="not a refiner state file"):
        RefinerState.load(tmp_path / "weights" / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="state file not found"):
        RefinerState.load(tmp_path / "missing.safetensors")


# --- failures that keep earlier outputs -------------------------------------------------


def _full_disk_after(calls: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``fsync`` fails with ENOSPC from call number ``calls`` on (the data is half written)."""
    real = os.fsync
    count = {"n": 0}

    def fsync(descriptor: int) -> None:
        count["n"] += 1
        if count["n"] >= calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(descriptor)

    monkeypatch.setattr(alpha_refine._atomic.os, "fsync", fsync)


@pytest.mark.parametrize("failing_file", [1, 2])  # model.safetensors, then config.json
def test_full_disk_while_saving_weights_keeps_the_earlier_files(
    r18: AlphaRefineNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_file: int
) -> None:
    save_weights(r18, tmp_path, provenance={"source": "first"})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    torch.manual_seed(9)
    newer = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=True))
    _full_disk_after(failing_file, monkeypatch)
    with pytest.raises(WriteError, match=r"No space left on device.*left intact") as caught:
        save_weights(newer, tmp_path, provenance={"source": "second"})
    assert caught.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries
    _, info = load_weights_file(tmp_path / "model.safetensors")
    assert info.provenance == {"source": "first"}


def test_full_disk_in_the_cli_is_a_clear_error(
    published_state_dict: dict[str, torch.Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = save_training_checkpoint(tmp_path / "ckpt", published_state_dict)["legacy"]
    _full_disk_after(1, monkeypatch)
    assert main(["convert", str(checkpoint), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "alpha-refine convert: error:" in error and "No space left on device" in error
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_checkpoint_save_keeps_the_earlier_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alpha_refine.train import loop

    path = tmp_path / "checkpoint.pt"
    loop._atomic_save({"iteration": 1}, path)

    def half_then_full(state: Any, stream: Any) -> None:
        stream.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(loop.torch, "save", half_then_full)
    with pytest.raises(WriteError, match=r"checkpoint\.pt: No space left"):
        loop._atomic_save({"iteration": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"iteration": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    def interrupted(stream: Any) -> None:
        stream.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.txt", interrupted)
    assert list(tmp_path.iterdir()) == []

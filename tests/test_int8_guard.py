"""The int8 check (``alpha_refine.runtime.guard``): ``precision="auto"`` keeps int8 only where
its graphs hold against float32 for the weights at hand, the verdict is cached with the graphs,
and an explicit ``precision="int8"`` warns when the check failed.

The network whose int8 graphs deviate: a ResNet-18 with random weights and BatchNorm
statistics calibrated on crops of noise, whose sharp, multi-modal corner maps amplify rounding
(its boxes move by several per cent of their size in int8; the bound is 0.15 %), without a mask
head. VNNI is injected, so the tests behave the same on every CPU. To stay fast, the module's
one export and one quantization (two synthetic calibration sequences) are reused, and the check
runs on four sequences.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from alpha_refine import AlphaRefineNet, Refiner
from alpha_refine.runtime import cache, guard, quantize, select
from alpha_refine.runtime.graphs import onnx_available
from alpha_refine.runtime.guard import Int8AccuracyWarning, Int8Check
from tracking_fixtures import noise_calibrated_resnet18

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="onnx is not installed")


def _check(median: float, p90: float, iou_drop: float = 0.0) -> Int8Check:
    return Int8Check(median, p90, max(p90, 0.1), 80.0, 80.0 - iou_drop, 64)


# --- the verdict --------------------------------------------------------------------------


def test_the_bound_judges_each_measure() -> None:
    inside = _check(guard.MAX_MEDIAN_DEVIATION / 2, guard.MAX_P90_DEVIATION / 2, -0.5)
    assert inside.passed and inside.failures == []
    assert (
        inside.summary().startswith("int8 check passed")
        and "0.50 points higher" in inside.summary()
    )
    median = _check(2 * guard.MAX_MEDIAN_DEVIATION, guard.MAX_P90_DEVIATION / 2)
    p90 = _check(guard.MAX_MEDIAN_DEVIATION / 2, 2 * guard.MAX_P90_DEVIATION)
    iou = _check(0.0, 0.0, 2 * guard.MAX_IOU_DROP)
    for failed, word in ((median, "median"), (p90, "90th percentile"), (iou, "oracle IoU")):
        assert not failed.passed and len(failed.failures) == 1
        assert failed.summary().startswith("int8 check failed") and word in failed.summary()
    assert not _check(math.nan, 0.0).passed  # a broken measurement never passes
    assert Int8Check.from_dict(json.loads(json.dumps(p90.to_dict()))) == p90


def test_the_check_inputs_are_generated_and_held_out_from_calibration() -> None:
    assert guard.CHECK_SEED != quantize.CALIBRATION_SEED
    sequences = guard.check_sequences(2)
    calibration = quantize.synthetic_calibration_sequences(2)
    assert not any(
        np.array_equal(check.frame(0), other.frame(0))
        for check in sequences
        for other in calibration
    )
    inputs = guard.check_inputs(sequences, searches_per_sequence=3)
    assert inputs.templates.shape == (2, 256, 256, 3) and inputs.searches.shape == (6, 256, 256, 3)
    assert inputs.template_index.tolist() == [0, 0, 0, 1, 1, 1]
    # The input box fills about half of the crop each way (search factor 2), and the truth
    # overlaps it: jittered by 0.25, as in the oracle experiment.
    np.testing.assert_allclose(inputs.box_size, 128, rtol=0.05)
    centres = (inputs.truth[:, :2] + inputs.truth[:, 2:]) / 2
    assert np.all(np.abs(centres - 128) < 64)


def test_dead_leaves_cover_the_frame_with_discs_of_every_size() -> None:
    image = guard.dead_leaves(np.random.default_rng(0), 120, 160)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    levels = len(np.unique(image.reshape(-1, 3) // 16, axis=0))
    assert levels > 50  # many discs, not a flat background
    edges = cv2.Canny(image, 50, 150)
    assert 0.02 < np.count_nonzero(edges) / edges.size < 0.5


# --- the refiner --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deviating_network() -> AlphaRefineNet:
    """ResNet-18, random weights, BatchNorm statistics calibrated on crops of noise."""
    return noise_calibrated_resnet18(mask_head=False)


@pytest.fixture(scope="module")
def exported(deviating_network: AlphaRefineNet) -> dict[str, bytes]:
    if not onnx_available():
        pytest.skip("onnx is not installed")
    from alpha_refine.runtime.export import export_graphs

    return export_graphs(deviating_network)


@pytest.fixture(scope="module")
def quantized(exported: dict[str, bytes]) -> dict[str, bytes]:
    calibration = quantize.calibration_crops(quantize.synthetic_calibration_sequences(2))
    return quantize.quantize_graphs(exported, calibration)


@pytest.fixture
def calls(
    exported: dict[str, bytes],
    quantized: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> dict[str, int]:
    """Count exports, quantizations and checks (served from the module's one export and one
    quantization; small checks); a fresh cache; a CPU with VNNI."""
    from alpha_refine.runtime import onnx_engine

    counts = {"export": 0, "quantize": 0, "check": 0}
    check_int8 = onnx_engine.check_int8

    def export(network: AlphaRefineNet) -> dict[str, bytes]:
        counts["export"] += 1
        return exported

    def quantize_once(graphs: dict[str, bytes], precision: str, **options: object) -> object:
        assert graphs == exported and precision == "int8"
        counts["quantize"] += 1
        return quantized

    def checked(*args: object, **kwargs: object) -> Int8Check:
        counts["check"] += 1
        return check_int8(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(onnx_engine, "export_graphs", export)
    monkeypatch.setattr(onnx_engine, "with_precision", quantize_once)
    monkeypatch.setattr(onnx_engine, "check_int8", checked)
    monkeypatch.setattr(guard, "CHECK_SEQUENCES", 4)
    monkeypatch.setattr(guard, "SEARCHES_PER_SEQUENCE", 2)
    monkeypatch.setattr(select, "cpu_has_vnni", lambda: True)
    monkeypatch.delenv(select.BACKEND_ENV, raising=False)
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return counts


def _auto(network: AlphaRefineNet) -> Refiner:
    return Refiner.from_network(network, backend="auto", precision="auto")


@needs_onnx
def test_auto_falls_back_to_float32_where_int8_deviates_and_caches_the_verdict(
    deviating_network: AlphaRefineNet, calls: dict[str, int], tmp_path: Path, frame: np.ndarray
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Int8AccuracyWarning)  # auto never warns: it falls back
        first = _auto(deviating_network)
    assert (first.backend, first.precision) == ("onnxruntime", "float32")
    assert first.int8_check is not None and not first.int8_check.passed
    assert first.int8_check.median_deviation > 3 * guard.MAX_MEDIAN_DEVIATION
    assert first.int8_check.crops == 4 * 2  # the small check of this module
    assert "float32: int8 check failed: median box deviation" in repr(first)
    assert calls == {"export": 1, "quantize": 1, "check": 1}
    entries = sorted((tmp_path / "cache" / "onnx").glob("*.zip"))
    assert [e.name.split("-")[1] for e in entries] == sorted(["float32", "int8"])
    int8_entry = next(e for e in entries if "-int8-" in e.name)
    with zipfile.ZipFile(int8_entry) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["key"]["vnni"] is True and "int8_check" in manifest["info"]

    second = _auto(deviating_network)  # the verdict is read back: nothing built or measured
    assert calls == {"export": 1, "quantize": 1, "check": 1}
    assert second.precision == "float32" and second.int8_check == first.int8_check
    assert repr(second) == repr(first)
    box = (100.0, 80.0, 80.0, 80.0)
    for refiner in (first, second):
        refiner.initialize(frame, box)
    np.testing.assert_array_equal(first.refine(frame, box).box, second.refine(frame, box).box)


@needs_onnx
def test_explicit_int8_keeps_int8_and_warns_when_the_check_failed(
    deviating_network: AlphaRefineNet, calls: dict[str, int]
) -> None:
    with pytest.warns(Int8AccuracyWarning, match="int8 check failed") as caught:
        int8 = Refiner.from_network(deviating_network, backend="onnxruntime", precision="int8")
    assert len(caught) == 1 and "precision='auto' would use float32" in str(caught[0].message)
    assert int8.precision == "int8" and "int8 check failed" in repr(int8)
    with pytest.warns(Int8AccuracyWarning):  # from the cache: the same verdict, the same warning
        again = Refiner.from_network(deviating_network, backend="onnxruntime", precision="int8")
    assert again.precision == "int8" and calls == {"export": 1, "quantize": 1, "check": 1}
    _auto(deviating_network)  # the cached failed verdict sends auto to float32 at once
    assert calls == {"export": 1, "quantize": 1, "check": 1}


@needs_onnx
def test_auto_keeps_int8_where_the_check_passes(
    deviating_network: AlphaRefineNet, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = _auto(deviating_network)
    assert failed.precision == "float32"
    # The cached measurements are judged by the current bound: with one they meet, auto keeps
    # int8 without measuring again, and the reason says why.
    monkeypatch.setattr(guard, "MAX_MEDIAN_DEVIATION", 1.0)
    monkeypatch.setattr(guard, "MAX_P90_DEVIATION", 1.0)
    monkeypatch.setattr(guard, "MAX_IOU_DROP", 100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Int8AccuracyWarning)
        passed = _auto(deviating_network)
    assert (passed.backend, passed.precision) == ("onnxruntime", "int8")
    assert "int8: CPU has VNNI, int8 check passed: box deviation median" in repr(passed)
    assert calls == {"export": 1, "quantize": 1, "check": 1}


@needs_onnx
def test_without_vnni_auto_never_builds_int8(
    deviating_network: AlphaRefineNet, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(select, "cpu_has_vnni", lambda: False)
    refiner = _auto(deviating_network)
    assert refiner.precision == "float32" and refiner.int8_check is None
    assert "chosen_by='auto: CPU'," in repr(refiner)
    assert calls == {"export": 1, "quantize": 0, "check": 0}


@needs_onnx
def test_int8_verdicts_are_kept_apart_for_cpus_with_and_without_vnni(
    deviating_network: AlphaRefineNet, calls: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.warns(Int8AccuracyWarning):
        Refiner.from_network(deviating_network, backend="onnxruntime", precision="int8")
    monkeypatch.setattr(select, "cpu_has_vnni", lambda: False)
    with pytest.warns(Int8AccuracyWarning):
        Refiner.from_network(deviating_network, backend="onnxruntime", precision="int8")
    assert calls == {"export": 1, "quantize": 2, "check": 2}  # measured again, not trusted

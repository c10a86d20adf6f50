"""The int8 ONNX Runtime path (``precision="int8"``): what is quantized, how far it moves the
outputs from float32, and its errors.

Tolerances (int8 is far outside the float32 paths' 1e-3 px): on the trained default model the
int8 corners stay within 0.5 crop pixels of float32 (about 0.15 measured) and the mask within
0.05; on random weights, whose sharp corner maps amplify rounding, the boxes' median deviation
stays within 2 px and the template kernels within 30 % relative error (about 15 % measured).
Calibration here uses two synthetic sequences to keep the tests fast.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import alpha_refine
from alpha_refine import AlphaRefineNet, Refiner
from alpha_refine.data.sequence import Sequence
from alpha_refine.demo import demo_sequence
from alpha_refine.geometry import crop_and_resize, search_windows
from alpha_refine.runtime.graphs import onnx_available
from alpha_refine.runtime.guard import Int8AccuracyWarning, Int8Check
from alpha_refine.runtime.quantize import (
    CalibrationCrops,
    calibration_crops,
    quantize_graphs,
    synthetic_calibration_sequences,
)
from tracking_fixtures import noise_calibrated_resnet18

INT8_CORNER_TOLERANCE_PX = 0.5  # trained model, crop pixels
INT8_MASK_TOLERANCE = 0.05
RANDOM_MEDIAN_BOX_TOLERANCE_PX = 2.0
RANDOM_KERNEL_RELATIVE_TOLERANCE = 0.3
DEFAULT_MODEL = Path(alpha_refine.__file__).parent / "default_model"
# The ResNet-18 model embedded before the Lite0 one (weights a3c311185feea7b4): trained weights of
# a trunk that int8 is claimed safe for. The embedded Lite0 model is not (see runtime.select).
TRAINED_RESNET = Path(__file__).parent / "data" / "trained-r18"
needs_onnx = pytest.mark.skipif(not onnx_available(), reason="the onnx extra is not installed")


@pytest.fixture(scope="module")
def small_calibration() -> CalibrationCrops:
    return calibration_crops(synthetic_calibration_sequences(2), searches_per_sequence=2)


@pytest.fixture(scope="module")
def trained_graphs(
    small_calibration: CalibrationCrops,
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """A trained ResNet-18's float32 graphs and their int8 copies."""
    if not onnx_available():
        pytest.skip("the onnx extra is not installed")
    from alpha_refine.runtime.export import export_graphs

    graphs = export_graphs(Refiner.from_pretrained(TRAINED_RESNET, device="cpu").network)
    return graphs, quantize_graphs(graphs, small_calibration)


def _demo_crops(count: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """A template crop and ``count`` search crops of the demo clip (RGB, as the refiner cuts)."""
    sequence = demo_sequence(length=count + 1)

    def crop(index: int) -> np.ndarray:
        frame = np.ascontiguousarray(sequence.frame(index)[..., ::-1])
        return crop_and_resize(frame, search_windows(sequence.boxes[index][None])[0])

    searches = np.stack([crop(i) for i in range(1, count + 1)])
    return torch.from_numpy(crop(0)[None]), torch.from_numpy(searches)


# --- calibration --------------------------------------------------------------------------


def test_calibration_crops(small_calibration: CalibrationCrops) -> None:
    assert small_calibration.templates.shape == (2, 256, 256, 3)
    assert small_calibration.searches.shape == (4, 256, 256, 3)
    assert small_calibration.searches.dtype == np.float32
    assert small_calibration.template_index.tolist() == [0, 0, 1, 1]
    assert 0 <= small_calibration.searches.min() < small_calibration.searches.max() <= 255


def test_calibration_takes_still_images_and_needs_a_visible_pair_otherwise() -> None:
    frame = np.zeros((40, 50, 3), np.uint8)
    frame[5:15, 5:15] = 200
    box = np.array([[5.0, 5.0, 10.0, 10.0]])
    still = Sequence.from_arrays("still", [frame], box)  # template and search: the same image
    crops = calibration_crops([still])
    assert crops.templates.shape == crops.searches.shape == (1, 256, 256, 3)
    assert crops.template_index.tolist() == [0]
    lost = Sequence.from_arrays(
        "lost", [frame, frame], np.concatenate([box, box]), visible=np.array([True, False])
    )
    with pytest.raises(ValueError, match="two or more visible frames, or a still image"):
        calibration_crops([lost])
    with pytest.raises(ValueError, match="searches_per_sequence"):
        calibration_crops([still], searches_per_sequence=0)


# --- the graphs ---------------------------------------------------------------------------


@needs_onnx
def test_int8_graphs_quantize_only_the_trunk(
    trained_graphs: tuple[dict[str, bytes], dict[str, bytes]],
) -> None:
    import json

    import onnx

    graphs, int8 = trained_graphs
    assert set(int8) == set(graphs)
    for name in graphs:
        original, quantized = onnx.load_from_string(graphs[name]), onnx.load_from_string(int8[name])
        assert [i.name for i in quantized.graph.input] == [i.name for i in original.graph.input]
        assert [o.name for o in quantized.graph.output] == [o.name for o in original.graph.output]
        metadata = json.loads({p.key: p.value for p in quantized.metadata_props}["alpha_refine"])
        assert metadata["precision"] == "int8" and metadata["model"]["backbone"] == "resnet18"
    model = onnx.load_from_string(int8["refine_mask"])
    producers = {output: node for node in model.graph.node for output in node.output}
    convolutions = [node for node in model.graph.node if node.op_type == "Conv"]
    assert len(convolutions) > 30
    for conv in convolutions:
        weight = producers.get(conv.input[1])
        quantized = weight is not None and weight.op_type == "DequantizeLinear"
        parts = (".backbone.", ".mask_adjust.", ".mask_head.v")  # v*: laterals of the trunk
        groups = next((a.i for a in conv.attribute if a.name == "group"), 1)
        normalisation = groups == 3  # the input normalisation, a depthwise 1 x 1 convolution
        trunk = normalisation or any(part in conv.input[1] for part in parts)
        assert quantized == trunk, conv.input[1]


@needs_onnx
def test_int8_engine_stays_close_to_float32_on_the_trained_model(
    trained_graphs: tuple[dict[str, bytes], dict[str, bytes]],
) -> None:
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    graphs, int8 = trained_graphs
    full, quantized = OnnxRuntimeEngine(graphs, threads=1), OnnxRuntimeEngine(int8, threads=1)
    template, searches = _demo_crops()
    kernels = full.kernels(template)
    int8_kernels = quantized.kernels(template)
    assert float((int8_kernels - kernels).norm() / kernels.norm()) < 0.05
    repeated = kernels.expand(len(searches), -1, -1, -1)
    expected = full.search(searches, repeated, with_mask=True)
    for kernel in (repeated, int8_kernels.expand(len(searches), -1, -1, -1)):
        output = quantized.search(searches, kernel, with_mask=True)
        assert output.mask is not None and expected.mask is not None
        torch.testing.assert_close(
            output.corners, expected.corners, atol=INT8_CORNER_TOLERANCE_PX, rtol=0
        )
        torch.testing.assert_close(output.mask, expected.mask, atol=INT8_MASK_TOLERANCE, rtol=0)


# --- the refiner option -------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_network() -> AlphaRefineNet:
    """ResNet-18 with random weights, BatchNorm statistics calibrated on crops of noise."""
    return noise_calibrated_resnet18(mask_head=True)


@needs_onnx
def test_refiner_int8_option_on_random_weights(
    random_network: AlphaRefineNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alpha_refine.runtime import onnx_engine, quantize

    export = onnx_engine.export_graphs
    exported: dict[int, dict[str, bytes]] = {}  # one export for both refiners

    def export_once(network: AlphaRefineNet) -> dict[str, bytes]:
        return exported.setdefault(id(network), export(network))

    monkeypatch.setattr(onnx_engine, "export_graphs", export_once)
    monkeypatch.setattr(quantize, "CALIBRATION_SEQUENCES", 2)
    options: dict[str, Any] = {"backend": "onnxruntime", "return_mask": True}
    with pytest.warns(Int8AccuracyWarning, match="int8 check failed"):  # kept, as asked
        int8 = Refiner.from_network(random_network, precision="int8", **options)
    full = Refiner.from_network(random_network, **options)
    assert int8.precision == "int8" and int8.device == torch.device("cpu")
    template, _ = _demo_crops(1)
    kernels = full._engine.kernels(template)
    relative = float((int8._engine.kernels(template) - kernels).norm() / kernels.norm())
    assert relative < RANDOM_KERNEL_RELATIVE_TOLERANCE

    sequence = demo_sequence(length=4)
    boxes = np.stack([sequence.boxes[0], sequence.boxes[0] * 0.8 + 20])
    for refiner in (int8, full):
        refiner.initialize(sequence.frame(0), boxes)
    deviations = []
    for index in (1, 2, 3):
        moved = boxes + np.array([3.0, -2.0, 4.0, 1.0])
        box, mask = int8.refine(sequence.frame(index), moved)
        expected_box, _ = full.refine(sequence.frame(index), moved)
        assert box.shape == (2, 4) and np.all(np.isfinite(box))
        assert mask is not None and 0 <= mask.min() <= mask.max() <= 1
        deviations.append(np.abs(box - expected_box).max(axis=1))
    assert np.median(deviations) < RANDOM_MEDIAN_BOX_TOLERANCE_PX


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"precision": "int8"}, r"precision='int8' needs backend='onnxruntime'"),
        ({"backend": "onnxruntime", "precision": "int8", "compile": True}, "compile"),
        ({"backend": "onnxruntime", "precision": "float16"}, r"'float32' or 'int8'"),
        ({"backend": "onnxruntime", "precision": "int4"}, "precision"),
    ],
)
def test_bad_int8_options(
    random_network: AlphaRefineNet, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        Refiner.from_network(random_network, **options)


def test_int8_without_the_onnx_extra_is_a_clear_error(
    random_network: AlphaRefineNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alpha_refine.runtime import graphs

    monkeypatch.setattr(graphs, "onnx_available", lambda: False)
    with pytest.raises(ImportError, match=r"alpha-refine\[onnx\]"):
        Refiner.from_network(random_network, backend="onnxruntime", precision="int8")


def test_unknown_onnx_precision_is_refused() -> None:
    from alpha_refine.runtime.export import with_precision

    with pytest.raises(ValueError, match="'float32' or 'int8'"):
        with_precision({}, "float16")


# --- the command --------------------------------------------------------------------------


def _plain_dataset(root: Path) -> Path:
    """Two short synthetic sequences written in the plain layout."""
    for sequence in synthetic_calibration_sequences(2):
        folder = root / sequence.name
        (folder / "img").mkdir(parents=True)
        for index in range(4):
            cv2.imwrite(str(folder / "img" / f"{index:04d}.png"), sequence.frame(index))
        lines = [",".join(f"{v:.1f}" for v in box) for box in sequence.boxes[:4]]
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return root


@needs_onnx
def test_export_onnx_int8_with_calibration_sequences(
    trained_graphs: tuple[dict[str, bytes], dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import onnx

    from alpha_refine.cli import main
    from alpha_refine.runtime import export
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    graphs, _ = trained_graphs
    box_only = {name: graphs[name] for name in ("template", "refine")}  # fewer graphs: faster
    monkeypatch.setattr(export, "export_graphs", lambda network, opset=None: box_only)
    dataset = f"plain:{_plain_dataset(tmp_path / 'sequences')}"
    out = tmp_path / "int8"
    command = ["export-onnx", str(DEFAULT_MODEL), str(out), "--precision", "int8"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*command, "--calibration", dataset]) == 0
    warned = any(issubclass(w.category, Int8AccuracyWarning) for w in caught)
    assert sorted(p.name for p in out.iterdir()) == ["refine.onnx", "template.onnx"]
    model = onnx.load(out / "refine.onnx")
    metadata = json.loads({p.key: p.value for p in model.metadata_props}["alpha_refine"])
    assert metadata["precision"] == "int8" and metadata["format"] == "alpha-refine"
    # Checked against float32 like the refiner's int8 graphs; the verdict is kept and printed.
    check = Int8Check.from_dict(metadata["int8_check"])
    assert check.crops > 0 and metadata["int8_check"]["passed"] == check.passed != warned
    assert metadata["int8_check"]["summary"] in capsys.readouterr().out
    assert any(node.op_type == "DequantizeLinear" for node in model.graph.node)
    engine = OnnxRuntimeEngine({p.stem: p.read_bytes() for p in out.iterdir()}, threads=1)
    template, searches = _demo_crops(1)
    assert torch.isfinite(engine.search(searches, engine.kernels(template), False)[0]).all()


def test_export_onnx_calibration_needs_int8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alpha_refine.cli import main

    if not onnx_available():
        pytest.skip("the onnx extra is not installed")
    code = main(["export-onnx", str(DEFAULT_MODEL), str(tmp_path), "--calibration", str(tmp_path)])
    assert code == 2 and "--precision int8" in capsys.readouterr().err

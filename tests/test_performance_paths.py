"""Every fast path gives the plain path's outputs: batched crop, BatchNorm folding,
channels_last, autocast, ONNX export and ONNX Runtime, and the benchmark's quick mode.

Random weights with BatchNorm statistics calibrated on crops (activations of a realistic size,
so the float32 rounding differences are too): fine for equivalence, never for quality.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.geometry import crop_and_resize, search_windows
from alpha_refine.model.heads import soft_argmax
from alpha_refine.model.preprocess import normalize_crops, normalize_crops_for_export
from alpha_refine.runtime.crop import batched_crop
from alpha_refine.runtime.engine import TorchEngine, fold_batchnorm
from alpha_refine.runtime.graphs import onnx_available

BOX_TOLERANCE_PX = 1e-3
MASK_TOLERANCE = 1e-4
ROOT = Path(__file__).resolve().parents[1]
needs_onnx = pytest.mark.skipif(not onnx_available(), reason="the onnx extra is not installed")


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    rng = np.random.default_rng(4)
    frame = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (320, 240))
    frame[80:160, 100:180] = (40, 200, 240)
    return frame


@pytest.fixture(scope="module")
def calibrated(scene: np.ndarray) -> AlphaRefineNet:
    """ResNet-18 with a mask head, BatchNorm statistics (and affine terms) not the identity."""
    torch.manual_seed(5)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18"))
    windows = [(x, y, 160, 120) for x in range(0, 200, 60) for y in range(0, 150, 50)]
    crops = normalize_crops(
        torch.from_numpy(np.stack([crop_and_resize(scene, w) for w in windows]))
    )
    generator = torch.Generator().manual_seed(6)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
            module.weight.data = torch.rand(module.weight.shape, generator=generator) + 0.5
            module.bias.data = 0.1 * torch.randn(module.bias.shape, generator=generator)
    network.train()
    with torch.no_grad():
        network(crops, network.template_kernel(crops), with_mask=True)
    return network.eval()


BOXES = np.array(
    [
        [100.0, 80.0, 80.0, 80.0],  # inside
        [-20.5, 40.2, 70.3, 50.0],  # across the left edge
        [280.0, 200.0, 60.0, 55.0],  # across the bottom-right corner
        [150.0, 10.0, 22.0, 15.0],  # small
    ]
)


def _eager(network: AlphaRefineNet, **options: Any) -> Refiner:
    """The plain path: the network as built, NCHW, OpenCV crops."""
    refiner = Refiner.from_network(network, device="cpu", crop="opencv", **options)
    refiner._engine = TorchEngine(network, torch.device("cpu"), fold_bn=False, channels_last=False)
    return refiner


def _assert_same_results(
    refiner: Refiner, reference: Refiner, frame: np.ndarray, boxes: np.ndarray = BOXES
) -> None:
    for r in (refiner, reference):
        r.initialize(frame, boxes)
    moved = boxes + np.array([3.0, -2.0, 4.0, 1.0])
    result = refiner.refine(frame, moved, return_mask=True)
    expected = reference.refine(frame, moved, return_mask=True)
    box, mask = result
    expected_box, expected_mask = expected
    assert mask is not None and expected_mask is not None
    np.testing.assert_allclose(box, expected_box, atol=BOX_TOLERANCE_PX, rtol=0)
    np.testing.assert_allclose(mask, expected_mask, atol=MASK_TOLERANCE, rtol=0)
    np.testing.assert_allclose(result.confidence, expected.confidence, atol=1e-4, rtol=0)


# --- the batched crop ---------------------------------------------------------------------


def _windows(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    special = [
        (0, 0, width, height),  # the whole frame
        (0, 0, 256, 256),  # no resizing
        (3, 5, 512, 512),  # exactly 2x: OpenCV switches to area averaging
        (width - 1, height - 1, 1, 1),  # one pixel
        (-1, -1, width + 2, height + 2),  # one pixel of padding all round
        (-50, -40, 30, 20),  # wholly above-left
        (width + 5, 2, 30, 20),  # wholly right
        (4, height - 3, 7, 300),  # thin, through the bottom edge
        (width - 10, 0, 10, height),  # reaches the right edge exactly
    ]
    random = []
    for _ in range(25):
        ws, hs = (int(v) for v in rng.integers(1, 3 * max(height, width), 2))
        random.append(
            (int(rng.integers(-ws, width + 3)), int(rng.integers(-hs, height + 3)), ws, hs)
        )
    return np.array(special + random, dtype=np.int64)


@pytest.mark.parametrize("published_edge", [False, True])
@pytest.mark.parametrize("channels", [3, 1])
def test_batched_crop_matches_opencv_crop(published_edge: bool, channels: int) -> None:
    rng = np.random.default_rng(channels)
    frame = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    windows = _windows(37, 53, rng)
    expected = np.stack([crop_and_resize(frame, w, published_edge=published_edge) for w in windows])
    crops = batched_crop(torch.from_numpy(frame), windows, published_edge=published_edge)
    assert crops.shape == expected.shape
    difference = np.abs(crops.numpy().astype(int) - expected.astype(int))
    # OpenCV's fixed-point INTER_LINEAR is reproduced: bit-identical with this OpenCV; allow one
    # grey level on rare pixels in case another OpenCV build rounds differently.
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3

    as_float = frame.astype(np.float32)  # float frames: float weights, no rounding
    expected_float = np.stack(
        [crop_and_resize(as_float, w, published_edge=published_edge) for w in windows]
    )
    crops_float = batched_crop(torch.from_numpy(as_float), windows, published_edge=published_edge)
    np.testing.assert_allclose(crops_float.numpy(), expected_float, atol=1e-3, rtol=0)


def test_batched_crop_of_refiner_windows_is_bit_identical(scene: np.ndarray) -> None:
    windows = search_windows(np.concatenate([BOXES, BOXES * 0.7 + 11]))
    expected = np.stack([crop_and_resize(scene, w) for w in windows])
    np.testing.assert_array_equal(batched_crop(torch.from_numpy(scene), windows).numpy(), expected)


def test_batched_crop_rejects_empty_windows() -> None:
    with pytest.raises(ValueError, match="positive"):
        batched_crop(torch.zeros(4, 4, 3, dtype=torch.uint8), np.array([[0, 0, 0, 3]]))


# --- engines ------------------------------------------------------------------------------


def test_batchnorm_folding_is_exact(calibrated: AlphaRefineNet, scene: np.ndarray) -> None:
    plain = TorchEngine(calibrated, torch.device("cpu"), fold_bn=False, channels_last=False)
    folded = TorchEngine(calibrated, torch.device("cpu"), channels_last=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.network.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in calibrated.modules())  # not touched
    crops = torch.from_numpy(np.stack([crop_and_resize(scene, w) for w in search_windows(BOXES)]))
    kernels = plain.kernels(crops)
    torch.testing.assert_close(folded.kernels(crops), kernels, atol=1e-3, rtol=1e-4)
    output = folded.search(crops, kernels, with_mask=True)
    expected = plain.search(crops, kernels, with_mask=True)
    assert output.mask is not None and expected.mask is not None
    torch.testing.assert_close(output.corners, expected.corners, atol=BOX_TOLERANCE_PX, rtol=0)
    torch.testing.assert_close(output.mask, expected.mask, atol=MASK_TOLERANCE, rtol=0)
    torch.testing.assert_close(output.confidence, expected.confidence, atol=1e-4, rtol=0)


def test_fold_batchnorm_returns_the_module() -> None:
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    assert fold_batchnorm(block) is block and isinstance(block[1], torch.nn.Identity)


@pytest.mark.parametrize("geometry", ["exact", "published"])
@pytest.mark.parametrize(
    "options",
    [{}, {"crop": "device"}],
    ids=["default", "device-crop"],
)
def test_fast_refiner_matches_the_plain_path(
    calibrated: AlphaRefineNet, scene: np.ndarray, geometry: str, options: dict[str, Any]
) -> None:
    fast = Refiner.from_network(calibrated, device="cpu", geometry=geometry, **options)
    _assert_same_results(fast, _eager(calibrated, geometry=geometry), scene)


def test_rgb_grayscale_and_float_frames_through_the_device_crop(
    calibrated: AlphaRefineNet, scene: np.ndarray
) -> None:
    for frame, color in [
        (scene[..., ::-1].copy(), "rgb"),
        (scene[..., 1].copy(), "bgr"),
        (scene.astype(np.float32) / 255, "bgr"),
        (np.concatenate([scene, np.zeros_like(scene[..., :1])], axis=2), "bgr"),
    ]:
        device_crop = Refiner.from_network(calibrated, device="cpu", color=color, crop="device")
        _assert_same_results(device_crop, _eager(calibrated, color=color), frame, BOXES[:2])


def test_half_precision_keeps_correlation_and_soft_argmax_in_float32() -> None:
    scores = torch.randn(2, 1, 16, 16) * 5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        corners = soft_argmax(scores.bfloat16())
    assert corners.dtype == torch.float32
    torch.testing.assert_close(corners, soft_argmax(scores.bfloat16().float()))


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precision_autocast_runs(
    calibrated: AlphaRefineNet, scene: np.ndarray, precision: str
) -> None:
    refiner = Refiner.from_network(calibrated, device="cpu", precision=precision)
    refiner.initialize(scene, BOXES[:2])
    box, mask = refiner.refine(scene, BOXES[:2] + 2, return_mask=True)
    assert box.shape == (2, 4) and np.all(np.isfinite(box))
    assert mask is not None and mask.dtype == np.float32 and 0 <= mask.min() <= mask.max() <= 1


def test_compile_option_compiles_the_prepared_network(
    calibrated: AlphaRefineNet, scene: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = []

    def fake_compile(function: Any, mode: str | None = None) -> Any:
        compiled.append((function, mode))
        return function

    monkeypatch.setattr(torch, "compile", fake_compile)
    refiner = Refiner.from_network(calibrated, device="cpu", compile=True)
    assert len(compiled) == 2 and all(mode is None for _, mode in compiled)  # CUDA graphs: CUDA
    _assert_same_results(refiner, _eager(calibrated), scene)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"backend": "tensorrt"}, ValueError, "backend"),
        ({"precision": "int8"}, ValueError, "precision"),
        ({"crop": "gpu"}, ValueError, "crop"),
        ({"compile": "yes"}, TypeError, "compile"),
        ({"backend": "onnxruntime", "device": "cuda"}, ValueError, "CPU"),
        ({"backend": "onnxruntime", "precision": "float16"}, ValueError, "float32"),
        ({"backend": "onnxruntime", "compile": True}, ValueError, "compile"),
    ],
)
def test_bad_performance_options(
    calibrated: AlphaRefineNet, options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        Refiner.from_network(calibrated, **options)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["float32", "float16", "bfloat16"])
def test_cuda_paths(calibrated: AlphaRefineNet, scene: np.ndarray, precision: str) -> None:
    refiner = Refiner.from_network(calibrated, device="cuda", precision=precision)
    assert refiner._device_crop
    if precision == "float32":
        _assert_same_results(refiner, _eager(calibrated), scene)
    else:
        refiner.initialize(scene, BOXES)
        assert np.all(np.isfinite(refiner.refine(scene, BOXES + 2).box))


# --- ONNX ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(calibrated: AlphaRefineNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The calibrated network saved as weights, then exported with ``alpha-refine export-onnx``."""
    if not onnx_available():
        pytest.skip("the onnx extra is not installed")
    from alpha_refine.cli import main

    root = tmp_path_factory.mktemp("onnx")
    Refiner.from_network(calibrated, device="cpu").save_pretrained(root / "weights")
    assert main(["export-onnx", str(root / "weights"), str(root / "onnx")]) == 0
    return root / "onnx"


def _graphs(directory: Path) -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(directory.glob("*.onnx"))}


def test_export_normalisation_matches_the_plain_one() -> None:
    crops = torch.rand(3, 32, 40, 3, generator=torch.Generator().manual_seed(1)) * 255
    plain, exported = normalize_crops(crops), normalize_crops_for_export(crops)
    assert exported.shape == plain.shape == (3, 3, 32, 40)
    torch.testing.assert_close(exported, plain, rtol=0, atol=1e-5)


@needs_onnx
def test_export_onnx_writes_checked_graphs(exported: Path) -> None:
    import onnx

    assert sorted(p.name for p in exported.iterdir()) == [
        "refine.onnx",
        "refine_mask.onnx",
        "template.onnx",
    ]
    signatures = {
        "template": (["crops"], ["kernels"]),
        "refine": (["crops", "kernels"], ["corners", "confidence"]),
        "refine_mask": (["crops", "kernels"], ["corners", "mask", "confidence"]),
    }
    for name, (inputs, outputs) in signatures.items():
        model = onnx.load(exported / f"{name}.onnx")
        onnx.checker.check_model(model)
        assert [i.name for i in model.graph.input] == inputs
        assert [o.name for o in model.graph.output] == outputs
        batch = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert batch.dim_param and not batch.dim_value  # a dynamic number of targets
        metadata = json.loads({p.key: p.value for p in model.metadata_props}["alpha_refine"])
        assert metadata["model"] == {"backbone": "resnet18", "mask_head": True}
        assert metadata["format"] == "alpha-refine"


@needs_onnx
def test_onnxruntime_engine_matches_torch(
    exported: Path, calibrated: AlphaRefineNet, scene: np.ndarray
) -> None:
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    engine = OnnxRuntimeEngine(_graphs(exported))
    plain = TorchEngine(calibrated, torch.device("cpu"), fold_bn=False, channels_last=False)
    crops = torch.from_numpy(np.stack([crop_and_resize(scene, w) for w in search_windows(BOXES)]))
    kernels = plain.kernels(crops)
    torch.testing.assert_close(engine.kernels(crops), kernels, atol=1e-3, rtol=1e-4)
    for count in (1, len(BOXES)):  # the number of targets is dynamic
        output = engine.search(crops[:count], kernels[:count], with_mask=True)
        expected = plain.search(crops[:count], kernels[:count], True)
        assert output.mask is not None and expected.mask is not None
        torch.testing.assert_close(output.corners, expected.corners, atol=BOX_TOLERANCE_PX, rtol=0)
        torch.testing.assert_close(output.mask, expected.mask, atol=MASK_TOLERANCE, rtol=0)
        torch.testing.assert_close(output.confidence, expected.confidence, atol=1e-4, rtol=0)
        box_only = engine.search(crops[:count], kernels[:count], with_mask=False)
        assert box_only.mask is None
        torch.testing.assert_close(box_only.corners, output.corners)
        torch.testing.assert_close(box_only.confidence, output.confidence)


@needs_onnx
def test_light_heads_export_and_match_torch(scene: np.ndarray) -> None:
    from alpha_refine.runtime.export import export_graphs
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    torch.manual_seed(7)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18", heads="light")).eval()
    engine = OnnxRuntimeEngine(export_graphs(network))
    plain = TorchEngine(network, torch.device("cpu"), fold_bn=False, channels_last=False)
    crops = torch.from_numpy(np.stack([crop_and_resize(scene, w) for w in search_windows(BOXES)]))
    kernels = plain.kernels(crops)
    output = engine.search(crops, kernels, with_mask=True)
    expected = plain.search(crops, kernels, True)
    assert output.mask is not None and expected.mask is not None
    torch.testing.assert_close(output.corners, expected.corners, atol=BOX_TOLERANCE_PX, rtol=0)
    torch.testing.assert_close(output.mask, expected.mask, atol=MASK_TOLERANCE, rtol=0)


@needs_onnx
def test_graphs_without_confidence_are_refused_clearly(exported: Path) -> None:
    import onnx.utils

    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    graphs = _graphs(exported)
    extractor = onnx.utils.Extractor(onnx.load_from_string(graphs["refine"]))
    older = extractor.extract_model(["crops", "kernels"], ["corners"])  # as exported before
    with pytest.raises(ValueError, match=r"refine\.onnx has no 'confidence'.*export-onnx"):
        OnnxRuntimeEngine({**graphs, "refine": older.SerializeToString()})


@needs_onnx
def test_onnxruntime_backend_matches_the_plain_path(
    exported: Path,
    calibrated: AlphaRefineNet,
    scene: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alpha_refine.runtime import onnx_engine

    # The graphs exported above (the refiner would export the same network again, in memory).
    monkeypatch.setattr(onnx_engine, "export_graphs", lambda network: _graphs(exported))
    refiner = Refiner.from_network(calibrated, backend="onnxruntime")
    assert refiner.device == torch.device("cpu") and "onnxruntime" in repr(refiner)
    _assert_same_results(refiner, _eager(calibrated), scene)
    ids = refiner.add_targets(scene, BOXES[0])
    refiner.remove_targets([0, 1])
    assert refiner.target_ids.tolist() == [2, 3, int(ids[0])]
    assert refiner.refine(scene, BOXES[[2, 3, 0]]).box.shape == (3, 4)


def test_onnx_export_without_the_extra_is_a_clear_error(
    calibrated: AlphaRefineNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alpha_refine.runtime import graphs
    from alpha_refine.runtime.export import export_graphs

    monkeypatch.setattr(graphs, "onnx_available", lambda: False)
    with pytest.raises(ImportError, match=r"alpha-refine\[onnx\]"):
        export_graphs(calibrated)


# --- the benchmark ------------------------------------------------------------------------


def test_benchmark_quick_mode_checks_every_path(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_refine", ROOT / "benchmarks" / "bench_refine.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    try:
        report = bench.main(
            [
                "--quick",
                "--targets",
                "2",
                "--threads",
                "1",
                "--check",
                "--out",
                str(tmp_path / "b.json"),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "b.json").read_text())["problems"] == []
    (result,) = report["results"]
    timed = result["targets"]["2"]
    onnx_paths = {"onnxruntime", "onnxruntime-int8"}
    expected_paths = {"eager", "torch"} | (onnx_paths if onnx_available() else set())
    for operation in ("initialize", "refine_box", "refine_mask"):
        # The automatic choice is named after what it chose (torch here: the suite pins it).
        assert set(timed[operation]) == expected_paths | {"default:torch/float32"}
        assert all(stats["median_ms"] > 0 for stats in timed[operation].values())
    assert report["machine"]["cpu_count"] >= 1

"""Stride-8 corners (alpha_refine.model.fine_corners): grid, start, network, cache and export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_refine import ModelConfig, Refiner
from alpha_refine.geometry import crop_and_resize, search_windows
from alpha_refine.model.fine_corners import FineCornerHead, to_fine_grid
from alpha_refine.model.heads import soft_argmax
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.runtime.engine import TorchEngine
from alpha_refine.runtime.graphs import onnx_available
from alpha_refine.train.config import DataSource, FeatureCacheConfig, OptimConfig, TrainConfig
from alpha_refine.train.features import CachedPairs, cache_manifest
from alpha_refine.train.loop import build_cache, build_sources, train, training_network
from alpha_refine.train.sampling import TrainingPairs

pytestmark = pytest.mark.usefixtures("one_thread")

FINE_R18 = ModelConfig(backbone="resnet18", mask_head=True, blend_head=True, fine_corners=True)


def test_the_fine_grid_keeps_the_coarse_values_at_their_positions() -> None:
    coarse = torch.randn(2, 2, 16, 16)
    fine = to_fine_grid(coarse)
    assert fine.shape == (2, 2, 31, 31)  # positions 0, 8, ..., 240: the coarse range
    torch.testing.assert_close(fine[..., ::2, ::2], coarse)
    torch.testing.assert_close(fine[..., 0, 1], (coarse[..., 0, 0] + coarse[..., 0, 1]) / 2)
    centre = coarse[..., 3:5, 6:8].mean(dim=(-2, -1))
    torch.testing.assert_close(fine[..., 7, 13], centre)


def test_the_untrained_head_decodes_a_sharp_coarse_corner_where_the_coarse_map_does() -> None:
    head = FineCornerHead(fused_channels=64, layer2_channels=40).eval()
    coarse = torch.full((1, 2, 16, 16), -30.0)
    coarse[0, 0, 5, 3] = coarse[0, 1, 11, 12] = 30.0
    with torch.no_grad():
        fine = head(torch.randn(1, 64, 16, 16), torch.randn(1, 40, 32, 32), coarse)
    assert fine.shape == (1, 2, 31, 31)
    decoded = torch.cat((soft_argmax(fine[:, :1], 8), soft_argmax(fine[:, 1:], 8)), dim=1)
    expected = torch.cat((soft_argmax(coarse[:, :1]), soft_argmax(coarse[:, 1:])), dim=1)
    torch.testing.assert_close(decoded, expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(expected, torch.tensor([[48.0, 80.0, 192.0, 176.0]]))
    with pytest.raises(ValueError, match=r"layer2 features must be 32 x 32.*\(16, 16\)"):
        head(torch.randn(1, 64, 16, 16), torch.randn(1, 40, 16, 16), coarse)


def _trained_looking(config: ModelConfig, seed: int = 3) -> AlphaRefineNet:
    """A random network whose fine head's last layer is not zero, so its correction counts."""
    torch.manual_seed(seed)
    network = AlphaRefineNet(config).eval()
    assert network.fine_corners is not None
    torch.nn.init.normal_(network.fine_corners.correction[-1].weight, std=0.5)
    return network


def test_the_network_decodes_its_corners_on_the_fine_maps() -> None:
    network = _trained_looking(FINE_R18)
    torch.manual_seed(0)
    search, template = torch.rand(2, 3, 256, 256), torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        kernel = network.template_kernel(template)
        output = network(search, kernel, with_mask=True)
        features = network.backbone(search)
        fused, boxes = network.refine_layer3(features.layer3, kernel, features.layer2)
        assert network.fine_corners is not None
        fine = network.fine_corners(fused, features.layer2, boxes.corner_scores)
    torch.testing.assert_close(output.corners, boxes.corners)
    assert output.corner_scores.shape == (2, 2, 16, 16)  # confidence and blend read these
    assert output.mask_logits is not None
    torch.testing.assert_close(output.corners[:, :2], soft_argmax(fine[:, :1], 8))
    coarse = torch.cat(
        (soft_argmax(boxes.corner_scores[:, :1]), soft_argmax(boxes.corner_scores[:, 1:])), dim=1
    )
    assert not torch.allclose(output.corners, coarse, atol=0.5)
    with pytest.raises(ValueError, match="fine_corners needs search_layer2"):
        network.refine_layer3(features.layer3, kernel)


def test_the_config_names_fine_corners_only_when_on() -> None:
    assert "fine_corners" not in ModelConfig().to_dict()
    assert FINE_R18.to_dict()["fine_corners"] is True
    assert ModelConfig.from_dict(FINE_R18.to_dict()) == FINE_R18
    with pytest.raises(TypeError, match="fine_corners must be a bool, got int"):
        ModelConfig(fine_corners=1)  # type: ignore[arg-type]


def _config(tmp_path: Path) -> TrainConfig:
    return TrainConfig(
        model=FINE_R18,
        optim=OptimConfig(
            epochs=1, iterations_per_epoch=3, batch_size=4, freeze=("fusion", "corner_head")
        ),
        data=(DataSource(kind="synthetic", count=3, length=10, weight=1.0),),
        features=FeatureCacheConfig(dir=str(tmp_path / "cache"), pairs=6, shard_size=4),
        workers=0,
        out_dir=str(tmp_path / "run"),
    )


def test_the_cache_of_a_fine_network_holds_layer2_and_trains_the_fine_head(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = build_cache(config)
    cached = CachedPairs(folder, samples_per_epoch=6)
    pair = TrainingPairs(build_sources(config), 6, seed=1, config=config.sampling)[4]
    network, _ = training_network(config, torch.device("cpu"))
    with torch.no_grad():
        crops = normalize_crops(torch.stack((pair["template"], pair["search"])))
        layer2 = network.backbone(crops).layer2[1]
    stored = cached.tensors["search_layer2"][4]
    assert stored.dtype == torch.float16
    torch.testing.assert_close(stored.float(), layer2, atol=2e-2, rtol=1e-2)
    # Caches of networks without the fine head keep their key; this one has another.
    coarse = replace(config, model=replace(FINE_R18, fine_corners=False))
    coarse_network, _ = training_network(coarse, torch.device("cpu"))
    assert "layer2" not in cache_manifest(coarse, coarse_network)
    assert cache_manifest(config, network)["key"] != cache_manifest(coarse, coarse_network)["key"]

    before = {k: v.clone() for k, v in network.state_dict().items()}
    final = train(config, device="cpu")
    trained = Refiner.from_pretrained(final, device="cpu").network.state_dict()
    for key, value in before.items():
        if key.endswith(("weight", "bias")):
            moved = not torch.equal(trained[key], value)
            assert moved == key.startswith(("fine_corners.", "blend_head.")), key


@pytest.mark.skipif(not onnx_available(), reason="onnx is not installed")
def test_the_fine_head_exports_and_matches_torch() -> None:
    from alpha_refine.runtime.export import export_graphs
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    network = _trained_looking(replace(FINE_R18, blend_head=False))
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    frame[80:160, 100:180] = (40, 200, 240)
    windows = search_windows([[100, 80, 80, 80], [110, 90, 50, 70]])
    crops = torch.from_numpy(np.stack([crop_and_resize(frame, w) for w in windows]))
    plain = TorchEngine(network, torch.device("cpu"), fold_bn=False, channels_last=False)
    kernels = plain.kernels(crops)
    output = OnnxRuntimeEngine(export_graphs(network)).search(crops, kernels, with_mask=False)
    expected = plain.search(crops, kernels, False)
    torch.testing.assert_close(output.corners, expected.corners, atol=0.05, rtol=0)

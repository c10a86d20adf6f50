from __future__ import annotations

import math

import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig
from alpha_refine.model.fusion import pixelwise_correlation, template_kernel
from alpha_refine.model.heads import soft_argmax


def test_soft_argmax_of_a_peaked_map_is_the_cell_top_left_corner() -> None:
    scores = torch.full((2, 1, 16, 16), -1e4)
    scores[0, 0, 3, 7] = 1e4  # row 3, col 7
    scores[1, 0, 15, 0] = 1e4
    xy = soft_argmax(scores)
    torch.testing.assert_close(xy, torch.tensor([[7 * 16.0, 3 * 16.0], [0.0, 15 * 16.0]]))


def test_soft_argmax_of_a_uniform_map_is_the_grid_mean() -> None:
    xy = soft_argmax(torch.zeros(1, 1, 16, 16))
    torch.testing.assert_close(xy, torch.tensor([[120.0, 120.0]]))  # mean of 0, 16, ..., 240


def test_soft_argmax_uses_a_plain_softmax() -> None:
    scores = torch.full((1, 1, 16, 16), -math.inf)
    scores[0, 0, 0, 0] = 0.0
    scores[0, 0, 0, 1] = math.log(3.0)  # weights 1:3 between x = 0 and x = 16
    torch.testing.assert_close(soft_argmax(scores), torch.tensor([[12.0, 0.0]]))


def test_template_kernel_is_the_centre_window() -> None:
    layer3 = torch.arange(16 * 16, dtype=torch.float32).reshape(1, 1, 16, 16)
    kernel = template_kernel(layer3)
    assert kernel.shape == (1, 1, 8, 8)
    torch.testing.assert_close(kernel, layer3[..., 4:12, 4:12])


def test_correlation_channel_order_is_row_major() -> None:
    generator = torch.Generator().manual_seed(0)
    kernel = torch.randn(2, 5, 8, 8, generator=generator)
    search = torch.randn(2, 5, 16, 16, generator=generator)
    out = pixelwise_correlation(kernel, search)
    assert out.shape == (2, 64, 16, 16)
    for row, col in [(0, 0), (0, 7), (3, 5), (7, 0), (7, 7)]:
        expected = (kernel[:, :, row, col, None, None] * search).sum(dim=1)
        torch.testing.assert_close(out[:, 8 * row + col], expected)


@pytest.mark.parametrize(
    ("backbone", "kernel_channels"),
    [("resnet18", 256), ("resnet34", 256), ("resnet50", 1024), ("efficientnet_lite0", 112)],
)
def test_output_shapes_for_each_backbone(backbone: str, kernel_channels: int) -> None:
    torch.manual_seed(0)
    net = AlphaRefineNet(ModelConfig(backbone=backbone)).eval()  # type: ignore[arg-type]
    with torch.inference_mode():
        kernel = net.template_kernel(torch.randn(2, 3, 256, 256))
        out = net(torch.randn(2, 3, 256, 256), kernel, with_mask=True)
    assert kernel.shape == (2, kernel_channels, 8, 8)
    assert out.corners.shape == (2, 4)
    assert out.mask_logits is not None and out.mask_logits.shape == (2, 1, 256, 256)
    assert out.corner_scores.shape == (2, 2, 16, 16)
    assert bool(((out.corners >= 0) & (out.corners <= 240)).all())


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
def test_light_heads_give_the_same_outputs_for_a_fraction_of_the_cost(backbone: str) -> None:
    torch.manual_seed(0)
    published = AlphaRefineNet(ModelConfig(backbone=backbone)).eval()  # type: ignore[arg-type]
    light = AlphaRefineNet(ModelConfig(backbone=backbone, heads="light")).eval()  # type: ignore[arg-type]
    with torch.inference_mode():
        kernel = light.template_kernel(torch.randn(2, 3, 256, 256))
        out = light(torch.randn(2, 3, 256, 256), kernel, with_mask=True)
    assert out.corners.shape == (2, 4) and out.corner_scores.shape == (2, 2, 16, 16)
    assert out.mask_logits is not None and out.mask_logits.shape == (2, 1, 256, 256)
    # As deep as the published towers (the same receptive field on the 16 x 16 map).
    convs = [m for m in light.corner_head.top_left.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size for m in convs] == [(3, 3)] * 4 + [(1, 1)]

    def head_parameters(network: AlphaRefineNet) -> int:
        heads = [network.corner_head, network.mask_head]
        return sum(p.numel() for module in heads if module is not None for p in module.parameters())

    assert head_parameters(light) < head_parameters(published) / 3
    # Everything but the heads has the same layout, so published-head weights can start it.
    trunk = {k: v.shape for k, v in published.state_dict().items() if k.startswith("backbone.")}
    assert trunk == {k: v.shape for k, v in light.state_dict().items() if k.startswith("backbone.")}


def test_published_resnet34_parameter_count(network: AlphaRefineNet) -> None:
    # The published AR34 model uses 10,197,975 parameters at inference.
    assert sum(p.numel() for p in network.parameters()) == 10_197_975


def test_mask_decoder_does_not_run_without_mask(network: AlphaRefineNet) -> None:
    calls: list[str] = []
    handles = [
        network.mask_head.register_forward_hook(lambda *_: calls.append("head")),  # type: ignore[union-attr]
        network.mask_adjust.register_forward_hook(lambda *_: calls.append("adjust")),  # type: ignore[union-attr]
    ]
    try:
        with torch.inference_mode():
            kernel = network.template_kernel(torch.zeros(1, 3, 256, 256))
            out = network(torch.zeros(1, 3, 256, 256), kernel)
            assert out.mask_logits is None and calls == []
            network(torch.zeros(1, 3, 256, 256), kernel, with_mask=True)
            assert calls == ["adjust", "head"]
    finally:
        for handle in handles:
            handle.remove()


def test_network_without_mask_head() -> None:
    net = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=False)).eval()
    assert net.mask_head is None and not any(k.startswith("mask") for k in net.state_dict())
    kernel = net.template_kernel(torch.zeros(1, 3, 256, 256))
    with pytest.raises(RuntimeError, match="no mask head"):
        net(torch.zeros(1, 3, 256, 256), kernel, with_mask=True)


def test_forward_is_deterministic_and_batch_independent(network: AlphaRefineNet) -> None:
    generator = torch.Generator().manual_seed(1)
    template = torch.randn(3, 3, 256, 256, generator=generator)
    search = torch.randn(3, 3, 256, 256, generator=generator)
    with torch.inference_mode():
        kernel = network.template_kernel(template)
        first = network(search, kernel, with_mask=True)
        second = network(search, kernel, with_mask=True)
        alone = network(search[1:2], kernel[1:2], with_mask=True)
    assert torch.equal(first.corners, second.corners)
    torch.testing.assert_close(alone.corners, first.corners[1:2], atol=1e-3, rtol=0)
    assert first.mask_logits is not None and alone.mask_logits is not None
    torch.testing.assert_close(alone.mask_logits, first.mask_logits[1:2], atol=1e-4, rtol=0)


def test_model_config_validation_and_round_trip() -> None:
    config = ModelConfig(backbone="resnet18", mask_head=False)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="vgg16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"backbone": "resnet34", "depth": 3})
    with pytest.raises(TypeError, match="mask_head"):
        ModelConfig(mask_head="yes")  # type: ignore[arg-type]
    light = ModelConfig(backbone="efficientnet_lite0", heads="light")
    assert ModelConfig.from_dict(light.to_dict()) == light and light.to_dict()["heads"] == "light"
    assert "heads" not in config.to_dict()  # readable by versions before light heads
    assert ModelConfig.from_dict({"backbone": "resnet34"}).heads == "published"  # older files
    mixed = AlphaRefineNet(ModelConfig(backbone="resnet18", heads="light_mask"))
    published = AlphaRefineNet(ModelConfig(backbone="resnet18"))
    assert {k: v.shape for k, v in mixed.corner_head.state_dict().items()} == {
        k: v.shape for k, v in published.corner_head.state_dict().items()
    }
    assert mixed.mask_head is not None and published.mask_head is not None
    assert mixed.mask_head.v2[0].out_channels < published.mask_head.v2[0].out_channels
    with pytest.raises(ValueError, match="heads must be one of"):
        ModelConfig(heads="tiny")  # type: ignore[arg-type]

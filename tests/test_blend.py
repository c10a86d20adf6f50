"""The blend head: per-edge weights between the input box and the refined one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.model.blend import BlendHead, corner_iou, corner_marginals
from alpha_refine.train.loop import training_loss
from alpha_refine.train.sampling import Source, TrainingPairs

SMALL = SyntheticConfig(length=15, frame_size=(120, 160))
BLEND_R18 = ModelConfig(backbone="resnet18", blend_head=True)


def _network(config: ModelConfig = BLEND_R18, seed: int = 0) -> AlphaRefineNet:
    torch.manual_seed(seed)
    return AlphaRefineNet(config).eval()


def _set_weight(network: AlphaRefineNet, logit: float) -> None:
    """Make the blend head answer ``sigmoid(logit)`` for every edge."""
    assert network.blend_head is not None
    last = network.blend_head.edges[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(logit)


def test_marginals_are_distributions_that_peak_where_the_map_does() -> None:
    scores = torch.full((1, 2, 16, 16), -20.0)
    scores[0, 0, 3, 5] = 20.0  # top-left corner at column 5, row 3
    scores[0, 1, 12, 9] = 20.0
    marginals = corner_marginals(scores)
    assert marginals.shape == (1, 4, 16)
    assert torch.allclose(marginals.sum(dim=2), torch.ones(1, 4))
    assert marginals.argmax(dim=2).tolist() == [[5, 3, 9, 12]]


def test_weights_start_near_one_and_blend_stays_between_the_boxes() -> None:
    torch.manual_seed(0)
    head = BlendHead(64).eval()
    summary = head.summarise(torch.randn(5, 64, 16, 16), torch.randn(5, 2, 16, 16))
    inputs = torch.tensor([[60.0, 70.0, 190.0, 180.0]]).repeat(5, 1)
    refined = inputs + torch.randn(5, 4) * 20
    weights = head.weights(summary, inputs, refined)
    assert weights.shape == (5, 4)
    assert torch.allclose(weights, torch.full_like(weights, torch.sigmoid(torch.tensor(3.0))))
    blended = head.blend(summary, inputs, refined)
    low, high = torch.minimum(inputs, refined), torch.maximum(inputs, refined)
    assert bool(((blended >= low - 1e-4) & (blended <= high + 1e-4)).all())


def test_corner_iou_matches_the_numpy_iou() -> None:
    from alpha_refine.geometry import convert_boxes, iou

    boxes = torch.tensor([[10.0, 10.0, 50.0, 40.0], [0.0, 0.0, 10.0, 10.0]])
    others = torch.tensor([[20.0, 15.0, 60.0, 45.0], [20.0, 20.0, 30.0, 30.0]])
    expected = iou(
        convert_boxes(boxes.numpy(), "xyxy", "xywh"), convert_boxes(others.numpy(), "xyxy", "xywh")
    )
    assert np.allclose(corner_iou(boxes, others).numpy(), expected)


def test_config_keeps_files_without_the_head_readable() -> None:
    assert "blend_head" not in ModelConfig().to_dict()
    assert ModelConfig.from_dict(BLEND_R18.to_dict()) == BLEND_R18
    with pytest.raises(TypeError, match="blend_head must be a bool"):
        ModelConfig(blend_head=1)  # type: ignore[arg-type]


def test_pairs_carry_the_input_box_the_crop_was_cut_around() -> None:
    pairs = TrainingPairs([Source("synthetic", SyntheticSequences(2, SMALL).sequences())], 4)
    x1, y1, x2, y2 = pairs[1]["input_corners"].tolist()
    # The search window is centred on the jittered box and four times its area.
    # (integer windows: up to a few pixels off the centre)
    assert (x1 + x2) / 2 == pytest.approx(128, abs=8) and (y1 + y2) / 2 == pytest.approx(128, abs=8)
    assert np.sqrt((x2 - x1) * (y2 - y1)) == pytest.approx(128, rel=0.05)


def test_the_blend_loss_is_logged_and_lowered_by_training_the_head() -> None:
    pairs = TrainingPairs([Source("synthetic", SyntheticSequences(4, SMALL).sequences())], 4)
    batch = torch.utils.data.default_collate([pairs[i] for i in range(4)])
    network = _network().train()
    assert network.blend_head is not None
    for name, module in network.named_children():
        if name != "blend_head":
            module.requires_grad_(False).eval()
    optimizer = torch.optim.Adam(network.blend_head.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss, stats = training_loss(network, batch, torch.device("cpu"), mask_weight=0.0)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(stats["blend_loss"])
    assert losses[0] > 0 and losses[-1] < losses[0], losses


def test_the_summary_is_detached_from_the_network() -> None:
    network = _network().train()
    kernel = network.template_kernel(torch.randn(2, 3, 256, 256))
    output = network(torch.randn(2, 3, 256, 256), kernel)
    assert output.blend_summary is not None and output.blend_summary.shape == (2, 4 * 16 + 8)
    assert network.blend_head is not None
    inputs = torch.tensor([[64.0, 64.0, 192.0, 192.0]]).repeat(2, 1)
    blended = network.blend_head.blend(output.blend_summary, inputs, output.corners.detach())
    blended.sum().backward()  # type: ignore[no-untyped-call]
    assert all(p.grad is None for p in network.backbone.parameters())
    assert all(p.grad is None for p in network.corner_head.parameters())
    assert network.blend_head.edges[-1].bias.grad is not None


def test_a_blend_network_starts_from_weights_without_one(tmp_path: Path) -> None:
    from alpha_refine.train.distill import load_initial_weights
    from alpha_refine.weights import save_weights

    plain = _network(ModelConfig(backbone="resnet18"))
    save_weights(plain, tmp_path / "plain")
    blended = AlphaRefineNet(BLEND_R18)
    random = load_initial_weights(blended, str(tmp_path / "plain"))
    assert random and all(name.startswith("blend_head.") for name in random)
    for name, value in plain.state_dict().items():
        assert torch.equal(blended.state_dict()[name], value), name


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_refine_moves_each_edge_as_far_as_the_head_says(backend: str, frame: np.ndarray) -> None:
    network = _network()
    given = np.array([104.0, 82.0, 70.0, 72.0])

    def refine(logit: float, blend: bool = True) -> np.ndarray:
        _set_weight(network, logit)
        refiner = Refiner.from_network(network, device="cpu", backend=backend, blend=blend)
        refiner.initialize(frame, [100, 80, 80, 80])
        return np.asarray(refiner.refine(frame, given).box)

    raw = refine(0.0, blend=False)
    assert not np.allclose(raw, given, atol=0.5)  # otherwise the test shows nothing
    assert np.allclose(refine(30.0), raw, atol=1e-3)  # weight 1: the refined box
    assert np.allclose(refine(-30.0), given, atol=1e-3)  # weight 0: the input box
    # Weight 0.5 on every edge: halfway. The top-left corner only: the random network's
    # bottom-right corner may fall before it, and clipping to a minimum size then moves it.
    half = refine(0.0)
    assert np.allclose(half[:2], (given[:2] + raw[:2]) / 2, atol=1e-3)


def test_onnx_graphs_give_the_torch_summary(frame: np.ndarray) -> None:
    from alpha_refine.runtime.engine import TorchEngine
    from alpha_refine.runtime.graphs import BLEND_SUMMARY
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    network = _network()
    onnx = OnnxRuntimeEngine.from_network(network)
    eager = TorchEngine(network, torch.device("cpu"))
    crops = torch.rand(3, 256, 256, 3) * 255
    kernels = eager.kernels(crops)
    for with_mask in (False, True):
        ours = onnx.search(crops, kernels, with_mask)
        theirs = eager.search(crops, kernels, with_mask)
        assert ours.blend_summary is not None and theirs.blend_summary is not None
        assert torch.allclose(ours.blend_summary, theirs.blend_summary, atol=1e-4)
    assert BLEND_SUMMARY == "blend_summary"
    plain = OnnxRuntimeEngine.from_network(_network(replace(BLEND_R18, blend_head=False)))
    assert plain.search(crops[:1], kernels[:1], False).blend_summary is None


def test_repr_says_whether_it_blends(frame: np.ndarray) -> None:
    assert "blend=off" in repr(Refiner.from_network(_network(), device="cpu"))  # opt-in
    assert "blend=on" in repr(Refiner.from_network(_network(), device="cpu", blend=True))
    without = _network(ModelConfig(backbone="resnet18"))
    assert "blend=off" in repr(Refiner.from_network(without, device="cpu", blend=True))
    with pytest.raises(TypeError, match="blend must be a bool"):
        Refiner.from_network(_network(), device="cpu", blend="yes")


def test_jitter_range_draws_input_boxes_of_every_quality() -> None:
    from alpha_refine.geometry import convert_boxes, iou
    from alpha_refine.train.sampling import SamplingConfig

    sequences = SyntheticSequences(4, SMALL).sequences()

    def mean_input_iou(low: float, high: float) -> float:
        config = SamplingConfig(jitter_range=(low, high))
        pairs = TrainingPairs([Source("synthetic", sequences)], 16, config=config)
        items = [pairs[i] for i in range(16)]
        given = np.stack([item["input_corners"].numpy() for item in items])
        truth = np.stack([item["corners"].numpy() for item in items])
        return float(
            iou(convert_boxes(given, "xyxy", "xywh"), convert_boxes(truth, "xyxy", "xywh")).mean()
        )

    assert mean_input_iou(0.02, 0.02) > 0.9 > mean_input_iou(0.4, 0.4)
    with pytest.raises(ValueError, match="jitter_range"):
        SamplingConfig(jitter_range=(0.3, 0.1))

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, RandomWeightsWarning, Refiner
from alpha_refine.model.network import RefinementOutput


class FixedCornersNet(AlphaRefineNet):
    """Predicts fixed crop corners, so the whole crop -> network -> frame chain is checkable."""

    def __init__(self, corners: tuple[float, float, float, float]) -> None:
        super().__init__(ModelConfig(backbone="resnet18"))
        self.fixed = torch.tensor([corners], dtype=torch.float32)

    def forward(self, search: torch.Tensor, kernel: torch.Tensor, with_mask: bool = False) -> Any:
        out = super().forward(search, kernel, with_mask)
        return RefinementOutput(
            self.fixed.expand(len(search), 4), out.mask_logits, out.corner_scores
        )


def test_random_weights_warn() -> None:
    with pytest.warns(RandomWeightsWarning):
        Refiner(ModelConfig(backbone="resnet18", mask_head=False), device="cpu")


def test_end_to_end_box_and_mask(refiner: Refiner, frame: np.ndarray) -> None:
    refiner.initialize(frame, (100, 80, 80, 80))
    box, mask = refiner.refine(frame, (104, 76, 70, 90))
    assert box.shape == (4,) and box.dtype == np.float64 and mask is None
    assert np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0
    box_with_mask, mask = refiner.refine(frame, (104, 76, 70, 90), return_mask=True)
    np.testing.assert_allclose(box_with_mask, box, atol=1e-6)
    assert mask is not None and mask.shape == frame.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    # The mask covers only the search window (2x the box): zero far away from it.
    assert mask[:, 300:].max() == 0.0 and mask[220:].max() == 0.0


def test_return_mask_default_per_refiner(network: AlphaRefineNet, frame: np.ndarray) -> None:
    refiner = Refiner.from_network(network, device="cpu", return_mask=True)
    refiner.initialize(frame, (100, 80, 80, 80))
    assert refiner.refine(frame, (100, 80, 80, 80)).mask is not None
    assert refiner.refine(frame, (100, 80, 80, 80), return_mask=False).mask is None


def test_exact_geometry_maps_crop_box_back(frame: np.ndarray) -> None:
    # The centre half of the crop is the input box itself when the window needs no rounding.
    refiner = Refiner.from_network(FixedCornersNet((64, 64, 192, 192)), device="cpu")
    refiner.initialize(frame, (100, 50, 40, 30))
    np.testing.assert_allclose(refiner.refine(frame, (100, 50, 40, 30)).box, [100, 50, 40, 30])
    # w = 40.5 -> window 81 px wide at x0 = round(80.05) = 80: x = 80 + 64 * 81 / 256.
    box = refiner.refine(frame, (100.3, 50.2, 40.5, 30.1)).box
    np.testing.assert_allclose(box, [80 + 64 * 81 / 256, 35 + 64 * 61 / 256, 40.5, 30.5])


def test_published_geometry_uses_unrounded_origin(frame: np.ndarray) -> None:
    net = FixedCornersNet((64, 64, 192, 192))
    refiner = Refiner.from_network(net, device="cpu", geometry="published")
    refiner.initialize(frame, (100, 50, 40, 30))
    box = refiner.refine(frame, (100.3, 50.2, 40.5, 30.1)).box
    np.testing.assert_allclose(
        box, [100.3 - 20.25 + 64 * 81 / 256, 50.2 - 15.05 + 64 * 61 / 256, 40.5, 30.5]
    )


def test_box_formats_agree(network: AlphaRefineNet, frame: np.ndarray) -> None:
    xywh = Refiner.from_network(network, device="cpu")
    xyxy = Refiner.from_network(network, device="cpu", box_format="xyxy")
    xywh.initialize(frame, [100, 80, 80, 80])
    xyxy.initialize(frame, [100, 80, 180, 160])
    a = xywh.refine(frame, [96, 84, 90, 70]).box
    b = xyxy.refine(frame, [96, 84, 186, 154]).box
    np.testing.assert_allclose(b, [a[0], a[1], a[0] + a[2], a[1] + a[3]], atol=1e-6)


def test_rgb_and_bgr_agree(network: AlphaRefineNet, frame: np.ndarray) -> None:
    bgr = Refiner.from_network(network, device="cpu")
    rgb = Refiner.from_network(network, device="cpu", color="rgb")
    bgr.initialize(frame, (100, 80, 80, 80))
    rgb.initialize(frame[..., ::-1].copy(), (100, 80, 80, 80))
    np.testing.assert_array_equal(
        bgr.refine(frame, (96, 84, 90, 70)).box,
        rgb.refine(frame[..., ::-1].copy(), (96, 84, 90, 70)).box,
    )


def test_grayscale_rgba_and_float_frames(refiner: Refiner, frame: np.ndarray) -> None:
    gray = frame[..., 1].copy()
    refiner.initialize(gray, (100, 80, 80, 80))
    as_gray = refiner.refine(gray, (96, 84, 90, 70)).box
    as_gray3 = refiner.refine(np.repeat(gray[..., None], 3, axis=2), (96, 84, 90, 70)).box
    np.testing.assert_array_equal(as_gray, as_gray3)
    np.testing.assert_array_equal(refiner.refine(gray[..., None], (96, 84, 90, 70)).box, as_gray)

    refiner.initialize(frame, (100, 80, 80, 80))
    plain = refiner.refine(frame, (96, 84, 90, 70)).box
    rgba = np.concatenate([frame, np.full((*frame.shape[:2], 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(refiner.refine(rgba, (96, 84, 90, 70)).box, plain)
    as_float = refiner.refine(frame.astype(np.float32) / 255, (96, 84, 90, 70)).box
    np.testing.assert_allclose(as_float, plain, atol=1e-2)


def test_multiple_targets_in_one_batch(refiner: Refiner, frame: np.ndarray) -> None:
    boxes = np.array([[100, 80, 80, 80], [20, 20, 40, 60], [250, 150, 50, 50]], dtype=float)
    refiner.initialize(frame, boxes)
    assert refiner.num_targets == 3
    result = refiner.refine(frame, boxes + 3, return_mask=True)
    assert result.box.shape == (3, 4)
    assert result.mask is not None and result.mask.shape == (3, *frame.shape[:2])
    for i, box in enumerate(boxes):
        refiner.initialize(frame, box)
        single = refiner.refine(frame, box + 3)
        np.testing.assert_allclose(single.box, result.box[i], atol=1e-3)


def test_add_and_remove_targets_between_frames(network: AlphaRefineNet, frame: np.ndarray) -> None:
    boxes = np.array([[100, 80, 80, 80], [20, 20, 40, 60], [250, 150, 50, 50]], dtype=float)
    alone = []
    for box in boxes:  # each target refined on its own, as the reference
        single = Refiner.from_network(network, device="cpu")
        single.initialize(frame, box)
        alone.append(single.refine(frame, box + 3, return_mask=True))

    refiner = Refiner.from_network(network, device="cpu")
    refiner.initialize(frame, boxes[:2])
    assert refiner.target_ids.tolist() == [0, 1]
    new_ids = refiner.add_targets(frame, boxes[2])
    assert new_ids.tolist() == [2] and refiner.num_targets == 3
    result = refiner.refine(frame, boxes + 3, return_mask=True)
    assert result.mask is not None
    for i in range(3):
        np.testing.assert_allclose(result.box[i], alone[i].box, atol=1e-3)
        np.testing.assert_allclose(result.mask[i], alone[i].mask, atol=1e-4)  # type: ignore[arg-type]

    refiner.remove_targets(0)  # the others keep their order
    assert refiner.target_ids.tolist() == [1, 2]
    result = refiner.refine(frame, boxes[1:] + 3)
    np.testing.assert_allclose(result.box, [alone[1].box, alone[2].box], atol=1e-3)
    assert refiner.add_targets(frame, boxes[:1]).tolist() == [3]  # ids are never reused
    assert refiner.target_ids.tolist() == [1, 2, 3]
    readded = refiner.refine(frame, boxes[[1, 2, 0]] + 3).box[2]
    np.testing.assert_allclose(readded, alone[0].box, atol=1e-3)

    with pytest.raises(ValueError, match=r"unknown target id\(s\) \[0, 9\]"):
        refiner.remove_targets([0, 9, 1])
    assert refiner.target_ids.tolist() == [1, 2, 3]  # nothing removed on error
    with pytest.raises(TypeError, match="integers"):
        refiner.remove_targets([1.5])
    with pytest.raises(ValueError, match=r"2 target\(s\) but initialize\(\) set 3"):
        refiner.refine(frame, boxes[:2])
    refiner.remove_targets(np.array([3, 1, 2]))
    assert refiner.num_targets == 0
    with pytest.raises(RuntimeError, match="every target removed"):
        refiner.refine(frame, boxes[0])
    refiner.initialize(frame, boxes[0])  # starts over, ids from 0
    assert refiner.target_ids.tolist() == [0]


def test_add_targets_before_initialize(network: AlphaRefineNet, frame: np.ndarray) -> None:
    refiner = Refiner.from_network(network, device="cpu")
    assert refiner.add_targets(frame, [[100, 80, 80, 80], [20, 20, 40, 60]]).tolist() == [0, 1]
    assert refiner.refine(frame, [[100, 80, 80, 80], [20, 20, 40, 60]]).box.shape == (2, 4)
    refiner.reset()
    assert refiner.num_targets == 0 and refiner.target_ids.tolist() == []


def test_boxes_outside_and_tiny_boxes_give_valid_boxes(refiner: Refiner, frame: np.ndarray) -> None:
    height, width = frame.shape[:2]
    refiner.initialize(frame, (100, 80, 80, 80))
    for box in [
        (-30, -30, 60, 60),  # across the top-left corner
        (290, 200, 60, 60),  # across the bottom-right corner
        (1000, 1000, 50, 50),  # wholly outside
        (-500, 100, 2000, 40),  # wider than the frame
        (150, 120, 0.5, 0.25),  # sub-pixel
    ]:
        x, y, w, h = refiner.refine(frame, box).box
        assert np.all(np.isfinite([x, y, w, h])) and w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= width + 1e-9 and y + h <= height + 1e-9
        assert w >= refiner.min_box_size and h >= refiner.min_box_size


def test_template_is_computed_once(refiner: Refiner, frame: np.ndarray) -> None:
    calls = []
    # refine runs the engine's prepared copy of the network (BatchNorm folded), not .network.
    engine_network = refiner._engine.network  # type: ignore[attr-defined]
    handle = engine_network.backbone.register_forward_hook(lambda *_: calls.append(1))
    try:
        refiner.initialize(frame, (100, 80, 80, 80))
        assert len(calls) == 1
        for _ in range(3):
            refiner.refine(frame, (100, 80, 80, 80))
        assert len(calls) == 4  # one backbone pass per refine: the template is not recomputed
    finally:
        handle.remove()


def test_refine_is_deterministic(refiner: Refiner, frame: np.ndarray) -> None:
    refiner.initialize(frame, (100, 80, 80, 80))
    first = refiner.refine(frame, (96, 84, 90, 70), return_mask=True)
    second = refiner.refine(frame, (96, 84, 90, 70), return_mask=True)
    np.testing.assert_array_equal(first.box, second.box)
    np.testing.assert_array_equal(first.mask, second.mask)  # type: ignore[arg-type]


def test_reset_forgets_targets(refiner: Refiner, frame: np.ndarray) -> None:
    refiner.initialize(frame, (100, 80, 80, 80))
    refiner.reset()
    assert refiner.num_targets == 0
    with pytest.raises(RuntimeError, match="before initialize"):
        refiner.refine(frame, (100, 80, 80, 80))


# --- bad input -----------------------------------------------------------------------------


def test_refine_before_initialize(refiner: Refiner, frame: np.ndarray) -> None:
    with pytest.raises(RuntimeError, match=r"initialize\(frame, box\)"):
        refiner.refine(frame, (1, 2, 3, 4))


@pytest.mark.parametrize(
    ("box", "error", "match"),
    [
        ((1, 2, 3), ValueError, r"shape \(4,\) or \(N, 4\)"),
        ((1, 2, 3, float("nan")), ValueError, "finite"),
        ((1, 2, float("inf"), 4), ValueError, "finite"),
        ((1, 2, 0, 4), ValueError, "positive width and height"),
        ((1, 2, 3, -4), ValueError, "positive width and height"),
        (("a", 2, 3, 4), TypeError, "4 numbers"),
        (np.zeros((0, 4)), ValueError, "N >= 1"),
        (None, ValueError, "shape"),
        ((1e8, 2, 3, 4), ValueError, "within"),
    ],
)
def test_bad_boxes(refiner: Refiner, frame: np.ndarray, box: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        refiner.initialize(frame, box)
    refiner.initialize(frame, (10, 10, 20, 20))
    with pytest.raises(error, match=match):
        refiner.refine(frame, box)


def test_xyxy_box_with_swapped_corners(network: AlphaRefineNet, frame: np.ndarray) -> None:
    refiner = Refiner.from_network(network, device="cpu", box_format="xyxy")
    with pytest.raises(ValueError, match=r"positive width and height \(xyxy\)"):
        refiner.initialize(frame, (50, 50, 40, 60))


def test_target_count_must_match(refiner: Refiner, frame: np.ndarray) -> None:
    refiner.initialize(frame, [[10, 10, 20, 20], [50, 50, 20, 20]])
    with pytest.raises(ValueError, match=r"1 target\(s\) but initialize\(\) set 2"):
        refiner.refine(frame, (10, 10, 20, 20))


@pytest.mark.parametrize(
    ("bad_frame", "error", "match"),
    [
        ([[1, 2], [3, 4]], TypeError, "numpy array"),
        (np.zeros((10,), np.uint8), ValueError, "H x W"),
        (np.zeros((10, 10, 2), np.uint8), ValueError, "H x W x 3"),
        (np.zeros((2, 10, 10, 3), np.uint8), ValueError, "H x W"),
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        (np.zeros((10, 10, 3), np.int32), TypeError, "dtype"),
        (np.zeros((10, 10, 3), np.uint16), TypeError, "dtype"),
        (np.full((10, 10, 3), 2.0, np.float32), ValueError, r"\[0, 1\]"),
        (np.full((10, 10, 3), np.nan, np.float64), ValueError, "finite"),
    ],
)
def test_bad_frames(
    refiner: Refiner, frame: np.ndarray, bad_frame: Any, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        refiner.initialize(bad_frame, (1, 1, 5, 5))
    refiner.initialize(frame, (10, 10, 20, 20))
    with pytest.raises(error, match=match):
        refiner.refine(bad_frame, (1, 1, 5, 5))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"color": "bgra"}, ValueError, "color"),
        ({"box_format": "ltrb"}, ValueError, "box_format"),
        ({"geometry": "fast"}, ValueError, "geometry"),
        ({"device": "tpu:7"}, ValueError, "device"),
        ({"min_box_size": 0}, ValueError, "min_box_size"),
        ({"min_box_size": float("nan")}, ValueError, "min_box_size"),
        ({"return_mask": "yes"}, TypeError, "return_mask"),
    ],
)
def test_bad_options(
    network: AlphaRefineNet, options: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        Refiner.from_network(network, **options)


def test_mask_needs_a_mask_head(frame: np.ndarray) -> None:
    net = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=False))
    with pytest.raises(ValueError, match="mask head"):
        Refiner.from_network(net, device="cpu", return_mask=True)
    refiner = Refiner.from_network(net, device="cpu")
    refiner.initialize(frame, (100, 80, 80, 80))
    assert refiner.refine(frame, (100, 80, 80, 80)).mask is None
    with pytest.raises(ValueError, match="mask head"):
        refiner.refine(frame, (100, 80, 80, 80), return_mask=True)


def test_wrong_types_for_constructors() -> None:
    with pytest.raises(TypeError, match="ModelConfig"):
        Refiner({"backbone": "resnet34"}, device="cpu")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AlphaRefineNet"):
        Refiner.from_network(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_non_finite_network_output_is_an_error(frame: np.ndarray) -> None:
    net = FixedCornersNet((float("nan"), 0, 10, 10))
    refiner = Refiner.from_network(net, device="cpu")
    refiner.initialize(frame, (100, 80, 80, 80))
    with pytest.raises(RuntimeError, match="non-finite"):
        refiner.refine(frame, (100, 80, 80, 80))

"""Property-based tests of the public API: any input gives a valid box or a documented error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.gate import GateConfig
from alpha_refine.geometry import (
    boxes_from_crop,
    boxes_to_crop,
    clip_boxes,
    convert_boxes,
    search_windows,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def small_refiner() -> Refiner:
    torch.manual_seed(0)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=True))
    return Refiner.from_network(network, device="cpu")


@pytest.fixture(scope="module")
def gated_refiner(small_refiner: Refiner) -> Refiner:
    """The same network with every gate check on (random weights: most targets are gated)."""
    gated = small_refiner.clone()
    gated.gate = GateConfig(min_confidence=0.5, min_mask_iou=0.5)
    return gated


coordinate = st.one_of(
    st.floats(-5000, 5000, allow_nan=False),
    st.sampled_from([0.0, -0.5, 1e-3, 1e6, -1e6, 1e30, float("nan"), float("inf")]),
)
size = st.one_of(
    st.floats(1e-3, 5000),
    st.sampled_from([0.0, -1.0, 1e-9, 0.3, 1e6, 1e30, float("nan"), float("inf")]),
)
boxes = st.tuples(coordinate, coordinate, size, size)


@st.composite
def frames(draw: Any) -> np.ndarray:
    height = draw(st.integers(1, 300))
    width = draw(st.integers(1, 300))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64]))
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


def _valid(box: np.ndarray, frame: np.ndarray, refiner: Refiner) -> None:
    height, width = frame.shape[:2]
    x, y, w, h = box
    assert np.all(np.isfinite(box)) and w > 0 and h > 0
    assert x >= 0 and y >= 0 and x + w <= width + 1e-6 and y + h <= height + 1e-6
    assert w >= min(refiner.min_box_size, width) - 1e-9
    assert h >= min(refiner.min_box_size, height) - 1e-9


def _accepted(box: tuple[float, ...]) -> bool:
    """The documented input contract: finite, positive size, within +-1e7 pixels."""
    array = np.asarray(box)
    return bool(
        np.all(np.isfinite(array))
        and array[2] > 0
        and array[3] > 0
        and np.all(np.abs(array) <= 1e7)
    )


@FAST
@given(frame=frames(), init_box=boxes, box=boxes, with_mask=st.booleans(), gated=st.booleans())
def test_refine_gives_a_valid_box_or_a_documented_error(
    small_refiner: Refiner,
    gated_refiner: Refiner,
    frame: np.ndarray,
    init_box: Any,
    box: Any,
    with_mask: bool,
    gated: bool,
) -> None:
    if gated:
        small_refiner = gated_refiner
    if not _accepted(init_box):
        with pytest.raises(ValueError, match="box"):
            small_refiner.initialize(frame, init_box)
        return
    small_refiner.initialize(frame, init_box)
    if not _accepted(box):
        with pytest.raises(ValueError, match="box"):
            small_refiner.refine(frame, box, return_mask=with_mask)
        return
    result = small_refiner.refine(frame, box, return_mask=with_mask)
    _valid(result.box, frame, small_refiner)
    assert result.confidence.shape == () and 0.0 <= result.confidence <= 1.0
    assert result.gated.shape == () and (gated or not result.gated)
    if with_mask:
        assert result.mask is not None and result.mask.shape == frame.shape[:2]
        assert np.all((result.mask >= 0) & (result.mask <= 1))
    else:
        assert result.mask is None


@FAST
@given(
    boxes=st.lists(st.tuples(coordinate, coordinate, size, size), min_size=1, max_size=5),
    source=st.sampled_from(["xywh", "xyxy", "cxcywh"]),
    target=st.sampled_from(["xywh", "xyxy", "cxcywh"]),
)
def test_box_format_round_trip(boxes: list[Any], source: str, target: str) -> None:
    array = np.asarray(boxes, dtype=np.float64)
    array = array[np.all(np.isfinite(array), axis=1) & np.all(np.abs(array) < 1e7, axis=1)]
    back = convert_boxes(convert_boxes(array, source, target), target, source)  # type: ignore[arg-type]
    np.testing.assert_allclose(back, array, rtol=1e-9, atol=1e-6)


@FAST
@given(
    box=st.tuples(
        st.floats(-1000, 1000), st.floats(-1000, 1000), st.floats(0.01, 2000), st.floats(0.01, 2000)
    )
)
def test_crop_mapping_round_trip(box: tuple[float, float, float, float]) -> None:
    window = search_windows(box)
    assert window[2] >= 1 and window[3] >= 1
    x0, y0, ws, hs = window
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    assert x0 <= cx <= x0 + ws and y0 <= cy <= y0 + hs  # the box centre is in its window
    np.testing.assert_allclose(boxes_from_crop(boxes_to_crop(box, window), window), box, atol=1e-6)


@FAST
@given(
    box=st.tuples(
        st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)
    ),
    height=st.integers(1, 2000),
    width=st.integers(1, 2000),
    min_size=st.floats(1, 50),
)
def test_clipped_boxes_are_inside_and_positive(
    box: tuple[float, ...], height: int, width: int, min_size: float
) -> None:
    x, y, w, h = clip_boxes(box, (height, width), min_size)
    assert x >= 0 and y >= 0 and x + w <= width + 1e-9 and y + h <= height + 1e-9
    assert w >= min(min_size, width) - 1e-9 and h >= min(min_size, height) - 1e-9


@pytest.mark.parametrize("shape", [(1, 1, 3), (2160, 3840, 3)])
def test_extreme_frame_sizes(small_refiner: Refiner, shape: tuple[int, ...]) -> None:
    frame = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    height, width = shape[:2]
    small_refiner.initialize(frame, (width / 4, height / 4, width / 2, height / 2))
    for box in [
        (width / 3, height / 3, width / 3, height / 3),
        (-width, -height, 3 * width, 3 * height),
    ]:
        _valid(small_refiner.refine(frame, box, return_mask=True).box, frame, small_refiner)

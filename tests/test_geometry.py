from __future__ import annotations

import cv2
import numpy as np
import pytest

from alpha_refine.geometry import (
    boxes_from_crop,
    boxes_to_crop,
    clip_boxes,
    convert_boxes,
    crop_and_resize,
    cxcywh_to_xywh,
    mask_to_box,
    mask_to_rotated_box,
    paste_mask,
    published_inverse_windows,
    search_windows,
    threshold_mask,
    xywh_to_cxcywh,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_box_format_conversions_hand_computed() -> None:
    box = [10.0, 20.0, 30.0, 40.0]
    np.testing.assert_array_equal(xywh_to_xyxy(box), [10, 20, 40, 60])
    np.testing.assert_array_equal(xyxy_to_xywh([10, 20, 40, 60]), box)
    np.testing.assert_array_equal(xywh_to_cxcywh(box), [25, 40, 30, 40])
    np.testing.assert_array_equal(cxcywh_to_xywh([25, 40, 30, 40]), box)
    np.testing.assert_array_equal(
        convert_boxes([25, 40, 30, 40], "cxcywh", "xyxy"), [10, 20, 40, 60]
    )


@pytest.mark.parametrize("source", ["xywh", "xyxy", "cxcywh"])
@pytest.mark.parametrize("target", ["xywh", "xyxy", "cxcywh"])
def test_box_format_round_trip(source: str, target: str) -> None:
    boxes = np.random.default_rng(1).uniform(1, 100, size=(5, 3, 4))
    back = convert_boxes(convert_boxes(boxes, source, target), target, source)  # type: ignore[arg-type]
    np.testing.assert_allclose(back, boxes, atol=1e-12)


def test_convert_boxes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="source"):
        convert_boxes([0, 0, 1, 1], "xxyy", "xywh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        convert_boxes([0, 0, 1], "xywh", "xyxy")


def test_search_windows_hand_computed() -> None:
    # w=40 -> ws=80, cx=120 -> x0=round(80)=80; h=30 -> hs=60, cy=65 -> y0=35
    np.testing.assert_array_equal(search_windows([100, 50, 40, 30]), [80, 35, 80, 60])
    # Non-square and rounded up independently: w=10.2 -> ws=ceil(20.4)=21, h=5 -> hs=10
    # cx = 5.1 -> x0 = round(5.1 - 10.5) = round(-5.4) = -5; cy = 2.5 -> y0 = round(-2.5) = -2
    np.testing.assert_array_equal(search_windows([0, 0, 10.2, 5]), [-5, -2, 21, 10])
    # Half to even, as Python's round: cx - ws/2 = 0.5 -> 0, 1.5 -> 2 and -4.5 -> -4.
    assert search_windows([5.5, 0, 10, 10])[0] == 0
    assert search_windows([6.5, 0, 10, 10])[0] == 2
    assert search_windows([0.5, 0, 10, 10])[0] == -4


def test_published_inverse_windows_use_unrounded_origin() -> None:
    np.testing.assert_allclose(
        published_inverse_windows([100.3, 50.2, 40.5, 30.1]), [80.05, 35.15, 81, 61]
    )


def test_crop_inside_frame_is_plain_resize() -> None:
    image = np.random.default_rng(2).integers(0, 255, size=(100, 120, 3), dtype=np.uint8)
    crop = crop_and_resize(image, [10, 20, 50, 40], size=64)
    expected = cv2.resize(image[20:60, 10:60], (64, 64), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(crop, expected)
    identity = crop_and_resize(image, [30, 30, 16, 16], size=16)
    np.testing.assert_array_equal(identity, image[30:46, 30:46])


def test_crop_pads_with_zeros_outside_frame() -> None:
    image = np.full((10, 10, 3), 200, dtype=np.uint8)
    crop = crop_and_resize(image, [-5, -5, 20, 20], size=20)  # same size: no interpolation
    assert crop.shape == (20, 20, 3)
    np.testing.assert_array_equal(crop[5:15, 5:15], 200)
    assert crop[:5].max() == 0 and crop[15:].max() == 0
    assert crop[:, :5].max() == 0 and crop[:, 15:].max() == 0
    wholly_outside = crop_and_resize(image, [50, 50, 8, 8], size=4)
    assert wholly_outside.shape == (4, 4, 3) and wholly_outside.max() == 0


def test_crop_published_edge_quirk_zeroes_last_column_and_row() -> None:
    image = np.full((10, 10, 3), 100, dtype=np.uint8)
    exact = crop_and_resize(image, [5, 5, 5, 5], size=5)
    quirk = crop_and_resize(image, [5, 5, 5, 5], size=5, published_edge=True)
    np.testing.assert_array_equal(exact, 100)
    np.testing.assert_array_equal(quirk[:4, :4], 100)
    assert quirk[4].max() == 0 and quirk[:, 4].max() == 0
    # A window that ends before the edge is not affected.
    np.testing.assert_array_equal(crop_and_resize(image, [0, 0, 9, 9], 9, published_edge=True), 100)


def test_crop_keeps_dtype_and_single_channel() -> None:
    image = np.random.default_rng(3).random((30, 40, 1)).astype(np.float32)
    crop = crop_and_resize(image, [0, 0, 20, 10], size=8)
    assert crop.shape == (8, 8, 1) and crop.dtype == np.float32


def test_boxes_to_and_from_crop_round_trip_and_hand_case() -> None:
    window = np.array([80, 35, 80, 60])
    crop_box = boxes_to_crop([100, 50, 40, 30], window)
    np.testing.assert_allclose(crop_box, [64, 64, 128, 128])
    boxes = np.random.default_rng(4).uniform(-50, 300, size=(7, 4))
    windows = np.random.default_rng(5).integers(1, 400, size=(7, 4))
    np.testing.assert_allclose(boxes_from_crop(boxes_to_crop(boxes, windows), windows), boxes)


def test_crop_box_marks_the_same_pixels_as_the_frame_box() -> None:
    """A box drawn in the frame lands where boxes_to_crop says it does in the crop."""
    image = np.zeros((200, 300), dtype=np.float32)
    image[60:100, 120:200] = 1.0  # box x=120, y=60, w=80, h=40
    window = search_windows([120, 60, 80, 40])
    crop = crop_and_resize(image[..., None], window, size=256)[..., 0]
    x, y, w, h = boxes_to_crop([120, 60, 80, 40], window)
    rows = np.nonzero(crop.max(axis=1) > 0.5)[0]
    cols = np.nonzero(crop.max(axis=0) > 0.5)[0]
    assert abs(cols[0] - x) <= 1 and abs(cols[-1] + 1 - (x + w)) <= 1
    assert abs(rows[0] - y) <= 1 and abs(rows[-1] + 1 - (y + h)) <= 1


def test_paste_mask_inverts_crop() -> None:
    mask = np.zeros((120, 160), dtype=np.float32)
    mask[30:70, 50:110] = 1.0
    for window in ([40, 10, 80, 80], [-20, -30, 100, 90], [100, 60, 90, 80]):
        crop = crop_and_resize(mask[..., None], window, size=256)[..., 0]
        pasted = paste_mask(crop, window, mask.shape)
        assert pasted.shape == mask.shape and pasted.dtype == np.float32
        x0, y0, ws, hs = window
        inside = np.zeros_like(mask, dtype=bool)
        inside[max(0, y0) : y0 + hs, max(0, x0) : x0 + ws] = True
        # Inside the window the round trip is close (bilinear both ways); outside it is zero.
        assert np.abs(pasted - mask)[inside].mean() < 0.02
        assert pasted[~inside].max() == 0


def test_paste_mask_is_cv2_resize_cut_to_the_frame() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        crop = rng.random((256, 256)).astype(np.float32)
        x0, y0 = (int(v) for v in rng.integers(-300, 300, 2))
        ws, hs = (int(v) for v in rng.integers(1, 700, 2))
        height, width = (int(v) for v in rng.integers(1, 400, 2))
        expected = np.zeros((height, width), dtype=np.float32)
        resized = cv2.resize(crop, (ws, hs), interpolation=cv2.INTER_LINEAR)
        fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(width, x0 + ws), min(height, y0 + hs)
        if fx1 > fx0 and fy1 > fy0:
            expected[fy0:fy1, fx0:fx1] = resized[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        pasted = paste_mask(crop, [x0, y0, ws, hs], (height, width))
        np.testing.assert_allclose(pasted, expected, atol=1e-6)


def test_paste_mask_of_a_window_far_larger_than_the_frame() -> None:
    # Resizing the whole 3,200 x 2,000,000 window first would need 25.6 GB.
    crop = np.full((256, 256), 0.75, dtype=np.float32)
    pasted = paste_mask(crop, [-800, -500_000, 3_200, 2_000_000], (2, 3))
    np.testing.assert_allclose(pasted, 0.75)


def test_paste_mask_outside_frame_is_empty() -> None:
    pasted = paste_mask(np.ones((256, 256)), [500, 500, 50, 50], (100, 100))
    assert pasted.shape == (100, 100) and pasted.max() == 0


def test_clip_boxes_keeps_min_size_inside_frame() -> None:
    shape = (100, 200)
    np.testing.assert_array_equal(clip_boxes([10, 10, 50, 50], shape), [10, 10, 50, 50])
    np.testing.assert_array_equal(clip_boxes([-10, -20, 50, 50], shape), [0, 0, 40, 30])
    np.testing.assert_array_equal(clip_boxes([500, 500, 5, 5], shape), [190, 90, 10, 10])
    np.testing.assert_array_equal(clip_boxes([50, 50, 2, 3], shape), [50, 50, 10, 10])
    np.testing.assert_array_equal(clip_boxes([50, 50, -8, 20], shape), [50, 50, 10, 20])
    np.testing.assert_array_equal(clip_boxes([0, 0, 50, 50], (4, 6)), [0, 0, 6, 4])


def test_threshold_mask() -> None:
    probabilities = np.array([[0.2, 0.5, 0.7]])
    np.testing.assert_array_equal(threshold_mask(probabilities), [[False, False, True]])
    np.testing.assert_array_equal(threshold_mask(probabilities, 0.65), [[False, False, True]])
    with pytest.raises(ValueError, match="threshold"):
        threshold_mask(probabilities, 1.5)


def test_mask_to_box_takes_largest_contour() -> None:
    mask = np.zeros((100, 100), dtype=np.float32)
    mask[10:40, 20:60] = 0.9  # 30 x 40, the largest
    mask[70:80, 70:75] = 0.9  # small blob
    np.testing.assert_array_equal(mask_to_box(mask), [20, 10, 40, 30])
    assert mask_to_box(mask, threshold=0.95) is None
    tiny = np.zeros((50, 50))
    tiny[5:10, 5:10] = 1  # area below 100 px
    assert mask_to_box(tiny) is None
    with pytest.raises(ValueError, match="2-D"):
        mask_to_box(np.zeros((2, 5, 5)))


def test_mask_to_rotated_box_follows_a_rotated_rectangle() -> None:
    mask = np.zeros((200, 200), dtype=np.uint8)
    corners = cv2.boxPoints(((100.0, 100.0), (120.0, 40.0), 30.0)).astype(np.int32)
    cv2.fillPoly(mask, [corners], 1)
    polygon = mask_to_rotated_box(mask)
    assert polygon is not None and polygon.shape == (4, 2)
    (cx, cy), (w, h), _ = cv2.minAreaRect(polygon.astype(np.float32))
    assert abs(cx - 100) < 2 and abs(cy - 100) < 2
    assert abs(max(w, h) - 120) < 4 and abs(min(w, h) - 40) < 4
    assert mask_to_rotated_box(np.zeros((10, 10))) is None


def test_huge_windows_are_sampled_without_padding_in_memory() -> None:
    image = np.random.default_rng(6).integers(0, 255, size=(40, 60, 3), dtype=np.uint8)
    window = [-3000, -2000, 6000, 4100]  # far larger than the frame
    direct = crop_and_resize(image, window, size=64)
    padded = cv2.resize(
        cv2.copyMakeBorder(image, 2000, 4100 - 2040, 3000, 6000 - 3060, cv2.BORDER_CONSTANT, 0),
        (64, 64),
        interpolation=cv2.INTER_LINEAR,
    )
    assert direct.shape == padded.shape == (64, 64, 3)
    assert np.abs(direct.astype(int) - padded.astype(int)).max() <= 1

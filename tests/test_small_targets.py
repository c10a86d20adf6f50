"""Small-target training views: both frames scaled down, degraded, boxes scaled exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from alpha_refine.data.augment import degrade, shrink_view
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.train.sampling import (
    SamplingConfig,
    Source,
    TrainingPairs,
    _small_target,
    styled_box,
)


def test_shrink_view_scales_the_box_with_the_frame_and_mask() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    mask = np.zeros((200, 300), bool)
    mask[40:120, 60:180] = True
    frame[mask] = 255
    small, small_mask, box = shrink_view(frame, mask, np.array([60.0, 40.0, 120.0, 80.0]), 0.25)
    assert small.shape == (50, 75, 3) and small_mask is not None and small_mask.shape == (50, 75)
    assert box.tolist() == pytest.approx([15.0, 10.0, 30.0, 20.0])
    ys, xs = np.nonzero(small_mask)
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == [15, 10, 45, 30]
    with pytest.raises(ValueError, match="scale must be in"):
        shrink_view(frame, None, box, 1.5)


def test_degrade_adds_noise_and_compression_but_keeps_the_image() -> None:
    rng = np.random.default_rng(0)
    image = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))[..., None].repeat(3, 2)
    out = degrade(image, rng, noise=6.0, quality=(40, 40))
    assert out.shape == image.shape and out.dtype == np.uint8
    difference = np.abs(out.astype(int) - image.astype(int))
    assert 0 < difference.mean() < 10


def test_small_target_views_shrink_both_frames_by_one_factor_to_the_drawn_size() -> None:
    config = SamplingConfig(small_target_probability=1.0, small_target_size=(16.0, 32.0))
    frame = np.full((240, 320, 3), 128, np.uint8)
    ref_box, test_box = np.array([50.0, 40.0, 100.0, 80.0]), np.array([60.0, 50.0, 120.0, 90.0])
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ref, ref_small, test, mask, test_small = _small_target(
            (frame, ref_box), (frame, None, test_box), rng, config
        )
        size = np.sqrt(test_small[2] * test_small[3])
        assert 15.5 <= size <= 32.5 and mask is None
        assert ref.shape == test.shape  # one camera
        scale = ref.shape[1] / 320
        assert ref_small == pytest.approx(ref_box * scale, rel=0.02)
    tiny = np.array([10.0, 10.0, 8.0, 8.0])  # already smaller than the range: left as it is
    _, _, test, _, box = _small_target((frame, tiny), (frame, None, tiny), rng, config)
    assert test.shape == frame.shape and box.tolist() == tiny.tolist()


def test_small_target_pairs_keep_crop_geometry_and_leave_other_configs_alone() -> None:
    sequences = SyntheticSequences(3, SyntheticConfig(length=15, frame_size=(120, 160))).sequences()

    def items(config: SamplingConfig) -> list[dict[str, object]]:
        pairs = TrainingPairs([Source("synthetic", sequences)], 4, seed=3, config=config)
        return [pairs[i] for i in range(4)]

    plain = items(SamplingConfig())
    off = items(SamplingConfig(small_target_probability=0.0, small_target_size=(5.0, 9.0)))
    small = items(SamplingConfig(small_target_probability=1.0))
    for a, b, c in zip(plain, off, small, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)  # type: ignore[arg-type]
        assert c["search"].shape == a["search"].shape  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="small_target_size"):
        SamplingConfig(small_target_size=(20.0, 10.0))


def test_a_drawing_style_moves_both_boxes_sides_alike() -> None:
    box = np.array([10.0, 20.0, 100.0, 50.0])
    styled = styled_box(box, np.array([0.1, 0.0, -0.05, 0.2]))
    assert styled.tolist() == pytest.approx([0.0, 20.0, 105.0, 60.0])
    assert styled_box(box, np.array([-0.6, 0.0, -0.6, 0.0]))[2] == 1.0  # never below 1 px
    sequences = SyntheticSequences(2, SyntheticConfig(length=10, frame_size=(120, 160))).sequences()
    still = SamplingConfig(scale_jitter=0.0, centre_jitter=0.0)
    loose = replace(still, style_probability=1.0, style_margin=(0.1, 0.1))
    plain = TrainingPairs([Source("s", sequences)], 3, seed=5, config=still)
    styled = TrainingPairs([Source("s", sequences)], 3, seed=5, config=loose)
    for index in range(3):
        a, b = plain[index], styled[index]
        # Without jitter the crop window follows the (styled) box, so the box's corners in the
        # crop stay where they were (up to the window's whole pixels) while the object inside
        # shrinks by the margins: the network learns to keep the template's margins.
        assert b["corners"].numpy() == pytest.approx(a["corners"].numpy(), abs=6.0)
        assert not torch.equal(a["search"], b["search"])
        assert not torch.equal(a["template"], b["template"])

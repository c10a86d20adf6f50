from __future__ import annotations

import numpy as np
import pytest

from alpha_refine.data.augment import jitter_box
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences, mask_box


@pytest.fixture(scope="module")
def generator() -> SyntheticSequences:
    return SyntheticSequences(3, SyntheticConfig(length=12, frame_size=(96, 128)), seed=5)


def test_boxes_are_the_tight_boxes_of_the_masks(generator: SyntheticSequences) -> None:
    for sequence in generator.sequences():
        assert len(sequence) == 12 and sequence.has_masks
        for t in range(len(sequence)):
            frame, mask = sequence.frame(t), sequence.mask(t)
            assert frame.shape == (96, 128, 3) and frame.dtype == np.uint8
            assert mask is not None and mask.shape == (96, 128)
            np.testing.assert_array_equal(sequence.boxes[t], mask_box(mask))
            assert sequence.visible[t] == np.isfinite(sequence.boxes[t]).all()


def test_sequences_are_deterministic_and_distinct(generator: SyntheticSequences) -> None:
    again = SyntheticSequences(3, generator.config, seed=5)
    np.testing.assert_array_equal(generator[1].frame(7), again[1].frame(7))
    np.testing.assert_array_equal(generator[1].boxes, again[1].boxes)
    assert not np.array_equal(generator[0].frame(0), generator[1].frame(0))
    other_seed = SyntheticSequences(3, generator.config, seed=6)
    assert not np.array_equal(generator[0].boxes, other_seed[0].boxes)


def test_object_moves_and_changes_scale() -> None:
    sequence = SyntheticSequences(1, SyntheticConfig(length=40, occlusion_probability=0), seed=1)[0]
    boxes = sequence.boxes[sequence.visible]
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert np.linalg.norm(centres[-1] - centres[0]) > 5
    assert boxes[:, 2].std() > 0.5 or boxes[:, 3].std() > 0.5


def test_cutouts_and_backgrounds_are_used() -> None:
    rng = np.random.default_rng(0)
    background = np.full((50, 60, 3), (10, 200, 30), np.uint8)
    cutout = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    cutout_mask = np.zeros((20, 20), bool)
    cutout_mask[5:15, 4:16] = True
    generator = SyntheticSequences(
        6,
        SyntheticConfig(length=3, frame_size=(60, 80), noise_std=0),
        backgrounds=[background],
        cutouts=[(cutout, cutout_mask)],
    )
    greens = [np.mean(np.all(s.frame(0) == (10, 200, 30), axis=2)) for s in generator.sequences()]
    assert max(greens) > 0.3  # some sequences use the given background


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="count"):
        SyntheticSequences(0)
    with pytest.raises(IndexError):
        SyntheticSequences(2)[2]


def test_jitter_matches_the_published_distribution() -> None:
    rng = np.random.default_rng(0)
    box = np.array([100.0, 50.0, 40.0, 20.0])
    samples = np.stack([jitter_box(box, rng, 0.25, 0.25) for _ in range(4000)])
    log_scale = np.log(samples[:, 2:] / box[2:])
    np.testing.assert_allclose(log_scale.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(log_scale.std(axis=0), 0.25, atol=0.02)
    centre_offset = samples[:, :2] + samples[:, 2:] / 2 - (box[:2] + box[2:] / 2)
    bound = np.sqrt(samples[:, 2] * samples[:, 3]) * 0.125
    assert np.all(np.abs(centre_offset) <= bound[:, None] + 1e-9)

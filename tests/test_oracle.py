"""The oracle experiment's good-box and mask-J views."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_refine import Refiner
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.oracle import filled_box, mask_iou, oracle_experiment

_BOX = np.array([60.0, 40.0, 50.0, 30.0])


def _rectangle_sequence(frames: int = 4) -> Sequence:
    """A bright rectangle on texture whose mask is exactly its box."""
    rng = np.random.default_rng(1)
    images = []
    for _ in range(frames):
        image = rng.integers(0, 60, size=(120, 160, 3), dtype=np.uint8)
        image[40:70, 60:110] = (30, 200, 240)
        images.append(image)
    mask = np.zeros((120, 160), bool)
    mask[40:70, 60:110] = True
    return Sequence(
        "rectangle",
        np.tile(_BOX, (frames, 1)),
        lambda index: images[index],
        mask_loader=lambda index: mask,
    )


def test_mask_iou_and_filled_box() -> None:
    mask = filled_box(_BOX, (120, 160))
    assert mask.sum() == 50 * 30 and mask[40, 60] and not mask[39, 60] and not mask[40, 110]
    shifted = filled_box(_BOX + np.array([25.0, 0, 0, 0]), (120, 160))
    assert mask_iou(shifted, mask) == pytest.approx(25 / 75)
    assert mask_iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


def test_oracle_scores_masks_and_good_boxes(refiner: Refiner) -> None:
    sequence = _rectangle_sequence()
    result = oracle_experiment(refiner, [sequence], masks=True, seed=0)
    assert result.masks is not None and result.masks.frames == 3
    # The filled ground-truth box is this object's mask exactly; a jittered one is not.
    assert result.masks.j_filled_truth == 1.0
    assert result.masks.j_filled_jittered < 1.0
    assert 0.0 <= result.masks.j_from_truth <= 1.0
    # Hardly jittered boxes are all "good"; their mean is the plain before-mean.
    tiny = oracle_experiment(refiner, [sequence], scale_jitter=0.01, centre_jitter=0.01)
    assert tiny.good_frames == tiny.frames == 3 and tiny.masks is None
    assert tiny.good_before == pytest.approx(tiny.iou_before)
    assert tiny.good_after == pytest.approx(tiny.iou_after)
    wild = oracle_experiment(refiner, [sequence], scale_jitter=2.0, centre_jitter=2.0)
    assert wild.good_frames < wild.frames

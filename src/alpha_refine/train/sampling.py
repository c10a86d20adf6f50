"""Training pairs: a reference crop and a jittered test crop of the same target.

Follows the published recipe: sources mixed by weight, reference and test frames at most
``max_gap`` frames apart (widened by 5 until a visible frame is found), reference crop at twice
the ground truth without jitter, test crop around a jittered box (eq. 2-4), 256 x 256 with zero
padding, masks cropped the same way, grayscale with p = 0.05 (both frames) and a brightness
factor U(0.8, 1.2) per image. Image datasets are sequences of length one: reference and test come
from the same image, as two independent views (rotation about the target, resolution, colour,
blur, grey; shift, scale and aspect come from the test crop's box jitter, since a window
proportional to the box undoes them for the reference crop).

Six options go beyond the published recipe, all off by default: a share of test crops jittered
only slightly (``small_jitter_probability``), so the network learns to leave good boxes alone,
jitter factors drawn from a range (``jitter_range``), colour jitter and blur for video pairs
too, pairs mirrored left to right (``flip_probability``: template, search crop, mask and
boxes alike), small targets (``small_target_probability``: both frames scaled down so that
the target spans about 10 to 64 pixels, with noise and JPEG compression), and a drawing style
(``style_probability``: the template's and the target's boxes given the same uneven margins).

Sample ``i`` of epoch ``e`` depends only on ``(seed, e, i)``, so a run resumed from a checkpoint
sees exactly the data it would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from alpha_refine.data.augment import (
    adjust_brightness,
    blur,
    degrade,
    jitter_box,
    jitter_colour,
    shrink_view,
    to_grayscale,
    warp_view,
)
from alpha_refine.data.sequence import Sequence
from alpha_refine.geometry import (
    CROP_SIZE,
    boxes_to_crop,
    crop_and_resize,
    mirror_crop_corners,
    search_windows,
)


@dataclass(frozen=True)
class SamplingConfig:
    """How pairs are drawn and augmented (the ``[sampling]`` table of a training config)."""

    max_gap: int = 50
    scale_jitter: float = 0.25
    centre_jitter: float = 0.25
    grayscale_probability: float = 0.05
    brightness: tuple[float, float] = (0.8, 1.2)
    # Test crops jittered by ``small_jitter`` (both factors) instead, with this probability.
    small_jitter_probability: float = 0.0
    small_jitter: float = 0.05
    # When set, the other test crops' jitter factor (both factors) is drawn log-uniformly from
    # this range instead of being ``scale_jitter``/``centre_jitter``: input boxes of every
    # quality, as base trackers give them, rather than two levels.
    jitter_range: tuple[float, float] | None = None
    # Colour jitter strength and blur probability for every crop (0: the published recipe).
    colour_jitter: float = 0.0
    blur_probability: float = 0.0
    # Mirror the whole pair (both crops, the mask and the boxes) left to right.
    flip_probability: float = 0.0
    # Small targets: with this probability both frames are scaled down so that the test
    # target's size (square root of its box area) is drawn log-uniformly from
    # ``small_target_size`` pixels (targets already smaller are left as they are), then given
    # sensor noise (sigma up to ``small_target_noise`` grey levels) and JPEG compression
    # (quality in ``small_target_quality``). Their crops are upsampled, blurred patches, as
    # UAV and surveillance footage gives them at test time.
    small_target_probability: float = 0.0
    small_target_size: tuple[float, float] = (10.0, 64.0)
    small_target_noise: float = 6.0
    small_target_quality: tuple[int, int] = (40, 90)
    # A drawing style: with this probability each side of both boxes (the template's and the
    # target's alike) moves out by a share of the box size drawn from ``style_margin`` (negative:
    # tighter), one draw per side and pair. The network then refines towards whatever the
    # first-frame box covers (hand-drawn boxes are looser than masks' boxes, and uneven).
    style_probability: float = 0.0
    style_margin: tuple[float, float] = (-0.03, 0.12)
    # Still images: each view rotated by U(-r, r) degrees (masked sources only) and resized by
    # U(min_scale, 1); colour jitter and blur at least at these levels.
    still_rotation: float = 10.0
    still_min_scale: float = 0.6
    still_colour_jitter: float = 0.1
    still_blur_probability: float = 0.2

    def __post_init__(self) -> None:
        low_size, high_size = self.small_target_size
        if not 0 < low_size <= high_size:
            raise ValueError(
                "small_target_size must be two sizes 0 < low <= high pixels, got "
                f"{self.small_target_size}"
            )
        if self.jitter_range is not None:
            low, high = self.jitter_range
            if not 0 < low <= high:
                raise ValueError(
                    f"jitter_range must be two factors 0 < low <= high, got {self.jitter_range}"
                )


@dataclass
class Source:
    """Sequences drawn with probability proportional to ``weight``."""

    name: str
    sequences: list[Sequence]
    weight: float = 1.0


class TrainingPairs(torch.utils.data.Dataset[dict[str, Any]]):
    """``samples_per_epoch`` deterministic training pairs drawn from weighted sources.

    Each item is a dict of ``template`` and ``search`` (``256 x 256 x 3`` uint8 RGB tensors),
    ``corners`` (``x1, y1, x2, y2`` of the ground truth in search-crop pixels, float32),
    ``input_corners`` (the same for the jittered box the search crop was cut around),
    ``mask`` (``256 x 256`` float32 in [0, 1], zeros when absent) and ``has_mask`` (bool).
    """

    def __init__(
        self,
        sources: SequenceOf[Source],
        samples_per_epoch: int,
        seed: int = 0,
        config: SamplingConfig | None = None,
    ) -> None:
        self.sources = [s for s in sources if s.weight > 0]
        if not self.sources:
            raise ValueError("no training source with a positive weight")
        for source in self.sources:
            usable = [seq for seq in source.sequences if seq.visible.any()]
            if not usable:
                raise ValueError(f"source {source.name!r} has no sequence with a visible target")
            source.sequences = usable
        weights = np.array([s.weight for s in self.sources], dtype=np.float64)
        self.probabilities = weights / weights.sum()
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.config = config or SamplingConfig()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        source = self.sources[int(rng.choice(len(self.sources), p=self.probabilities))]
        sequence = source.sequences[int(rng.integers(len(source.sequences)))]
        reference, test = self._frame_pair(sequence, rng)
        return make_pair(sequence, reference, test, rng, self.config)

    def _frame_pair(self, sequence: Sequence, rng: np.random.Generator) -> tuple[int, int]:
        visible = np.flatnonzero(sequence.visible)
        reference = int(rng.choice(visible))
        gap = self.config.max_gap
        while True:
            low, high = reference - gap, reference + gap
            near = visible[(visible >= low) & (visible <= high)]
            if len(near) > 0:
                return reference, int(rng.choice(near))
            gap += 5


def make_pair(
    sequence: Sequence,
    reference: int,
    test: int,
    rng: np.random.Generator,
    config: SamplingConfig,
) -> dict[str, Any]:
    """Crop, jitter and augment one (reference, test) frame pair of ``sequence``."""
    still = len(sequence) == 1
    gray = rng.random() < config.grayscale_probability
    ref_frame, ref_box = sequence.frame(reference), sequence.boxes[reference]
    test_frame, test_box, mask = sequence.frame(test), sequence.boxes[test], sequence.mask(test)
    colour, blur_probability = config.colour_jitter, config.blur_probability
    if still:
        ref_frame, _, ref_box = _still_view(ref_frame, mask, ref_box, rng, config)
        test_frame, mask, test_box = _still_view(test_frame, mask, test_box, rng, config)
        colour = max(colour, config.still_colour_jitter)
        blur_probability = max(blur_probability, config.still_blur_probability)
    if config.small_target_probability > 0 and rng.random() < config.small_target_probability:
        ref_frame, ref_box, test_frame, mask, test_box = _small_target(
            (ref_frame, ref_box), (test_frame, mask, test_box), rng, config
        )
    if config.style_probability > 0 and rng.random() < config.style_probability:
        margins = rng.uniform(*config.style_margin, size=4)
        ref_box, test_box = styled_box(ref_box, margins), styled_box(test_box, margins)
    photometric = (colour, blur_probability)
    template = _crop_rgb(ref_frame, ref_box, gray, rng, config, photometric)
    if still:  # independent views: the test image may turn grey on its own
        gray = rng.random() < config.grayscale_probability
    factor_scale, factor_centre = config.scale_jitter, config.centre_jitter
    if rng.random() < config.small_jitter_probability:
        factor_scale = factor_centre = config.small_jitter
    elif config.jitter_range is not None:
        low, high = np.log(config.jitter_range)
        factor_scale = factor_centre = float(np.exp(rng.uniform(low, high)))
    jittered = jitter_box(test_box, rng, factor_scale, factor_centre)
    window = search_windows(np.maximum(jittered, [-np.inf, -np.inf, 1.0, 1.0]))
    search = _crop_rgb(test_frame, None, gray, rng, config, photometric, window=window)
    x, y, w, h = boxes_to_crop(test_box, window)
    jx, jy, jw, jh = boxes_to_crop(jittered, window)
    if mask is None:
        mask_crop = np.zeros((CROP_SIZE, CROP_SIZE), np.float32)
    else:
        mask_crop = crop_and_resize(mask.astype(np.float32)[..., None], window)[..., 0]
    corners = np.array([x, y, x + w, y + h])
    input_corners = np.array([jx, jy, jx + jw, jy + jh])
    # Drawn last, and only when on, so pairs of configs without it are unchanged.
    if config.flip_probability > 0 and rng.random() < config.flip_probability:
        template, search, mask_crop = template[:, ::-1], search[:, ::-1], mask_crop[:, ::-1]
        corners, input_corners = mirror_crop_corners(corners), mirror_crop_corners(input_corners)
    return {
        "template": torch.from_numpy(np.ascontiguousarray(template)),
        "search": torch.from_numpy(np.ascontiguousarray(search)),
        "corners": torch.tensor(corners, dtype=torch.float32),
        "input_corners": torch.tensor(input_corners, dtype=torch.float32),
        "mask": torch.from_numpy(np.ascontiguousarray(mask_crop, dtype=np.float32)),
        "has_mask": torch.tensor(mask is not None),
    }


def styled_box(box_xywh: NDArray[np.float64], margins: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x, y, w, h`` with its left, top, right and bottom sides moved out by ``margins`` (shares
    of the width or height; negative moves a side in), at least 1 px wide and high."""
    x, y, w, h = (float(v) for v in box_xywh)
    left, top, right, bottom = (float(m) for m in margins)
    width, height = max(1.0, w * (1 + left + right)), max(1.0, h * (1 + top + bottom))
    return np.array([x - left * w, y - top * h, width, height])


def _small_target(
    reference: tuple[NDArray[np.uint8], NDArray[np.float64]],
    test: tuple[NDArray[np.uint8], NDArray[np.bool_] | None, NDArray[np.float64]],
    rng: np.random.Generator,
    config: SamplingConfig,
) -> tuple[
    NDArray[np.uint8],
    NDArray[np.float64],
    NDArray[np.uint8],
    NDArray[np.bool_] | None,
    NDArray[np.float64],
]:
    """Both frames scaled down by one factor (one camera) so that the test target is small,
    then degraded each on its own; see ``SamplingConfig.small_target_probability``."""
    (ref_frame, ref_box), (test_frame, mask, test_box) = reference, test
    low, high = np.log(config.small_target_size)
    size = float(np.exp(rng.uniform(low, high)))
    scale = min(1.0, size / float(np.sqrt(max(test_box[2] * test_box[3], 1.0))))
    ref_frame, _, ref_box = shrink_view(ref_frame, None, ref_box, scale)
    test_frame, mask, test_box = shrink_view(test_frame, mask, test_box, scale)
    noise, quality = config.small_target_noise, config.small_target_quality
    ref_frame = degrade(ref_frame, rng, noise, quality)
    test_frame = degrade(test_frame, rng, noise, quality)
    return ref_frame, ref_box, test_frame, mask, test_box


def _still_view(
    frame: NDArray[np.uint8],
    mask: NDArray[np.bool_] | None,
    box: NDArray[np.float64],
    rng: np.random.Generator,
    config: SamplingConfig,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_] | None, NDArray[np.float64]]:
    """One random view of a still image: rotation (with a mask only) and resolution."""
    angle = float(rng.uniform(-config.still_rotation, config.still_rotation))
    scale = float(rng.uniform(config.still_min_scale, 1.0))
    return warp_view(frame, mask, box, angle if mask is not None else 0.0, scale)


def _crop_rgb(
    frame_bgr: NDArray[np.uint8],
    box: NDArray[np.float64] | None,
    gray: bool,
    rng: np.random.Generator,
    config: SamplingConfig,
    photometric: tuple[float, float] = (0.0, 0.0),
    window: NDArray[np.int64] | None = None,
) -> NDArray[np.uint8]:
    if window is None:
        assert box is not None
        window = search_windows(box)
    crop = crop_and_resize(np.ascontiguousarray(frame_bgr[..., ::-1]), window)
    colour, blur_probability = photometric
    if colour > 0:
        crop = jitter_colour(crop, rng, colour)
    if blur_probability > 0 and rng.random() < blur_probability:
        crop = blur(crop, float(rng.uniform(0.5, 2.0)))
    if gray:
        crop = to_grayscale(crop)
    return adjust_brightness(crop, float(rng.uniform(*config.brightness)))

"""The oracle experiment (paper Table 1): the refiner alone, around jittered ground truth.

For every evaluated frame the ground-truth box is jittered in centre and scale (the training
jitter, eq. 2-4, with the given factors) and refined; the mean IoU with the ground truth before
and after refinement says how much the refiner itself corrects, independent of any tracker.

More views of the same run:

* **Good input boxes**: the frames whose jittered box already has IoU >= 0.85 with the ground
  truth, before and after. A refiner should leave such boxes at least as good as they came.
* **Near-perfect inputs** (``near_perfect=0.05``): the same frames' ground truth jittered again by
  a small factor and refined; over the frames whose near-perfect box has IoU >= 0.85, mean IoU
  before and after and the share made worse by more than 0.05 IoU. This measures the refiner's
  precision ceiling: how good its box is when the input box is already good.
* **Splits** (:func:`split_frames`): every frame is recorded (:class:`OracleFrame`) with how its
  ground truth was drawn (``"masks"``: boxes from ground-truth masks; ``"hand"``: drawn by hand)
  and its target size (the square root of the ground-truth box area, in pixels), and the scores
  above are grouped by both (size bins: under 32, 32-64, 64-128, 128 and over), with the groups of
  :mod:`alpha_refine.eval.groups`, as ``alpha-refine eval`` splits tracker scores.
* **Mask J** (``masks=True``, sequences with masks): the region similarity (IoU) of the mask
  thresholded at 0.5 with the ground-truth mask, refined from the ground-truth box and from the
  jittered box, each next to the filled box it started from (the mask a box tracker gives).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from alpha_refine.data.augment import jitter_box
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.groups import (
    CHANGE_MARGIN,
    GROUND_TRUTH_KINDS,
    SIZE_BINS,
    ground_truth_kind,
    size_bin,
)
from alpha_refine.geometry import iou
from alpha_refine.refiner import Refiner

GOOD_BOX_IOU = 0.85
NEAR_PERFECT_JITTER = 0.05  # the near-perfect inputs' jitter factor (centre and scale)
# GROUND_TRUTH_KINDS, SIZE_BINS, ground_truth_kind and size_bin live in alpha_refine.eval.groups,
# shared with the tracker reports; imported here, they stay importable from this module too.


@dataclass(frozen=True)
class OracleFrame:
    """One evaluated frame: its sequence and frame index, how the ground truth was drawn
    (``"masks"`` or ``"hand"``), the target size (sqrt of the ground-truth box area, px), the
    IoU with the ground truth of the jittered box and of its refinement, and the refined box's
    area over the ground truth's; ``near_*`` the same for the near-perfect input (``None``
    when that pass was off)."""

    sequence: str
    frame: int
    ground_truth: str
    size: float
    iou_before: float
    iou_after: float
    area_ratio: float
    near_before: float | None = None
    near_after: float | None = None
    near_area_ratio: float | None = None


@dataclass(frozen=True)
class GroupScores:
    """Oracle scores of a group of frames (:func:`summarize_frames`).

    ``iou_before``/``iou_after``: mean IoU over all the group's frames of the jittered box and
    its refinement; ``area_ratio``: median refined area over ground-truth area. ``near_*`` cover
    the frames whose near-perfect input has IoU >= :data:`GOOD_BOX_IOU` (``near_frames`` of
    them; NaN when there are none): mean IoU before and after, the share made worse by more
    than :data:`~alpha_refine.eval.groups.CHANGE_MARGIN`, and the median area ratio of their
    refined boxes.
    """

    frames: int
    iou_before: float
    iou_after: float
    area_ratio: float
    near_frames: int = 0
    near_before: float = float("nan")
    near_after: float = float("nan")
    near_worse_share: float = float("nan")
    near_area_ratio: float = float("nan")

    @property
    def gain(self) -> float:
        return self.iou_after - self.iou_before

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON; NaN becomes ``None``."""
        values: dict[str, Any] = {
            "frames": self.frames,
            "mean_iou_before": self.iou_before,
            "mean_iou_after": self.iou_after,
            "gain": self.gain,
            "median_area_ratio": self.area_ratio,
            "near_perfect": {
                "frames": self.near_frames,
                "mean_iou_before": self.near_before,
                "mean_iou_after": self.near_after,
                "worse_share": self.near_worse_share,
                "median_area_ratio": self.near_area_ratio,
            },
        }
        cleaned: dict[str, Any] = _nan_to_none(values)
        return cleaned


def _nan_to_none(value: Any) -> Any:
    """``value`` with every non-finite float, in nested dicts too, replaced by ``None``."""
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _mean(values: NDArray[np.float64]) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _median(values: NDArray[np.float64]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def summarize_frames(frames: SequenceOf[OracleFrame]) -> GroupScores:
    """The :class:`GroupScores` of ``frames`` (at least one)."""
    if not frames:
        raise ValueError("no frames to summarize")
    before = np.array([f.iou_before for f in frames])
    after = np.array([f.iou_after for f in frames])
    ratio = np.array([f.area_ratio for f in frames])
    near = np.array(
        [
            (f.near_before, f.near_after, f.near_area_ratio)
            for f in frames
            if f.near_before is not None and f.near_before >= GOOD_BOX_IOU
        ],
        dtype=np.float64,
    ).reshape(-1, 3)
    return GroupScores(
        frames=len(frames),
        iou_before=_mean(before),
        iou_after=_mean(after),
        area_ratio=_median(ratio),
        near_frames=len(near),
        near_before=_mean(near[:, 0]),
        near_after=_mean(near[:, 1]),
        near_worse_share=_mean((near[:, 1] < near[:, 0] - CHANGE_MARGIN).astype(np.float64)),
        near_area_ratio=_median(near[:, 2]),
    )


def group_frames(
    frames: Iterable[OracleFrame], key: Callable[[OracleFrame], str], order: Iterable[str]
) -> dict[str, GroupScores]:
    """:class:`GroupScores` per value of ``key``, in ``order`` (values with no frames left out)."""
    groups: dict[str, list[OracleFrame]] = {name: [] for name in order}
    for frame in frames:
        groups[key(frame)].append(frame)
    return {name: summarize_frames(members) for name, members in groups.items() if members}


def split_frames(frames: SequenceOf[OracleFrame]) -> dict[str, dict[str, GroupScores]]:
    """The oracle's splits: ``"ground_truth"`` (``"masks"``, ``"hand"``) and ``"target_size"``
    (the :data:`SIZE_BINS` labels), each a :class:`GroupScores` per non-empty group."""
    return {
        "ground_truth": group_frames(frames, lambda f: f.ground_truth, GROUND_TRUTH_KINDS),
        "target_size": group_frames(
            frames, lambda f: size_bin(f.size), (label for _, _, label in SIZE_BINS)
        ),
    }


@dataclass
class MaskScores:
    """Mean J over the frames with a ground-truth mask, refined and filled-box baseline."""

    j_from_truth: float
    j_filled_truth: float
    j_from_jittered: float
    j_filled_jittered: float
    frames: int


@dataclass
class OracleResult:
    """Mean IoU with the ground truth of the jittered boxes and of their refinements.

    ``good_*`` cover the frames whose jittered box had IoU >= 0.85 (NaN when there are none);
    ``masks`` is set when masks were asked for and some sequence has them; ``records`` holds
    every evaluated frame (:class:`OracleFrame`), for :meth:`overall`, :meth:`splits` and other
    groupings; ``near_perfect`` is the near-perfect inputs' jitter factor (``None``: not run).
    """

    iou_before: float
    iou_after: float
    frames: int
    per_sequence: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    good_before: float = float("nan")
    good_after: float = float("nan")
    good_frames: int = 0
    masks: MaskScores | None = None
    records: list[OracleFrame] = field(default_factory=list)
    near_perfect: float | None = None

    @property
    def gain(self) -> float:
        return self.iou_after - self.iou_before

    @property
    def frame_ious(self) -> list[tuple[str, float, float]]:
        """Every evaluated frame as ``(sequence name, IoU before, IoU after)``."""
        return [(r.sequence, r.iou_before, r.iou_after) for r in self.records]

    def overall(self) -> GroupScores:
        """All frames' :class:`GroupScores` (near-perfect inputs included when run)."""
        return summarize_frames(self.records)

    def splits(self) -> dict[str, dict[str, GroupScores]]:
        """:func:`split_frames` of all frames: by ground-truth kind and by target size."""
        return split_frames(self.records)


def mask_iou(mask: NDArray[np.bool_], truth: NDArray[np.bool_]) -> float:
    """Region similarity J of two ``H x W`` bool masks; 1 when both are empty (DAVIS)."""
    union = np.logical_or(mask, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(mask, truth).sum() / union)


def filled_box(box_xywh: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """The pixels whose centres lie inside an ``x, y, w, h`` box, as an ``H x W`` mask."""
    x, y, w, h = (float(v) for v in box_xywh)
    columns = np.arange(shape[1]) + 0.5
    rows = np.arange(shape[0]) + 0.5
    inside_x = (columns >= x) & (columns <= x + w)
    inside_y = (rows >= y) & (rows <= y + h)
    filled: NDArray[np.bool_] = inside_y[:, None] & inside_x[None, :]
    return filled


def _area_ratio(box: NDArray[np.float64], truth: NDArray[np.float64]) -> float:
    return float(box[2] * box[3] / (truth[2] * truth[3]))


def oracle_experiment(
    refiner: Refiner,
    sequences: Iterable[Sequence],
    *,
    scale_jitter: float = 0.25,
    centre_jitter: float = 0.25,
    frames_per_sequence: int | None = None,
    seed: int = 0,
    masks: bool = False,
    near_perfect: float | None = None,
    ground_truth_kinds: Mapping[str, str] | None = None,
    progress: bool = False,
) -> OracleResult:
    """Run the oracle experiment on ``sequences`` (xywh ground truth, BGR frames).

    The template is the first visible frame's ground truth. ``frames_per_sequence`` evenly
    spaced visible frames are evaluated (all after the first when ``None``). Jitter is seeded
    per sequence, so results are reproducible. ``masks=True`` also scores masks (module
    docstring); it needs a network with a mask head.

    ``near_perfect`` (for example :data:`NEAR_PERFECT_JITTER`) also refines, on the same frames,
    the ground truth jittered by that factor in centre and scale; off (``None``) by default, as
    it doubles the refinements. Its jitter comes from its own generator, seeded like the main
    one: the main results are the same with it on or off, and its boxes are those of a separate
    run with ``scale_jitter=centre_jitter=near_perfect``. ``ground_truth_kinds`` maps sequence
    names to ``"masks"`` or ``"hand"`` where :func:`ground_truth_kind`'s rule would be wrong.
    """
    if refiner.color != "bgr" or refiner.box_format != "xywh":
        raise ValueError(
            "the oracle experiment needs a refiner with color='bgr', box_format='xywh'"
        )
    if masks and refiner.network.mask_head is None:
        raise ValueError("masks=True needs a refiner whose network has a mask head")
    before: list[float] = []
    after: list[float] = []
    mask_rows: list[tuple[float, float, float, float]] = []
    per_sequence: dict[str, tuple[float, float, int]] = {}
    records: list[OracleFrame] = []
    sequence_list = list(sequences)
    for index, sequence in enumerate(tqdm(sequence_list, disable=not progress, desc="oracle")):
        visible = np.flatnonzero(sequence.visible)
        if len(visible) < 2:
            continue
        first, rest = int(visible[0]), visible[1:]
        if frames_per_sequence is not None and len(rest) > frames_per_sequence:
            rest = rest[np.linspace(0, len(rest) - 1, frames_per_sequence).round().astype(int)]
        rng = np.random.default_rng([seed, index])
        near_rng = np.random.default_rng([seed, index])  # its own stream, the same draws
        kind = ground_truth_kind(sequence, ground_truth_kinds)
        refiner.initialize(sequence.frame(first), sequence.boxes[first])
        seq_before, seq_after = [], []
        for frame_index in rest:
            truth = sequence.boxes[frame_index]
            jittered = jitter_box(truth, rng, scale_jitter, centre_jitter)
            frame = sequence.frame(int(frame_index))
            truth_mask = sequence.mask(int(frame_index)) if masks else None
            result = refiner.refine(frame, jittered, return_mask=truth_mask is not None)
            seq_before.append(float(iou(jittered, truth)))
            seq_after.append(float(iou(result.box, truth)))
            record = OracleFrame(
                sequence.name,
                int(frame_index),
                kind,
                math.sqrt(float(truth[2] * truth[3])),
                seq_before[-1],
                seq_after[-1],
                _area_ratio(result.box, truth),
            )
            if near_perfect is not None:
                near = jitter_box(truth, near_rng, near_perfect, near_perfect)
                near_refined = refiner.refine(frame, near).box
                record = replace(
                    record,
                    near_before=float(iou(near, truth)),
                    near_after=float(iou(near_refined, truth)),
                    near_area_ratio=_area_ratio(near_refined, truth),
                )
            records.append(record)
            if truth_mask is not None:
                assert result.mask is not None
                from_truth = refiner.refine(frame, truth, return_mask=True).mask
                assert from_truth is not None
                shape = truth_mask.shape
                mask_rows.append(
                    (
                        mask_iou(from_truth >= 0.5, truth_mask),
                        mask_iou(filled_box(truth, shape), truth_mask),
                        mask_iou(result.mask >= 0.5, truth_mask),
                        mask_iou(filled_box(jittered, shape), truth_mask),
                    )
                )
        per_sequence[sequence.name] = (
            float(np.mean(seq_before)),
            float(np.mean(seq_after)),
            len(seq_before),
        )
        before += seq_before
        after += seq_after
    if not before:
        raise ValueError("no sequence has two or more frames with a visible target")
    good = np.asarray(before) >= GOOD_BOX_IOU
    mask_scores = None
    if mask_rows:
        j_truth, j_filled_truth, j_jittered, j_filled_jittered = np.mean(mask_rows, axis=0)
        mask_scores = MaskScores(
            float(j_truth),
            float(j_filled_truth),
            float(j_jittered),
            float(j_filled_jittered),
            frames=len(mask_rows),
        )
    return OracleResult(
        float(np.mean(before)),
        float(np.mean(after)),
        len(before),
        per_sequence,
        good_before=float(np.mean(np.asarray(before)[good])) if good.any() else float("nan"),
        good_after=float(np.mean(np.asarray(after)[good])) if good.any() else float("nan"),
        good_frames=int(good.sum()),
        masks=mask_scores,
        records=records,
        near_perfect=near_perfect,
    )

"""The oracle experiment (paper Table 1): the refiner alone, around jittered ground truth.

For every evaluated frame the ground-truth box is jittered in centre and scale (the training
jitter, eq. 2-4, with the given factors) and refined; the mean IoU with the ground truth before
and after refinement says how much the refiner itself corrects, independent of any tracker.

Two more views of the same run:

* **Good input boxes**: the frames whose jittered box already has IoU >= 0.85 with the ground
  truth, before and after. A refiner should leave such boxes at least as good as they came.
* **Mask J** (``masks=True``, sequences with masks): the region similarity (IoU) of the mask
  thresholded at 0.5 with the ground-truth mask, refined from the ground-truth box and from the
  jittered box, each next to the filled box it started from (the mask a box tracker gives).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from alpha_refine.data.augment import jitter_box
from alpha_refine.data.sequence import Sequence
from alpha_refine.geometry import iou
from alpha_refine.refiner import Refiner

GOOD_BOX_IOU = 0.85


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
    ``masks`` is set when masks were asked for and some sequence has them; ``frame_ious`` holds
    every evaluated frame as ``(sequence name, IoU before, IoU after)``, for other groupings.
    """

    iou_before: float
    iou_after: float
    frames: int
    per_sequence: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    good_before: float = float("nan")
    good_after: float = float("nan")
    good_frames: int = 0
    masks: MaskScores | None = None
    frame_ious: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def gain(self) -> float:
        return self.iou_after - self.iou_before


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


def oracle_experiment(
    refiner: Refiner,
    sequences: Iterable[Sequence],
    *,
    scale_jitter: float = 0.25,
    centre_jitter: float = 0.25,
    frames_per_sequence: int | None = None,
    seed: int = 0,
    masks: bool = False,
    progress: bool = False,
) -> OracleResult:
    """Run the oracle experiment on ``sequences`` (xywh ground truth, BGR frames).

    The template is the first visible frame's ground truth. ``frames_per_sequence`` evenly
    spaced visible frames are evaluated (all after the first when ``None``). Jitter is seeded
    per sequence, so results are reproducible. ``masks=True`` also scores masks (module
    docstring); it needs a network with a mask head.
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
    frame_ious: list[tuple[str, float, float]] = []
    sequence_list = list(sequences)
    for index, sequence in enumerate(tqdm(sequence_list, disable=not progress, desc="oracle")):
        visible = np.flatnonzero(sequence.visible)
        if len(visible) < 2:
            continue
        first, rest = int(visible[0]), visible[1:]
        if frames_per_sequence is not None and len(rest) > frames_per_sequence:
            rest = rest[np.linspace(0, len(rest) - 1, frames_per_sequence).round().astype(int)]
        rng = np.random.default_rng([seed, index])
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
        frame_ious += [(sequence.name, b, a) for b, a in zip(seq_before, seq_after, strict=True)]
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
        frame_ious=frame_ious,
    )

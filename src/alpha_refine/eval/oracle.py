"""The oracle experiment (paper Table 1): the refiner alone, around jittered ground truth.

For every evaluated frame the ground-truth box is jittered in centre and scale (the training
jitter, eq. 2-4, with the given factors) and refined; the mean IoU with the ground truth before
and after refinement says how much the refiner itself corrects, independent of any tracker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from alpha_refine.data.augment import jitter_box
from alpha_refine.data.sequence import Sequence
from alpha_refine.geometry import iou
from alpha_refine.refiner import Refiner


@dataclass
class OracleResult:
    """Mean IoU with the ground truth of the jittered boxes and of their refinements."""

    iou_before: float
    iou_after: float
    frames: int
    per_sequence: dict[str, tuple[float, float, int]] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        return self.iou_after - self.iou_before


def oracle_experiment(
    refiner: Refiner,
    sequences: Iterable[Sequence],
    *,
    scale_jitter: float = 0.25,
    centre_jitter: float = 0.25,
    frames_per_sequence: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> OracleResult:
    """Run the oracle experiment on ``sequences`` (xywh ground truth, BGR frames).

    The template is the first visible frame's ground truth. ``frames_per_sequence`` evenly
    spaced visible frames are evaluated (all after the first when ``None``). Jitter is seeded
    per sequence, so results are reproducible.
    """
    if refiner.color != "bgr" or refiner.box_format != "xywh":
        raise ValueError(
            "the oracle experiment needs a refiner with color='bgr', box_format='xywh'"
        )
    before: list[float] = []
    after: list[float] = []
    per_sequence: dict[str, tuple[float, float, int]] = {}
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
            refined = refiner.refine(sequence.frame(int(frame_index)), jittered).box
            seq_before.append(float(iou(jittered, truth)))
            seq_after.append(float(iou(refined, truth)))
        per_sequence[sequence.name] = (
            float(np.mean(seq_before)),
            float(np.mean(seq_after)),
            len(seq_before),
        )
        before += seq_before
        after += seq_after
    if not before:
        raise ValueError("no sequence has two or more frames with a visible target")
    return OracleResult(float(np.mean(before)), float(np.mean(after)), len(before), per_sequence)

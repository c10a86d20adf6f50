"""Can a rule on how far refinement moved the box keep good boxes without losing the oracle's gain?

    python benchmarks/keep_or_blend.py --sequences SEQUENCES [--davis DAVIS_ROOT] [--refiner W]

Refines the ground truth jittered by 0.05, 0.1, 0.15 and 0.25 (centre and scale, 30 frames per
sequence, seed 0, as ``alpha-refine oracle``) on the 7 development held-out sequences and, with
``--davis``, the 5 held-out DAVIS-2016 train videos (``benchmarks/card_oracle.py``), then replays
rules that return ``w * input + (1 - w) * refined`` (corners, ``x1, y1, x2, y2``) with ``w`` a
function of ``u``, the IoU of the input box with the refined one:

* ``refined`` (w = 0) and ``input`` (w = 1);
* ``average``: w = 0.5;
* ``keep >= t``: w = 1 where u >= t, else 0;
* ``linear from a``: w = clip((u - a) / (1 - a), 0, 1);
* ``blend head``, for weights with one (:mod:`alpha_refine.model.blend`): the learnt per-edge
  weights, as ``Refiner(blend=True)`` returns them; the rules replay ``blend=False`` boxes.

Prints, per rule and set, the mean IoU with the ground truth at each jitter and on the good input
boxes (jitter 0.05, input IoU >= 0.85).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence as SequenceOf

import numpy as np
from card_oracle import DAVIS_HELD_OUT, DEVELOPMENT_HELD_OUT
from numpy.typing import NDArray

from alpha_refine import Refiner
from alpha_refine.data import Sequence, load_dataset
from alpha_refine.data.augment import jitter_box
from alpha_refine.eval.oracle import GOOD_BOX_IOU
from alpha_refine.geometry import iou

JITTERS = (0.05, 0.1, 0.15, 0.25)
Boxes = NDArray[np.float64]
Rule = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def refine_jittered(
    refiner: Refiner, sequences: list[Sequence], jitter: float
) -> tuple[Boxes, Boxes, Boxes]:
    """Ground truth, jittered input and refined boxes (``N x 4`` xywh) as the oracle draws them."""
    truth, inputs, refined = [], [], []
    for index, sequence in enumerate(sequences):
        visible = np.flatnonzero(sequence.visible)
        first, rest = int(visible[0]), visible[1:]
        rest = rest[np.linspace(0, len(rest) - 1, min(30, len(rest))).round().astype(int)]
        rng = np.random.default_rng([0, index])
        refiner.initialize(sequence.frame(first), sequence.boxes[first])
        for frame_index in rest:
            box = sequence.boxes[frame_index]
            jittered = jitter_box(box, rng, jitter, jitter)
            truth.append(box)
            inputs.append(jittered)
            refined.append(refiner.refine(sequence.frame(int(frame_index)), jittered).box)
    return np.array(truth), np.array(inputs), np.array(refined)


def blend(inputs: Boxes, refined: Boxes, weight: NDArray[np.float64]) -> Boxes:
    """``weight * input + (1 - weight) * refined``, corner by corner (xywh in and out)."""

    def corners(boxes: Boxes) -> Boxes:
        return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)

    mixed = weight[:, None] * corners(inputs) + (1 - weight[:, None]) * corners(refined)
    return np.concatenate([mixed[:, :2], mixed[:, 2:] - mixed[:, :2]], axis=1)


def rules() -> dict[str, Rule]:
    table: dict[str, Rule] = {
        "refined": np.zeros_like,
        "input": np.ones_like,
        "average": lambda u: np.full_like(u, 0.5),
    }
    for threshold in (0.8, 0.85, 0.9):
        table[f"keep >= {threshold}"] = lambda u, t=threshold: (u >= t).astype(np.float64)
    for start in (0.5, 0.6, 0.7, 0.8):
        table[f"linear from {start}"] = lambda u, a=start: np.clip((u - a) / (1 - a), 0, 1)
    return table


def main(argv: SequenceOf[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", required=True, help="the development sequences folder")
    parser.add_argument("--davis", help="a DAVIS-2016 root (its DAVIS folder)")
    parser.add_argument("--refiner", default="default")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    sets = {"development": load_dataset(f"plain:{args.sequences}", names=DEVELOPMENT_HELD_OUT)}
    if args.davis:
        sets["DAVIS hold-out"] = load_dataset(f"davis:{args.davis}:train", names=DAVIS_HELD_OUT)
    refiner = Refiner.from_pretrained(None if args.refiner == "default" else args.refiner)
    learnt = None
    if refiner.network.blend_head is not None:
        learnt = refiner.clone()
        learnt.blend = True
        refiner.blend = False
    print(repr(refiner))
    for name, sequences in sets.items():
        runs = {jitter: refine_jittered(refiner, sequences, jitter) for jitter in JITTERS}
        replays = {label: (rule, runs) for label, rule in rules().items()}
        if learnt is not None:  # the same seeds: the same jittered inputs
            learnt_runs = {
                j: (t, i, refine_jittered(learnt, sequences, j)[2]) for j, (t, i, _) in runs.items()
            }
            replays["blend head"] = (np.zeros_like, learnt_runs)
        print(f"\n{name}: mean IoU (%) with the ground truth")
        print("| rule | " + " | ".join(f"jitter {j}" for j in JITTERS) + " | good boxes |")
        print("| --- " * (len(JITTERS) + 2) + "|")
        for label, (rule, replayed) in replays.items():
            cells = []
            for truth, inputs, refined in replayed.values():
                out = blend(inputs, refined, rule(iou(inputs, refined)))
                cells.append(iou(out, truth))
            truth, inputs, _ = runs[JITTERS[0]]
            good = iou(inputs, truth) >= GOOD_BOX_IOU
            values = [100 * c.mean() for c in cells] + [100 * cells[0][good].mean()]
            print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()

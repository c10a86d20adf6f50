"""Sweep the safe-refine gate's thresholds offline, on the results of an ungated evaluation.

    alpha-refine eval ... --gate off --out OUT        # first: base and ungated +AR results
    python benchmarks/gate_sweep.py --dataset plain:DIR --sequences a,b --tracker csrt,mil \
        --out OUT [--confidence]

Each ``OUT/<tracker>+AR/<seq>_base.txt`` holds the boxes the refiner saw and ``<seq>.txt`` the
refined ones, so the geometric checks (IoU, scale, aspect) can be replayed without the network:
a gated frame gets its base box clipped to the frame. ``--confidence`` also runs the refiner
(``--refiner``, gate off) on the saved base boxes once to record each frame's confidence
(cached as ``<seq>_confidence.txt``), for the ``min_confidence`` check, and prints per tracker
the confidence's 10th/90th percentiles and its Spearman rank correlation with the IoU gain over
the base box (refined minus base IoU with the ground truth, on every third frame). Prints the AUC
(pytracking convention) of every setting, per tracker and averaged.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alpha_refine.data import load_dataset
from alpha_refine.data.annotations import read_numbers
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.metrics import evaluate_sequence, summarize
from alpha_refine.eval.results import read_result_boxes
from alpha_refine.eval.runner import RefinerOptions, load_refiner
from alpha_refine.gate import GateConfig, gate_targets
from alpha_refine.geometry import clip_boxes, iou
from alpha_refine.trackers import is_valid_box

GRID = {
    "min_iou": [None, 0.3, 0.5, 0.6],
    "max_scale_change": [None, 1.25, 1.5, 2.0],
    "max_aspect_change": [None, 1.25, 1.5, 2.0],
    "min_confidence": [None, 0.05, 0.08, 0.1, 0.15, 0.2],
}


def _confidence(
    folder: Path, sequence: Sequence, base: NDArray[np.float64], refiner_spec: str
) -> NDArray[np.float64]:
    cache = folder / f"{sequence.name}_confidence.txt"
    if cache.is_file():
        return read_numbers(cache)
    refiner = load_refiner(refiner_spec, "cpu", RefinerOptions(gate=False))
    assert refiner is not None
    refiner.initialize(sequence.frame(0), sequence.boxes[0])
    confidence = np.full(len(sequence), np.nan)
    for index in range(1, len(sequence)):
        if is_valid_box(base[index]):
            confidence[index] = refiner.refine(sequence.frame(index), base[index]).confidence
    cache.write_text("".join(f"{c:.6f}\n" for c in confidence))
    return confidence


def _load(
    out: Path, tracker: str, sequences: list[Sequence], refiner: str | None
) -> list[dict[str, Any]]:
    folder = out / f"{tracker}+AR"
    runs = []
    for sequence in sequences:
        count = len(sequence)
        base = read_result_boxes(folder / f"{sequence.name}_base.txt")[:count]
        refined = read_result_boxes(folder / f"{sequence.name}.txt")[:count]
        height, width = sequence.frame(0).shape[:2]
        confidence = _confidence(folder, sequence, base, refiner) if refiner else np.ones(count)
        runs.append(
            {
                "sequence": sequence,
                "base": base,
                "refined": refined,
                "shape": (height, width),
                "confidence": confidence,
            }
        )
    return runs


def _auc(runs: list[dict[str, Any]], gate: GateConfig | None) -> tuple[float, float]:
    """AUC of the (simulated) gated results, and the fraction of refined frames gated."""
    scores, gated_frames, refined_frames = [], 0, 0
    for run in runs:
        boxes = run["refined"].copy()
        valid = np.array([is_valid_box(b) for b in run["base"]])
        valid[0] = False  # the first frame is the ground truth
        if gate is not None and valid.any():
            base = clip_boxes(run["base"][valid], run["shape"])
            gated = gate_targets(gate, base, boxes[valid], run["confidence"][valid])
            boxes[np.flatnonzero(valid)[gated]] = base[gated]
            gated_frames += int(gated.sum())
        refined_frames += int(valid.sum())
        sequence = run["sequence"]
        scores.append(
            evaluate_sequence(
                boxes,
                sequence.boxes,
                sequence.attributes.get("target_visible"),
                "pytracking",
                image_size=sequence.attributes.get("image_size"),
                name=sequence.name,
            )
        )
    return summarize(scores).auc, gated_frames / max(refined_frames, 1)


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for value in np.unique(values):  # ties share their mean rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def _confidence_report(runs: list[dict[str, Any]]) -> tuple[float, float, float]:
    """10th and 90th percentile of the confidence, and its Spearman correlation with the
    IoU gain, on every third refined frame."""
    confidence, gain = [], []
    for run in runs:
        frames = np.arange(1, len(run["base"]), 3)
        truth = run["sequence"].boxes[frames]
        base, refined = run["base"][frames], run["refined"][frames]
        usable = np.array(
            [is_valid_box(t) and is_valid_box(b) for t, b in zip(truth, base, strict=True)]
        )
        usable &= np.isfinite(run["confidence"][frames])
        confidence.append(run["confidence"][frames][usable])
        gain.append(iou(refined[usable], truth[usable]) - iou(base[usable], truth[usable]))
    values, gains = np.concatenate(confidence), np.concatenate(gain)
    low, high = np.percentile(values, [10, 90])
    rho = float(np.corrcoef(_ranks(values), _ranks(gains))[0, 1])
    return float(low), float(high), rho


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--sequences", default=None)
    parser.add_argument("--tracker", required=True, help="comma-separated")
    parser.add_argument("--out", required=True, help="the ungated evaluation's output folder")
    parser.add_argument("--confidence", action="store_true", help="also sweep min_confidence")
    parser.add_argument("--refiner", default="default", help="for --confidence")
    parser.add_argument("--top", type=int, default=15, help="settings to print")
    args = parser.parse_args(argv)
    names = None if args.sequences is None else args.sequences.split(",")
    sequences = load_dataset(args.dataset, names=names)
    trackers = args.tracker.split(",")
    refiner = args.refiner if args.confidence else None
    data = {t: _load(Path(args.out), t, sequences, refiner) for t in trackers}
    if args.confidence:
        print("confidence per tracker: p10, p90; Spearman with the IoU gain (every 3rd frame)")
        for tracker in trackers:
            low, high, rho = _confidence_report(data[tracker])
            print(f"  {tracker}: {low:.3f}, {high:.3f}; rho = {rho:+.2f}")
    grid = dict(GRID)
    if not args.confidence:
        grid["min_confidence"] = [None]
    base_auc = {t: _auc([{**r, "refined": r["base"]} for r in data[t]], None)[0] for t in trackers}
    ungated = {t: _auc(data[t], None)[0] for t in trackers}
    settings = [
        GateConfig(**dict(zip(grid, v, strict=True))) for v in itertools.product(*grid.values())
    ]
    scored = []
    for gate in settings:
        results = {t: _auc(data[t], gate) for t in trackers}
        mean = float(np.mean([results[t][0] - ungated[t] for t in trackers]))
        scored.append((mean, gate, results))
    scored.sort(key=lambda row: -row[0])
    default = GateConfig()
    scored.insert(0, next(row for row in scored if row[1] == default))
    print("AUC in % (share of refined frames gated); mean diff: to the ungated refiner, points")
    print("| setting | " + " | ".join(trackers) + " | mean diff |")
    print("| --- | " + " | ".join("---:" for _ in trackers) + " | ---: |")
    for label, values in (("base tracker alone", base_auc), ("refined, no gate", ungated)):
        mean = float(np.mean([values[t] - ungated[t] for t in trackers]))
        cells = " | ".join(f"{100 * values[t]:.1f}" for t in trackers)
        print(f"| {label} | {cells} | {100 * mean:+.2f} |")
    for index, (mean, gate, results) in enumerate(scored[: args.top + 1]):
        cells = " | ".join(
            f"{100 * results[t][0]:.1f} ({100 * results[t][1]:.0f}%)" for t in trackers
        )
        label = gate.describe() + (" (the defaults)" if index == 0 else "")
        print(f"| {label} | {cells} | {100 * mean:+.2f} |")


if __name__ == "__main__":
    main()

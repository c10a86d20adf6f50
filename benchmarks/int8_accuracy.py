"""How far ``precision="int8"`` moves the refiner's outputs from float32, on trained weights.

Two ONNX Runtime refiners on the same weights, float32 and int8 (float32 ONNX Runtime is within
1e-4 px of the eager path, docs/performance.md), refine the same boxes:

* the demo clip (``alpha_refine.demo.demo_sequence``, synthetic, held out from the int8
  calibration): every frame's ground truth jittered in centre and scale as in the oracle
  experiment; the largest coordinate difference of each box (px), also relative to the box's
  size, and the largest mask-probability difference;
* with ``--dataset``, the oracle experiment (``alpha-refine oracle``) with both refiners: mean IoU
  before and after refinement.

    python benchmarks/int8_accuracy.py --threads 1 --out int8.json
    python benchmarks/int8_accuracy.py --threads 1 --dataset plain:SEQUENCES \\
        --sequences otb_Crossing,otb_Girl --frames-per-sequence 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from alpha_refine import Refiner
from alpha_refine.data.augment import jitter_box
from alpha_refine.demo import demo_sequence


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "max": float(np.max(values)),
    }


def demo_deviation(full: Refiner, int8: Refiner, frames: int, seed: int) -> dict[str, Any]:
    """Box and mask deviation of ``int8`` from ``full`` over the demo clip."""
    sequence = demo_sequence(length=frames)
    rng = np.random.default_rng(seed)
    for refiner in (full, int8):
        refiner.initialize(sequence.frame(0), sequence.boxes[0])
    box_px, relative, mask = [], [], []
    for index in range(1, frames):
        frame = sequence.frame(index)
        box = jitter_box(sequence.boxes[index], rng)
        expected = full.refine(frame, box, return_mask=True)
        result = int8.refine(frame, box, return_mask=True)
        assert result.mask is not None and expected.mask is not None
        difference = float(np.abs(result.box - expected.box).max())
        box_px.append(difference)
        relative.append(difference / float(np.sqrt(expected.box[2] * expected.box[3])))
        mask.append(float(np.abs(result.mask - expected.mask).max()))
    return {
        "frames": frames - 1,
        "box_px": _summary(box_px),
        "box_relative_to_size": _summary(relative),
        "mask": _summary(mask),
    }


def oracle(
    refiners: dict[str, Refiner], spec: str, names: list[str] | None, frames: int | None
) -> dict[str, Any]:
    from alpha_refine.data import load_dataset
    from alpha_refine.eval.oracle import oracle_experiment

    sequences = load_dataset(spec, names)
    report: dict[str, Any] = {"dataset": spec, "sequences": [s.name for s in sequences]}
    for name, refiner in refiners.items():
        result = oracle_experiment(refiner, sequences, frames_per_sequence=frames, seed=0)
        report[name] = {
            "frames": result.frames,
            "mean_iou_before": result.iou_before,
            "mean_iou_after": result.iou_after,
            "per_sequence": result.per_sequence,
        }
        print(
            f"oracle {name:8s} {result.frames} frames: IoU {100 * result.iou_before:.2f} -> "
            f"{100 * result.iou_after:.2f} ({100 * result.gain:+.2f})",
            flush=True,
        )
    return report


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--weights", default=None, help="weights (default: the embedded model)")
    parser.add_argument("--frames", type=int, default=100, help="demo clip length")
    parser.add_argument("--seed", type=int, default=0, help="jitter seed (demo clip)")
    parser.add_argument("--dataset", default=None, help="oracle on a dataset spec (plain:DIR)")
    parser.add_argument("--sequences", default=None, help="only these sequences (comma-separated)")
    parser.add_argument("--frames-per-sequence", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    refiners = {
        precision: Refiner.from_pretrained(
            args.weights, device="cpu", backend="onnxruntime", precision=precision
        )
        for precision in ("float32", "int8")
    }
    report: dict[str, Any] = {
        "command": "python benchmarks/int8_accuracy.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "weights": args.weights or "embedded default model",
        "backbone": refiners["int8"].config.backbone,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }
    deviation = demo_deviation(refiners["float32"], refiners["int8"], args.frames, args.seed)
    report["demo_deviation"] = deviation
    box, relative, mask = deviation["box_px"], deviation["box_relative_to_size"], deviation["mask"]
    print(
        f"demo clip, {deviation['frames']} frames: box deviation px median {box['median']:.3f} "
        f"p90 {box['p90']:.3f} max {box['max']:.3f} (relative to box size: median "
        f"{relative['median']:.1e}, max {relative['max']:.1e}); mask max {mask['max']:.4f}",
        flush=True,
    )
    if args.dataset:
        names = None if args.sequences is None else args.sequences.split(",")
        report["oracle"] = oracle(refiners, args.dataset, names, args.frames_per_sequence)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        main()

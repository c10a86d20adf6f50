"""The int8 stem lever, measured both ways in one run: int8 graphs with the stem convolution
quantized (the default, ``FLOAT_STEM = False``) and kept in float32, next to eager, the torch
backend and float32 ONNX Runtime (ResNet-34, calibrated random weights, one target, box only,
round-robin as in bench_refine.py). Also prints each path's largest box deviation from eager.

    python benchmarks/int8_stem.py --threads 1 --runs 30
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_refine import EagerBaseline, calibrated_network, scene, time_round_robin

from alpha_refine import Refiner
from alpha_refine.runtime.export import export_graphs
from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine
from alpha_refine.runtime.quantize import quantize_and_calibrate, quantize_graphs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--backbone", default="resnet34")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    network = calibrated_network(args.backbone)
    frame, boxes, moved = scene(1)
    graphs = export_graphs(network)
    int8_stem, ranges = quantize_and_calibrate(graphs, float_stem=False)
    float_stem = quantize_graphs(graphs, ranges=ranges, float_stem=True)  # same ranges
    eager = EagerBaseline(network, torch.device("cpu"))
    eager.initialize(frame, boxes)
    paths: dict[str, Refiner] = {}
    for name, engine_graphs in (
        ("torch", None),
        ("onnxruntime", graphs),
        ("int8, int8 stem", int8_stem),
        ("int8, float32 stem", float_stem),
    ):
        refiner = Refiner.from_network(network, device="cpu", backend="torch")
        if engine_graphs is not None:
            refiner._engine = OnnxRuntimeEngine(engine_graphs, args.threads)
        refiner.initialize(frame, boxes[0])
        paths[name] = refiner
    reference = eager.refine(frame, moved[:1])[0][0]
    for name, refiner in paths.items():
        deviation = float(np.abs(refiner.refine(frame, moved[0]).box - reference).max())
        print(f"{name}: largest box deviation from eager {deviation:.3g} px")
    calls = {"eager": lambda: eager.refine(frame, moved[:1])}
    calls.update({n: (lambda r=r: r.refine(frame, moved[0])) for n, r in paths.items()})
    timed = time_round_robin(calls, torch.device("cpu"), 3, args.runs)
    base = timed["eager"]["median_ms"]
    print(
        json.dumps(
            {
                n: {
                    "median_ms": round(t["median_ms"], 2),
                    "x_eager": round(base / t["median_ms"], 2),
                }
                for n, t in timed.items()
            },
            indent=1,
        )
    )
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

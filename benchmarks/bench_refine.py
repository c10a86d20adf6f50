"""Latency of ``Refiner.initialize`` and ``Refiner.refine`` (box only and with mask).

Random weights are fine here: latency does not depend on the weight values. Reports the median
and the 10th/90th percentiles over ``--runs`` timed calls after ``--warmup`` untimed ones, on a
640 x 480 frame, and writes a JSON file with the machine description.

    python benchmarks/bench_refine.py --backbones resnet34,resnet18 --out bench.json
    python benchmarks/bench_refine.py --quick   # a few runs: checks every path works
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from alpha_refine import ModelConfig, RandomWeightsWarning, Refiner


def _time_calls(call: Callable[[], object], warmup: int, runs: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(1000.0 * (time.perf_counter() - start))
    deciles = statistics.quantiles(samples, n=10) if len(samples) > 1 else samples * 9
    return {
        "median_ms": statistics.median(samples),
        "p10_ms": deciles[0],
        "p90_ms": deciles[-1],
        "runs": runs,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def bench(backbone: str, device: str, warmup: int, runs: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        refiner = Refiner(ModelConfig(backbone=backbone), device=device)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    box = np.array([250.0, 180.0, 120.0, 90.0])
    refiner.initialize(frame, box)
    results = {
        "initialize": _time_calls(lambda: refiner.initialize(frame, box), warmup, runs),
        "refine_box": _time_calls(lambda: refiner.refine(frame, box + 4), warmup, runs),
        "refine_mask": _time_calls(
            lambda: refiner.refine(frame, box + 4, return_mask=True), warmup, runs
        ),
    }
    return {"backbone": backbone, "device": str(refiner.device), "latency": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="resnet34,resnet18")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2 warm-up and 3 timed runs")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    warmup, runs = (2, 3) if args.quick else (args.warmup, args.runs)

    report = {"machine": machine(), "frame": "640x480", "results": []}
    for backbone in args.backbones.split(","):
        result = bench(backbone, args.device, warmup, runs)
        report["results"].append(result)  # type: ignore[attr-defined]
        for name, stats in result["latency"].items():
            print(
                f"{backbone:9s} {result['device']:5s} {name:12s} "
                f"median {stats['median_ms']:7.1f} ms  "
                f"(p10 {stats['p10_ms']:.1f}, p90 {stats['p90_ms']:.1f}, n={stats['runs']})"
            )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()

"""Every CUDA path of the refiner, checked against eager float32, then timed.

Paths: ``torch`` (float32, OpenCV crop), ``device-crop`` (float32, the batched on-device crop,
the CUDA default), ``float16`` and ``bfloat16`` (autocast), ``compile`` (``torch.compile`` with
CUDA graphs). Correctness: boxes of 8 targets against the eager float32 network on the same
device (float32 paths within :data:`FLOAT32_TOLERANCE_PX`; float16/bfloat16 reported and
checked finite only, as in bench_refine.py: on random weights their deviation says little, pass
``--weights`` for the trained model's). Speed: one target, box only, median latency
of each path (round-robin, as in bench_refine.py); then batched throughput (target-refines per
second) for 1 to 256 targets. Targets when a GPU exists (ResNet-34): <= 1.5 ms for one target,
>= 5,000 target-refines/s batched.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu.json   # CUDA, a few minutes
    python benchmarks/gpu_check.py --check                              # CPU dry run, seconds

Run through ``benchmarks/gpu.sh``, which installs the package first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_refine import (  # a sibling script, not a package
    EagerBaseline,
    calibrated_network,
    machine,
    scene,
    time_round_robin,
)

from alpha_refine import AlphaRefineNet, Refiner

FLOAT32_TOLERANCE_PX = 0.05  # TF32 convolutions (the CUDA default) in both eager and fast paths
PATHS: dict[str, dict[str, Any]] = {
    "torch": {"crop": "opencv"},
    "device-crop": {"crop": "device"},
    "float16": {"precision": "float16"},
    "bfloat16": {"precision": "bfloat16"},
    "compile": {"compile": True},
}


def build(network: AlphaRefineNet, device: torch.device, names: Sequence[str]) -> dict[str, Any]:
    return {
        name: Refiner.from_network(network, device=device, backend="torch", **PATHS[name])
        for name in names
    }


def correctness(
    network: AlphaRefineNet, device: torch.device, names: Sequence[str], targets: int
) -> tuple[dict[str, Any], list[str]]:
    frame, boxes, moved = scene(targets, seed=1)
    eager = EagerBaseline(network, device)
    eager.initialize(frame, boxes)
    reference, _ = eager.refine(frame, moved)
    report, problems = {}, []
    for name, refiner in build(network, device, names).items():
        refiner.initialize(frame, boxes)
        box = refiner.refine(frame, moved).box
        deviation = float(np.abs(box - reference).max())
        finite = bool(np.all(np.isfinite(box)))
        report[name] = {"box_px": deviation, "finite": finite}
        if not finite:
            problems.append(f"{name}: non-finite boxes")
        elif "float16" not in name and deviation > FLOAT32_TOLERANCE_PX:
            problems.append(f"{name}: box deviates from eager float32 by {deviation:.4g} px")
    return report, problems


def latency(
    network: AlphaRefineNet, device: torch.device, names: Sequence[str], warmup: int, runs: int
) -> dict[str, Any]:
    frame, boxes, moved = scene(1, seed=2)
    paths: dict[str, Any] = {"eager": EagerBaseline(network, device)}
    paths.update(build(network, device, names))
    for path in paths.values():
        path.initialize(frame, boxes)
    calls = {name: (lambda p=path: p.refine(frame, moved)) for name, path in paths.items()}
    return time_round_robin(calls, device, warmup, runs)


def throughput(
    network: AlphaRefineNet,
    device: torch.device,
    names: Sequence[str],
    counts: Sequence[int],
    warmup: int,
    runs: int,
) -> dict[str, dict[str, float]]:
    """Target-refines per second for each number of targets, from the median call time."""
    results: dict[str, dict[str, float]] = {}
    for name, refiner in build(network, device, names).items():
        results[name] = {}
        for count in counts:
            frame, boxes, moved = scene(count, seed=3)
            refiner.initialize(frame, boxes)
            call = {name: lambda r=refiner, f=frame, m=moved: r.refine(f, m)}
            timed = time_round_robin(call, device, warmup, runs)
            results[name][str(count)] = count / (timed[name]["median_ms"] / 1000.0)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="CPU dry run: small and fast")
    parser.add_argument("--weights", help="trained weights (default: calibrated random ResNet-34)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.check:
        device = torch.device("cpu")
        # Each kind of path once, as small as possible (the OpenCV crop is the eager one's).
        backbone, names = "resnet18", ["device-crop", "bfloat16"]
        targets, batched, counts, warmup, runs = 1, ["device-crop"], [2], 0, 1
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device (use --check for the CPU dry run)", file=sys.stderr)
            return 2
        device = torch.device("cuda")
        backbone, names = "resnet34", list(PATHS)
        # compile recompiles for every number of targets: its throughput would time compilers.
        batched = [name for name in names if name != "compile"]
        targets, counts, warmup, runs = 8, [1, 2, 4, 8, 16, 32, 64, 128, 256], 5, 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if args.weights:
            network = Refiner.from_pretrained(args.weights, device="cpu", backend="torch").network
        else:
            network = calibrated_network(backbone)
        checked, problems = correctness(network, device, names, targets)
        timed = latency(network, device, names, warmup, runs)
        rates = throughput(network, device, batched, counts, warmup, max(runs // 5, 1))
    report = {
        "command": "python benchmarks/gpu_check.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu (dry run)",
        "backbone": network.config.backbone,
        "correctness": checked,
        "latency_one_target_box_ms": timed,
        "throughput_targets_per_s": rates,
        "problems": problems,
        "seconds": time.perf_counter() - started,
    }
    print(f"device: {report['device']}, backbone {report['backbone']}")
    for name, entry in checked.items():
        milliseconds = timed[name]["median_ms"]
        print(f"  {name:12s} deviation {entry['box_px']:.3g} px  latency {milliseconds:.3f} ms")
    print(f"  {'eager':12s} latency {timed['eager']['median_ms']:.3f} ms")
    for name, by_count in rates.items():
        best = max(by_count.items(), key=lambda item: item[1])
        print(f"  {name:12s} throughput best {best[1]:.0f} target-refines/s at {best[0]} targets")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.out}")
    print(f"took {report['seconds']:.0f} s, load average {os.getloadavg()}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

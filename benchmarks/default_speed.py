"""Latency of the default path for several weight sets side by side, with a breakdown.

Times ``Refiner.from_pretrained(weights)`` (``backend="auto"``, ``precision="auto"``: what a
user gets) for each weight set in round-robin, one call of each per round, so machine noise
hits them alike; the first weight set is the baseline every ratio is against. For each it also
times the exported graphs alone (ONNX Runtime float32): the template graph (the trunk) and the
refine graphs, so the heads' share and the Python around the graphs show. Weights with a blend
head are also timed with ``blend=True`` (the head runs outside the graphs), against the base's
box refine, and every weight set with ``flip=True`` (each crop's view and its mirror image, one
batch of two), box and box with mask.

    python benchmarks/default_speed.py --weights src/alpha_refine/default_model,runs/x/final \\
        --threads 1 --runs 60 --out benchmarks/results/default-speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_refine import machine, scene, time_round_robin

from alpha_refine import Refiner
from alpha_refine.runtime.export import export_graphs
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE


def _graph_calls(refiner: Refiner, frame: np.ndarray) -> dict[str, Callable[[], object]]:
    """The float32 graphs of ``refiner``'s network alone, on one crop."""
    import onnxruntime

    graphs = export_graphs(refiner.network)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    crops = np.ascontiguousarray(frame[None, :256, :256].astype(np.float32))
    providers = ["CPUExecutionProvider"]
    sessions = {
        name: onnxruntime.InferenceSession(graphs[name], options, providers=providers)
        for name in (TEMPLATE, REFINE, REFINE_MASK)
        if name in graphs
    }
    (kernels,) = sessions[TEMPLATE].run(None, {"crops": crops})
    feeds = {"crops": crops, "kernels": kernels}
    calls: dict[str, Callable[[], object]] = {
        "graph: trunk (template)": lambda: sessions[TEMPLATE].run(None, {"crops": crops}),
        "graph: refine": lambda: sessions[REFINE].run(None, feeds),
    }
    if REFINE_MASK in sessions:
        calls["graph: refine + mask"] = lambda: sessions[REFINE_MASK].run(None, feeds)
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="comma-separated; the first is the base")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frame, boxes, moved = scene(1)
    calls: dict[str, Callable[[], object]] = {}
    chosen: dict[str, str] = {}
    for weights in args.weights.split(","):
        refiner = Refiner.from_pretrained(weights)
        refiner.initialize(frame, boxes)
        chosen[weights] = f"{refiner.backend}/{refiner.precision}"
        print(f"{weights}: default path {chosen[weights]} ({refiner.backend_reason})", flush=True)
        calls[f"{weights} | refine box"] = lambda r=refiner: r.refine(frame, moved)
        calls[f"{weights} | refine box + mask"] = lambda r=refiner: r.refine(
            frame, moved, return_mask=True
        )
        if refiner.network.blend_head is not None:
            blending = refiner.clone()
            blending.blend = True
            blending.initialize(frame, boxes)
            calls[f"{weights} | refine box, blend on"] = lambda r=blending: r.refine(frame, moved)
        flipping = Refiner.from_pretrained(weights, flip=True)
        flipping.initialize(frame, boxes)
        calls[f"{weights} | refine box, flip on"] = lambda r=flipping: r.refine(frame, moved)
        calls[f"{weights} | refine box + mask, flip on"] = lambda r=flipping: r.refine(
            frame, moved, return_mask=True
        )
        for name, call in _graph_calls(refiner, frame).items():
            calls[f"{weights} | {name}"] = call
    timed = time_round_robin(calls, torch.device("cpu"), args.warmup, args.runs)
    base = args.weights.split(",")[0]
    for key, stats in timed.items():
        weights, _, what = key.partition(" | ")
        like = what.partition(",")[0]  # a blend or flip variant: against the base's plain path
        stats["vs_base"] = stats["median_ms"] / timed[f"{base} | {like}"]["median_ms"]
        print(
            f"{weights:40s} {what:26s} median {stats['median_ms']:6.2f} ms "
            f"(p10 {stats['p10_ms']:.2f}, p90 {stats['p90_ms']:.2f})  "
            f"x{stats['vs_base']:.2f} of base",
            flush=True,
        )
    if args.out:
        report: dict[str, Any] = {
            "machine": machine(),
            "threads": args.threads,
            "paths": chosen,
            "latency": timed,
        }
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

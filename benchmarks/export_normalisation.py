"""Does the exported graphs' input normalisation as a depthwise 1 x 1 convolution pay?

    python benchmarks/export_normalisation.py [--threads 1] [--rounds 40] [--out FILE.json]

Exports the refine graph of a ResNet-34 and a ResNet-18 network (random weights; latency does
not depend on them) twice: with the normalisation the package exports
(``normalize_crops_for_export``, one depthwise convolution) and with the plain broadcast
subtraction and division (``normalize_crops``), in float32 and int8. Runs all of them with the
package's ONNX Runtime engine, round-robin (one call of each per round), on one target, and
prints the median and 10th/90th percentiles in milliseconds, and the largest corner difference
between the two.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from alpha_refine import AlphaRefineNet, ModelConfig
from alpha_refine.model.preprocess import normalize_crops, normalize_crops_for_export
from alpha_refine.runtime.export import export_graphs
from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine
from alpha_refine.runtime.quantize import quantize_graphs


def _graphs(network: AlphaRefineNet, normalisation: Any) -> dict[str, bytes]:
    with mock.patch("alpha_refine.runtime.export.normalize_crops_for_export", normalisation):
        float32 = export_graphs(network)
    return {"float32": float32["refine"], "int8": quantize_graphs(float32)["refine"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    crops = torch.rand(1, 256, 256, 3, generator=generator) * 255
    kernels = torch.randn(1, 256, 8, 8, generator=generator)
    results: dict[str, Any] = {"threads": args.threads, "rounds": args.rounds, "timings": {}}
    for backbone in ("resnet34", "resnet18"):
        torch.manual_seed(0)
        network = AlphaRefineNet(ModelConfig(backbone=backbone, mask_head=True)).eval()
        variants = {"conv": normalize_crops_for_export, "sub/div": normalize_crops}
        engines = {
            f"{precision} {name}": OnnxRuntimeEngine({"refine": blob}, args.threads)
            for name, function in variants.items()
            for precision, blob in _graphs(network, function).items()
        }
        outputs = {
            key: engine.search(crops, kernels, with_mask=False).corners.numpy()
            for key, engine in engines.items()
        }
        times: dict[str, list[float]] = {key: [] for key in engines}
        for _ in range(args.rounds):
            for key, engine in engines.items():
                start = time.perf_counter()
                engine.search(crops, kernels, with_mask=False)
                times[key].append(1000 * (time.perf_counter() - start))
        print(f"{backbone}, refine graph, one target, {args.threads} thread(s):")
        for key, values in times.items():
            low, median, high = np.percentile(values, [10, 50, 90])
            print(f"  {key:14s} {median:6.2f} ms ({low:.1f}-{high:.1f})")
            results["timings"][f"{backbone} {key}"] = {"median": median, "p10": low, "p90": high}
        for precision in ("float32", "int8"):
            conv, plain = outputs[f"{precision} conv"], outputs[f"{precision} sub/div"]
            diff = float(np.abs(conv - plain).max())
            print(f"  {precision}: largest corner difference {diff:.2e} crop px")
            results[f"{backbone} {precision} corner difference"] = diff
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

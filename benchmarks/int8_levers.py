"""What each int8 lever does on real frames: the same measurement as ``int8_accuracy.py`` (int8
against float32 ONNX Runtime, oracle setting, ``--frames-per-sequence`` frames of every sequence
of ``--dataset``), for int8 graphs quantized in several ways, next to the int8 check's own
measurement (``alpha_refine.runtime.guard``) of the same graphs.

Levers (``--levers``; each is one change from the package's way, ``package``):

* ``no-clip``: EfficientNet-Lite0's ReLU6 (``Clip``) left out of the quantized operators, as
  before: the convolutions before them are quantized over their whole output range;
* ``synthetic`` / ``real``: ranges calibrated on the synthetic sequences (what the package does
  for weights other than the embedded model's) or on real training images (``--stills``, a
  saliency folder such as DUTS-TR, and ``--videos``, a training split such as DAVIS-2016 train;
  what ships for the embedded model), never on the sequences measured;
* ``global-minmax``: the global min/max over the calibration crops instead of the mean over
  batches of 8 of each batch's min/max;
* ``percentile``: ONNX Runtime's percentile calibration (99.999th), much slower to calibrate;
* ``per-tensor``: one weight scale per tensor instead of per output channel;
* ``float-early``: the first layers kept in float32 (ResNet: the normalisation, stem and
  ``layer1``; Lite0: the normalisation, stem and blocks 0 to 3), with their ReLU/ReLU6.

The int8 graphs are built here (with the package's quantizer and private helpers, so that a
lever is one argument) and run behind a refiner made for the float32 graphs, so boxes, crops and
geometry are the refiner's.

    python benchmarks/int8_levers.py --threads 1 --dataset plain:SEQUENCES \\
        --stills data/duts-tr --videos davis:data/davis2016-train/DAVIS:train \\
        --out int8-levers.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_refine import machine
from int8_accuracy import ROOT, compare, published_resnet34

from alpha_refine import Refiner
from alpha_refine.data import load_dataset
from alpha_refine.runtime import quantize, select
from alpha_refine.runtime.export import export_graphs
from alpha_refine.runtime.graphs import REFINE_MASK, TEMPLATE
from alpha_refine.runtime.guard import check_int8
from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine
from alpha_refine.runtime.ship import real_calibration

LEVERS = {
    "lite0": (
        "no-clip",
        "package",
        "synthetic",
        "global-minmax",
        "percentile",
        "float-early",
    ),
    "r18": ("package", "real", "global-minmax", "percentile", "per-tensor", "float-early"),
    "r34": ("package", "real", "global-minmax", "percentile"),
}


def early_nodes(model: Any, backbone: str) -> set[str]:
    """Names of the nodes of the trunk's first layers (kept in float32 by ``float-early``): all
    nodes before the first convolution of a later layer, in the graph's topological order."""
    prefixes = (
        ("backbone.stem", *(f"backbone.blocks.{i}." for i in range(4)))
        if backbone == "efficientnet_lite0"
        else ("backbone.conv1", "backbone.layer1.")
    )
    names = set()
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight = node.input[1]
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            if groups != 3 and not any(prefix in weight for prefix in prefixes):
                break  # 3 groups: the input normalisation
        names.add(node.name)
    return names


def quantized(
    graphs: dict[str, bytes],
    calibration: quantize.CalibrationCrops | None,
    *,
    ops: Sequence[str] = quantize.QUANTIZED_OPS,
    method: str = "minmax",
    moving_average: bool = True,
    per_channel: bool = True,
    float_early: str | None = None,
) -> dict[str, bytes]:
    """Int8 graphs as :func:`alpha_refine.runtime.quantize.quantize_graphs` makes them, but for
    one lever (``float_early``: the backbone whose first layers stay float32)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    feeds = quantize._calibration_feeds(graphs, calibration)
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    options: dict[str, Any] = (
        {"CalibMovingAverage": moving_average}
        if method == "minmax"
        else {"CalibPercentile": 99.999}
    )
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        caches = {part: Path(folder) / f"{part}.json" for part in ("template", "search")}
        for name in sorted(graphs, key=lambda n: (n != TEMPLATE, n != REFINE_MASK)):
            part = "template" if name == TEMPLATE else "search"
            model = onnx.load_from_string(graphs[name])
            nodes = quantize.trunk_nodes(model)
            if float_early is not None:
                kept = early_nodes(model, float_early)
                nodes = [n for n in nodes if n not in kept]
            path = Path(folder) / "int8.onnx"
            reader = None if caches[part].exists() else quantize._Feeds(feeds[part])
            with quantize._quiet():
                quantize_static(
                    model,
                    path,
                    reader,
                    quant_format=QuantFormat.QDQ,
                    per_channel=per_channel,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(ops),
                    nodes_to_quantize=nodes,
                    calibrate_method=methods[method],
                    calibration_cache_path=caches[part],
                    extra_options=options,
                )
            out[name] = onnx.load(path).SerializeToString()
    return {name: out[name] for name in graphs}


def lever_graphs(
    lever: str,
    graphs: dict[str, bytes],
    backbone: str,
    real: quantize.CalibrationCrops,
    embedded: bool,
) -> dict[str, bytes]:
    """``lever``'s int8 graphs; the package's calibration data is real for the embedded model."""
    package_data = real if embedded else None
    if lever == "package":
        return quantized(graphs, package_data)
    if lever == "no-clip":
        return quantized(graphs, package_data, ops=("Conv", "Add", "MaxPool", "Relu"))
    if lever == "synthetic":
        return quantized(graphs, None)
    if lever == "real":
        return quantized(graphs, real)
    if lever == "global-minmax":
        return quantized(graphs, package_data, moving_average=False)
    if lever == "percentile":
        return quantized(graphs, package_data, method="percentile")
    if lever == "per-tensor":
        return quantized(graphs, package_data, per_channel=False)
    if lever == "float-early":
        return quantized(graphs, package_data, float_early=backbone)
    raise ValueError(f"unknown lever {lever!r}")


def with_graphs(refiner: Refiner, graphs: dict[str, bytes]) -> Refiner:
    """A copy of ``refiner`` running ``graphs``."""
    twin = refiner.clone()
    twin._engine = OnnxRuntimeEngine(graphs)
    return twin


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trunks", default="lite0,r18,r34")
    parser.add_argument("--levers", default=None, help="only these levers (comma-separated)")
    parser.add_argument("--dataset", required=True, help="real sequences to measure (plain:DIR)")
    parser.add_argument("--frames-per-sequence", type=int, default=20)
    parser.add_argument("--stills", type=Path, required=True, help="saliency folder (training)")
    parser.add_argument("--videos", action="append", default=[], help="training video dataset")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sequences = load_dataset(args.dataset)
    real, described = real_calibration(args.videos, args.stills)
    report: dict[str, Any] = {
        "command": "python benchmarks/int8_levers.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {**machine(), "vnni": select.cpu_has_vnni()},
        "real_calibration": described,
        "trunks": {},
    }
    wanted = None if args.levers is None else set(args.levers.split(","))
    with tempfile.TemporaryDirectory() as folder:
        os.environ["ALPHA_REFINE_CACHE"] = str(Path(folder) / "graph-cache")
        for trunk in args.trunks.split(","):
            weights: str | None = None
            if trunk == "r18":
                weights = str(ROOT / "tests" / "data" / "trained-r18")
            elif trunk == "r34":
                weights = str(Path(folder) / "r34")
                published_resnet34(Path(weights), args.stills)
            full = Refiner.from_pretrained(
                weights, device="cpu", backend="onnxruntime", precision="float32"
            )
            graphs = export_graphs(full.network)
            results: dict[str, Any] = {}
            for lever in LEVERS[trunk]:
                if wanted is not None and lever not in wanted:
                    continue
                started = time.perf_counter()
                int8 = lever_graphs(lever, graphs, full.config.backbone, real, weights is None)
                quantize_seconds = time.perf_counter() - started
                check = check_int8(graphs, int8, threads=args.threads)
                result = compare(
                    (full, with_graphs(full, int8)), sequences, args.frames_per_sequence, 0
                )
                del result["per_sequence"]
                results[lever] = {
                    "real_frames": result,
                    "int8_check": {**check.to_dict(), "passed": check.passed},
                    "quantize_seconds": quantize_seconds,
                }
                box, rel = result["box_px"], result["box_relative_to_input_box"]
                print(
                    f"{trunk:6s} {lever:14s} px {box['median']:.3f} / {box['p90']:.3f} / "
                    f"{box['max']:.2f}  rel {rel['median']:.2e} / {rel['p90']:.2e}  mask "
                    f"{result['mask_probability']['median']:.3f}  IoU "
                    f"{result['oracle_iou_float32']:.2f} -> {result['oracle_iou_int8']:.2f}  "
                    f"check {check.median_deviation:.2e} / {check.p90_deviation:.2e} "
                    f"({'pass' if check.passed else 'fail'})",
                    flush=True,
                )
            report["trunks"][trunk] = {"backbone": full.config.backbone, "levers": results}
            if args.out:  # after every trunk: a long run keeps what it measured
                with open(args.out, "w") as handle:
                    json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        main()

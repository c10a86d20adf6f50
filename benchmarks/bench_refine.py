"""Latency of ``Refiner.initialize`` and ``Refiner.refine`` (box only, with mask) per path.

Every configuration (backbone, device, number of targets, operation) times all paths in
round-robin, one call of each per round, so machine noise hits them alike and every speed-up is a
ratio to the eager baseline measured side by side in the same rounds. Paths:

* ``eager``: the plain baseline, as the refiner worked before the fast paths: full-frame RGB
  copy, OpenCV crop per target, the network as built (BatchNorm unfolded, NCHW weights), fp32.
* ``default:BACKEND/PRECISION``: what ``Refiner.from_pretrained()`` picks on this machine
  (``backend="auto", precision="auto"``: ONNX Runtime on CPUs, int8 where the CPU has VNNI and
  the int8 check passes for the weights, which random weights do not; torch on CUDA), named
  after the choice.
* ``torch``: ``Refiner`` torch backend: BatchNorm folded, ``channels_last``, inference mode, crops
  of the BGR frame (OpenCV on CPU, one batched gather on CUDA).
* ``onnxruntime``: ``Refiner(backend="onnxruntime")``, CPU (needs the ``onnx`` extra).
* ``onnxruntime-int8``: ``Refiner(backend="onnxruntime", precision="int8")``, CPU: the trunk
  in int8, calibrated on synthetic sequences. Its deviation from eager is reported but not held
  to the float32 tolerance (on random weights it is large and the int8 check fails, with a
  warning; see docs/performance.md for trained weights).
* ``float16``, ``bfloat16``: ``Refiner(precision=...)``, CUDA only.
* ``compile``: ``Refiner(compile=True)`` (CUDA graphs), CUDA only and with ``--compile``.

``--levers`` (on by default in a full run) also times each speed lever on its own for one target
(ResNet-34 if benchmarked, box only, on the first device). Reports the median and the 10th/90th
percentiles in milliseconds, the outputs' largest deviation from the eager path, and writes JSON
with the machine description. Weights are random (latency does not depend on them) with
BatchNorm statistics calibrated on crops, so activations, and so numerical deviations, have a
realistic size; never read quality into them.

    python benchmarks/bench_refine.py --out bench.json          # the full run (minutes)
    python benchmarks/bench_refine.py --quick --check           # seconds: every path, checked
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine._inputs import as_rgb_frame, as_xywh_boxes
from alpha_refine.geometry import (
    CROP_SIZE,
    boxes_from_crop,
    clip_boxes,
    convert_boxes,
    crop_and_resize,
    paste_mask,
    search_windows,
)
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.runtime.engine import TorchEngine
from alpha_refine.runtime.graphs import onnx_available

FRAME_SHAPE = (480, 640, 3)
OPERATIONS = ("initialize", "refine_box", "refine_mask")
# Fidelity tolerances of the float32 fast paths against the eager path.
BOX_TOLERANCE_PX = 1e-3
MASK_TOLERANCE = 1e-4

Result = tuple[np.ndarray, np.ndarray | None]


class EagerBaseline:
    """The plain path, written out: what every speed-up is measured against."""

    def __init__(self, network: AlphaRefineNet, device: torch.device) -> None:
        self.network = network.to(device).eval()
        self.device = device
        self.kernels: torch.Tensor | None = None

    def _crops(self, frame: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
        rgb = as_rgb_frame(frame, "bgr")
        crops = np.stack([crop_and_resize(rgb, w, CROP_SIZE) for w in search_windows(boxes)])
        return normalize_crops(torch.from_numpy(crops).to(self.device))

    def initialize(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        with torch.inference_mode():
            self.kernels = self.network.template_kernel(self._crops(frame, boxes))

    def refine(self, frame: np.ndarray, boxes: np.ndarray, return_mask: bool = False) -> Result:
        assert self.kernels is not None
        xywh, _ = as_xywh_boxes(boxes, "xywh")
        with torch.inference_mode():
            out = self.network(self._crops(frame, xywh), self.kernels, with_mask=return_mask)
            corners = out.corners.double().cpu().numpy()
            probabilities = None
            if out.mask_logits is not None:
                probabilities = out.mask_logits[:, 0].sigmoid().float().cpu().numpy()
        windows = search_windows(xywh)
        refined = boxes_from_crop(convert_boxes(corners, "xyxy", "xywh"), windows)
        refined = clip_boxes(refined, frame.shape[:2], 10.0)
        masks = None
        if probabilities is not None:
            masks = np.stack(
                [
                    paste_mask(p, w, frame.shape[:2])
                    for p, w in zip(probabilities, windows, strict=True)
                ]
            )
        return refined, masks


def calibrated_network(backbone: str, seed: int = 0) -> AlphaRefineNet:
    """Random weights, BatchNorm statistics taken from crops of a textured frame."""
    torch.manual_seed(seed)
    network = AlphaRefineNet(ModelConfig(backbone=backbone))  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    frame = cv2.resize(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (640, 480))
    windows = [(x, y, 240, 180) for x in range(0, 400, 130) for y in range(0, 300, 100)]
    crops = normalize_crops(
        torch.from_numpy(np.stack([crop_and_resize(frame, w) for w in windows]))
    )
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    network.train()
    with torch.no_grad():
        network(crops, network.template_kernel(crops), with_mask=True)
    return network.eval()


def scene(targets: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame, ``targets`` initial boxes and the base tracker's (shifted) boxes."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_SHAPE[:2]
    frame = cv2.resize(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), (width, height))
    sizes = rng.uniform(40, 150, size=(targets, 2))
    corners = rng.uniform(0, 1, size=(targets, 2)) * (np.array([width, height]) - sizes)
    boxes = np.concatenate([corners, sizes], axis=1)
    return frame, boxes, boxes + rng.uniform(-4, 4, size=boxes.shape)


def _stats(samples: list[float]) -> dict[str, float]:
    deciles = statistics.quantiles(samples, n=10) if len(samples) > 1 else samples * 9
    return {
        "median_ms": statistics.median(samples),
        "p10_ms": deciles[0],
        "p90_ms": deciles[-1],
        "runs": len(samples),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_round_robin(
    calls: dict[str, Callable[[], object]], device: torch.device, warmup: int, runs: int
) -> dict[str, dict[str, float]]:
    """Time each call ``runs`` times after ``warmup``, one call of each path per round."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_index in range(warmup + runs):
        for name, call in calls.items():
            _sync(device)
            start = time.perf_counter()
            call()
            _sync(device)
            if round_index >= warmup:
                samples[name].append(1000.0 * (time.perf_counter() - start))
    return {name: _stats(values) for name, values in samples.items()}


def _cpu_description() -> dict[str, Any]:
    """Model name, family/model numbers and the vector extensions that matter for inference."""
    info: dict[str, Any] = {"name": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as handle:
            fields = dict(
                (key.strip(), value.strip())
                for key, _, value in (
                    line.partition(":") for line in handle.read().split("\n\n")[0].splitlines()
                )
            )
    except OSError:
        return info
    flags = set(fields.get("flags", "").split())
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16")
    info.update(
        name=fields.get("model name", info["name"]),
        family=fields.get("cpu family"),
        model=fields.get("model"),
        mhz=fields.get("cpu MHz"),
        flags=[flag for flag in wanted if flag in flags],
    )
    return info


def machine() -> dict[str, Any]:
    versions = {"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__}
    if onnx_available():
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    return {
        "platform": platform.platform(),
        "cpu": _cpu_description(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": versions,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _refiner(network: AlphaRefineNet, device: torch.device, **options: Any) -> Refiner:
    return Refiner.from_network(network, device=device, **options)


def build_paths(
    network: AlphaRefineNet, device: torch.device, names: Sequence[str]
) -> dict[str, Any]:
    """The paths to compare (those the device supports), by name."""
    paths: dict[str, Any] = {}
    for name in names:
        if name == "eager":
            paths[name] = EagerBaseline(network, device)
        elif name == "default":
            refiner = _refiner(network, device, backend="auto", precision="auto")
            paths[f"default:{refiner.backend}/{refiner.precision}"] = refiner
        elif name == "torch":
            paths[name] = _refiner(network, device)
        elif name == "onnxruntime" and device.type == "cpu" and onnx_available():
            paths[name] = _refiner(network, device, backend="onnxruntime")
        elif name == "onnxruntime-int8" and device.type == "cpu" and onnx_available():
            paths[name] = _refiner(network, device, backend="onnxruntime", precision="int8")
        elif name in ("float16", "bfloat16") and device.type == "cuda":
            paths[name] = _refiner(network, device, precision=name)
        elif name == "compile" and device.type == "cuda":
            paths[name] = _refiner(network, device, compile=True)
    return paths


def lever_paths(network: AlphaRefineNet, device: torch.device) -> dict[str, Any]:
    """Each lever on its own, then together (one target, box only)."""

    def engine(**options: Any) -> Refiner:
        refiner = _refiner(network, device, crop="opencv")
        refiner._engine = TorchEngine(network, device, **options)
        return refiner

    paths: dict[str, Any] = {
        "eager": EagerBaseline(network, device),
        "torch, BGR crops only": engine(fold_bn=False, channels_last=False),
        "+ BatchNorm folded": engine(fold_bn=True, channels_last=False),
        "+ channels_last (torch default on CPU)": engine(),
        "+ batched crop on the device": _refiner(network, device, crop="device"),
        "bfloat16 autocast": _refiner(network, device, precision="bfloat16"),
        "float16 autocast": _refiner(network, device, precision="float16"),
    }
    if device.type == "cpu" and onnx_available():
        paths["onnxruntime"] = _refiner(network, device, backend="onnxruntime")
        paths["onnxruntime int8"] = _refiner(
            network, device, backend="onnxruntime", precision="int8"
        )
    return paths


def deviations(
    paths: dict[str, Any], frame: np.ndarray, boxes: np.ndarray, moved: np.ndarray
) -> dict[str, Any]:
    """Largest box (px) and mask deviation of every path from the eager one, same inputs."""
    outputs = {}
    for name, path in paths.items():
        path.initialize(frame, boxes)
        if isinstance(path, EagerBaseline):
            outputs[name] = path.refine(frame, moved, return_mask=True)
        else:
            box, mask = path.refine(frame, moved, return_mask=True)
            outputs[name] = (np.asarray(box).reshape(-1, 4), mask)
    reference_box, reference_mask = outputs["eager"]
    report = {}
    for name, (box, mask) in outputs.items():
        assert mask is not None and reference_mask is not None
        report[name] = {
            "box_px": float(np.abs(box - reference_box).max()),
            "mask": float(np.abs(mask.reshape(reference_mask.shape) - reference_mask).max()),
            "finite": bool(np.all(np.isfinite(box)) and np.all(np.isfinite(mask))),
        }
    return report


def _calls(
    path: Any, frame: np.ndarray, boxes: np.ndarray, moved: np.ndarray
) -> dict[str, Callable[[], object]]:
    return {
        "initialize": lambda: path.initialize(frame, boxes),
        "refine_box": lambda: path.refine(frame, moved),
        "refine_mask": lambda: path.refine(frame, moved, return_mask=True),
    }


def bench(
    network: AlphaRefineNet,
    device: torch.device,
    targets: Sequence[int],
    names: Sequence[str],
    warmup: int,
    runs: int,
) -> dict[str, Any]:
    backbone = network.config.backbone
    paths = build_paths(network, device, names)
    results: dict[str, Any] = {"backbone": backbone, "device": str(device), "targets": {}}
    for count in targets:
        frame, boxes, moved = scene(count)
        entry: dict[str, Any] = {"deviation_from_eager": deviations(paths, frame, boxes, moved)}
        # Fewer rounds for many targets: each call already averages over the targets.
        count_runs = max(min(runs, 5), round(runs / math.sqrt(count)))
        count_warmup = warmup if count < 16 else min(warmup, 1)
        for operation in OPERATIONS:
            calls = {
                name: _calls(path, frame, boxes, moved)[operation] for name, path in paths.items()
            }
            for path in paths.values():
                path.initialize(frame, boxes)
            timed = time_round_robin(calls, device, count_warmup, count_runs)
            baseline = timed["eager"]["median_ms"]
            for stats in timed.values():
                stats["speedup_vs_eager"] = baseline / stats["median_ms"]
                stats["targets_per_s"] = 1000.0 * count / stats["median_ms"]
            entry[operation] = timed
            for name, stats in timed.items():
                print(
                    f"{backbone:9s} {device.type:4s} N={count:<3d} {operation:11s} {name:16s} "
                    f"median {stats['median_ms']:8.2f} ms (p10 {stats['p10_ms']:.2f}, "
                    f"p90 {stats['p90_ms']:.2f}, n={stats['runs']})  "
                    f"x{stats['speedup_vs_eager']:.2f} vs eager",
                    flush=True,
                )
        results["targets"][str(count)] = entry
    return results


def bench_levers(
    network: AlphaRefineNet, device: torch.device, warmup: int, runs: int
) -> dict[str, Any]:
    paths = lever_paths(network, device)
    report: dict[str, Any] = {
        "backbone": network.config.backbone,
        "device": str(device),
        "operation": "refine_box",
        "targets": 1,
        # Deviations over 16 targets (a better sample than the one timed).
        "deviation_from_eager": deviations(paths, *scene(16, seed=1)),
    }
    frame, boxes, moved = scene(1)
    for path in paths.values():
        path.initialize(frame, boxes)
    calls = {name: _calls(path, frame, boxes, moved)["refine_box"] for name, path in paths.items()}
    timed = time_round_robin(calls, device, warmup, runs)
    baseline = timed["eager"]["median_ms"]
    for name, stats in timed.items():
        stats["speedup_vs_eager"] = baseline / stats["median_ms"]
        print(
            f"lever {report['backbone']} {device.type} {name:40s} "
            f"median {stats['median_ms']:8.2f} ms "
            f"(p10 {stats['p10_ms']:.2f}, p90 {stats['p90_ms']:.2f})  "
            f"x{stats['speedup_vs_eager']:.2f} vs eager",
            flush=True,
        )
    report["latency"] = timed
    return report


def check(report: dict[str, Any]) -> list[str]:
    """Problems with the outputs: float32 paths beyond tolerance, non-finite outputs.

    Reduced-precision paths (float16, bfloat16, int8) are only checked for finite outputs.
    """
    problems = []
    sections = [(r, d) for r in report["results"] for d in r["targets"].values()]
    sections += [(lever, lever) for lever in report.get("levers", [])]
    for owner, section in sections:
        for name, deviation in section["deviation_from_eager"].items():
            where = f"{owner['backbone']} {owner['device']} {name}"
            if not deviation["finite"]:
                problems.append(f"{where}: non-finite output")
            elif not any(reduced in name for reduced in ("float16", "int8")) and (
                deviation["box_px"] > BOX_TOLERANCE_PX or deviation["mask"] > MASK_TOLERANCE
            ):
                problems.append(f"{where}: deviates from eager by {deviation}")
    return problems


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables: median ms (p10-p90) and the ratio to eager."""
    lines = []
    for result in report["results"]:
        counts = list(result["targets"])
        paths = list(result["targets"][counts[0]]["refine_box"])
        lines += [
            f"**{result['backbone']}, {result['device']}** (median ms, p10-p90, speed-up vs eager)",
            "",
            "| targets | operation | " + " | ".join(paths) + " |",
            "| --- | --- | " + " | ".join("---" for _ in paths) + " |",
        ]
        for count in counts:
            for operation in OPERATIONS:
                cells = []
                for name in paths:
                    stats = result["targets"][count][operation][name]
                    cell = f"{stats['median_ms']:.1f} ({stats['p10_ms']:.0f}-{stats['p90_ms']:.0f})"
                    if name != "eager":
                        cell += f" x{stats['speedup_vs_eager']:.2f}"
                    cells.append(cell)
                lines.append(f"| {count} | {operation} | " + " | ".join(cells) + " |")
        lines.append("")
    for lever in report.get("levers", []):
        lines += [
            f"**Levers: {lever['backbone']}, {lever['device']}, one target, box only**",
            "",
            "| path | median ms (p10-p90) | vs eager | box dev. px | mask dev. |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, stats in lever["latency"].items():
            deviation = lever["deviation_from_eager"][name]
            lines.append(
                f"| {name} | {stats['median_ms']:.1f} ({stats['p10_ms']:.0f}-{stats['p90_ms']:.0f})"
                f" | x{stats['speedup_vs_eager']:.2f} | {deviation['box_px']:.1e}"
                f" | {deviation['mask']:.1e} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backbones", default="resnet34,resnet18")
    parser.add_argument("--devices", default="cpu,cuda", help="cuda is skipped when absent")
    parser.add_argument("--targets", default=None, help="numbers of targets (1,4,16,64)")
    parser.add_argument(
        "--paths",
        default="eager,default,torch,onnxruntime,onnxruntime-int8,float16,bfloat16,compile",
        help="paths to time where the device supports them (compile needs --compile)",
    )
    parser.add_argument("--compile", action="store_true", help="also time compile=True (CUDA)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30, help="timed rounds for one target")
    parser.add_argument("--levers", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--weights", help="trained weights (from_pretrained) instead of calibrated random ones"
    )
    parser.add_argument(
        "--quick", action="store_true", help="ResNet-18, 1 and 3 targets, 1 warm-up, 2 rounds"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a fast path deviates")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--table", metavar="JSON", help="print a report's Markdown tables, exit")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.table) as handle:
            report = json.load(handle)
        print(markdown(report))
        return dict(report)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.backbones, args.warmup, args.runs = "resnet18", 1, 2
    if args.targets is None:
        args.targets = "1,3" if args.quick else "1,4,16,64"
    levers = (not args.quick) if args.levers is None else args.levers
    names = [n for n in args.paths.split(",") if n != "compile" or args.compile]
    devices = [
        torch.device(d) for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()
    ]
    targets = [int(t) for t in args.targets.split(",")]
    command = "python benchmarks/bench_refine.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )

    report: dict[str, Any] = {
        "command": command.strip(),
        "machine": machine(),
        "frame": "640x480",
        "results": [],
        "levers": [],
    }

    def network(backbone: str) -> AlphaRefineNet:
        if args.weights:
            return Refiner.from_pretrained(args.weights, device="cpu").network
        return calibrated_network(backbone)

    backbones = args.backbones.split(",")
    if args.weights:
        backbones = [Refiner.from_pretrained(args.weights, device="cpu").config.backbone]
        report["weights"] = args.weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for device in devices:
            for backbone in backbones:
                report["results"].append(
                    bench(network(backbone), device, targets, names, args.warmup, args.runs)
                )
        if levers and devices:
            backbone = "resnet34" if "resnet34" in backbones else backbones[0]
            report["levers"].append(
                bench_levers(network(backbone), devices[0], args.warmup, args.runs)
            )
    report["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )
    report["problems"] = check(report)
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)
    if args.check and report["problems"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()

"""How far ``precision="int8"`` moves the refiner's outputs from float32, per trunk, on real frames
(the headline) and on the synthetic demo clip (beside it).

For each trunk, two ONNX Runtime refiners on the same weights, float32 and int8 (float32 ONNX
Runtime is within 1e-4 px of the eager path, docs/performance.md), refine the same boxes:

* real frames (``--dataset``, e.g. the development sequences): the oracle experiment's setting
  (template on the first visible frame, ``--frames-per-sequence`` evenly spaced later frames,
  the ground truth jittered in centre and scale by 0.25, seeded per sequence as
  ``alpha-refine oracle`` does);
* the demo clip (``alpha_refine.demo.demo_sequence``, synthetic, held out from calibration),
  every frame's ground truth jittered the same way.

Per refine: the largest coordinate difference of the box (px), the same relative to the size
``sqrt(w * h)`` of the input box, the largest mask-probability difference and the IoU of the
two masks thresholded at 0.5; over all refines the median, 90th percentile and max; and the
oracle IoU (mean IoU with the ground truth) of each refiner. Also the verdict of the int8 check
(``alpha_refine.runtime.guard``) for the weights, i.e. whether ``precision="auto"`` keeps int8.

Trunks (``--trunks``):

* ``lite0``: the embedded default model (EfficientNet-Lite0);
* ``r18``: the trained ResNet-18 in ``tests/data/trained-r18``;
* ``r34``: a ResNet-34 with random weights in the published checkpoint's layout, converted as
  ``alpha-refine convert`` does (so ``geometry="published"``), with BatchNorm statistics taken
  from real crops of ``--bn-images`` (a saliency folder of training images, e.g. DUTS-TR; crops
  of a random texture when absent): what a user converting the authors' checkpoint gets,
  short of its trained weights.

    python benchmarks/int8_accuracy.py --threads 1 --dataset plain:SEQUENCES \\
        --frames-per-sequence 20 --bn-images data/duts-tr --out int8-accuracy-real.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_refine import machine

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.data.augment import jitter_box
from alpha_refine.data.sequence import Sequence as Clip
from alpha_refine.demo import demo_sequence
from alpha_refine.geometry import crop_and_resize, iou, search_windows
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.runtime import select
from alpha_refine.runtime.guard import Int8AccuracyWarning

ROOT = Path(__file__).resolve().parents[1]
TRUNKS = ("lite0", "r18", "r34")


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "max": float(np.max(values)),
    }


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def compare(
    refiners: tuple[Refiner, Refiner],
    sequences: list[Clip],
    frames: int | None,
    seed: int,
) -> dict[str, Any]:
    """int8 (second refiner) against float32 (first) over ``sequences``, oracle-style."""
    full, int8 = refiners
    rows: dict[str, list[float]] = {k: [] for k in ("px", "rel", "mask", "mask_iou")}
    truth_iou: dict[str, list[float]] = {"float32": [], "int8": []}
    per_sequence = {}
    for index, sequence in enumerate(sequences):
        visible = np.flatnonzero(sequence.visible)
        if len(visible) < 2:
            continue
        first, rest = int(visible[0]), visible[1:]
        if frames is not None and len(rest) > frames:
            rest = rest[np.linspace(0, len(rest) - 1, frames).round().astype(int)]
        rng = np.random.default_rng([seed, index])
        for refiner in refiners:
            refiner.initialize(sequence.frame(first), sequence.boxes[first])
        px, ious = [], {"float32": [], "int8": []}
        for frame_index in rest:
            truth = sequence.boxes[frame_index]
            box = jitter_box(truth, rng, 0.25, 0.25)
            frame = sequence.frame(int(frame_index))
            expected = full.refine(frame, box, return_mask=True)
            result = int8.refine(frame, box, return_mask=True)
            assert result.mask is not None and expected.mask is not None
            difference = float(np.abs(result.box - expected.box).max())
            px.append(difference)
            rows["rel"].append(difference / float(np.sqrt(box[2] * box[3])))
            rows["mask"].append(float(np.abs(result.mask - expected.mask).max()))
            rows["mask_iou"].append(_mask_iou(result.mask >= 0.5, expected.mask >= 0.5))
            ious["float32"].append(float(iou(expected.box, truth)))
            ious["int8"].append(float(iou(result.box, truth)))
        rows["px"] += px
        for name in ious:
            truth_iou[name] += ious[name]
        per_sequence[sequence.name] = {
            "refines": len(px),
            "box_px_median": float(np.median(px)),
            "box_px_max": float(np.max(px)),
            "oracle_iou_float32": 100 * float(np.mean(ious["float32"])),
            "oracle_iou_int8": 100 * float(np.mean(ious["int8"])),
        }
    return {
        "refines": len(rows["px"]),
        "box_px": _summary(rows["px"]),
        "box_relative_to_input_box": _summary(rows["rel"]),
        "mask_probability": _summary(rows["mask"]),
        "mask_iou_int8_vs_float32": {
            "mean": float(np.mean(rows["mask_iou"])),
            "min": float(np.min(rows["mask_iou"])),
        },
        "oracle_iou_float32": 100 * float(np.mean(truth_iou["float32"])),
        "oracle_iou_int8": 100 * float(np.mean(truth_iou["int8"])),
        "per_sequence": per_sequence,
    }


def _bn_crops(folder: Path | None, count: int = 32, seed: int = 34) -> tuple[torch.Tensor, str]:
    """Crops for BatchNorm statistics: around the salient object of ``count`` evenly spaced
    images of a saliency folder, or of a random texture without one."""
    if folder is not None and folder.is_dir():
        from alpha_refine.data.images import load_saliency

        images = load_saliency(folder)
        picks = np.linspace(0, len(images) - 1, count).round().astype(int)
        crops = [
            crop_and_resize(
                np.ascontiguousarray(images[i].frame(0)[..., ::-1]),
                search_windows(images[i].boxes[0][None])[0],
            )
            for i in picks
        ]
        return torch.from_numpy(np.stack(crops)), f"{count} images of {folder}"
    rng = np.random.default_rng(seed)
    frame = cv2.resize(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (640, 480))
    windows = [(x, y, 240, 180) for x in range(0, 400, 130) for y in range(0, 300, 100)]
    crops = np.stack([crop_and_resize(frame, w) for w in windows])
    return torch.from_numpy(crops), "crops of a random texture"


def published_resnet34(folder: Path, bn_images: Path | None, seed: int = 34) -> str:
    """Write a random ResNet-34 in the published layout, converted as ``alpha-refine convert``
    does, into ``folder``; returns how its BatchNorm statistics were taken."""
    from alpha_refine.weights.published import convert_published, native_to_published_key

    crops, source = _bn_crops(bn_images)
    torch.manual_seed(seed)
    network = AlphaRefineNet(ModelConfig(backbone="resnet34", mask_head=True))
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batch
    network.train()
    with torch.no_grad():
        normalized = normalize_crops(crops)
        network(normalized, network.template_kernel(normalized), with_mask=True)
    state = {native_to_published_key(k): v for k, v in network.state_dict().items()}
    convert_published(state, folder)
    return f"random (seed {seed}), BatchNorm statistics from {source}"


def measure_trunk(
    name: str,
    weights: str | None,
    sequences: list[Clip],
    args: argparse.Namespace,
    note: str,
) -> dict[str, Any]:
    started = time.perf_counter()
    options: dict[str, Any] = {"device": "cpu", "backend": "onnxruntime"}
    full = Refiner.from_pretrained(weights, precision="float32", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Int8AccuracyWarning)  # reported below instead
        int8 = Refiner.from_pretrained(weights, precision="int8", **options)
    check = int8.int8_check
    assert check is not None
    report: dict[str, Any] = {
        "weights": weights or "embedded default model",
        "fingerprint": int8.fingerprint,
        "backbone": int8.config.backbone,
        "geometry": int8.geometry,
        "note": note,
        "int8_check": {**check.to_dict(), "passed": check.passed, "summary": check.summary()},
        "auto_picks": "int8" if check.passed and select.cpu_has_vnni() else "float32",
    }
    if sequences:
        report["real_frames"] = compare((full, int8), sequences, args.frames_per_sequence, 0)
    report["demo_clip"] = compare((full, int8), [demo_sequence(args.demo_frames)], None, 0)
    report["seconds"] = time.perf_counter() - started
    return report


def _line(name: str, part: str, result: dict[str, Any]) -> str:
    box, rel = result["box_px"], result["box_relative_to_input_box"]
    return (
        f"{name:6s} {part:11s} {result['refines']:4d} refines: box px median {box['median']:.3f} "
        f"p90 {box['p90']:.3f} max {box['max']:.3f} | relative median {rel['median']:.2e} p90 "
        f"{rel['p90']:.2e} | mask max median {result['mask_probability']['median']:.3f} | "
        f"oracle IoU {result['oracle_iou_float32']:.2f} -> {result['oracle_iou_int8']:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trunks", default=",".join(TRUNKS), help=f"of {', '.join(TRUNKS)}")
    parser.add_argument("--dataset", default=None, help="real sequences (plain:DIR)")
    parser.add_argument("--sequences", default=None, help="only these sequences (comma-separated)")
    parser.add_argument("--frames-per-sequence", type=int, default=20)
    parser.add_argument("--demo-frames", type=int, default=100, help="demo clip length")
    parser.add_argument("--bn-images", type=Path, default=None, help="r34: BatchNorm images")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sequences: list[Clip] = []
    if args.dataset:
        from alpha_refine.data import load_dataset

        names = None if args.sequences is None else args.sequences.split(",")
        sequences = load_dataset(args.dataset, names)
    report: dict[str, Any] = {
        "command": "python benchmarks/int8_accuracy.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {**machine(), "vnni": select.cpu_has_vnni()},
        "dataset": args.dataset,
        "sequences": [s.name for s in sequences],
        "trunks": {},
    }
    weights: dict[str, Callable[[Path], tuple[str | None, str]]] = {
        "lite0": lambda _: (None, "trained, embedded"),
        "r18": lambda _: (str(ROOT / "tests" / "data" / "trained-r18"), "trained"),
        "r34": lambda folder: (str(folder), published_resnet34(folder, args.bn_images)),
    }
    with tempfile.TemporaryDirectory() as folder:
        # A fresh graph cache: every int8 graph is quantized and checked in this run.
        os.environ["ALPHA_REFINE_CACHE"] = str(Path(folder) / "graph-cache")
        for name in args.trunks.split(","):
            path, note = weights[name](Path(folder) / name)
            result = measure_trunk(name, path, sequences, args, note)
            report["trunks"][name] = result
            for part in ("real_frames", "demo_clip"):
                if part in result:
                    print(_line(name, part, result[part]), flush=True)
            print(f"{name:6s} {result['int8_check']['summary']}", flush=True)
    if hasattr(os, "getloadavg"):
        report["machine"]["load_average_at_end"] = os.getloadavg()
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        main()

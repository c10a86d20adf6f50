"""Which test-time views help: the crop's mirror images and shifted crops, averaged.

    python benchmarks/mirror_views.py --sequences SEQUENCES [--davis DAVIS_ROOT] [--refiner W]

On the card's frames (``benchmarks/card_oracle.py``: the 7 development held-out sequences and,
with ``--davis``, the 5 held-out DAVIS-2016 train videos; ground truth jittered by 0.05 and 0.25,
30 frames per sequence, seed 0), refines each box in the frame and in its horizontally,
vertically and doubly mirrored copy (each with its own mirrored template, ``blend`` off), and in
the frame with the input box shifted by half a feature cell (``w / 16``, ``h / 16``) either way.
Prints the mean IoU with the ground truth of each view and of averages of their corners (the
horizontal pair is what ``Refiner(flip=True)`` returns, but for the rounding of the mirrored
frame's crop window: it mirrors the crop itself), and how strongly the per-edge errors of
the crop's view and its horizontal mirror image correlate.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence as SequenceOf

import numpy as np
from card_oracle import DAVIS_HELD_OUT, DEVELOPMENT_HELD_OUT
from numpy.typing import NDArray

from alpha_refine import Refiner
from alpha_refine.data import Sequence, load_dataset
from alpha_refine.data.augment import jitter_box
from alpha_refine.eval.oracle import GOOD_BOX_IOU
from alpha_refine.geometry import convert_boxes, iou

Boxes = NDArray[np.float64]
MIRRORS = {"mirror x": (False, True), "mirror y": (True, False), "mirror xy": (True, True)}


def _mirror(frame: NDArray[np.uint8], flip_y: bool, flip_x: bool) -> NDArray[np.uint8]:
    return np.ascontiguousarray(frame[:: -1 if flip_y else 1, :: -1 if flip_x else 1])


def _mirror_box(box: Boxes, shape: tuple[int, ...], flip_y: bool, flip_x: bool) -> Boxes:
    out = np.array(box, dtype=np.float64)
    if flip_x:
        out[..., 0] = shape[1] - out[..., 0] - out[..., 2]
    if flip_y:
        out[..., 1] = shape[0] - out[..., 1] - out[..., 3]
    return out


def refine_views(
    refiner: Refiner, sequences: list[Sequence], jitter: float
) -> tuple[Boxes, Boxes, dict[str, Boxes]]:
    """Ground truth, inputs and each view's refined boxes (``N x 4`` xywh), as the oracle draws
    them."""
    twins = {name: refiner.clone() for name in MIRRORS}
    truth, inputs = [], []
    views: dict[str, list[Boxes]] = {n: [] for n in ("crop", *MIRRORS, "shift +", "shift -")}
    for index, sequence in enumerate(sequences):
        visible = np.flatnonzero(sequence.visible)
        first, rest = int(visible[0]), visible[1:]
        rest = rest[np.linspace(0, len(rest) - 1, min(30, len(rest))).round().astype(int)]
        rng = np.random.default_rng([0, index])
        template = sequence.frame(first)
        refiner.initialize(template, sequence.boxes[first])
        for name, (flip_y, flip_x) in MIRRORS.items():
            box = _mirror_box(sequence.boxes[first], template.shape, flip_y, flip_x)
            twins[name].initialize(_mirror(template, flip_y, flip_x), box)
        for frame_index in rest:
            frame = sequence.frame(int(frame_index))
            jittered = jitter_box(sequence.boxes[frame_index], rng, jitter, jitter)
            truth.append(sequence.boxes[frame_index])
            inputs.append(jittered)
            views["crop"].append(refiner.refine(frame, jittered).box)
            for name, (flip_y, flip_x) in MIRRORS.items():
                mirrored = _mirror_box(jittered, frame.shape, flip_y, flip_x)
                box = twins[name].refine(_mirror(frame, flip_y, flip_x), mirrored).box
                views[name].append(_mirror_box(box, frame.shape, flip_y, flip_x))
            shift = np.array([jittered[2] / 16, jittered[3] / 16, 0.0, 0.0])
            views["shift +"].append(refiner.refine(frame, jittered + shift).box)
            views["shift -"].append(refiner.refine(frame, jittered - shift).box)
    return np.array(truth), np.array(inputs), {n: np.array(v) for n, v in views.items()}


def average(boxes: list[Boxes]) -> Boxes:
    """The boxes' mean corners (``x1, y1, x2, y2``), as ``xywh``."""
    corners = np.mean([convert_boxes(b, "xywh", "xyxy") for b in boxes], axis=0)
    return convert_boxes(corners, "xyxy", "xywh")


def main(argv: SequenceOf[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", required=True, help="the development sequences folder")
    parser.add_argument("--davis", help="a DAVIS-2016 root (its DAVIS folder)")
    parser.add_argument("--refiner", default="default")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sets = {"development": load_dataset(f"plain:{args.sequences}", names=DEVELOPMENT_HELD_OUT)}
    if args.davis:
        sets["DAVIS hold-out"] = load_dataset(f"davis:{args.davis}:train", names=DAVIS_HELD_OUT)
    refiner = Refiner.from_pretrained(None if args.refiner == "default" else args.refiner)
    refiner.blend = False
    print(repr(refiner))
    for name, sequences in sets.items():
        print(f"\n{name}: mean IoU (%) with the ground truth")
        print("| views | jitter 0.05 | good boxes | jitter 0.25 |")
        print("| --- | --- | --- | --- |")
        runs = {jitter: refine_views(refiner, sequences, jitter) for jitter in (0.05, 0.25)}
        combos = {
            "input": ["input"],
            "crop (flip=False)": ["crop"],
            "mirror x": ["mirror x"],
            "mirror y": ["mirror y"],
            "crop + mirror x (flip=True)": ["crop", "mirror x"],
            "crop + mirror y": ["crop", "mirror y"],
            "all four mirror images": ["crop", *MIRRORS],
            "crop + mirror x + shift +": ["crop", "mirror x", "shift +"],
            "crop + shift + + shift -": ["crop", "shift +", "shift -"],
        }
        for label, members in combos.items():
            cells = []
            for truth, inputs, views in runs.values():
                views = {**views, "input": inputs}
                cells.append(iou(average([views[m] for m in members]), truth))
            good = iou(runs[0.05][1], runs[0.05][0]) >= GOOD_BOX_IOU
            values = (cells[0].mean(), cells[0][good].mean(), cells[1].mean())
            print(f"| {label} | " + " | ".join(f"{100 * v:.1f}" for v in values) + " |")
        for jitter, (truth, _, views) in runs.items():
            errors = [
                convert_boxes(views[v], "xywh", "xyxy") - convert_boxes(truth, "xywh", "xyxy")
                for v in ("crop", "mirror x")
            ]
            correlation = np.corrcoef(errors[0].ravel(), errors[1].ravel())[0, 1]
            print(
                f"jitter {jitter}: per-edge errors of crop and mirror x correlate at "
                f"{correlation:.2f}"
            )


if __name__ == "__main__":
    main()

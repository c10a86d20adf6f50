"""The README's picture: a base tracker and its refined track on the package's demo clip.

    python examples/track_figure.py --out docs/assets/refined-track.jpg

Runs ``alpha-refine demo``'s tracking (OpenCV MIL alone and MIL + Alpha-Refine with the
embedded default model, feedback ``none``) on the generated demo clip, then draws evenly spaced
frames, cropped around the target: ground truth white, MIL red, MIL + Alpha-Refine green, and
Alpha-Refine's mask (probability > 0.5) as a magenta overlay with its outline. Frames are BGR as
everywhere in the package; boxes ``x, y, w, h`` pixels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine import Refiner, threshold_mask
from alpha_refine.demo import demo_sequence, run_demo

TRUTH, BASE, REFINED = (255, 255, 255), (40, 40, 230), (60, 220, 60)
MASK = np.array([200, 60, 220], np.float32)  # magenta, BGR


def _rectangle(image: NDArray[np.uint8], box: NDArray[np.float64], color: tuple[int, ...]) -> None:
    x, y, w, h = box
    cv2.rectangle(image, (round(x), round(y)), (round(x + w), round(y + h)), color, 2, cv2.LINE_AA)


def panel(
    frame: NDArray[np.uint8],
    truth: NDArray[np.float64],
    base: NDArray[np.float64],
    refined: NDArray[np.float64],
    mask: NDArray[np.float32] | None,
    index: int,
    size: tuple[int, int],
) -> NDArray[np.uint8]:
    """One annotated frame, cropped to ``size`` (w, h) around the ground truth and doubled."""
    image = frame.astype(np.float32)
    if mask is not None:
        binary = threshold_mask(mask, 0.5)
        image[binary] = image[binary] * 0.45 + MASK * 0.55
    out = np.clip(image, 0, 255).astype(np.uint8)
    if mask is not None:
        contours, _ = cv2.findContours(
            threshold_mask(mask, 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, tuple(int(v) for v in MASK), 1, cv2.LINE_AA)
    _rectangle(out, truth, TRUTH)
    _rectangle(out, base, BASE)
    _rectangle(out, refined, REFINED)
    width, height = size
    cx, cy = truth[0] + truth[2] / 2, truth[1] + truth[3] / 2
    x0 = int(np.clip(round(cx - width / 2), 0, frame.shape[1] - width))
    y0 = int(np.clip(round(cy - height / 2), 0, frame.shape[0] - height))
    crop = np.asarray(
        cv2.resize(out[y0 : y0 + height, x0 : x0 + width], (2 * width, 2 * height)), np.uint8
    )
    cv2.putText(crop, f"frame {index}", (8, 2 * height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                TRUTH, 1, cv2.LINE_AA)  # fmt: skip
    return crop


def legend(width: int) -> NDArray[np.uint8]:
    """A strip naming the colours."""
    bar = np.full((30, width, 3), 32, np.uint8)
    x = 10
    items = [
        ("ground truth", TRUTH),
        ("OpenCV MIL", BASE),
        ("MIL + Alpha-Refine", REFINED),
        ("Alpha-Refine mask", tuple(int(v) for v in MASK)),
    ]
    for text, color in items:
        cv2.rectangle(bar, (x, 9), (x + 22, 21), color, -1)
        cv2.putText(bar, text, (x + 30, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1,
                    cv2.LINE_AA)  # fmt: skip
        x += 40 + 9 * len(text)
    return bar


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="refined-track.jpg", help="JPEG or PNG to write")
    parser.add_argument("--frames", type=int, default=100, help="length of the demo clip")
    parser.add_argument("--panels", type=int, default=4, help="frames shown")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    sequence = demo_sequence(length=args.frames)
    refiner = Refiner.from_pretrained(device=args.device)
    result = run_demo(sequence, refiner, "mil", progress=False)
    indices = np.linspace(len(sequence) // (args.panels + 1), len(sequence) - 1, args.panels)
    panels = [
        panel(
            sequence.frame(i),
            sequence.boxes[i],
            result.base_boxes[i],
            result.refined_boxes[i],
            result.masks[i],
            i,
            (160, 120),
        )
        for i in (round(float(v)) for v in indices)
    ]
    gap = np.full((panels[0].shape[0], 4, 3), 32, np.uint8)
    pieces = [gap] * (2 * len(panels) - 1)
    pieces[::2] = panels
    row = np.concatenate(pieces, 1)
    figure = np.concatenate([legend(row.shape[1]), row], 0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), figure, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {out} ({figure.shape[1]} x {figure.shape[0]})")
    return out


if __name__ == "__main__":
    main()

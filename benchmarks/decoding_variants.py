"""Does another decoding of the corner maps keep good boxes better? (Model card, good boxes.)

    python benchmarks/decoding_variants.py --dataset plain:DIR --sequences a,b [--refiner W]

Runs the oracle experiment twice per decoding (jitter 0.25, then 0.05 for good input boxes,
30 frames per sequence, as ``benchmarks/model_card.sh``) with the network's soft-argmax
replaced by a variant, on the torch backend (the exported graphs bake the decoding in):

* ``softmax``: the published decoding, plain softmax over all cells (what the model trained on);
* ``temperature-T``: softmax of the logits divided by ``T``;
* ``window-R``: softmax only over the cells within ``R`` cells of the peak (a local
  soft-argmax, which ignores probability far from the peak that pulls the corner inwards).

Prints mean IoU before and after for both runs, per variant.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

import alpha_refine.model.network as network_module
from alpha_refine.data import load_dataset
from alpha_refine.eval.oracle import oracle_experiment
from alpha_refine.model.heads import CORNER_STRIDE
from alpha_refine.refiner import Refiner

Decoder = Callable[..., Tensor]


def decoder(temperature: float = 1.0, radius: int | None = None) -> Decoder:
    """A soft-argmax with the published cell grid, a softmax temperature and an optional window."""

    def decode(score_map: Tensor, stride: int = CORNER_STRIDE) -> Tensor:
        n, _, height, width = score_map.shape
        logits = score_map.float().reshape(n, height * width) / temperature
        rows = torch.arange(height).repeat_interleave(width)
        cols = torch.arange(width).repeat(height)
        if radius is not None:
            peak = logits.argmax(dim=1, keepdim=True)
            near_row = (rows - peak // width).abs() <= radius
            near = near_row & ((cols - peak % width).abs() <= radius)
            logits = logits.masked_fill(~near, float("-inf"))
        probabilities = logits.softmax(dim=1)
        grid = torch.stack((cols, rows), dim=1).float() * stride
        return probabilities @ grid

    return decode


VARIANTS: dict[str, Decoder] = {
    "softmax": decoder(),
    "temperature-0.5": decoder(temperature=0.5),
    "temperature-2": decoder(temperature=2.0),
    "window-2": decoder(radius=2),
    "window-3": decoder(radius=3),
    "window-4": decoder(radius=4),
}


_DECODER_NAME = "soft_argmax"  # what the network's forward calls to decode its corner maps


@contextlib.contextmanager
def decoding(decode: Decoder) -> Iterator[None]:
    published = getattr(network_module, _DECODER_NAME)
    setattr(network_module, _DECODER_NAME, decode)
    try:
        yield
    finally:
        setattr(network_module, _DECODER_NAME, published)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="e.g. plain:DIR")
    parser.add_argument("--sequences", required=True, help="comma-separated names")
    parser.add_argument("--refiner", default="default", help="'default' or a weights folder")
    parser.add_argument("--frames-per-sequence", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sequences = load_dataset(args.dataset, names=args.sequences.split(","))
    weights = None if args.refiner == "default" else args.refiner
    refiner = Refiner.from_pretrained(weights, device="cpu", backend="torch")
    print("decoding         jitter 0.25 before -> after   good boxes (n) before -> after")
    for name, decode in VARIANTS.items():
        with decoding(decode):
            big = oracle_experiment(
                refiner, sequences, frames_per_sequence=args.frames_per_sequence
            )
            small = oracle_experiment(
                refiner,
                sequences,
                scale_jitter=0.05,
                centre_jitter=0.05,
                frames_per_sequence=args.frames_per_sequence,
            )
        print(
            f"{name:16s} {100 * big.iou_before:.1f} -> {100 * big.iou_after:.1f}"
            f"                  ({small.good_frames}) {100 * small.good_before:.1f}"
            f" -> {100 * small.good_after:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Interpolate two weight sets of one architecture: ``(1 - alpha) x FIRST + alpha x SECOND``.

    python benchmarks/weight_soup.py FIRST SECOND --alpha 0.3 --out runs/soup-0.3

Every floating-point tensor is interpolated (weights, biases and BatchNorm statistics); integer
buffers (BatchNorm's batch counters) are SECOND's; tensors only SECOND has (a head FIRST lacks)
are SECOND's as they are; a tensor with another shape in each is an error. Weight-space
ensembling of a model and its fine-tuned copy (WiSE-FT, Wortsman et al., CVPR 2022) often keeps
the fine-tuning's gains on its own data and more of the original's on other data; the model card
measures it for the cached runs (issue 30).
"""

from __future__ import annotations

import argparse

from alpha_refine.weights import load_pretrained, save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--alpha", type=float, required=True, help="SECOND's share, 0 to 1")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        parser.error(f"--alpha must be in [0, 1], got {args.alpha}")
    first, _ = load_pretrained(args.first)
    second, _ = load_pretrained(args.second)
    if first.backbone.channels != second.backbone.channels:
        parser.error(f"{args.first} and {args.second} have different trunks")
    own = first.state_dict()
    mixed = {}
    for name, value in second.state_dict().items():
        if name in own and own[name].shape != value.shape:
            shapes = f"{tuple(own[name].shape)} in FIRST, {tuple(value.shape)} in SECOND"
            parser.error(f"{name}: {shapes}")
        share = name in own and value.is_floating_point()
        mixed[name] = (1 - args.alpha) * own[name] + args.alpha * value if share else value
    second.load_state_dict(mixed)
    source = f"{1 - args.alpha:g} x {args.first} + {args.alpha:g} x {args.second}"
    print(save_weights(second, args.out, provenance={"source": source}))


if __name__ == "__main__":
    main()

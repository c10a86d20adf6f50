"""How precisely weight sets place boxes on training-like pairs that no run trained on.

    python benchmarks/cached_pairs_accuracy.py --config CONFIG --weights W [--weights ...]
        [--out result.json]

``CONFIG`` is a training config with a ``[features]`` table (its data and sampling, a seed
that no training run's cache used, and ``dir`` a folder of its own); the cache is built if it is
missing (``alpha-refine train --config CONFIG --cache-only`` builds the same), with ``layer2``
whenever one of the weight sets has ``fine_corners``. Each weight set refines every cached pair
from its input box, through the box path a cached training run uses
(``AlphaRefineNet.refine_layer3``, float32, blend off), and the script prints and saves the mean
IoU with the ground truth of all pairs and of the near-perfect ones (input IoU >= 0.85, about
half of them with ``small_jitter_probability = 0.5``), and the root mean square corner error in
crop pixels. Beside the oracle on unseen video (``benchmarks/card_oracle.py``), this separates
what a change does on the training distribution from what reaches other footage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from alpha_refine.model.blend import corner_iou
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.train.config import TrainConfig
from alpha_refine.train.features import CachedPairs, build_feature_cache
from alpha_refine.train.loop import build_sources, training_network
from alpha_refine.weights import load_pretrained, weights_fingerprint

NEAR_PERFECT = 0.85


def _measure(
    network: AlphaRefineNet, pairs: dict[str, torch.Tensor], near: torch.Tensor, batch: int = 250
) -> dict[str, float]:
    """Mean IoU over all pairs and the ``near`` (near-perfect) ones, and the corner RMSE."""
    network.eval()
    fine = network.fine_corners is not None
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(pairs["corners"]), batch):
            part = slice(start, start + batch)
            _, output = network.refine_layer3(
                pairs["search_layer3"][part],
                pairs["kernel"][part],
                pairs["search_layer2"][part] if fine else None,
            )
            outputs.append(output.corners)
    corners = torch.cat(outputs)
    truth = pairs["corners"]
    refined = corner_iou(corners, truth)
    return {
        "iou_all": float(refined.mean()),
        "iou_near_perfect": float(refined[near].mean()),
        "rmse_px": float((corners - truth).square().mean().sqrt()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", action="append", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_toml(args.config)
    networks = {w: load_pretrained(w)[0] for w in args.weights}
    with_layer2 = any(network.fine_corners is not None for network in networks.values())
    model = dataclasses.replace(config.model, fine_corners=with_layer2)
    config = dataclasses.replace(config, model=model)
    network, _ = training_network(config, torch.device("cpu"))
    folder = build_feature_cache(config, network, lambda: build_sources(config))
    cached = CachedPairs(folder, samples_per_epoch=config.features.pairs)
    for weights, candidate in networks.items():
        if weights_fingerprint(candidate.backbone) != cached.manifest["trunk"]:
            raise SystemExit(f"{weights} has another trunk than the cache's: its features differ")
    pairs = {key: value.float() for key, value in cached.tensors.items()}
    given = corner_iou(pairs["input_corners"], pairs["corners"])
    near = given >= NEAR_PERFECT
    result: dict[str, Any] = {
        "config": args.config,
        "pairs": len(given),
        "near_perfect_pairs": int(near.sum()),
        "input": {"iou_all": float(given.mean()), "iou_near_perfect": float(given[near].mean())},
        "weights": {w: _measure(candidate, pairs, near) for w, candidate in networks.items()},
    }
    print(f"{result['pairs']} pairs, {result['near_perfect_pairs']} near-perfect")
    print("| weights | mean IoU, all | near-perfect | corner RMSE (crop px) |")
    print("| --- | --- | --- | --- |")
    rows = {"input boxes": {**result["input"], "rmse_px": float("nan")}, **result["weights"]}
    for name, row in rows.items():
        print(
            f"| {name} | {100 * row['iou_all']:.1f} | {100 * row['iou_near_perfect']:.1f} "
            f"| {row['rmse_px']:.2f} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

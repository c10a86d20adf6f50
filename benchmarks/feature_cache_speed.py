"""Training pairs per second: the full loop against the feature-cache path (issue 30).

    python benchmarks/feature_cache_speed.py --config configs/default-lite0-cached.toml \\
        [--threads 2] [--full-steps 6] [--cached-steps 60] [--cache-pairs 64] [--out R.json]

In one run, on the config's data, network and batch size:

* **full loop**: ``--full-steps`` steps of the loop as the default model's stages 1 to 3 ran it
  (the config without ``[features]``: data loading with the config's workers, the trunk's
  forward for both crops and backward for the search crop at 0.1 x the learning rate, the
  mask decoder, Adam), after one untimed step;
* **cache build**: ``--cache-pairs`` pairs through the frozen trunk into a fresh cache folder
  (data loading included), as ``alpha-refine train --cache-only`` does;
* **cached training**: ``--cached-steps`` steps of the fusion and box heads on those cached
  pairs, after one untimed step.

Prints pairs per second for each, and the effective rate of the cached path when a cache is
read for ``E`` epochs of its pairs (build once, train ``E`` times), as ratios to the full loop.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from alpha_refine.train.config import FeatureCacheConfig, TrainConfig
from alpha_refine.train.features import CachedPairs, build_feature_cache
from alpha_refine.train.loop import (
    build_sources,
    training_network,
    training_optimizer,
    training_step,
)
from alpha_refine.train.sampling import TrainingPairs


def _steps_per_second(config: TrainConfig, dataset: Any, steps: int, workers: int) -> float:
    """Steps per second of the loop's own ``training_step`` over ``dataset`` (one untimed)."""
    device = torch.device("cpu")
    network, _ = training_network(config, device)
    optimizer = training_optimizer(network, config.optim)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.optim.batch_size, num_workers=workers, drop_last=True
    )
    batches = iter(loader)
    training_step(network, next(batches), optimizer, scaler, config.optim, device)
    start = time.perf_counter()
    for _ in range(steps):
        training_step(network, next(batches), optimizer, scaler, config.optim, device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full-steps", type=int, default=6)
    parser.add_argument("--cached-steps", type=int, default=60)
    parser.add_argument("--cache-pairs", type=int, default=64)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_toml(args.config)
    batch = config.optim.batch_size
    sources = build_sources(config)

    full = replace(config, features=FeatureCacheConfig())
    full_pairs = TrainingPairs(sources, batch * (args.full_steps + 1), config=config.sampling)
    full_rate = batch * _steps_per_second(full, full_pairs, args.full_steps, config.workers)
    print(f"full loop: {full_rate:.2f} pairs/s", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        features = replace(config.features, dir=folder, pairs=args.cache_pairs)
        cached = replace(config, features=features)
        network, _ = training_network(cached, torch.device("cpu"))
        start = time.perf_counter()
        build_feature_cache(cached, network, lambda: sources, progress=False)
        build_rate = args.cache_pairs / (time.perf_counter() - start)
        print(f"cache build: {build_rate:.2f} pairs/s", flush=True)
        dataset = CachedPairs(folder, batch * (args.cached_steps + 1))
        train_rate = batch * _steps_per_second(cached, dataset, args.cached_steps, 0)
    print(f"cached training: {train_rate:.2f} pairs/s", flush=True)

    result: dict[str, Any] = {
        "config": args.config,
        "threads": args.threads,
        "batch_size": batch,
        "cpu": platform.processor() or platform.machine(),
        "pairs_per_second": {
            "full_loop": full_rate,
            "cache_build": build_rate,
            "cached_training": train_rate,
        },
        "ratio_to_full_loop": {},
    }
    print(f"\n{'epochs over the cache':>22} | pairs/s | x full loop")
    for epochs in (1, 4, 10, 20, 50):
        # Each cached pair built once and seen `epochs` times.
        rate = epochs / (1 / build_rate + epochs / train_rate)
        result["ratio_to_full_loop"][str(epochs)] = rate / full_rate
        print(f"{epochs:>22} | {rate:>7.1f} | {rate / full_rate:>10.1f}")
    print(f"{'training alone':>22} | {train_rate:>7.1f} | {train_rate / full_rate:>10.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

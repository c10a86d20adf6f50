"""Soak run: refine many frames with targets coming and going; report process RSS and drift.

    python benchmarks/soak.py --frames 10000          # prints RSS figures and frames/s

A random-weights ResNet-18 refiner (the boxes mean nothing; memory and determinism do) refines
small frames on the CPU. Every few frames a target is added or removed, every ``--reset-every``
frames the refiner is reset and initialised again, and every tenth frame asks for masks. A
fixed probe (reset, initialise on one frame, refine one box) runs at the start and at the end:
its outputs must be bit-identical. RSS (``/proc/self/statm``, Linux) is read after every frame
from ``--warmup`` on; the growth compares the median of the last tenth of those readings with
the median of the first tenth (medians: single frames with masks of three targets raise RSS for
a moment). ``tests/test_soak.py`` runs this module.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any

import numpy as np
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner

FRAME_SHAPE = (72, 96)  # height, width
MAX_TARGETS = 3


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as stream:
        resident_pages = int(stream.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def random_refiner(seed: int = 0) -> Refiner:
    """A ResNet-18 refiner with random (seeded) weights on the CPU, with mask head."""
    torch.manual_seed(seed)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Refiner.from_network(network, device="cpu")


def _frames(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    height, width = FRAME_SHAPE
    return [rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) for _ in range(count)]


def _box(rng: np.random.Generator) -> np.ndarray:
    height, width = FRAME_SHAPE
    w, h = rng.uniform(8, width / 2), rng.uniform(8, height / 2)
    return np.array([rng.uniform(-4, width - w), rng.uniform(-4, height - h), w, h])


def _probe(refiner: Refiner, frame: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, ...]:
    """Reset, initialise on ``frame`` and refine ``box`` (with mask): every output."""
    refiner.reset()
    refiner.initialize(frame, box)
    result = refiner.refine(frame, box + 2.0, return_mask=True)
    assert result.mask is not None
    return result.box, result.mask, result.confidence, result.gated


def soak(
    frames: int = 10_000,
    *,
    warmup: int = 200,
    reset_every: int = 1000,
    seed: int = 0,
    refiner: Refiner | None = None,
) -> dict[str, Any]:
    """Run the soak loop; returns RSS figures (MiB), frames per second and the probe check."""
    if not 0 < warmup < frames:
        raise ValueError(f"warmup must be in 1..frames-1, got {warmup} for {frames} frames")
    rng = np.random.default_rng(seed)
    refiner = refiner or random_refiner(seed)
    pool = _frames(8, rng)
    probe_box = _box(rng)
    before = _probe(refiner, pool[0], probe_box)
    refiner.initialize(pool[0], np.stack([_box(rng) for _ in range(2)]))
    readings: list[float] = []
    samples: dict[int, float] = {}
    sample_every = max(frames // 10, 1)
    added = removed = resets = 0
    start = time.perf_counter()
    for index in range(frames):
        frame = pool[index % len(pool)]
        boxes = np.stack([_box(rng) for _ in range(refiner.num_targets)])
        refiner.refine(frame, boxes, return_mask=index % 10 == 0)
        if index % 7 == 3 and refiner.num_targets < MAX_TARGETS:
            refiner.add_targets(frame, _box(rng))
            added += 1
        if index % 11 == 5 and refiner.num_targets > 1:
            refiner.remove_targets(refiner.target_ids[int(rng.integers(refiner.num_targets))])
            removed += 1
        if (index + 1) % reset_every == 0:
            refiner.reset()
            refiner.initialize(frame, np.stack([_box(rng) for _ in range(2)]))
            resets += 1
        done = index + 1
        if done >= warmup:
            readings.append(rss_mb())
            if done % sample_every == 0:
                samples[done] = round(readings[-1], 1)
    seconds = time.perf_counter() - start
    tenth = max(len(readings) // 10, 1)
    rss_warmup = float(np.median(readings[:tenth]))
    rss_end = float(np.median(readings[-tenth:]))
    after = _probe(refiner, pool[0], probe_box)
    identical = all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    return {
        "frames": frames,
        "warmup_frames": warmup,
        "frame_shape": list(FRAME_SHAPE),
        "targets_added": added,
        "targets_removed": removed,
        "resets": resets,
        "seconds": seconds,
        "frames_per_second": frames / seconds,
        "rss_warmup_mb": rss_warmup,
        "rss_end_mb": rss_end,
        "rss_min_after_warmup_mb": min(readings),
        "rss_max_after_warmup_mb": max(readings),
        "rss_growth_mb": rss_end - rss_warmup,
        "rss_samples_mb": samples,
        "probe_identical": identical,
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--reset-every", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = soak(args.frames, warmup=args.warmup, reset_every=args.reset_every, seed=args.seed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as stream:
            stream.write(text + "\n")
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["probe_identical"] else 1)

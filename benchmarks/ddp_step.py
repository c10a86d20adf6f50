"""One training step under DistributedDataParallel on the CPU, by gradient layout (issue 24).

    OMP_NUM_THREADS=1 python benchmarks/ddp_step.py [--config configs/smoke.toml] [--nproc 2]
        [--warmup 2] [--steps 3] [--rounds 6] [--out results.json]

``--nproc`` processes (gloo over 127.0.0.1, ``--threads`` torch threads each) hold one model per
variant, all from the same seed, and one fixed batch per rank from the config's data (so data
loading is left out). After ``--warmup`` untimed steps of each, the variants take turns, in a
rotated order each round, for ``--steps`` timed calls of the loop's own ``training_step``
(forward, loss, backward with DDP's all-reduce, Adam) per round, timed on rank 0: whatever else
loads the machine weighs on all of them alike. Prints, per variant, the median step time, its
ratio to the first variant's (the loop before issue 24) and each round's ratio, and on how many
steps any rank got DDP's "Grad strides do not match bucket view strides" warning (shown on every
step: ``torch.set_warn_always``). ``--nproc 1`` times the single-process loop (no DDP; the
bucket-view variants are left out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.train.config import TrainConfig
from alpha_refine.train.loop import build_sources, training_step
from alpha_refine.train.sampling import TrainingPairs

STRIDE_WARNING = "Grad strides do not match bucket view strides"


@dataclass(frozen=True)
class Variant:
    name: str
    channels_last: bool  # parameters channels_last before DDP is built
    bucket_view: bool  # DDP's gradient_as_bucket_view
    nchw_inputs: bool = False  # crops stored NCHW, so the whole network runs contiguous


VARIANTS = (
    Variant("before: contiguous parameters, DDP defaults", False, False),
    Variant("gradient_as_bucket_view only", False, True),
    Variant("NCHW inputs (contiguous throughout)", False, False, nchw_inputs=True),
    Variant("NCHW inputs + gradient_as_bucket_view", False, True, nchw_inputs=True),
    Variant("channels_last parameters only", True, False),
    Variant("now: channels_last parameters + gradient_as_bucket_view", True, True),
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _batch(config: TrainConfig, rank: int, nchw: bool) -> dict[str, torch.Tensor]:
    """A batch of the config's samples for this rank, collated as the loop's DataLoader does."""
    size = config.optim.batch_size
    pairs = TrainingPairs(
        build_sources(config), size * (rank + 1), seed=config.seed, config=config.sampling
    )
    batch: dict[str, torch.Tensor] = torch.utils.data.default_collate(
        [pairs[index] for index in range(size * rank, size * (rank + 1))]
    )
    if nchw:  # same values and shape (N x H x W x 3), NCHW memory: the permute makes it contiguous
        for key in ("template", "search"):
            batch[key] = batch[key].permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    return batch


def _model(network: AlphaRefineNet, variant: Variant, world_size: int) -> nn.Module:
    if variant.channels_last:
        network.to(memory_format=torch.channels_last)
    if world_size == 1:
        return network
    return nn.parallel.DistributedDataParallel(network, gradient_as_bucket_view=variant.bucket_view)


@dataclass
class _Run:
    """One variant's model, optimiser and batch in this process, and its timed steps."""

    variant: Variant
    model: nn.Module
    optimizer: torch.optim.Optimizer
    batch: dict[str, torch.Tensor]
    config: TrainConfig
    seconds: list[float] = field(default_factory=list)
    warned_steps: int = 0

    @classmethod
    def build(cls, variant: Variant, config: TrainConfig, rank: int, world_size: int) -> _Run:
        torch.manual_seed(config.seed)
        network = AlphaRefineNet(config.model).train()
        model = _model(network, variant, world_size)
        optimizer = torch.optim.Adam(network.parameters(), lr=config.optim.lr)
        return cls(variant, model, optimizer, _batch(config, rank, variant.nchw_inputs), config)

    def step(self) -> float:
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            training_step(
                self.model,
                self.batch,
                self.optimizer,
                scaler,
                self.config.optim,
                torch.device("cpu"),
            )
            seconds = time.perf_counter() - start
        self.warned_steps += any(STRIDE_WARNING in str(w.message) for w in caught)
        return seconds


def _variants(world_size: int) -> list[Variant]:
    return [v for v in VARIANTS if world_size > 1 or not v.bucket_view]


def _worker(rank: int, world_size: int, port: int, args: argparse.Namespace, results: Any) -> None:
    torch.set_num_threads(args.threads)
    torch.set_warn_always(True)  # DDP's stride warning on every step, not once per process
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
    config = TrainConfig.from_toml(args.config)
    runs = [_Run.build(v, config, rank, world_size) for v in _variants(world_size)]
    for run in runs:
        for _ in range(args.warmup):
            run.step()
        run.warned_steps = 0
    for round_index in range(args.rounds):
        shift = round_index % len(runs)
        for run in runs[shift:] + runs[:shift]:
            run.seconds += [run.step() for _ in range(args.steps)]
    warned = [run.warned_steps for run in runs]
    if world_size > 1:
        everyone: list[list[int]] = [[] for _ in range(world_size)]
        dist.all_gather_object(everyone, warned)
        warned = [max(counts) for counts in zip(*everyone, strict=True)]
        dist.destroy_process_group()
    if rank == 0:
        results.put(
            [{"seconds": r.seconds, "warned_steps": w} for r, w in zip(runs, warned, strict=True)]
        )


def _summary(
    variants: list[Variant], runs: list[dict[str, Any]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    def per_round(seconds: list[float]) -> list[float]:
        return [
            statistics.median(seconds[r * args.steps : (r + 1) * args.steps])
            for r in range(args.rounds)
        ]

    base = statistics.median(runs[0]["seconds"])
    base_rounds = per_round(runs[0]["seconds"])
    rows = []
    for variant, run in zip(variants, runs, strict=True):
        median = statistics.median(run["seconds"])
        rounds = per_round(run["seconds"])
        rows.append(
            {
                "variant": variant.name,
                "median_step_ms": round(1000 * median, 1),
                "ratio_to_before": round(median / base, 3),
                "ratio_per_round": [
                    round(a / b, 3) for a, b in zip(rounds, base_rounds, strict=True)
                ],
                "steps_with_ddp_stride_warning": f"{run['warned_steps']} of {len(run['seconds'])}",
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/smoke.toml", help="model and data of this")
    parser.add_argument("--nproc", type=int, default=2, help="processes (ranks); 1: no DDP")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=6, help="turns of every variant")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_worker, args=(args.nproc, _free_port(), args, results), nprocs=args.nproc)
    variants = _variants(args.nproc)
    config = TrainConfig.from_toml(args.config)
    report = {
        "cpu": _cpu_name(),
        "torch": torch.__version__,
        "config": args.config,
        "backbone": config.model.backbone,
        "batch_per_process": config.optim.batch_size,
        **{k: v for k, v in vars(args).items() if k not in ("config", "out")},
        "variants": [asdict(v) for v in variants],
        "results": _summary(variants, results.get(), args),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

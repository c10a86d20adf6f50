"""Validation accuracy against training pairs seen, for one or more runs (the model card's curve).

    python benchmarks/training_curve.py --run LABEL=CONFIG [--run ...] [--start]
        [--out curve.png] [--json curve.json]

Each ``CONFIG`` is a training config whose ``out_dir`` holds a run's ``metrics.csv``; its
validation rows (oracle mean IoU after refinement, on the config's ``[validation]`` sequences
and hold-out) are plotted against the pairs seen by then (epochs x iterations x batch size).
``--start`` also validates each run's ``init_weights`` the same way, as the point at 0 pairs
(for runs whose network is that of the weights; one with other heads starts partly random).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from alpha_refine.train.config import TrainConfig
from alpha_refine.train.loop import validate, validation_sequences
from alpha_refine.weights import load_pretrained

COLUMNS = {"val": "development held-out", "val_holdout": "DAVIS hold-out"}


def _curve(config: TrainConfig, start: bool) -> dict[str, list[tuple[int, float]]]:
    per_epoch = config.optim.iterations_per_epoch * config.optim.batch_size
    curve: dict[str, list[tuple[int, float]]] = {key: [] for key in COLUMNS}
    network, _ = (
        load_pretrained(config.init_weights) if start and config.init_weights else (None, None)
    )
    if network is not None and network.config == config.model:  # other heads would start random
        where = {
            "val": (config.validation.spec, config.validation.names),
            "val_holdout": (config.validation.holdout_spec, config.validation.holdout_names),
        }
        for key, (spec, names) in where.items():
            sequences = validation_sequences(spec, names)
            if sequences:
                _, after = validate(network, sequences, config, torch.device("cpu"))
                curve[key].append((0, after))
    with (Path(config.out_dir) / "metrics.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            for key in COLUMNS:
                value = row.get(f"{key}_iou_after", "")
                if value:
                    curve[key].append((int(row["epoch"]) * per_epoch, float(value)))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=CONFIG")
    parser.add_argument("--start", action="store_true")
    parser.add_argument("--out", default="training-curve.png")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    curves: dict[str, Any] = {}
    figure, axes = plt.subplots(1, len(COLUMNS), figsize=(10, 4), sharey=True)
    for item in args.run:
        label, _, path = item.partition("=")
        curve = _curve(TrainConfig.from_toml(path), args.start)
        curves[label] = curve
        for axis, (key, title) in zip(axes, COLUMNS.items(), strict=True):
            if curve[key]:
                seen, iou = zip(*curve[key], strict=True)
                axis.plot([s / 1000 for s in seen], [100 * v for v in iou], marker="o", label=label)
            axis.set_title(title)
            axis.set_xlabel("training pairs seen (thousands)")
            axis.grid(alpha=0.3)
    axes[0].set_ylabel("oracle mean IoU after refinement (%)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(json.dumps(curves, indent=1))
    print(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(curves, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

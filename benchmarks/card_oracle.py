"""The model card's oracle, near-perfect and mask rows, split by ground truth and target size.

    python benchmarks/card_oracle.py --sequences SEQUENCES [--davis DAVIS_ROOT] \\
        --refiner default --refiner runs/x/latest [--both-blends] [--flip] [--out card-oracle.json]

For each refiner, on the 7 development held-out sequences (``SEQUENCES`` is the development
folder, read as ``plain:``) and, with ``--davis``, on the 5 DAVIS-2016 train videos that the
stage-4 config holds out (``DAVIS_ROOT`` is the ``DAVIS`` folder; read through its train list):

* oracle: ground truth jittered by 0.25 in centre and scale, 30 frames per sequence, seed 0,
  mean IoU before and after (the numbers ``alpha-refine oracle`` prints for the same set);
* good boxes (near-perfect inputs): the same frames jittered by 0.05; the frames whose input IoU
  is >= 0.85, mean IoU before and after, the share of them that refinement makes worse by more
  than 0.05 IoU and the median area of their refined box over the ground truth's;
* mask J from the ground-truth box (and the filled box) on the sequences with masks.

One ``oracle_experiment`` run per set (``near_perfect=0.05``, ``masks=True``) gives all of
them, grouped with the library's splits (``alpha_refine.eval.oracle.split_frames``, as
``alpha-refine oracle`` prints them): the development set into boxes from masks (the DAVIS
sequences, which have masks) and boxes drawn by hand (OTB, VOT, UAV123), and every set by target
size (``by_size``: the square root of the ground-truth box area, under 32, 32-64, 64-128, 128
and over px). The numbers under the earlier keys are those of the earlier version of this script
(two runs, at 0.25 and 0.05), so earlier results files compare directly.

With ``--both-blends``, weights with a blend head are measured a second time with
``Refiner(blend=True)`` (the head moving each edge of the input box; off by default), as
``"W (blend on)"``. With ``--flip``, every refiner is measured again with ``Refiner(flip=True)``
(each crop's view averaged with its mirror image), as ``"W (flip on)"`` and
``"W (blend on, flip on)"``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence as SequenceOf
from typing import Any

from alpha_refine import Refiner
from alpha_refine.data import Sequence, load_dataset
from alpha_refine.eval.oracle import (
    GROUND_TRUTH_KINDS,
    NEAR_PERFECT_JITTER,
    GroupScores,
    oracle_experiment,
    split_frames,
    summarize_frames,
)

DEVELOPMENT_HELD_OUT = (
    "otb_Crossing",
    "otb_Girl",
    "vot2014_car",
    "uav123_10fps_wakeboard7",
    "davis2016_car-roundabout",
    "davis2016_dog",
    "davis2016_libby",
)
# configs/default-lite0-stage4-davis.toml: every sixth name of the DAVIS-2016 train list.
DAVIS_HELD_OUT = ("bear_1", "dance-jump_1", "hockey_1", "motocross-bumps_1", "soccerball_1")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _row(scores: GroupScores) -> dict[str, Any]:
    """The card's row of one group of frames (the keys earlier results files have, and more);
    ``None`` where a group has no good box."""
    return {
        "oracle_before": scores.iou_before,
        "oracle_after": scores.iou_after,
        "oracle_frames": scores.frames,
        "oracle_area_ratio": scores.area_ratio,
        "good_before": _finite(scores.near_before),
        "good_after": _finite(scores.near_after),
        "good_frames": scores.near_frames,
        "good_worse_share": _finite(scores.near_worse_share),
        "good_area_ratio": _finite(scores.near_area_ratio),
    }


def measure(refiner: Refiner, sequences: list[Sequence], name: str) -> dict[str, Any]:
    """The card's rows of one set: ``name`` for all its frames and, for the development set
    (``dev-all``), one row per kind of ground truth (``dev-masks``, ``dev-hand``); each row with
    its ``by_size`` rows."""
    result = oracle_experiment(
        refiner,
        sequences,
        frames_per_sequence=30,
        seed=0,
        masks=True,
        near_perfect=NEAR_PERFECT_JITTER,
    )
    records = result.records
    groups = {name: records}
    if name == "dev-all":
        groups |= {
            f"dev-{kind}": [r for r in records if r.ground_truth == kind]
            for kind in GROUND_TRUTH_KINDS
        }
    rows: dict[str, dict[str, Any]] = {}
    for group, members in groups.items():
        if not members:
            continue
        rows[group] = _row(summarize_frames(members))
        by_size = split_frames(members)["target_size"]
        rows[group]["by_size"] = {label: _row(scores) for label, scores in by_size.items()}
        if result.masks is not None and group != "dev-hand":  # masks: the DAVIS sequences
            rows[group] |= {
                "mask_j_truth": result.masks.j_from_truth,
                "mask_j_filled": result.masks.j_filled_truth,
                "mask_frames": result.masks.frames,
            }
    return rows


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_tables(rows: dict[str, dict[str, Any]]) -> None:
    """The card's tables: per set, and per set and target size (mean IoU in %)."""
    print(
        "| set | oracle before | after | gain | good boxes before | after | worse > 0.05 "
        "| mask J (filled box) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for group in ("dev-all", "dev-masks", "dev-hand", "davis-holdout"):
        if group not in rows:
            continue
        row = rows[group]
        mask = (
            f"{100 * row['mask_j_truth']:.1f} ({100 * row['mask_j_filled']:.1f})"
            if "mask_j_truth" in row
            else ""
        )
        print(
            f"| {group} | {100 * row['oracle_before']:.1f} | {100 * row['oracle_after']:.1f} "
            f"| {100 * (row['oracle_after'] - row['oracle_before']):+.1f} "
            f"| {_percent(row['good_before'])} ({row['good_frames']}) "
            f"| {_percent(row['good_after'])} | {_percent(row['good_worse_share'])} % "
            f"| {mask} |"
        )
    print(
        "\n| set | target size (px) | oracle frames | before | after | gain "
        "| good boxes before | after | worse > 0.05 | refined area / truth |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for group in ("dev-all", "dev-masks", "dev-hand", "davis-holdout"):
        for size, row in rows.get(group, {}).get("by_size", {}).items():
            print(
                f"| {group} | {size} | {row['oracle_frames']} "
                f"| {100 * row['oracle_before']:.1f} | {100 * row['oracle_after']:.1f} "
                f"| {100 * (row['oracle_after'] - row['oracle_before']):+.1f} "
                f"| {_percent(row['good_before'])} ({row['good_frames']}) "
                f"| {_percent(row['good_after'])} | {_percent(row['good_worse_share'])} % "
                f"| {_ratio(row['good_area_ratio'])} |"
            )


def main(argv: SequenceOf[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", required=True, help="the development sequences folder")
    parser.add_argument("--davis", help="a DAVIS-2016 root (its DAVIS folder)")
    parser.add_argument("--refiner", action="append", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--both-blends", action="store_true", help="also measure blend=True")
    parser.add_argument("--flip", action="store_true", help="also measure flip=True")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    development = load_dataset(f"plain:{args.sequences}", names=DEVELOPMENT_HELD_OUT)
    davis = load_dataset(f"davis:{args.davis}:train", names=DAVIS_HELD_OUT) if args.davis else []
    results: dict[str, Any] = {}
    runs = []
    for weights in args.refiner:
        for flip in (False, True) if args.flip else (False,):
            refiner = Refiner.from_pretrained(None if weights == "default" else weights, flip=flip)
            runs.append((f"{weights} (flip on)" if flip else weights, refiner))
            if args.both_blends and refiner.network.blend_head is not None:
                blended = refiner.clone()
                blended.blend = True
                runs.append((f"{weights} (blend on{', flip on' if flip else ''})", blended))
    for weights, refiner in runs:
        rows = measure(refiner, development, "dev-all")
        if davis:
            rows |= measure(refiner, davis, "davis-holdout")
        results[weights] = rows
        print(f"\n{weights} ({refiner!r})")
        print_tables(rows)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()

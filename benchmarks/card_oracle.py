"""The model card's oracle, good-box and mask rows, split by how the ground truth was drawn.

    python benchmarks/card_oracle.py --sequences SEQUENCES [--davis DAVIS_ROOT] \\
        --refiner default --refiner runs/x/latest [--both-blends] [--flip] [--out card-oracle.json]

For each refiner, on the 7 development held-out sequences (``SEQUENCES`` is the development
folder, read as ``plain:``) and, with ``--davis``, on the 5 DAVIS-2016 train videos that the
stage-4 config holds out (``DAVIS_ROOT`` is the ``DAVIS`` folder; read through its train list):

* oracle: ground truth jittered by 0.25 in centre and scale, 30 frames per sequence, seed 0,
  mean IoU before and after (the numbers ``alpha-refine oracle`` prints for the same set);
* good boxes: the same frames jittered by 0.05; the frames whose input IoU is >= 0.85, mean IoU
  before and after, and the share of them that refinement makes worse by more than 0.05 IoU;
* mask J from the ground-truth box (and the filled box) on the sequences with masks.

The development set is also split into boxes from masks (``davis2016_*``) and boxes drawn by
hand (OTB, VOT, UAV123): the same frames and jitter as the whole set, grouped afterwards.

With ``--both-blends``, weights with a blend head are measured a second time with
``Refiner(blend=True)`` (the head moving each edge of the input box; off by default), as
``"W (blend on)"``. With ``--flip``, every refiner is measured again with ``Refiner(flip=True)``
(each crop's view averaged with its mirror image), as ``"W (flip on)"`` and
``"W (blend on, flip on)"``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence as SequenceOf
from typing import Any

import numpy as np

from alpha_refine import Refiner
from alpha_refine.data import Sequence, load_dataset
from alpha_refine.eval.oracle import GOOD_BOX_IOU, OracleResult, oracle_experiment

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
WORSE_BY = 0.05


def development_groups(name: str) -> tuple[str, ...]:
    """The whole development set, and boxes from masks (DAVIS) or drawn by hand (the rest)."""
    return ("dev-all", "dev-masks" if name.startswith("davis") else "dev-hand")


def _rows(
    oracle: OracleResult, good: OracleResult, groups: dict[str, tuple[str, ...]]
) -> dict[str, dict[str, Any]]:
    """Per group: oracle and good-box means from the per-frame IoUs of both runs."""
    rows: dict[str, dict[str, Any]] = {}
    for group in sorted({g for names in groups.values() for g in names}):
        jittered = np.array([(b, a) for n, b, a in oracle.frame_ious if group in groups[n]])
        near = np.array([(b, a) for n, b, a in good.frame_ious if group in groups[n]])
        is_good = near[:, 0] >= GOOD_BOX_IOU
        good_before, good_after = near[is_good, 0], near[is_good, 1]
        rows[group] = {
            "oracle_before": float(jittered[:, 0].mean()),
            "oracle_after": float(jittered[:, 1].mean()),
            "oracle_frames": len(jittered),
            "good_before": float(good_before.mean()),
            "good_after": float(good_after.mean()),
            "good_frames": int(is_good.sum()),
            "good_worse_share": float(np.mean(good_after < good_before - WORSE_BY)),
        }
    return rows


def measure(
    refiner: Refiner, sequences: list[Sequence], groups: dict[str, tuple[str, ...]]
) -> dict[str, Any]:
    common: dict[str, Any] = {"frames_per_sequence": 30, "seed": 0}
    oracle = oracle_experiment(refiner, sequences, masks=True, **common)
    good = oracle_experiment(refiner, sequences, scale_jitter=0.05, centre_jitter=0.05, **common)
    rows = _rows(oracle, good, groups)
    if oracle.masks is not None:  # masks come from the DAVIS sequences only
        for group in rows:
            if group != "dev-hand":
                rows[group] |= {
                    "mask_j_truth": oracle.masks.j_from_truth,
                    "mask_j_filled": oracle.masks.j_filled_truth,
                    "mask_frames": oracle.masks.frames,
                }
    return rows


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
        rows = measure(
            refiner, development, {s.name: development_groups(s.name) for s in development}
        )
        if davis:
            rows |= measure(refiner, davis, {s.name: ("davis-holdout",) for s in davis})
        results[weights] = rows
        print(f"\n{weights} ({refiner!r})")
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
                f"| {100 * row['good_before']:.1f} ({row['good_frames']}) "
                f"| {100 * row['good_after']:.1f} | {100 * row['good_worse_share']:.1f} % "
                f"| {mask} |"
            )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()

"""`alpha-refine eval` runs' tables split by how the ground truth was drawn and by target size.

    python benchmarks/eval_by_ground_truth.py --dataset plain:SEQUENCES \\
        --run off=outputs/eval --run on=outputs/eval-blend [--out split.json] \\
        [--ground-truth NAME=KIND,...]

Re-scores the result files of ``alpha-refine eval`` runs (pytracking convention, as the model
card's runs), for each tracker with a ``<tracker>+AR*`` folder beside its base folder, with the
library's splits (``alpha_refine.eval.report.split_scores``, which ``alpha-refine eval`` prints
for one run): ``dev-all`` (every sequence), ``dev-masks`` (boxes from masks: the sequences with
ground-truth masks, the DAVIS ones of the development set) and ``dev-hand`` (boxes drawn by hand:
OTB, VOT, UAV123), then one row per target size (``size under 32`` ... ``size 128 and over``: the
frames whose ground-truth box has that square root of its area, in px, pooled). Each
``--run LABEL=FOLDER`` is one eval output folder; its sequences are the ones it has results for.
``--ground-truth`` overrides the kind by sequence name, as in ``alpha-refine eval``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from collections.abc import Sequence as SequenceOf
from pathlib import Path
from typing import Any

from alpha_refine.data import Sequence, load_dataset
from alpha_refine.eval.groups import parse_ground_truth_kinds
from alpha_refine.eval.report import FrameChanges, Grouping, compare, score_folder
from alpha_refine.eval.results import find_result_file


def _pairs(run: Path) -> list[tuple[Path, Path]]:
    """``(base, refined)`` folders: every ``<tracker>+AR*`` folder with its base folder."""
    pairs = []
    for refined in sorted(run.glob("*+AR*")):
        base = run / refined.name.split("+AR")[0]
        if refined.is_dir() and base.is_dir():
            pairs.append((base, refined))
    return pairs


def _row(
    sequences: int, frames: int, base: Any, refined: Any, changes: FrameChanges
) -> dict[str, Any]:
    return {
        "sequences": sequences,
        "frames": frames,
        "auc_base": base.auc,
        "auc_refined": refined.auc,
        "worse": changes.worse,
        "better": changes.better,
    }


def split_run(
    run: Path, sequences: list[Sequence], kinds: Mapping[str, str] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{refined folder: {group: scores}}`` for one eval output folder."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for base, refined in _pairs(run):
        done = [s for s in sequences if find_result_file(refined, s.name) is not None]
        rows[refined.name] = {}
        if not done:
            continue
        before = score_folder(base, done, "pytracking")
        after = score_folder(refined, done, "pytracking")
        both = compare(base.name, before, after, done, Grouping.of(done, kinds))
        assert both.changes is not None
        frames = both.changes.frames
        group_rows = {"dev-all": _row(len(done), frames, before.scores, after.scores, both.changes)}
        for split, prefix in (("ground_truth", "dev-"), ("target_size", "size ")):
            for name, group in both.splits[split].items():
                assert group.refined is not None and group.changes is not None
                group_rows[prefix + name] = _row(
                    group.sequences, group.frames, group.base, group.refined, group.changes
                )
        rows[refined.name] = group_rows
    return rows


def main(argv: SequenceOf[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="the dataset spec the runs used")
    parser.add_argument("--run", action="append", required=True, help="LABEL=FOLDER")
    parser.add_argument("--out", help="write the numbers as JSON here")
    parser.add_argument(
        "--ground-truth",
        type=parse_ground_truth_kinds,
        default=None,
        metavar="NAME=KIND,...",
        help="how these sequences' boxes were drawn, 'masks' or 'hand' (default: 'masks' for "
        "sequences with ground-truth masks, else 'hand')",
    )
    args = parser.parse_args(argv)

    sequences = load_dataset(args.dataset)
    results: dict[str, Any] = {}
    print("| run | tracker | set | frames | AUC base | +AR | diff | frames worse | better |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for spec in args.run:
        label, _, folder = spec.partition("=")
        results[label] = split_run(Path(folder), sequences, args.ground_truth)
        for tracker, groups in results[label].items():
            for group, row in groups.items():
                base, after = 100 * row["auc_base"], 100 * row["auc_refined"]
                print(
                    f"| {label} | {tracker} | {group} | {row['frames']} | {base:.1f} "
                    f"| {after:.1f} | {after - base:+.1f} | {100 * row['worse']:.1f} % "
                    f"| {100 * row['better']:.1f} % |"
                )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""An `alpha-refine eval` run's table split by how the ground truth was drawn.

    python benchmarks/eval_by_ground_truth.py --dataset plain:SEQUENCES \\
        --run off=outputs/eval --run on=outputs/eval-blend [--out split.json]

Re-scores the result files an ``alpha-refine eval`` run wrote (pytracking convention, as the
model card's runs), for each tracker with a ``<tracker>+AR*`` folder beside its base folder, on
the development sequences grouped as ``benchmarks/card_oracle.py`` groups them: boxes from
masks (``davis2016_*``) and boxes drawn by hand (OTB, VOT, UAV123), and all of them. Each
``--run LABEL=FOLDER`` is one eval output folder; its sequences are the ones it has results for.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence as SequenceOf
from pathlib import Path
from typing import Any

from card_oracle import development_groups

from alpha_refine.data import Sequence, load_dataset
from alpha_refine.eval.report import frame_changes, score_folder
from alpha_refine.eval.results import find_result_file

GROUPS = ("dev-all", "dev-masks", "dev-hand")


def _pairs(run: Path) -> list[tuple[Path, Path]]:
    """``(base, refined)`` folders: every ``<tracker>+AR*`` folder with its base folder."""
    pairs = []
    for refined in sorted(run.glob("*+AR*")):
        base = run / refined.name.split("+AR")[0]
        if refined.is_dir() and base.is_dir():
            pairs.append((base, refined))
    return pairs


def split_run(run: Path, sequences: list[Sequence]) -> dict[str, dict[str, dict[str, float]]]:
    """``{refined folder: {group: scores}}`` for one eval output folder."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for base, refined in _pairs(run):
        done = [s for s in sequences if find_result_file(refined, s.name) is not None]
        rows[refined.name] = {}
        for group in GROUPS:
            members = [s for s in done if group in development_groups(s.name)]
            if not members:
                continue
            before = score_folder(base, members, "pytracking")
            after = score_folder(refined, members, "pytracking")
            changes = frame_changes(before, after, members)
            rows[refined.name][group] = {
                "sequences": len(members),
                "auc_base": before.scores.auc,
                "auc_refined": after.scores.auc,
                "worse": changes.worse,
                "better": changes.better,
            }
    return rows


def main(argv: SequenceOf[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="the dataset spec the runs used")
    parser.add_argument("--run", action="append", required=True, help="LABEL=FOLDER")
    parser.add_argument("--out", help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    sequences = load_dataset(args.dataset)
    results: dict[str, Any] = {}
    print("| run | tracker | set | AUC base | +AR | diff | frames worse | better |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for spec in args.run:
        label, _, folder = spec.partition("=")
        results[label] = split_run(Path(folder), sequences)
        for tracker, groups in results[label].items():
            for group, row in groups.items():
                base, after = 100 * row["auc_base"], 100 * row["auc_refined"]
                print(
                    f"| {label} | {tracker} | {group} | {base:.1f} | {after:.1f} "
                    f"| {after - base:+.1f} | {100 * row['worse']:.1f} % "
                    f"| {100 * row['better']:.1f} % |"
                )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The evaluation subcommands of ``alpha-refine``: ``eval``, ``refine-results`` and ``oracle``.

:func:`add_eval_commands` adds them to the main parser (``alpha_refine.cli``); the heavy
imports happen only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alpha_refine.eval.tracking import RefinerOptions

CONVENTION_CHOICES = ("auto", "got10k", "pysot", "pytracking", "lasot")
FEEDBACK_CHOICES = ("auto", "none", "state", "reinit")

_CONVENTION_HELP = (
    "metrics convention (default auto: 'lasot' for lasot: datasets, else 'pytracking', the "
    "analysis behind the paper's Table 2: AUC, P_norm at 0.20, P at 20 px)"
)
_REFINER_HELP = (
    "'default' (the embedded model), a weights folder, .safetensors file or hub id 'org/name[@rev]'"
)


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _common(parser: argparse.ArgumentParser, *, out_default: str | None) -> None:
    parser.add_argument(
        "--dataset", required=True, help="dataset spec, e.g. plain:PATH, lasot:ROOT"
    )
    parser.add_argument("--sequences", default=None, help="only these sequences (comma-separated)")
    parser.add_argument("--device", default="auto", help="refiner device (auto: CUDA if present)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch/OpenCV threads per process (default: 1 with --workers > 1)",
    )
    if out_default is None:
        parser.add_argument("--out", required=True, help="output folder")
    else:
        parser.add_argument("--out", default=out_default, help=f"output (default {out_default})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--gate",
        choices=("on", "off"),
        default=None,
        help="the refiner's safe-refine gate (keeps the base box where the refined one is "
        "implausible; docs/reliability.md): on (default thresholds) or off; default: the "
        "weights' default",
    )
    add_view_options(parser)


def add_view_options(parser: argparse.ArgumentParser) -> None:
    """``--blend on|off`` and ``--flip on|off``, read by :func:`refiner_options` (also the
    demo's)."""
    parser.add_argument(
        "--blend",
        choices=("on", "off"),
        default=None,
        help="the refiner's blend head, for weights with one (moves each edge of the input box "
        "only as far as it trusts the refinement; docs/concepts.md): on or off; default: the "
        "weights' default (off for the embedded model)",
    )
    parser.add_argument(
        "--flip",
        choices=("on", "off"),
        default=None,
        help="also refine each crop's mirror image and average the two (more accurate, twice "
        "the network time; docs/concepts.md): on or off (the default)",
    )


def refiner_options(args: argparse.Namespace) -> RefinerOptions:
    """``--gate`` (where the command has it), ``--blend`` and ``--flip``: on, off or not
    given (the default)."""

    def switch(name: str) -> bool | None:
        value = getattr(args, name, None)
        return None if value is None else value == "on"

    from alpha_refine.eval.tracking import RefinerOptions

    return RefinerOptions(switch("gate"), switch("blend"), switch("flip"))


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--convention", choices=CONVENTION_CHOICES, default="auto", help=_CONVENTION_HELP
    )
    parser.add_argument("--workers", type=int, default=1, help="processes on this machine")
    parser.add_argument(
        "--shard",
        default=None,
        help="i/n: run only sequences i, i+n, ... (0 <= i < n); aggregate later with "
        "--summarize-only",
    )
    parser.add_argument(
        "--summarize-only", action="store_true", help="run nothing, score the existing results"
    )
    parser.add_argument(
        "--max-frames", type=int, default=None, help="only the first N frames of each sequence"
    )
    parser.add_argument("--no-plots", action="store_true", help="do not write the PNG plots")
    add_ground_truth_option(parser)


def _run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments ``eval`` and ``refine-results`` pass alike to the runner."""
    return {
        "refiner": args.refiner,
        "device": args.device,
        "convention": args.convention,
        "workers": args.workers,
        "threads": args.threads,
        "shard": args.shard,
        "max_frames": args.max_frames,
        "names": _names(args.sequences),
        "summarize_only": args.summarize_only,
        "plots": not args.no_plots,
        "progress": not args.no_progress,
        "ground_truth_kinds": args.ground_truth,
        **asdict(refiner_options(args)),
    }


def _report(report: Any, args: argparse.Namespace) -> int:
    """Print the table and what was written, or, after one shard, what to do next."""
    if report is None:
        print(
            f"shard {args.shard} done; when every shard is, score them with the same command "
            "and --summarize-only instead of --shard"
        )
        return 0
    print(report.table())
    names = ["summary.json", "table.txt"]
    if not args.no_plots:
        names += ["success.png", "precision.png", "norm_precision.png"]
    written = [n for n in names if (Path(args.out) / n).is_file()]
    print(f"\nwrote {', '.join(written)} in {args.out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from alpha_refine.eval.runner import evaluate_trackers
    from alpha_refine.trackers import available_trackers

    trackers = _names(args.tracker) or []
    if trackers == ["all"]:
        trackers = available_trackers(args.tracker_models)
    report = evaluate_trackers(
        args.dataset,
        trackers,
        args.out,
        feedback=args.feedback,
        tracker_models=args.tracker_models,
        **_run_arguments(args),
    )
    return _report(report, args)


def _refine_results(args: argparse.Namespace) -> int:
    from alpha_refine.eval.runner import refine_saved_results

    report = refine_saved_results(
        args.dataset, args.results, args.out, name=args.name, **_run_arguments(args)
    )
    return _report(report, args)


def oracle_summary(result: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """An :class:`~alpha_refine.eval.oracle.OracleResult` and its settings as plain values.

    Beside the overall and per-sequence means: ``good_boxes`` (jittered boxes with IoU >=
    0.85), ``near_perfect`` (``None`` when that pass was off), ``splits`` (by ground-truth kind
    and by target size, :func:`~alpha_refine.eval.oracle.split_frames`) and ``frame_records``.
    """
    from alpha_refine.eval.groups import CHANGE_MARGIN, size_bin_bounds
    from alpha_refine.eval.oracle import GOOD_BOX_IOU

    near_on = result.near_perfect is not None

    def scores(group: Any) -> dict[str, Any]:
        values: dict[str, Any] = group.to_dict()
        if not near_on:
            del values["near_perfect"]
        return values

    kinds = {r.sequence: r.ground_truth for r in result.records}
    return {
        **settings,
        "frames": result.frames,
        "mean_iou_before": result.iou_before,
        "mean_iou_after": result.iou_after,
        "gain": result.gain,
        "per_sequence": {
            name: {
                "mean_iou_before": b,
                "mean_iou_after": a,
                "frames": n,
                "ground_truth": kinds.get(name),
            }
            for name, (b, a, n) in result.per_sequence.items()
        },
        "good_boxes": {
            "min_iou_before": GOOD_BOX_IOU,
            "frames": result.good_frames,
            "mean_iou_before": _finite_or_none(result.good_before),
            "mean_iou_after": _finite_or_none(result.good_after),
        },
        "near_perfect": (
            {
                "jitter": result.near_perfect,
                "min_iou_before": GOOD_BOX_IOU,
                "worse_by": CHANGE_MARGIN,
                **result.overall().to_dict()["near_perfect"],
            }
            if near_on
            else None
        ),
        "size_bins": size_bin_bounds(),
        "splits": {
            split: {name: scores(group) for name, group in groups.items()}
            for split, groups in result.splits().items()
        },
        "masks": None if result.masks is None else asdict(result.masks),
        "frame_records": [asdict(record) for record in result.records],
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def format_oracle(summary: dict[str, Any]) -> str:
    """The oracle experiment as a plain-text table (mean IoU in %)."""
    rows = [
        (name, str(v["frames"]), v["mean_iou_before"], v["mean_iou_after"])
        for name, v in summary["per_sequence"].items()
    ]
    rows.append(
        (
            "all frames",
            str(summary["frames"]),
            summary["mean_iou_before"],
            summary["mean_iou_after"],
        )
    )
    width = max(len("sequence"), *(len(r[0]) for r in rows))
    lines = [
        f"Oracle: ground truth jittered (scale {summary['scale_jitter']}, centre "
        f"{summary['centre_jitter']}, seed {summary['seed']}), refiner {summary['refiner']}",
        "",
        f"{'sequence':<{width}} | frames | IoU before | IoU after |   gain",
        "-" * (width + 45),
    ]
    for index, (name, frames, before, after) in enumerate(rows):
        if index == len(rows) - 1:
            lines.append("-" * (width + 45))
        lines.append(
            f"{name:<{width}} | {frames:>6} | {100 * before:>10.1f} | {100 * after:>9.1f} | "
            f"{100 * (after - before):>+6.1f}"
        )
    lines.append("mean IoU in %, over frames (the sequence rows average their own frames)")
    good = summary.get("good_boxes")
    if good and good["frames"]:
        lines.append(
            f"jittered boxes already good (IoU >= {good['min_iou_before']}): "
            f"{good['frames']} frames, {100 * good['mean_iou_before']:.1f} -> "
            f"{100 * good['mean_iou_after']:.1f}"
        )
    near = summary.get("near_perfect")
    if near:
        lines += ["", *_near_perfect_lines(near)]
    if summary.get("splits"):
        lines += ["", *_split_table(summary)]
    masks = summary.get("masks")
    if masks:
        lines += [
            "",
            f"Mask J in % ({masks['frames']} frames with a ground-truth mask; mask >= 0.5)",
            f"{'from':<16} | refined | filled box",
            f"{'ground-truth box':<16} | {100 * masks['j_from_truth']:>7.1f} | "
            f"{100 * masks['j_filled_truth']:>10.1f}",
            f"{'jittered box':<16} | {100 * masks['j_from_jittered']:>7.1f} | "
            f"{100 * masks['j_filled_jittered']:>10.1f}",
        ]
    return "\n".join(lines)


def _near_perfect_lines(near: dict[str, Any]) -> list[str]:
    lines = [
        f"Near-perfect inputs: ground truth jittered by {near['jitter']} in centre and scale; "
        f"{near['frames']} frames with input IoU >= {near['min_iou_before']}"
    ]
    if near["frames"]:
        lines.append(
            f"  mean IoU {100 * near['mean_iou_before']:.1f} -> "
            f"{100 * near['mean_iou_after']:.1f}; {100 * near['worse_share']:.1f} % of them "
            f"made worse by more than {near['worse_by']} IoU"
        )
    return lines


def _split_table(summary: dict[str, Any]) -> list[str]:
    """The splits by ground-truth kind and target size as table lines (IoU in %)."""
    from alpha_refine.eval.groups import GROUND_TRUTH_LABELS

    def number(value: float | None, scale: float, spec: str) -> str:
        return "-" if value is None else format(scale * value, spec)

    near_perfect = summary.get("near_perfect")
    jitter = f"jitter {summary.get('scale_jitter')}"
    if summary.get("centre_jitter") != summary.get("scale_jitter"):
        jitter += f" / {summary.get('centre_jitter')}"
    header = f"{'group':<24} | frames | before | after |  gain"
    over = f"{'':<24} | {jitter + ', all frames':<31}"
    if near_perfect:
        header += " | frames | before | after | worse % | area x"
        over += f" | near-perfect, input IoU >= {near_perfect['min_iou_before']}"
    rule = "-" * len(header)
    lines = ["By ground truth and target size (sqrt of the box area, px); mean IoU in %", over]
    lines.append(header)
    for split, groups in summary["splits"].items():
        lines.append(rule)
        for name, row in groups.items():
            label = (
                GROUND_TRUTH_LABELS.get(name, name) if split == "ground_truth" else f"size {name}"
            )
            line = (
                f"{label:<24} | {row['frames']:>6} | {100 * row['mean_iou_before']:>6.1f} | "
                f"{100 * row['mean_iou_after']:>5.1f} | {100 * row['gain']:>+5.1f}"
            )
            if near_perfect:
                near = row["near_perfect"]
                line += (
                    f" | {near['frames']:>6} | {number(near['mean_iou_before'], 100, '>6.1f')} | "
                    f"{number(near['mean_iou_after'], 100, '>5.1f')} | "
                    f"{number(near['worse_share'], 100, '>7.1f')} | "
                    f"{number(near['median_area_ratio'], 1, '>6.2f')}"
                )
            lines.append(line)
    if near_perfect:
        lines += [
            f"worse %: near-perfect frames made worse by more than {near_perfect['worse_by']} IoU;",
            "area x: median area of their refined box over the ground truth's",
        ]
    return lines


def _near_perfect_option(text: str) -> float | None:
    if text.lower() == "off":
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive jitter or 'off', got {text!r}")
    return value


def _kinds_option(text: str) -> dict[str, str]:
    from alpha_refine.eval.groups import parse_ground_truth_kinds

    try:
        return parse_ground_truth_kinds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_ground_truth_option(parser: argparse.ArgumentParser) -> None:
    """``--ground-truth NAME=KIND,...`` (``eval``, ``refine-results``, ``oracle``): how the
    named sequences' boxes were drawn, where the rule of
    :func:`~alpha_refine.eval.groups.ground_truth_kind` would be wrong."""
    parser.add_argument(
        "--ground-truth",
        type=_kinds_option,
        default=None,
        metavar="NAME=KIND,...",
        help="how these sequences' boxes were drawn, 'masks' or 'hand', for the split by ground "
        "truth (default: 'masks' for sequences with ground-truth masks, else 'hand')",
    )


def _oracle(args: argparse.Namespace) -> int:
    import torch

    from alpha_refine.data import load_dataset
    from alpha_refine.eval.oracle import oracle_experiment
    from alpha_refine.eval.results import write_text_atomic
    from alpha_refine.eval.runner import load_refiner, refiner_fingerprint

    if args.refiner.lower() == "none":
        raise ValueError("the oracle experiment needs a refiner ('default' or weights)")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    refiner = load_refiner(args.refiner, args.device, refiner_options(args))
    assert refiner is not None
    sequences = load_dataset(args.dataset, names=_names(args.sequences))
    result = oracle_experiment(
        refiner,
        sequences,
        scale_jitter=args.scale_jitter,
        centre_jitter=args.centre_jitter,
        frames_per_sequence=args.frames_per_sequence,
        seed=args.seed,
        masks=args.masks,
        near_perfect=args.near_perfect,
        ground_truth_kinds=args.ground_truth,
        progress=not args.no_progress,
    )
    summary = oracle_summary(
        result,
        {
            "dataset": args.dataset,
            "refiner": args.refiner,
            "refiner_fingerprint": refiner_fingerprint(refiner),
            "gate": None if refiner.gate is None else refiner.gate.to_dict(),
            "blend": refiner.blends,
            "flip": refiner.flip,
            "scale_jitter": args.scale_jitter,
            "centre_jitter": args.centre_jitter,
            "frames_per_sequence": args.frames_per_sequence,
            "seed": args.seed,
        },
    )
    print(format_oracle(summary))
    path = write_text_atomic(Path(args.out), json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0


def add_eval_commands(commands: Any) -> None:
    """Add ``eval``, ``refine-results`` and ``oracle`` to the subparsers action ``commands``."""
    evaluate = commands.add_parser(
        "eval",
        help="run OpenCV trackers with and without Alpha-Refine and compare (paper Table 2)",
        description="Run each base tracker and base tracker + refiner on a dataset, write "
        "per-sequence result files (OUT/<tracker>/<seq>.txt, OUT/<tracker>+AR/<seq>.txt, one "
        "x,y,w,h line per frame, and <seq>_time.txt), then print the 'Base vs Base + AR' table "
        "(AUC, P_norm, P, mean IoU, the share of frames refinement made worse or better by "
        "more than 0.05 IoU, FPS) and write OUT/summary.json and success/precision plots. "
        "Complete sequences are skipped, so an interrupted run resumes.",
    )
    _common(evaluate, out_default="outputs/eval")
    evaluate.add_argument(
        "--tracker",
        required=True,
        help="OpenCV trackers, comma-separated: classic (mil, csrt, kcf, mosse, medianflow, "
        "tld, boosting; all but mil need opencv-contrib) or deep (nano, vit, dasiamrpn; they "
        "need model files, see download-trackers), or 'all' for every available one",
    )
    evaluate.add_argument(
        "--tracker-models",
        metavar="DIR",
        default=None,
        help="folder with the deep trackers' model files (default: $ALPHA_REFINE_TRACKER_MODELS, "
        "then <cache>/opencv-trackers)",
    )
    evaluate.add_argument(
        "--refiner",
        default="default",
        help=_REFINER_HELP + ", or 'none' for the base trackers only",
    )
    evaluate.add_argument(
        "--feedback",
        choices=FEEDBACK_CHOICES,
        default="auto",
        help="what the base tracker learns of the refined box: none (only reported), reinit "
        "(re-initialise the OpenCV tracker on it every frame: resets its model), state "
        "(trackers with set_state); auto: state where supported, else none",
    )
    _run_options(evaluate)
    evaluate.set_defaults(run=_eval)

    refine = commands.add_parser(
        "refine-results",
        help="refine the saved results of any tracker offline and compare both",
        description="Refine saved results (RESULTS/<seq>.txt or RESULTS/<seq>/<seq>_001.txt, "
        "one x,y,w,h box per line, separated by commas, tabs or spaces): the refiner starts on "
        "each sequence's first ground-truth box and refines every later saved box. Writes "
        "OUT/<name>+AR/<seq>.txt, the comparison table, OUT/summary.json and plots. No feedback "
        "is possible offline: the saved trajectory cannot react to the refined boxes, so the "
        "gain can differ from running the tracker with the refiner in the loop.",
    )
    _common(refine, out_default=None)
    refine.add_argument("--results", required=True, help="folder of saved result files")
    refine.add_argument("--name", default=None, help="tracker name (default: the folder name)")
    refine.add_argument("--refiner", default="default", help=_REFINER_HELP)
    _run_options(refine)
    refine.set_defaults(run=_refine_results)

    oracle = commands.add_parser(
        "oracle",
        help="the refiner alone on jittered ground truth: mean IoU before and after (Table 1)",
        description="For evenly spaced frames of each sequence, jitter the ground-truth box in "
        "centre and scale (the training jitter with the given factors), refine it, and report "
        "the mean IoU with the ground truth before and after refinement, per sequence and "
        "overall. The refiner starts on each sequence's first visible ground-truth box. The same "
        "frames' ground truth is also jittered by a small factor (--near-perfect) and refined: "
        "how the refiner treats boxes that are already good. Both are split by how the ground "
        "truth was drawn (from masks or by hand) and by target size.",
    )
    _common(oracle, out_default="outputs/oracle.json")
    oracle.add_argument("--refiner", default="default", help=_REFINER_HELP)
    oracle.add_argument("--scale-jitter", type=float, default=0.25, help="default 0.25")
    oracle.add_argument("--centre-jitter", type=float, default=0.25, help="default 0.25")
    oracle.add_argument(
        "--frames-per-sequence",
        type=int,
        default=None,
        help="evenly spaced frames per sequence (default: every frame after the first)",
    )
    oracle.add_argument("--seed", type=int, default=0)
    oracle.add_argument(
        "--masks",
        action="store_true",
        help="also score masks (J) on sequences with ground-truth masks, from the ground-truth "
        "and the jittered box, against the filled box",
    )
    oracle.add_argument(
        "--near-perfect",
        type=_near_perfect_option,
        default=0.05,
        metavar="JITTER",
        help="also refine the ground truth jittered by this factor (centre and scale) and report "
        "the frames whose input IoU is >= 0.85; 'off' to skip (half the time); default 0.05",
    )
    add_ground_truth_option(oracle)
    oracle.set_defaults(run=_oracle)

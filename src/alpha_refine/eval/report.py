"""Scoring result folders and reporting: the "Base vs Base + AR" table, ``summary.json``.

:func:`score_folder` scores one folder of result files with :mod:`alpha_refine.eval.metrics`;
:func:`frame_changes` counts the frames whose box refinement made worse or better; an
:class:`EvalReport` gathers every tracker with and without refinement under one convention,
as the paper's Table 2, and :func:`write_report` writes it as ``summary.json`` and
``table.txt`` (the plots are :mod:`alpha_refine.eval.plots`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.metrics import (
    DatasetScores,
    SequenceScores,
    evaluate_sequence,
    get_convention,
    summarize,
)
from alpha_refine.eval.results import (
    find_result_file,
    read_result_boxes,
    read_times,
    time_file,
    write_text_atomic,
)


@dataclass
class TrackerScores:
    """One results folder scored: dataset scores, per-sequence scores and frames per second.

    ``fps`` is frames over seconds summed over all sequences, the initialisation frames left
    out; NaN when a time file is missing.
    """

    name: str
    folder: Path
    scores: DatasetScores
    sequences: list[SequenceScores]
    fps: float

    def to_dict(self) -> dict[str, Any]:
        s = self.scores
        return {
            "name": self.name,
            "folder": str(self.folder),
            "auc": s.auc,
            "norm_precision": s.norm_precision,
            "precision": s.precision,
            "mean_iou": s.mean_iou,
            "fps": None if math.isnan(self.fps) else self.fps,
            "curves": {
                "success_thresholds": s.success_thresholds.tolist(),
                "success": s.success_curve.tolist(),
                "precision_thresholds": s.precision_thresholds.tolist(),
                "precision": s.precision_curve.tolist(),
                "norm_precision_thresholds": s.norm_precision_thresholds.tolist(),
                "norm_precision": s.norm_precision_curve.tolist(),
            },
            "per_sequence": {
                q.name: {
                    "auc": q.auc,
                    "norm_precision": q.norm_precision,
                    "precision": q.precision,
                    "mean_iou": q.mean_iou,
                }
                for q in self.sequences
            },
        }


CHANGE_MARGIN = 0.05  # an IoU change larger than this makes a frame worse or better


@dataclass(frozen=True)
class FrameChanges:
    """What refinement did to single frames: the share of frames whose Base + AR box has an IoU
    with the ground truth more than ``margin`` below (``worse``) or above (``better``) that of
    the Base box on the same frame.

    Frames counted: every frame after the first whose ground truth is a box with a positive size
    (and that the dataset marks visible, where it has flags), pooled over the sequences (every
    frame weighs the same). IoUs are the convention's (with its handling of invalid
    predictions); a missing box has IoU 0. ``per_sequence`` maps each sequence to
    ``(frames, worse, better)``. Shares are NaN when no frame counts.
    """

    margin: float
    frames: int
    worse: float
    better: float
    per_sequence: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "frames": self.frames,
            "worse": self.worse,
            "better": self.better,
            "per_sequence": {
                name: {"frames": n, "worse": w, "better": b}
                for name, (n, w, b) in self.per_sequence.items()
            },
        }


def _share(hits: int, frames: int) -> float:
    return hits / frames if frames else math.nan


def frame_changes(
    base: TrackerScores,
    refined: TrackerScores,
    sequences: SequenceOf[Sequence],
    margin: float = CHANGE_MARGIN,
) -> FrameChanges:
    """Compare ``base`` and ``refined`` frame by frame on ``sequences`` (see
    :class:`FrameChanges`); both must have scored every sequence."""
    base_by_name = {s.name: s for s in base.sequences}
    refined_by_name = {s.name: s for s in refined.sequences}
    total = worse_total = better_total = 0
    per_sequence: dict[str, tuple[int, float, float]] = {}
    for sequence in sequences:
        if sequence.name not in base_by_name or sequence.name not in refined_by_name:
            raise ValueError(f"frame_changes: {sequence.name} was not scored for both trackers")
        old = np.nan_to_num(base_by_name[sequence.name].iou, nan=0.0)
        new = np.nan_to_num(refined_by_name[sequence.name].iou, nan=0.0)
        with np.errstate(invalid="ignore"):
            counted = sequence.visible & np.all(sequence.boxes[:, 2:] > 0, axis=1)
        counted[:1] = False  # the first frame is the given box
        change = (new - old)[counted]
        worse, better = int(np.sum(change < -margin)), int(np.sum(change > margin))
        frames = int(counted.sum())
        per_sequence[sequence.name] = (frames, _share(worse, frames), _share(better, frames))
        total += frames
        worse_total += worse
        better_total += better
    return FrameChanges(
        margin, total, _share(worse_total, total), _share(better_total, total), per_sequence
    )


@dataclass
class Comparison:
    """A base tracker and its refined version (``refined`` is ``None`` without a refiner);
    ``changes`` says on how many frames refinement made the box worse or better."""

    tracker: str
    base: TrackerScores
    refined: TrackerScores | None = None
    feedback: str | None = None
    changes: FrameChanges | None = None


@dataclass
class EvalReport:
    """Scores of every tracker, with and without refinement, under one convention."""

    convention: str
    dataset: str
    sequences: list[str]
    comparisons: list[Comparison]
    refiner: str | None = None
    refiner_fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)
    refined_fps_label: str = "+AR"

    def table(self) -> str:
        """The plain-text "Base vs Base + AR" table (scores in %), like the paper's Table 2."""
        return format_table(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything in plain Python values, for ``summary.json``."""
        trackers: dict[str, Any] = {}
        for c in self.comparisons:
            entry: dict[str, Any] = {"base": c.base.to_dict()}
            if c.refined is not None:
                entry["refined"] = c.refined.to_dict()
                entry["feedback"] = c.feedback
                entry["delta"] = {
                    key: getattr(c.refined.scores, key) - getattr(c.base.scores, key)
                    for key in ("auc", "norm_precision", "precision", "mean_iou")
                }
                if c.changes is not None:
                    entry["frame_changes"] = c.changes.to_dict()
            trackers[c.tracker] = entry
        return {
            "convention": self.convention,
            "convention_description": get_convention(self.convention).description,
            "dataset": self.dataset,
            "sequences": self.sequences,
            "refiner": self.refiner,
            "refiner_fingerprint": self.refiner_fingerprint,
            "trackers": trackers,
            "notes": self.notes,
        }


def _time_file_for(folder: Path, name: str) -> Path | None:
    for candidate in (time_file(folder, name), folder / name / f"{name}_time.txt"):
        if candidate.is_file():
            return candidate
    return None


def score_folder(
    folder: str | Path,
    sequences: SequenceOf[Sequence],
    convention: str,
    *,
    name: str | None = None,
) -> TrackerScores:
    """Score the result files in ``folder`` on ``sequences`` (already cut to ``max_frames``).

    A result file longer than its sequence is cut; a missing or shorter one raises.
    """
    folder = Path(folder)
    scores = []
    frames = 0
    seconds = 0.0
    timed = True
    for sequence in sequences:
        path = find_result_file(folder, sequence.name)
        if path is None:
            raise FileNotFoundError(f"no result for {sequence.name} in {folder}")
        boxes = read_result_boxes(path)
        if len(boxes) < len(sequence):
            raise ValueError(f"{path}: {len(boxes)} boxes for {len(sequence)} frames")
        boxes = boxes[: len(sequence)]
        scores.append(
            evaluate_sequence(
                boxes,
                sequence.boxes,
                sequence.attributes.get("target_visible"),
                convention,
                image_size=sequence.attributes.get("image_size"),
                name=sequence.name,
            )
        )
        times_path = _time_file_for(folder, sequence.name)
        if times_path is None:
            timed = False
            continue
        times = read_times(times_path)[: len(sequence)]
        frames += max(len(times) - 1, 0)
        seconds += float(np.sum(times[1:]))
    fps = frames / seconds if timed and seconds > 0 else math.nan
    return TrackerScores(name or folder.name, folder, summarize(scores), scores, fps)


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def _delta(new: float, old: float) -> str:
    return "-" if math.isnan(new) or math.isnan(old) else f"{100 * (new - old):+.1f}"


def _fps(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


_METRICS = (("AUC", "auc"), ("P_norm", "norm_precision"), ("P", "precision"))
_REFINED_METRICS = (*_METRICS, ("mean IoU", "mean_iou"))  # with a refiner: mean IoU too


def _table_rows(report: EvalReport, with_refiner: bool) -> list[list[str]]:
    rows = []
    for c in report.comparisons:
        row = [c.tracker]
        for _, key in _REFINED_METRICS if with_refiner else _METRICS:
            base = float(getattr(c.base.scores, key))
            row.append(_percent(base))
            if with_refiner:
                new = math.nan if c.refined is None else float(getattr(c.refined.scores, key))
                row += [_percent(new), _delta(new, base)]
        if with_refiner:
            changes = c.changes
            row += [
                _percent(math.nan if changes is None else changes.worse),
                _percent(math.nan if changes is None else changes.better),
            ]
        row.append(_fps(c.base.fps))
        if with_refiner:
            row.append(_fps(math.nan if c.refined is None else c.refined.fps))
        rows.append(row)
    return rows


def format_table(report: EvalReport) -> str:
    """The report as an aligned plain-text table; scores in %, FPS in frames per second."""
    with_refiner = any(c.refined is not None for c in report.comparisons)
    groups: list[tuple[str, list[str]]] = [("", ["tracker"])]
    if with_refiner:
        groups += [(f"{label} (%)", ["Base", "+AR", "diff"]) for label, _ in _REFINED_METRICS]
        groups.append(("frames (%)", ["worse", "better"]))
        groups.append(("FPS", ["Base", report.refined_fps_label]))
    else:
        groups += [(label, ["(%)"]) for label, _ in _METRICS]
        groups.append(("FPS", [""]))
    headers = [h for _, names in groups for h in names]
    rows = _table_rows(report, with_refiner)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    widths = [max(w, 6) for w in widths]
    widths[0] = max(widths[0], len("tracker"))
    # Widen each group's last column until the group title fits above it.
    column = 0
    spans = []
    for title, names in groups:
        span = list(range(column, column + len(names)))
        width = sum(widths[i] for i in span) + len(span) - 1
        if len(title) > width:
            widths[span[-1]] += len(title) - width
        spans.append((title, span))
        column += len(names)

    def join(cells: list[str]) -> str:
        parts = []
        for _, span in spans:
            text = " ".join(
                cells[i].ljust(widths[i]) if i == 0 else cells[i].rjust(widths[i]) for i in span
            )
            parts.append(text)
        return " | ".join(parts)

    group_line = " | ".join(
        title.center(sum(widths[i] for i in span) + len(span) - 1) for title, span in spans
    )
    lines = [
        f"Base vs Base + AR: {len(report.sequences)} sequences of {report.dataset}, "
        f"{report.convention} convention"
    ]
    if report.refiner is not None:
        weights = f" (weights {report.refiner_fingerprint})" if report.refiner_fingerprint else ""
        lines.append(f"refiner: {report.refiner}{weights}")
    lines += ["", group_line.rstrip(), join(headers).rstrip()]
    lines.append("-" * len(lines[-1]))
    lines += [join(row).rstrip() for row in rows]
    lines.append("")
    if with_refiner:
        feedback = sorted({c.feedback for c in report.comparisons if c.feedback})
        lines.append(f"feedback: {', '.join(feedback)}; diff = Base + AR - Base, in points")
        lines.append(
            f"frames: share of frames (after the first) whose IoU with the ground truth "
            f"refinement lowered (worse) or raised (better) by more than {CHANGE_MARGIN}"
        )
    lines.extend(report.notes)
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(report: EvalReport, out: Path) -> list[Path]:
    """Write ``summary.json`` and ``table.txt`` into ``out``; returns their paths."""
    summary = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False) + "\n"
    written = [write_text_atomic(out / "summary.json", summary)]
    write_text_atomic(out / "table.txt", report.table() + "\n")
    written.append(out / "table.txt")
    return written

"""Scoring result folders and reporting: the "Base vs Base + AR" table, ``summary.json``.

:func:`score_folder` scores one folder of result files with :mod:`alpha_refine.eval.metrics`;
:func:`frame_changes` counts the frames whose box refinement made worse or better;
:func:`compare` puts a base tracker and its refined version side by side, overall and split
(:func:`split_scores`) by how the ground truth was drawn and by target size, with the groups of
:mod:`alpha_refine.eval.groups`. An :class:`EvalReport` gathers every tracker with and without
refinement under one convention, as the paper's Table 2, and :func:`write_report` writes it as
``summary.json`` and ``table.txt`` (the plots are :mod:`alpha_refine.eval.plots`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.groups import (
    CHANGE_MARGIN,
    GROUND_TRUTH_KINDS,
    GROUND_TRUTH_LABELS,
    SIZE_BINS,
    ground_truth_kind,
    size_bin,
    size_bin_bounds,
)
from alpha_refine.eval.metrics import (
    DatasetScores,
    SequenceScores,
    evaluate_sequence,
    get_convention,
    pooled_success_curve,
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
            **_values(s, SCORE_KEYS),
            "fps": None if math.isnan(self.fps) else self.fps,
            "curves": {
                "success_thresholds": s.success_thresholds.tolist(),
                "success": s.success_curve.tolist(),
                "precision_thresholds": s.precision_thresholds.tolist(),
                "precision": s.precision_curve.tolist(),
                "norm_precision_thresholds": s.norm_precision_thresholds.tolist(),
                "norm_precision": s.norm_precision_curve.tolist(),
            },
            "per_sequence": {q.name: _values(q, SCORE_KEYS) for q in self.sequences},
        }


SCORE_KEYS = ("auc", "norm_precision", "precision", "mean_iou")  # of a DatasetScores
POOLED_KEYS = ("auc", "mean_iou")  # of a PooledScores


def _values(scores: Any, keys: SequenceOf[str]) -> dict[str, float]:
    return {key: float(getattr(scores, key)) for key in keys}


def _deltas(base: Any, refined: Any, keys: SequenceOf[str]) -> dict[str, float]:
    return {key: float(getattr(refined, key)) - float(getattr(base, key)) for key in keys}


@dataclass(frozen=True)
class FrameChanges:
    """What refinement did to single frames: the share of frames whose Base + AR box has an IoU
    with the ground truth more than ``margin`` below (``worse``) or above (``better``) that of
    the Base box on the same frame.

    Frames counted (:func:`counted_frames`): every frame after the first whose ground truth is a
    box with a positive size (and that the dataset marks visible, where it has flags), pooled
    over the sequences (every frame weighs the same). IoUs are the convention's (with its
    handling of invalid predictions); a missing box has IoU 0. ``per_sequence`` maps each
    sequence to ``(frames, worse, better)``. Shares are NaN when no frame counts.
    """

    margin: float
    frames: int
    worse: float
    better: float
    per_sequence: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    def to_dict(self, per_sequence: bool = True) -> dict[str, Any]:
        values: dict[str, Any] = {
            "margin": self.margin,
            "frames": self.frames,
            "worse": self.worse,
            "better": self.better,
        }
        if per_sequence:
            values["per_sequence"] = {
                name: {"frames": n, "worse": w, "better": b}
                for name, (n, w, b) in self.per_sequence.items()
            }
        return values


def _share(hits: int, frames: int) -> float:
    return hits / frames if frames else math.nan


def counted_frames(sequence: Sequence) -> NDArray[np.bool_]:
    """The frames of ``sequence`` that :func:`frame_changes` and the target-size split count:
    every frame after the first (the given box) whose ground truth is a box with a positive size
    and that the dataset marks visible."""
    with np.errstate(invalid="ignore"):
        counted: NDArray[np.bool_] = sequence.visible & np.all(sequence.boxes[:, 2:] > 0, axis=1)
    counted[:1] = False
    return counted


def _frame_ious(scores: TrackerScores) -> dict[str, NDArray[np.float64]]:
    """The per-frame IoUs of each sequence ``scores`` has, by name; a missing box as 0."""
    return {s.name: np.nan_to_num(s.iou, nan=0.0) for s in scores.sequences}


def frame_changes(
    base: TrackerScores,
    refined: TrackerScores,
    sequences: SequenceOf[Sequence],
    margin: float = CHANGE_MARGIN,
    frames: Mapping[str, NDArray[np.bool_]] | None = None,
) -> FrameChanges:
    """Compare ``base`` and ``refined`` frame by frame on ``sequences`` (see
    :class:`FrameChanges`); both must have scored every sequence. ``frames`` (by sequence
    name) counts only those frames instead of :func:`counted_frames`."""
    base_ious, refined_ious = _frame_ious(base), _frame_ious(refined)
    total = worse_total = better_total = 0
    per_sequence: dict[str, tuple[int, float, float]] = {}
    for sequence in sequences:
        if sequence.name not in base_ious or sequence.name not in refined_ious:
            raise ValueError(f"frame_changes: {sequence.name} was not scored for both trackers")
        old, new = base_ious[sequence.name], refined_ious[sequence.name]
        counted = counted_frames(sequence) if frames is None else frames[sequence.name]
        change = (new - old)[counted]
        worse, better = int(np.sum(change < -margin)), int(np.sum(change > margin))
        count = int(counted.sum())
        per_sequence[sequence.name] = (count, _share(worse, count), _share(better, count))
        total += count
        worse_total += worse
        better_total += better
    return FrameChanges(
        margin, total, _share(worse_total, total), _share(better_total, total), per_sequence
    )


@dataclass(frozen=True)
class PooledScores:
    """Scores of frames pooled over sequences, every frame weighing the same: ``auc``, the mean
    of their success curve (:func:`~alpha_refine.eval.metrics.pooled_success_curve`, the
    convention's thresholds and IoU), and ``mean_iou``; a missing box has IoU 0. NaN without
    frames."""

    frames: int
    success_curve: NDArray[np.float64]
    auc: float
    mean_iou: float


def pool_frames(scores: TrackerScores, frames: Mapping[str, NDArray[np.bool_]]) -> PooledScores:
    """The :class:`PooledScores` of ``scores`` over ``frames`` (per sequence name: which of its
    frames), under the convention ``scores`` were scored with."""
    ious = _frame_ious(scores)
    pooled = np.concatenate([np.zeros(0), *(ious[name][chosen] for name, chosen in frames.items())])
    curve = pooled_success_curve(pooled, scores.scores.convention)
    mean = float(np.mean(pooled)) if len(pooled) else math.nan
    return PooledScores(len(pooled), curve, float(np.mean(curve)), mean)


@dataclass(frozen=True)
class SplitScores:
    """A tracker's scores on one group of a split (:func:`split_scores`), Base and, with a
    refiner, Base + AR.

    ``sequences``: how many sequences have frames in the group; ``frames``: how many of their
    frames it counts (:func:`counted_frames`). ``base``/``refined``: for a group of sequences (by
    ground truth) their :class:`~alpha_refine.eval.metrics.DatasetScores`, as the overall table
    scores all sequences; for a group of frames (by target size) the :class:`PooledScores` of
    those frames. ``changes``: the frames refinement made worse or better, among the group's.
    """

    sequences: int
    frames: int
    base: DatasetScores | PooledScores
    refined: DatasetScores | PooledScores | None = None
    changes: FrameChanges | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The scores this group has: :data:`SCORE_KEYS` or :data:`POOLED_KEYS`."""
        return SCORE_KEYS if isinstance(self.base, DatasetScores) else POOLED_KEYS

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "sequences": self.sequences,
            "frames": self.frames,
            "base": _values(self.base, self.keys),
        }
        if self.refined is not None:
            entry["refined"] = _values(self.refined, self.keys)
            entry["delta"] = _deltas(self.base, self.refined, self.keys)
        if self.changes is not None:
            entry["frame_changes"] = self.changes.to_dict(per_sequence=False)
        return entry


@dataclass(frozen=True)
class Grouping:
    """Where each sequence and frame of an evaluation belongs in the splits.

    ``kinds``: sequence name -> how its ground truth was drawn
    (:func:`~alpha_refine.eval.groups.ground_truth_kind`); ``sizes``: sequence name -> the
    :data:`~alpha_refine.eval.groups.SIZE_BINS` label of each frame's ground-truth box (the square
    root of its area), ``""`` for the frames not counted (:func:`counted_frames`).
    """

    kinds: dict[str, str]
    sizes: dict[str, NDArray[np.object_]]

    @classmethod
    def of(
        cls, sequences: SequenceOf[Sequence], kinds: Mapping[str, str] | None = None
    ) -> Grouping:
        """The grouping of ``sequences``; ``kinds`` overrides the ground-truth kind by name."""
        sizes = {}
        for sequence in sequences:
            labels = np.full(len(sequence), "", dtype=object)
            for index in np.flatnonzero(counted_frames(sequence)):
                _, _, width, height = sequence.boxes[index]
                labels[index] = size_bin(math.sqrt(width * height))
            sizes[sequence.name] = labels
        return cls({s.name: ground_truth_kind(s, kinds) for s in sequences}, sizes)

    def groups(
        self, sequences: SequenceOf[Sequence]
    ) -> dict[str, dict[str, dict[str, NDArray[np.bool_]]]]:
        """``{split: {group: {sequence name: its counted frames in the group}}}`` for the splits
        ``"ground_truth"`` (by :data:`~alpha_refine.eval.groups.GROUND_TRUTH_KINDS`) and
        ``"target_size"`` (by size bin label), in that order; groups without a sequence, and
        sequences without a frame in a size bin, are left out."""
        counted = {s.name: self.sizes[s.name] != "" for s in sequences}
        by_kind = {
            kind: {s.name: counted[s.name] for s in sequences if self.kinds[s.name] == kind}
            for kind in GROUND_TRUTH_KINDS
        }
        by_size = {}
        for _, _, label in SIZE_BINS:
            chosen = {s.name: self.sizes[s.name] == label for s in sequences}
            by_size[label] = {name: frames for name, frames in chosen.items() if frames.any()}
        return {
            "ground_truth": {kind: members for kind, members in by_kind.items() if members},
            "target_size": {label: members for label, members in by_size.items() if members},
        }


def split_scores(
    base: TrackerScores,
    refined: TrackerScores | None,
    sequences: SequenceOf[Sequence],
    grouping: Grouping,
) -> dict[str, dict[str, SplitScores]]:
    """``base`` (and ``refined``) split as :meth:`Grouping.groups` groups ``sequences``: per
    kind of ground truth, the scores of that kind's sequences; per target size, the pooled
    scores of the frames whose ground-truth box has that size; each with its
    :func:`frame_changes` where there is a refined version."""
    by_name = {s.name: s for s in sequences}
    splits: dict[str, dict[str, SplitScores]] = {}
    for split, groups in grouping.groups(sequences).items():
        splits[split] = {}
        for group, frames in groups.items():
            members = [by_name[name] for name in frames]
            splits[split][group] = SplitScores(
                len(members),
                int(sum(chosen.sum() for chosen in frames.values())),
                _group_scores(base, split, frames),
                None if refined is None else _group_scores(refined, split, frames),
                None if refined is None else frame_changes(base, refined, members, frames=frames),
            )
    return splits


def _group_scores(
    tracker: TrackerScores, split: str, frames: Mapping[str, NDArray[np.bool_]]
) -> DatasetScores | PooledScores:
    """A group of frames pooled (by target size), or its sequences summarized."""
    if split == "target_size":
        return pool_frames(tracker, frames)
    return summarize([q for q in tracker.sequences if q.name in frames])


@dataclass
class Comparison:
    """A base tracker and its refined version (``refined`` is ``None`` without a refiner);
    ``changes`` says on how many frames refinement made the box worse or better; ``splits``
    holds both split by ground truth and target size (:func:`split_scores`)."""

    tracker: str
    base: TrackerScores
    refined: TrackerScores | None = None
    feedback: str | None = None
    changes: FrameChanges | None = None
    splits: dict[str, dict[str, SplitScores]] = field(default_factory=dict)


def compare(
    tracker: str,
    base: TrackerScores,
    refined: TrackerScores | None,
    sequences: SequenceOf[Sequence],
    grouping: Grouping,
    feedback: str | None = None,
) -> Comparison:
    """The :class:`Comparison` of ``base`` and ``refined`` (``None``: no refiner) on
    ``sequences``, with its frame changes and splits."""
    changes = None if refined is None else frame_changes(base, refined, sequences)
    splits = split_scores(base, refined, sequences, grouping)
    return Comparison(tracker, base, refined, feedback, changes, splits)


@dataclass
class EvalReport:
    """Scores of every tracker, with and without refinement, under one convention;
    ``ground_truth`` maps each sequence to how its ground truth was drawn (``"masks"`` or
    ``"hand"``, as the splits group them)."""

    convention: str
    dataset: str
    sequences: list[str]
    comparisons: list[Comparison]
    refiner: str | None = None
    refiner_fingerprint: str | None = None
    notes: list[str] = field(default_factory=list)
    refined_fps_label: str = "+AR"
    ground_truth: dict[str, str] = field(default_factory=dict)

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
                entry["delta"] = _deltas(c.base.scores, c.refined.scores, SCORE_KEYS)
                if c.changes is not None:
                    entry["frame_changes"] = c.changes.to_dict()
            entry["splits"] = {
                split: {name: group.to_dict() for name, group in groups.items()}
                for split, groups in c.splits.items()
            }
            trackers[c.tracker] = entry
        return {
            "convention": self.convention,
            "convention_description": get_convention(self.convention).description,
            "dataset": self.dataset,
            "sequences": self.sequences,
            "ground_truth": self.ground_truth,
            "size_bins": size_bin_bounds(),
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
_POOLED_METRICS = (("AUC", "auc"), ("mean IoU", "mean_iou"))  # the target-size split's


def _score_cells(
    base: Any,
    refined: Any | None,
    changes: FrameChanges | None,
    metrics: SequenceOf[tuple[str, str]],
    with_refiner: bool,
) -> list[str]:
    """A row's score cells: per metric the Base value (and +AR and the difference), then the
    shares of frames made worse and better (with a refiner)."""
    cells = []
    for _, key in metrics:
        old = float(getattr(base, key))
        cells.append(_percent(old))
        if with_refiner:
            new = math.nan if refined is None else float(getattr(refined, key))
            cells += [_percent(new), _delta(new, old)]
    if with_refiner:
        cells += [
            _percent(math.nan if changes is None else changes.worse),
            _percent(math.nan if changes is None else changes.better),
        ]
    return cells


def _score_columns(
    metrics: SequenceOf[tuple[str, str]], with_refiner: bool
) -> list[tuple[str, list[str]]]:
    """The column groups of :func:`_score_cells`."""
    if not with_refiner:
        return [(label, ["(%)"]) for label, _ in metrics]
    columns = [(f"{label} (%)", ["Base", "+AR", "diff"]) for label, _ in metrics]
    return [*columns, ("frames (%)", ["worse", "better"])]


def _grid(columns: list[tuple[str, list[str]]], rows: list[list[str]]) -> list[str]:
    """Rows under column groups (a title over each group's headers) as aligned lines: titles,
    headers, a rule, the rows. The first group's cells are left-aligned, the others right."""
    headers = [h for _, names in columns for h in names]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    widths = [max(w, 6) for w in widths]
    # Widen each group's last column until the group title fits above it.
    column = 0
    spans = []
    for title, names in columns:
        span = list(range(column, column + len(names)))
        width = sum(widths[i] for i in span) + len(span) - 1
        if len(title) > width:
            widths[span[-1]] += len(title) - width
        spans.append((title, span))
        column += len(names)
    left = spans[0][1]

    def join(cells: list[str]) -> str:
        parts = []
        for _, span in spans:
            text = " ".join(
                cells[i].ljust(widths[i]) if i in left else cells[i].rjust(widths[i]) for i in span
            )
            parts.append(text)
        return " | ".join(parts)

    group_line = " | ".join(
        title.center(sum(widths[i] for i in span) + len(span) - 1) for title, span in spans
    )
    lines = [group_line.rstrip(), join(headers).rstrip()]
    lines.append("-" * len(lines[-1]))
    return lines + [join(row).rstrip() for row in rows]


def format_table(report: EvalReport) -> str:
    """The report as an aligned plain-text table, then its splits by ground truth and target
    size (:func:`format_splits`); scores in %, FPS in frames per second."""
    with_refiner = any(c.refined is not None for c in report.comparisons)
    metrics = _REFINED_METRICS if with_refiner else _METRICS
    columns = [("", ["tracker"]), *_score_columns(metrics, with_refiner)]
    columns.append(("FPS", ["Base", report.refined_fps_label] if with_refiner else [""]))
    rows = []
    for c in report.comparisons:
        refined = None if c.refined is None else c.refined.scores
        row = [c.tracker, *_score_cells(c.base.scores, refined, c.changes, metrics, with_refiner)]
        row.append(_fps(c.base.fps))
        if with_refiner:
            row.append(_fps(math.nan if c.refined is None else c.refined.fps))
        rows.append(row)
    lines = [
        f"Base vs Base + AR: {len(report.sequences)} sequences of {report.dataset}, "
        f"{report.convention} convention"
    ]
    if report.refiner is not None:
        weights = f" (weights {report.refiner_fingerprint})" if report.refiner_fingerprint else ""
        lines.append(f"refiner: {report.refiner}{weights}")
    lines += ["", *_grid(columns, rows), ""]
    if with_refiner:
        feedback = sorted({c.feedback for c in report.comparisons if c.feedback})
        lines.append(f"feedback: {', '.join(feedback)}; diff = Base + AR - Base, in points")
        lines.append(
            f"frames: share of frames (after the first) whose IoU with the ground truth "
            f"refinement lowered (worse) or raised (better) by more than {CHANGE_MARGIN}"
        )
    lines.extend(report.notes)
    splits = format_splits(report)
    if splits:
        lines += ["", splits] if lines[-1] else [splits]
    return "\n".join(lines)


def format_splits(report: EvalReport) -> str:
    """The tables by ground truth and by target size ("" when no comparison has splits)."""
    with_refiner = any(c.refined is not None for c in report.comparisons)
    tables = (
        ("ground_truth", "ground truth", _REFINED_METRICS if with_refiner else _METRICS),
        ("target_size", "size (px)", _POOLED_METRICS),
    )
    lines = []
    for split, heading, metrics in tables:
        rows = [
            [
                c.tracker,
                GROUND_TRUTH_LABELS.get(name, name),
                str(group.sequences),
                str(group.frames),
                *_score_cells(group.base, group.refined, group.changes, metrics, with_refiner),
            ]
            for c in report.comparisons
            for name, group in c.splits.get(split, {}).items()
        ]
        if rows:
            columns = [("", ["tracker", heading]), ("", ["seqs", "frames"])]
            lines += [*_grid([*columns, *_score_columns(metrics, with_refiner)], rows), ""]
    if not lines:
        return ""
    return "\n".join(
        [
            "By ground truth and by target size",
            "",
            *lines,
            "ground truth: 'masks' for sequences with ground-truth masks (their boxes are the "
            "masks'), else 'hand' (--ground-truth overrides); scores over each kind's sequences, "
            "as above",
            "size (px): the square root of the ground-truth box area; AUC and mean IoU over the "
            "frames (after the first) whose box has that size, pooled (every frame weighs the "
            "same)",
        ]
    )


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

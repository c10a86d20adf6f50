"""Run base trackers with and without Alpha-Refine on a dataset, then score and report them.

:func:`evaluate_trackers` is the ``alpha-refine eval`` command and :func:`refine_saved_results`
is ``alpha-refine refine-results``. Both write result files (see
:mod:`alpha_refine.eval.results`), skip sequences whose results are already complete (resume),
can split the work over processes (``workers``) and machines (``shard``), and score the results
with :mod:`alpha_refine.eval.metrics` into an :class:`EvalReport`: the "Base vs Base + AR" table
of the paper's Table 2, a JSON summary and success/precision plots.

Frames are BGR ``uint8`` and boxes ``x, y, w, h`` pixels throughout.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
import warnings
from collections.abc import Iterable
from collections.abc import Sequence as SequenceOf
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from alpha_refine.data.datasets import load_dataset
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.metrics import (
    DatasetScores,
    SequenceScores,
    evaluate_sequence,
    get_convention,
    summarize,
)
from alpha_refine.eval.results import (
    claim_folder,
    find_result_file,
    is_complete,
    read_result_boxes,
    read_run_info,
    read_times,
    result_file,
    time_file,
    write_boxes,
    write_text_atomic,
    write_times,
)
from alpha_refine.refiner import Refiner
from alpha_refine.trackers import (
    FEEDBACK_MODES,
    Feedback,
    RefinedTracker,
    ReplayTracker,
    Tracker,
    TrackerUnavailableError,
    create_tracker,
    resolve_feedback,
)

__all__ = [
    "Comparison",
    "EvalReport",
    "TrackerScores",
    "default_convention",
    "evaluate_trackers",
    "limit_sequence",
    "load_refiner",
    "parse_shard",
    "refine_saved_results",
    "refined_folder_name",
    "refiner_fingerprint",
    "track_sequence",
]

RefinerSpec = str | Refiner | None


# ----------------------------------------------------------------------------- refiners


def load_refiner(
    spec: str | None, device: str = "auto", gate: bool | None = None
) -> Refiner | None:
    """The refiner named on the command line: ``"none"``/``None`` (no refiner), ``"default"``
    (the embedded model) or weights for :meth:`Refiner.from_pretrained` (folder, file, hub id).

    ``gate``: ``True``/``False`` turn the safe-refine gate on (default thresholds) or off;
    ``None`` keeps the weights' default.
    """
    if spec is None or spec.lower() == "none":
        return None
    options: dict[str, Any] = {"device": device}
    if gate is not None:
        options["gate"] = gate
    if spec == "default":
        try:
            return Refiner.from_pretrained(**options)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"--refiner default: the embedded model is missing from this install ({error}); "
                "pass a weights folder, .safetensors file or hub id (for example the training "
                "run's runs/default-r18/latest), or --refiner none for the base trackers only"
            ) from error
    return Refiner.from_pretrained(spec, **options)


def refiner_fingerprint(refiner: Refiner) -> str:
    """16 hex digits of a SHA-256 over the network's weights: two runs with the same
    fingerprint used the same weights (a training run may have moved the files meanwhile)."""
    return refiner.fingerprint


def _refiner_label(spec: RefinerSpec) -> str | None:
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    return spec if isinstance(spec, str) else repr(spec)


# ----------------------------------------------------------------------------- sequences


def limit_sequence(sequence: Sequence, max_frames: int | None) -> Sequence:
    """The first ``max_frames`` frames of ``sequence`` (the sequence itself if shorter).

    Per-frame arrays in ``attributes`` (visibility flags...) are cut to match.
    """
    if max_frames is None or len(sequence) <= max_frames:
        return sequence
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    length = len(sequence)
    attributes = {
        key: value[:max_frames]
        if isinstance(value, np.ndarray) and value.shape[:1] == (length,)
        else value
        for key, value in sequence.attributes.items()
    }
    return Sequence(
        sequence.name,
        sequence.boxes[:max_frames],
        sequence.frame,
        visible=sequence.visible[:max_frames],
        attributes=attributes,
    )


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)`` with ``0 <= i < n``: shard ``i`` runs sequences ``i, i+n, ...``."""
    index_text, sep, count_text = text.partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index, count = -1, 0
    if not sep or count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard must be i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return index, count


def _load_sequences(
    dataset: str | SequenceOf[Sequence], names: SequenceOf[str] | None
) -> list[Sequence]:
    if isinstance(dataset, str):
        return load_dataset(dataset, names=names)
    sequences = list(dataset)
    if names is not None:
        wanted = set(names)
        missing = wanted - {s.name for s in sequences}
        if missing:
            raise ValueError(f"no sequences named {sorted(missing)}")
        sequences = [s for s in sequences if s.name in wanted]
    return sequences


def default_convention(dataset: str | SequenceOf[Sequence]) -> str:
    """``lasot`` for LaSOT specs, ``pytracking`` otherwise.

    The paper's Table 2 numbers come from pytracking's analysis (AUC, normalised precision at
    0.20, precision at 20 px), which for LaSOT counts invisible frames as misses.
    """
    if isinstance(dataset, str) and dataset.lower().startswith("lasot:"):
        return "lasot"
    return "pytracking"


# ------------------------------------------------------------------------------ tracking


@dataclass
class SequenceRun:
    """One tracker on one sequence: ``N x 4`` boxes and ``N`` seconds per frame.

    For a :class:`RefinedTracker` also the base tracker's boxes and ``N x 3`` timings
    (base, refine, feedback).
    """

    boxes: NDArray[np.float64]
    seconds: NDArray[np.float64]
    base_boxes: NDArray[np.float64] | None = None
    timing: NDArray[np.float64] | None = None


def track_sequence(tracker: Tracker, sequence: Sequence, *, progress: bool = False) -> SequenceRun:
    """Run ``tracker`` over ``sequence``: ``init`` on frame 0's ground truth, then ``update``.

    Row 0 of the boxes is the ground-truth box (the standard protocol) and its time the
    initialisation.
    """
    count = len(sequence)
    start = sequence.boxes[0]
    if not (np.all(np.isfinite(start)) and start[2] > 0 and start[3] > 0):
        raise ValueError(f"{sequence.name}: the first frame has no ground-truth box to start on")
    refined = isinstance(tracker, RefinedTracker)
    boxes = np.full((count, 4), np.nan)
    seconds = np.zeros(count)
    base_boxes = np.full((count, 4), np.nan) if refined else None
    timing = np.zeros((count, 3)) if refined else None
    bar = tqdm(
        total=count, desc=f"{tracker.name} {sequence.name}", leave=False, disable=not progress
    )
    with bar:
        for index in range(count):
            frame = sequence.frame(index)
            t0 = time.perf_counter()
            if index == 0:
                tracker.init(frame, start)
                box = start
            else:
                box = tracker.update(frame)
            seconds[index] = time.perf_counter() - t0
            boxes[index] = box
            if isinstance(tracker, RefinedTracker) and base_boxes is not None:
                assert timing is not None
                base_boxes[index] = start if index == 0 else tracker.last_base_box
                part = tracker.last_timing
                timing[index] = (part.base, part.refine, part.feedback)
            bar.update()
    return SequenceRun(boxes, seconds, base_boxes, timing)


@dataclass(frozen=True)
class _Task:
    """Work on one sequence for one tracker; picklable for worker processes."""

    sequence: str
    tracker: str
    base_dir: str | None  # write the base tracker's results here (None: do not)
    refined_dir: str | None  # write the refined results here (None: no refiner)
    feedback: Feedback
    max_frames: int | None
    replay: str | None = None  # saved results played back instead of an OpenCV tracker


def _base_tracker(task: _Task, sequence: Sequence) -> Tracker:
    if task.replay is None:
        return create_tracker(task.tracker)
    path = find_result_file(task.replay, sequence.name)
    if path is None:
        raise FileNotFoundError(f"no saved result for {sequence.name} in {task.replay}")
    saved = read_result_boxes(path)
    if len(saved) < len(sequence):
        raise ValueError(f"{path}: {len(saved)} boxes for {len(sequence)} frames")
    return ReplayTracker(saved[: len(sequence)], task.tracker)


def _write_run(folder: str, name: str, run: SequenceRun) -> None:
    if run.base_boxes is not None and run.timing is not None:
        write_boxes(Path(folder) / f"{name}_base.txt", run.base_boxes)
        write_times(Path(folder) / f"{name}_timing.txt", run.timing)
    write_times(time_file(folder, name), run.seconds)
    write_boxes(result_file(folder, name), run.boxes)  # last: its presence marks completion


def _execute(
    task: _Task, sequence: Sequence, refiner: Refiner | None, progress: bool = False
) -> None:
    sequence = limit_sequence(sequence, task.max_frames)
    count = len(sequence)
    need_base = task.base_dir is not None and not is_complete(task.base_dir, sequence.name, count)
    if task.refined_dir is None or refiner is None:
        if need_base and task.base_dir is not None:
            run = track_sequence(_base_tracker(task, sequence), sequence, progress=progress)
            _write_run(task.base_dir, sequence.name, run)
        return
    if task.feedback == "none":
        # The refiner does not touch the base trajectory, so the refined result is made on
        # exactly the base result's boxes: in the same pass, or by refining the saved base
        # result (MIL, for one, does not repeat its trajectory from run to run).
        saved = task.base_dir is not None and task.replay is None and not need_base
        if saved and task.base_dir is not None:
            base: Tracker = ReplayTracker(
                read_result_boxes(result_file(task.base_dir, sequence.name))[:count], task.tracker
            )
        else:
            base = _base_tracker(task, sequence)
        run = track_sequence(RefinedTracker(base, refiner, "none"), sequence, progress=progress)
        assert run.base_boxes is not None and run.timing is not None
        if saved and task.base_dir is not None:
            run.timing[:, 0] = read_times(time_file(task.base_dir, sequence.name))[:count]
            run.seconds = run.timing.sum(axis=1)
        elif need_base and task.base_dir is not None:
            _write_run(task.base_dir, sequence.name, SequenceRun(run.base_boxes, run.timing[:, 0]))
        _write_run(task.refined_dir, sequence.name, run)
        return
    if need_base and task.base_dir is not None:
        base_run = track_sequence(_base_tracker(task, sequence), sequence, progress=progress)
        _write_run(task.base_dir, sequence.name, base_run)
    tracker = RefinedTracker(_base_tracker(task, sequence), refiner, task.feedback)
    run = track_sequence(tracker, sequence, progress=progress)
    _write_run(task.refined_dir, sequence.name, run)


# ------------------------------------------------------------------------- worker processes


@dataclass(frozen=True)
class _WorkerSetup:
    dataset: str
    refiner: str | None
    device: str
    threads: int
    gate: bool | None


_worker_state: dict[str, Any] = {}


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)


def _worker_init(setup: _WorkerSetup) -> None:
    _set_threads(setup.threads)
    _worker_state["setup"] = setup
    _worker_state["refiner"] = load_refiner(setup.refiner, setup.device, setup.gate)


def _worker_run(task: _Task) -> str:
    setup: _WorkerSetup = _worker_state["setup"]
    (sequence,) = load_dataset(setup.dataset, names=[task.sequence])
    _execute(task, sequence, _worker_state["refiner"])
    return f"{task.tracker} {task.sequence}"


@dataclass(frozen=True)
class _Runner:
    """How to run tasks: in this process or in workers, with which refiner."""

    dataset: str | SequenceOf[Sequence]
    refiner_spec: RefinerSpec
    refiner: Refiner | None
    device: str
    workers: int
    threads: int | None
    gate: bool | None
    progress: bool

    def run(self, tasks: list[_Task], sequences: dict[str, Sequence]) -> None:
        if not tasks:
            return
        if self.workers <= 1:
            _set_threads(self.threads)
            for task in tqdm(tasks, desc="sequences", disable=not self.progress):
                _execute(task, sequences[task.sequence], self.refiner, progress=self.progress)
            return
        if not isinstance(self.dataset, str) or isinstance(self.refiner_spec, Refiner):
            raise ValueError(
                "workers > 1 needs the dataset as a spec string and the refiner as a name or "
                "path (each worker process loads its own)"
            )
        threads = 1 if self.threads is None else self.threads
        setup = _WorkerSetup(self.dataset, self.refiner_spec, self.device, threads, self.gate)
        # spawn, not fork: torch and OpenCV thread pools do not survive a fork reliably.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_worker_init,
            initargs=(setup,),
        ) as pool:
            futures = [pool.submit(_worker_run, task) for task in tasks]
            for future in tqdm(
                as_completed(futures),
                total=len(futures),
                desc="sequences",
                disable=not self.progress,
            ):
                future.result()


# ------------------------------------------------------------------------------- scoring


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


@dataclass
class Comparison:
    """A base tracker and its refined version (``refined`` is ``None`` without a refiner)."""

    tracker: str
    base: TrackerScores
    refined: TrackerScores | None = None
    feedback: str | None = None


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


def refined_folder_name(tracker: str, feedback: str, gate: bool = False) -> str:
    """``<tracker>+AR`` without feedback, ``<tracker>+AR-<feedback>`` with it; ``+gate``
    appended for a refiner with the safe-refine gate on."""
    name = f"{tracker}+AR" if feedback == "none" else f"{tracker}+AR-{feedback}"
    return f"{name}+gate" if gate else name


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def _delta(new: float, old: float) -> str:
    return "-" if math.isnan(new) or math.isnan(old) else f"{100 * (new - old):+.1f}"


def _fps(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


_METRICS = (("AUC", "auc"), ("P_norm", "norm_precision"), ("P", "precision"))


def _table_rows(report: EvalReport, with_refiner: bool) -> list[list[str]]:
    rows = []
    for c in report.comparisons:
        row = [c.tracker]
        for _, key in _METRICS:
            base = float(getattr(c.base.scores, key))
            row.append(_percent(base))
            if with_refiner:
                new = math.nan if c.refined is None else float(getattr(c.refined.scores, key))
                row += [_percent(new), _delta(new, base)]
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
        groups += [(f"{label} (%)", ["Base", "+AR", "diff"]) for label, _ in _METRICS]
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


def _write_outputs(report: EvalReport, out: Path, plots: bool) -> list[Path]:
    summary = json.dumps(_json_safe(report.to_dict()), indent=2, allow_nan=False) + "\n"
    written = [write_text_atomic(out / "summary.json", summary)]
    write_text_atomic(out / "table.txt", report.table() + "\n")
    written.append(out / "table.txt")
    if plots:
        from alpha_refine.eval.plots import write_plots

        written.extend(write_plots(report, out))
    return written


# ------------------------------------------------------------------------------- commands


def _check_workers(workers: int, threads: int | None) -> None:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")


def _select_shard(sequences: list[Sequence], shard: tuple[int, int] | str | None) -> list[Sequence]:
    if shard is None:
        return sequences
    index, count = parse_shard(shard) if isinstance(shard, str) else shard
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in 0..{count - 1}, got {index}")
    return sequences[index::count]


def _missing(folder: Path, sequences: Iterable[Sequence]) -> list[str]:
    return [s.name for s in sequences if find_result_file(folder, s.name) is None]


def _resolve_refiner(
    refiner: RefinerSpec, device: str, gate: bool | None, summarize_only: bool
) -> tuple[Refiner | None, str | None]:
    """The refiner, loaded even to only score (its gate names the results folder), and its
    fingerprint (``None`` when only scoring: the results' ``run.json`` has the one they used).
    """
    if isinstance(refiner, Refiner):
        if gate is not None:
            raise ValueError("gate: set it on the Refiner given (Refiner(gate=...)), not here")
        loaded: Refiner | None = refiner
    else:
        loaded = load_refiner(refiner, device, gate)
    if loaded is None or summarize_only:
        return loaded, None
    return loaded, refiner_fingerprint(loaded)


def _gated(refiner: Refiner | None) -> bool:
    return refiner is not None and refiner.gate is not None


def _refiner_notes(refiner: Refiner | None) -> list[str]:
    if refiner is None:
        return []
    gate = "off" if refiner.gate is None else f"on ({refiner.gate.describe()})"
    return [f"safe-refine gate: {gate}"]


def evaluate_trackers(
    dataset: str | SequenceOf[Sequence],
    trackers: SequenceOf[str],
    out: str | Path,
    *,
    refiner: RefinerSpec = None,
    device: str = "auto",
    feedback: str = "auto",
    convention: str = "auto",
    workers: int = 1,
    threads: int | None = None,
    shard: tuple[int, int] | str | None = None,
    max_frames: int | None = None,
    names: SequenceOf[str] | None = None,
    summarize_only: bool = False,
    plots: bool = True,
    progress: bool = True,
    gate: bool | None = None,
) -> EvalReport | None:
    """Run OpenCV base trackers with and without the refiner and compare them.

    Results go to ``<out>/<tracker>/`` and ``<out>/<tracker>+AR[-feedback][+gate]/`` (see
    :func:`refined_folder_name`); complete sequences are skipped. Without ``shard`` the results
    of all sequences are then scored into an :class:`EvalReport`, also written as
    ``<out>/summary.json``, ``<out>/table.txt`` and ``<out>/success.png``/``precision.png``
    (if matplotlib is installed). With ``shard`` only that shard runs and ``None`` is returned:
    score everything afterwards with ``summarize_only=True`` (or a run without ``shard``).

    Args:
        dataset: a :func:`~alpha_refine.data.load_dataset` spec, or sequences (in-process only).
        trackers: OpenCV tracker names (``"mil"``, ``"csrt"``...; see
            :func:`~alpha_refine.trackers.available_trackers`).
        out: output folder.
        refiner: ``None``/``"none"`` (base trackers only), ``"default"`` (embedded weights),
            a weights folder, file or hub id, or a :class:`Refiner` (in-process only).
        device: the refiner's device (``"auto"``: CUDA when available).
        feedback: ``auto``, ``none``, ``state`` or ``reinit``; see
            :class:`~alpha_refine.trackers.RefinedTracker`.
        convention: a metrics convention or ``"auto"`` (:func:`default_convention`).
        workers: processes, each with its own refiner (needs a spec string ``dataset``).
        threads: torch and OpenCV threads per process (default: 1 with several workers,
            the libraries' own default otherwise).
        shard: ``(i, n)`` or ``"i/n"``: run only sequences ``i, i + n, ...``.
        max_frames: only the first frames of each sequence (quick runs); scored the same way.
        names: only these sequences.
        summarize_only: run nothing, score the existing results.
        plots: write the PNG plots.
        progress: show progress bars.
        gate: turn the refiner's safe-refine gate on (``True``, default thresholds) or off
            (``False``); ``None`` keeps the weights' default. Not with a :class:`Refiner`.
    """
    _check_workers(workers, threads)
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
    if not trackers:
        raise ValueError("name at least one tracker")
    conv = default_convention(dataset) if convention == "auto" else get_convention(convention).name
    out = Path(out)
    all_sequences = [limit_sequence(s, max_frames) for s in _load_sequences(dataset, names)]
    if not all_sequences:
        raise ValueError("the dataset has no sequences")
    label = _refiner_label(refiner)
    feedbacks = {name: _feedback_for(name, feedback, summarize_only) for name in trackers}
    loaded, fingerprint = _resolve_refiner(refiner, device, gate, summarize_only)
    folders = {n: refined_folder_name(n, feedbacks[n], _gated(loaded)) for n in trackers}

    if not summarize_only:
        selected = _select_shard(all_sequences, shard)
        tasks = []
        for name in trackers:
            base_dir = out / name
            claim_folder(base_dir, _run_info(name, (None, None, None), "none", max_frames))
            refined_dir = None
            if loaded is not None:
                refined_dir = out / folders[name]
                info = _run_info(name, (label, loaded, fingerprint), feedbacks[name], max_frames)
                claim_folder(refined_dir, info)
            for sequence in selected:
                count = len(sequence)
                if is_complete(base_dir, sequence.name, count) and (
                    refined_dir is None or is_complete(refined_dir, sequence.name, count)
                ):
                    continue
                tasks.append(
                    _Task(
                        sequence.name,
                        name,
                        str(base_dir),
                        None if refined_dir is None else str(refined_dir),
                        feedbacks[name],
                        max_frames,
                    )
                )
        runner = _Runner(dataset, refiner, loaded, device, workers, threads, gate, progress)
        runner.run(tasks, {s.name: s for s in all_sequences})
        if shard is not None:
            return None

    comparisons = []
    missing: list[str] = []
    for name in trackers:
        base_dir = out / name
        refined_dir = out / folders[name] if label else None
        for folder in (base_dir, refined_dir):
            if folder is not None:
                missing += [f"{folder.name}/{m}" for m in _missing(folder, all_sequences)]
    if missing:
        raise FileNotFoundError(
            f"results missing in {out} for {len(missing)} tracker/sequence pairs "
            f"(run every shard first): {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else "")
        )
    for name in trackers:
        base = score_folder(out / name, all_sequences, conv, name=name)
        refined = None
        if label is not None:
            folder = out / folders[name]
            refined = score_folder(folder, all_sequences, conv, name=folder.name)
            if fingerprint is None:
                fingerprint = (read_run_info(folder) or {}).get("refiner_fingerprint")
        comparisons.append(Comparison(name, base, refined, feedbacks[name] if label else None))
    notes = ["FPS: frames over seconds summed over all sequences, first frames left out"]
    if label is not None:
        notes[0] += f"{_device(loaded)}; +AR: base tracker + refiner (+ feedback) per frame"
    notes += _refiner_notes(loaded)
    report = EvalReport(
        conv,
        dataset if isinstance(dataset, str) else "in-memory sequences",
        [s.name for s in all_sequences],
        comparisons,
        refiner=label,
        refiner_fingerprint=fingerprint,
        notes=notes,
    )
    _write_outputs(report, out, plots)
    return report


def _feedback_for(tracker: str, feedback: str, summarize_only: bool) -> Feedback:
    try:
        return resolve_feedback(create_tracker(tracker), feedback)
    except TrackerUnavailableError:
        if not summarize_only:
            raise
    # Scoring needs only the folder name; no OpenCV tracker offers set_state.
    return cast(Feedback, "none" if feedback == "auto" else feedback)


def _device(refiner: Refiner | None) -> str:
    return "" if refiner is None else f" (refiner on {refiner.device})"


def _run_info(
    tracker: str,
    refiner: tuple[str | None, Refiner | None, str | None],
    feedback: str,
    max_frames: int | None,
) -> dict[str, Any]:
    label, loaded, fingerprint = refiner
    return {
        "tracker": tracker,
        "refiner": label,
        "refiner_fingerprint": fingerprint,
        "gate": None if loaded is None or loaded.gate is None else loaded.gate.to_dict(),
        "feedback": feedback,
        "max_frames": max_frames,
        "opencv": cv2.__version__,
    }


def refine_saved_results(
    dataset: str | SequenceOf[Sequence],
    results: str | Path,
    out: str | Path,
    *,
    refiner: RefinerSpec = "default",
    name: str | None = None,
    device: str = "auto",
    convention: str = "auto",
    workers: int = 1,
    threads: int | None = None,
    shard: tuple[int, int] | str | None = None,
    max_frames: int | None = None,
    names: SequenceOf[str] | None = None,
    summarize_only: bool = False,
    plots: bool = True,
    progress: bool = True,
    gate: bool | None = None,
) -> EvalReport | None:
    """Refine the saved results of any tracker, offline, and compare both.

    ``results`` holds one file per sequence (``<seq>.txt`` or the got10k toolkit's
    ``<seq>/<seq>_001.txt``), one ``x, y, w, h`` box per frame separated by commas, tabs or
    spaces. The refiner starts on each sequence's first-frame ground truth and refines every
    later saved box; the refined results go to ``<out>/<name>+AR[+gate]/`` (``name`` defaults
    to the results folder's name). Sequences without a saved result are left out with a warning.

    No feedback is possible: the saved trajectory was produced without the refiner and cannot
    react to it, so this measures refinement of a fixed trajectory (``feedback="none"``). The
    +AR frame rate counts the refiner alone. Other arguments as for :func:`evaluate_trackers`.
    """
    _check_workers(workers, threads)
    results = Path(results)
    if not results.is_dir():
        raise FileNotFoundError(f"no results folder {results}")
    if _refiner_label(refiner) is None:
        raise ValueError("refine-results needs a refiner ('default', a weights folder or hub id)")
    conv = default_convention(dataset) if convention == "auto" else get_convention(convention).name
    out = Path(out)
    tracker_name = name or results.resolve().name
    sequences = [limit_sequence(s, max_frames) for s in _load_sequences(dataset, names)]
    absent = _missing(results, sequences)
    if absent:
        warnings.warn(
            f"{results}: no saved result for {len(absent)} sequence(s), left out: {absent}",
            stacklevel=2,
        )
        sequences = [s for s in sequences if s.name not in set(absent)]
    if not sequences:
        raise ValueError(f"{results}: no saved result for any sequence of the dataset")
    label = _refiner_label(refiner)
    loaded, fingerprint = _resolve_refiner(refiner, device, gate, summarize_only)
    refined_dir = out / refined_folder_name(tracker_name, "none", _gated(loaded))
    if not summarize_only:
        info = _run_info(tracker_name, (label, loaded, fingerprint), "none", max_frames)
        claim_folder(refined_dir, info)
        tasks = [
            _Task(s.name, tracker_name, None, str(refined_dir), "none", max_frames, str(results))
            for s in _select_shard(sequences, shard)
            if not is_complete(refined_dir, s.name, len(s))
        ]
        runner = _Runner(dataset, refiner, loaded, device, workers, threads, gate, progress)
        runner.run(tasks, {s.name: s for s in sequences})
        if shard is not None:
            return None
    missing = _missing(refined_dir, sequences)
    if missing:
        raise FileNotFoundError(f"refined results missing in {refined_dir}: {missing}")
    base = score_folder(results, sequences, conv, name=tracker_name)
    refined = score_folder(refined_dir, sequences, conv, name=refined_dir.name)
    if fingerprint is None:
        fingerprint = (read_run_info(refined_dir) or {}).get("refiner_fingerprint")
    report = EvalReport(
        conv,
        dataset if isinstance(dataset, str) else "in-memory sequences",
        [s.name for s in sequences],
        [Comparison(tracker_name, base, refined, "none (offline)")],
        refiner=label,
        refiner_fingerprint=fingerprint,
        refined_fps_label="AR only",
        notes=[
            "offline refinement of saved results: no feedback to the tracker is possible; "
            "Base FPS from the saved time files (if any), +AR FPS counts the refiner alone"
            + _device(loaded),
            *_refiner_notes(loaded),
        ],
    )
    _write_outputs(report, out, plots)
    return report

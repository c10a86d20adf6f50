"""The experiments: base trackers with and without Alpha-Refine on a dataset, run, scored, reported.

:func:`evaluate_trackers` is the ``alpha-refine eval`` command and :func:`refine_saved_results`
is ``alpha-refine refine-results``. Both write result files (see
:mod:`alpha_refine.eval.results`), skip sequences whose results are already complete (resume),
can split the work over processes (``workers``) and machines (``shard``) through
:mod:`alpha_refine.eval.tracking`, and score the results with :mod:`alpha_refine.eval.report`
into an :class:`~alpha_refine.eval.report.EvalReport`: the "Base vs Base + AR" table of the
paper's Table 2, a JSON summary and success/precision plots (:mod:`alpha_refine.eval.plots`).
The public names of those modules that the experiments' callers use are re-exported here.

Frames are BGR ``uint8`` and boxes ``x, y, w, h`` pixels throughout.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as SequenceOf
from pathlib import Path
from typing import Any, cast

import cv2

from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.groups import ground_truth_kind
from alpha_refine.eval.metrics import get_convention
from alpha_refine.eval.plots import write_plots
from alpha_refine.eval.report import (
    Comparison,
    EvalReport,
    Grouping,
    TrackerScores,
    compare,
    score_folder,
    write_report,
)
from alpha_refine.eval.results import claim_folder, find_result_file, is_complete, read_run_info
from alpha_refine.eval.tracking import (
    RefinerOptions,
    RefinerSpec,
    Task,
    TaskRunner,
    limit_sequence,
    load_refiner,
    load_sequences,
    parse_shard,
    select_shard,
    track_sequence,
)
from alpha_refine.refiner import Refiner
from alpha_refine.trackers import (
    FEEDBACK_MODES,
    OPENCV_TRACKERS,
    Feedback,
    TrackerUnavailableError,
    create_tracker,
    find_model_files,
    resolve_feedback,
)
from alpha_refine.trackers.models import file_digest

__all__ = [
    "Comparison",
    "EvalReport",
    "RefinerOptions",
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


def refiner_fingerprint(refiner: Refiner) -> str:
    """16 hex digits of a SHA-256 over the network's weights: two runs with the same
    fingerprint used the same weights (a training run may have moved the files meanwhile)."""
    return refiner.fingerprint


def _refiner_label(spec: RefinerSpec) -> str | None:
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    return spec if isinstance(spec, str) else repr(spec)


def default_convention(dataset: str | SequenceOf[Sequence]) -> str:
    """``lasot`` for LaSOT specs, ``pytracking`` otherwise.

    The paper's Table 2 numbers come from pytracking's analysis (AUC, normalised precision at
    0.20, precision at 20 px), which for LaSOT counts invisible frames as misses.
    """
    if isinstance(dataset, str) and dataset.lower().startswith("lasot:"):
        return "lasot"
    return "pytracking"


def refined_folder_name(
    tracker: str, feedback: str, gate: bool = False, blend: bool = False, flip: bool = False
) -> str:
    """``<tracker>+AR`` without feedback, ``<tracker>+AR-<feedback>`` with it; ``+gate``
    appended for a refiner with the safe-refine gate on, ``+blend`` for one that blends,
    ``+flip`` for one that averages mirrored views."""
    name = f"{tracker}+AR" if feedback == "none" else f"{tracker}+AR-{feedback}"
    suffixes = (("+gate", gate), ("+blend", blend), ("+flip", flip))
    return name + "".join(suffix for suffix, on in suffixes if on)


def _folder_name(tracker: str, feedback: str, refiner: Refiner | None) -> str:
    if refiner is None:
        return refined_folder_name(tracker, feedback)
    return refined_folder_name(
        tracker, feedback, refiner.gate is not None, refiner.blends, refiner.flip
    )


def _write_outputs(report: EvalReport, out: Path, plots: bool) -> list[Path]:
    written = write_report(report, out)
    if plots:
        written.extend(write_plots(report, out))
    return written


# ------------------------------------------------------------------------------- commands


def _check_workers(workers: int, threads: int | None) -> None:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")


def _missing(folder: Path, sequences: Iterable[Sequence]) -> list[str]:
    return [s.name for s in sequences if find_result_file(folder, s.name) is None]


def _resolve_refiner(
    refiner: RefinerSpec, device: str, options: RefinerOptions, summarize_only: bool
) -> tuple[Refiner | None, str | None]:
    """The refiner, loaded even to only score (its options name the results folder), and its
    fingerprint (``None`` when only scoring: the results' ``run.json`` has the one they used).
    """
    if isinstance(refiner, Refiner):
        given = list(options.given())
        if given:
            name = given[0]
            raise ValueError(f"{name}: set it on the Refiner given (Refiner({name}=...)), not here")
        loaded: Refiner | None = refiner
    else:
        loaded = load_refiner(refiner, device, options)
    if loaded is None or summarize_only:
        return loaded, None
    return loaded, refiner_fingerprint(loaded)


def _refiner_notes(refiner: Refiner | None) -> list[str]:
    if refiner is None:
        return []
    gate = "off" if refiner.gate is None else f"on ({refiner.gate.describe()})"
    notes = [f"safe-refine gate: {gate}"]
    if refiner.network.blend_head is not None:
        notes.append(f"blend head: {'on' if refiner.blend else 'off'}")
    if refiner.flip:
        notes.append("mirrored views: on")
    return notes


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
    tracker_models: str | Path | None = None,
    blend: bool | None = None,
    flip: bool | None = None,
    ground_truth_kinds: Mapping[str, str] | None = None,
) -> EvalReport | None:
    """Run OpenCV base trackers with and without the refiner and compare them.

    Results go to ``<out>/<tracker>/`` and ``<out>/<tracker>+AR[-feedback][+gate][+blend][+flip]/``
    (see :func:`refined_folder_name`); complete sequences are skipped. Without ``shard`` the results
    of all sequences are then scored into an :class:`EvalReport`, also written as
    ``<out>/summary.json``, ``<out>/table.txt`` and ``<out>/success.png``/``precision.png``
    (if matplotlib is installed). With ``shard`` only that shard runs and ``None`` is returned:
    score everything afterwards with ``summarize_only=True`` (or a run without ``shard``).
    The report also splits every tracker's scores by how the ground truth was drawn and by
    target size (:func:`~alpha_refine.eval.report.split_scores`).

    Args:
        dataset: a :func:`~alpha_refine.data.load_dataset` spec, or sequences (in-process only).
        trackers: OpenCV tracker names (``"mil"``, ``"csrt"``, ``"nano"``...; see
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
        blend: the same for the refiner's blend head (weights with one; off by default).
        flip: the same for averaging each crop's view with its mirror image (off by default).
        tracker_models: the folder with the deep trackers' (``nano``, ``vit``, ``dasiamrpn``)
            model files; ``None`` searches ``$ALPHA_REFINE_TRACKER_MODELS`` and the cache folder
            (see :mod:`alpha_refine.trackers.models`). Their SHA-256 go into ``run.json``, so
            results of other model files are never mixed in.
        ground_truth_kinds: sequence name -> ``"masks"`` or ``"hand"``, how its boxes were
            drawn, for the split by ground truth, where the rule of
            :func:`~alpha_refine.eval.groups.ground_truth_kind` (``"masks"`` for sequences with
            ground-truth masks) would be wrong (as ``oracle_experiment``'s).
    """
    _check_workers(workers, threads)
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
    if not trackers:
        raise ValueError("name at least one tracker")
    conv = default_convention(dataset) if convention == "auto" else get_convention(convention).name
    out = Path(out)
    all_sequences = [limit_sequence(s, max_frames) for s in load_sequences(dataset, names)]
    if not all_sequences:
        raise ValueError("the dataset has no sequences")
    kinds = _kinds(all_sequences, ground_truth_kinds)
    label = _refiner_label(refiner)
    models = None if tracker_models is None else str(tracker_models)
    feedbacks = {name: _feedback_for(name, feedback, summarize_only, models) for name in trackers}
    options = RefinerOptions(gate, blend, flip)
    loaded, fingerprint = _resolve_refiner(refiner, device, options, summarize_only)
    folders = {n: _folder_name(n, feedbacks[n], loaded) for n in trackers}

    if not summarize_only:
        selected = select_shard(all_sequences, shard)
        tasks = []
        for name in trackers:
            base_dir = out / name
            digests = _model_digests(name, models)
            info = _run_info(name, (None, None, None), "none", max_frames, digests)
            claim_folder(base_dir, info)
            refined_dir = None
            if loaded is not None:
                refined_dir = out / folders[name]
                info = _run_info(
                    name, (label, loaded, fingerprint), feedbacks[name], max_frames, digests
                )
                claim_folder(refined_dir, info)
            for sequence in selected:
                count = len(sequence)
                if is_complete(base_dir, sequence.name, count) and (
                    refined_dir is None or is_complete(refined_dir, sequence.name, count)
                ):
                    continue
                tasks.append(
                    Task(
                        sequence.name,
                        name,
                        str(base_dir),
                        None if refined_dir is None else str(refined_dir),
                        feedbacks[name],
                        max_frames,
                        tracker_models=models,
                    )
                )
        runner = TaskRunner(dataset, refiner, loaded, device, workers, threads, options, progress)
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
    grouping = Grouping.of(all_sequences, kinds)
    for name in trackers:
        base = score_folder(out / name, all_sequences, conv, name=name)
        refined = None
        if label is not None:
            folder = out / folders[name]
            refined = score_folder(folder, all_sequences, conv, name=folder.name)
            if fingerprint is None:
                fingerprint = (read_run_info(folder) or {}).get("refiner_fingerprint")
        feedback_used = feedbacks[name] if label else None
        comparisons.append(
            compare(name, base, refined, all_sequences, grouping, feedback=feedback_used)
        )
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
        ground_truth=kinds,
    )
    _write_outputs(report, out, plots)
    return report


def _kinds(sequences: Iterable[Sequence], given: Mapping[str, str] | None) -> dict[str, str]:
    """How each sequence's ground truth was drawn (checked before anything runs)."""
    return {s.name: ground_truth_kind(s, given) for s in sequences}


def _feedback_for(
    tracker: str, feedback: str, summarize_only: bool, tracker_models: str | None
) -> Feedback:
    try:
        return resolve_feedback(create_tracker(tracker, model_dir=tracker_models), feedback)
    except TrackerUnavailableError:
        if not summarize_only:
            raise
    # Scoring needs only the folder name; no OpenCV tracker offers set_state.
    return cast(Feedback, "none" if feedback == "auto" else feedback)


def _model_digests(tracker: str, tracker_models: str | None) -> dict[str, str] | None:
    """``{file name: SHA-256}`` of a deep tracker's model files; ``None`` for the others."""
    info = OPENCV_TRACKERS.get(tracker)
    if info is None or info.params is None:
        return None
    paths = find_model_files(tracker, model_dir=tracker_models)
    return {path.name: file_digest(path) for path in paths.values()}


def _device(refiner: Refiner | None) -> str:
    return "" if refiner is None else f" (refiner on {refiner.device})"


def _run_info(
    tracker: str,
    refiner: tuple[str | None, Refiner | None, str | None],
    feedback: str,
    max_frames: int | None,
    tracker_models: dict[str, str] | None = None,
) -> dict[str, Any]:
    label, loaded, fingerprint = refiner
    return {
        "tracker": tracker,
        "tracker_models": tracker_models,
        "refiner": label,
        "refiner_fingerprint": fingerprint,
        "gate": None if loaded is None or loaded.gate is None else loaded.gate.to_dict(),
        "blend": loaded is not None and loaded.blends,
        "flip": loaded is not None and loaded.flip,
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
    blend: bool | None = None,
    flip: bool | None = None,
    ground_truth_kinds: Mapping[str, str] | None = None,
) -> EvalReport | None:
    """Refine the saved results of any tracker, offline, and compare both.

    ``results`` holds one file per sequence (``<seq>.txt`` or the got10k toolkit's
    ``<seq>/<seq>_001.txt``), one ``x, y, w, h`` box per frame separated by commas, tabs or
    spaces. The refiner starts on each sequence's first-frame ground truth and refines every
    later saved box; the refined results go to ``<out>/<name>+AR[+gate][+blend][+flip]/`` (``name``
    defaults to the results folder's name). Sequences without a saved result are left out with a
    warning.

    No feedback is possible: the saved trajectory was produced without the refiner and cannot
    react to it, so this measures refinement of a fixed trajectory (``feedback="none"``). The
    +AR frame rate counts the refiner alone. Other arguments as for :func:`evaluate_trackers`,
    and the report is split by ground truth and target size in the same way.
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
    sequences = [limit_sequence(s, max_frames) for s in load_sequences(dataset, names)]
    absent = _missing(results, sequences)
    if absent:
        warnings.warn(
            f"{results}: no saved result for {len(absent)} sequence(s), left out: {absent}",
            stacklevel=2,
        )
        sequences = [s for s in sequences if s.name not in set(absent)]
    if not sequences:
        raise ValueError(f"{results}: no saved result for any sequence of the dataset")
    kinds = _kinds(sequences, ground_truth_kinds)
    label = _refiner_label(refiner)
    options = RefinerOptions(gate, blend, flip)
    loaded, fingerprint = _resolve_refiner(refiner, device, options, summarize_only)
    refined_dir = out / _folder_name(tracker_name, "none", loaded)
    if not summarize_only:
        info = _run_info(tracker_name, (label, loaded, fingerprint), "none", max_frames)
        claim_folder(refined_dir, info)
        tasks = [
            Task(s.name, tracker_name, None, str(refined_dir), "none", max_frames, str(results))
            for s in select_shard(sequences, shard)
            if not is_complete(refined_dir, s.name, len(s))
        ]
        runner = TaskRunner(dataset, refiner, loaded, device, workers, threads, options, progress)
        runner.run(tasks, {s.name: s for s in sequences})
        if shard is not None:
            return None
    missing = _missing(refined_dir, sequences)
    if missing:
        raise FileNotFoundError(f"refined results missing in {refined_dir}: {missing}")
    base = score_folder(results, sequences, conv, name=tracker_name)
    refined = score_folder(refined_dir, sequences, conv, name=refined_dir.name)
    grouping = Grouping.of(sequences, kinds)
    if fingerprint is None:
        fingerprint = (read_run_info(refined_dir) or {}).get("refiner_fingerprint")
    report = EvalReport(
        conv,
        dataset if isinstance(dataset, str) else "in-memory sequences",
        [s.name for s in sequences],
        [compare(tracker_name, base, refined, sequences, grouping, "none (offline)")],
        refiner=label,
        refiner_fingerprint=fingerprint,
        refined_fps_label="AR only",
        notes=[
            "offline refinement of saved results: no feedback to the tracker is possible; "
            "Base FPS from the saved time files (if any), +AR FPS counts the refiner alone"
            + _device(loaded),
            *_refiner_notes(loaded),
        ],
        ground_truth=kinds,
    )
    _write_outputs(report, out, plots)
    return report

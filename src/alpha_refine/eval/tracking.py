"""Running trackers over sequences: one sequence at a time, in worker processes or in shards.

:func:`track_sequence` runs one tracker over one sequence (the standard protocol: ``init`` on the
first frame's ground truth, then ``update``). The experiments of :mod:`alpha_refine.eval.runner`
turn their work into :class:`Task` s (one tracker on one sequence, with or without the refiner)
and hand them to a :class:`TaskRunner`, which runs them here or in spawned worker processes and
writes the result files (:mod:`alpha_refine.eval.results`) as each sequence finishes.

Frames are BGR ``uint8`` and boxes ``x, y, w, h`` pixels throughout.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence as SequenceOf
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from alpha_refine.data.datasets import load_dataset
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval.results import (
    find_result_file,
    is_complete,
    read_result_boxes,
    read_times,
    result_file,
    time_file,
    write_boxes,
    write_times,
)
from alpha_refine.refiner import Refiner
from alpha_refine.trackers import (
    Feedback,
    RefinedTracker,
    ReplayTracker,
    Tracker,
    create_tracker,
)

RefinerSpec = str | Refiner | None


# ----------------------------------------------------------------------------- refiners


@dataclass(frozen=True)
class RefinerOptions:
    """The :class:`~alpha_refine.Refiner` options the eval commands set: ``True``/``False``
    turn each on or off, ``None`` keeps the default.

    Attributes:
        gate: the safe-refine gate (default thresholds when on).
        blend: the blend head (weights with one).
        flip: averaging each crop's view with its mirror image.
    """

    gate: bool | None = None
    blend: bool | None = None
    flip: bool | None = None

    def given(self) -> dict[str, bool]:
        """The options that were set, as keyword arguments for the refiner."""
        return {name: value for name, value in asdict(self).items() if value is not None}


def load_refiner(
    spec: str | None, device: str = "auto", options: RefinerOptions | None = None
) -> Refiner | None:
    """The refiner named on the command line: ``"none"``/``None`` (no refiner), ``"default"``
    (the embedded model) or weights for :meth:`Refiner.from_pretrained` (folder, file, hub id),
    with ``options`` (:class:`RefinerOptions`) on top of the weights' defaults.
    """
    if spec is None or spec.lower() == "none":
        return None
    # float32 whatever the CPU: evaluation numbers must not depend on whether the machine that
    # ran them had VNNI (where the automatic choice is int8); the backend stays automatic.
    settings: dict[str, Any] = {"device": device, "precision": "float32"}
    settings.update((options or RefinerOptions()).given())
    if spec == "default":
        try:
            return Refiner.from_pretrained(**settings)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"--refiner default: the embedded model is missing from this install ({error}); "
                "pass a weights folder, .safetensors file or hub id (for example the training "
                "run's runs/default-r18/latest), or --refiner none for the base trackers only"
            ) from error
    return Refiner.from_pretrained(spec, **settings)


# ----------------------------------------------------------------------------- sequences


def limit_sequence(sequence: Sequence, max_frames: int | None) -> Sequence:
    """The first ``max_frames`` frames of ``sequence`` (the sequence itself if shorter).

    Per-frame arrays in ``attributes`` (visibility flags...) are cut to match; masks are kept.
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
        mask_loader=sequence.mask if sequence.has_masks else None,
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


def load_sequences(
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


def select_shard(sequences: list[Sequence], shard: tuple[int, int] | str | None) -> list[Sequence]:
    if shard is None:
        return sequences
    index, count = parse_shard(shard) if isinstance(shard, str) else shard
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in 0..{count - 1}, got {index}")
    return sequences[index::count]


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
class Task:
    """Work on one sequence for one tracker; picklable for worker processes."""

    sequence: str
    tracker: str
    base_dir: str | None  # write the base tracker's results here (None: do not)
    refined_dir: str | None  # write the refined results here (None: no refiner)
    feedback: Feedback
    max_frames: int | None
    replay: str | None = None  # saved results played back instead of an OpenCV tracker
    tracker_models: str | None = None  # the deep OpenCV trackers' model folder (None: search)


def _base_tracker(task: Task, sequence: Sequence) -> Tracker:
    if task.replay is None:
        return create_tracker(task.tracker, model_dir=task.tracker_models)
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
    task: Task, sequence: Sequence, refiner: Refiner | None, progress: bool = False
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
    options: RefinerOptions


_worker_state: dict[str, Any] = {}


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)


def _worker_init(setup: _WorkerSetup) -> None:
    _set_threads(setup.threads)
    _worker_state["setup"] = setup
    _worker_state["refiner"] = load_refiner(setup.refiner, setup.device, setup.options)


def _worker_run(task: Task) -> str:
    setup: _WorkerSetup = _worker_state["setup"]
    (sequence,) = load_dataset(setup.dataset, names=[task.sequence])
    _execute(task, sequence, _worker_state["refiner"])
    return f"{task.tracker} {task.sequence}"


@dataclass(frozen=True)
class TaskRunner:
    """How to run tasks: in this process or in workers, with which refiner."""

    dataset: str | SequenceOf[Sequence]
    refiner_spec: RefinerSpec
    refiner: Refiner | None
    device: str
    workers: int
    threads: int | None
    options: RefinerOptions
    progress: bool

    def run(self, tasks: list[Task], sequences: dict[str, Sequence]) -> None:
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
        setup = _WorkerSetup(self.dataset, self.refiner_spec, self.device, threads, self.options)
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

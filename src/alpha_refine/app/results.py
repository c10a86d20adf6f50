"""A run of the app: the demo's tracking (:func:`alpha_refine.demo.run_demo`) with progress and
cancelling, and what it writes: boxes as CSV and JSON, the annotated video, the summary."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine.app.video import Box, Video, ground_truth, video_sequence, watched
from alpha_refine.data.frames import iter_frames
from alpha_refine.data.sequence import Sequence
from alpha_refine.demo import DemoResult, run_demo, write_video
from alpha_refine.geometry import iou
from alpha_refine.refiner import Refiner

BOX_COLUMNS = ("x", "y", "w", "h")


@dataclass(frozen=True)
class RunOptions:
    """What the page sets for one run: the base tracker and the refiner's options."""

    tracker: str = "mil"
    mask: bool = True
    blend: bool = False
    flip: bool = False


class RefinerPool:
    """Refiners for the runs: one per ``flip`` setting (fixed when a refiner is built), loaded
    on first use by ``load(flip)``; each run gets its own clone with its ``blend`` setting, so
    runs of two sessions never share targets."""

    def __init__(self, load: Callable[[bool], Refiner]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._refiners: dict[bool, Refiner] = {}

    def base(self, flip: bool = False) -> Refiner:
        """The loaded refiner for ``flip`` (loading it the first time)."""
        with self._lock:
            if flip not in self._refiners:
                self._refiners[flip] = self._load(flip)
            return self._refiners[flip]

    def get(self, blend: bool, flip: bool) -> Refiner:
        """A clone for one run."""
        refiner = self.base(flip).clone()
        refiner.blend = blend
        return refiner


@dataclass
class Run:
    """A finished run: what was tracked, with what, and the demo's result."""

    video: Video
    box: Box
    options: RunOptions
    sequence: Sequence
    result: DemoResult
    refiner: str
    blended: bool


def track(
    video: Video,
    box: Box,
    refiner: Refiner,
    options: RunOptions,
    on_frame: Callable[[int, int], None] | None = None,
) -> Run:
    """Track ``video`` from ``box`` as ``alpha-refine demo`` does (the same boxes);
    ``on_frame(index, frames)`` is called before each frame is read and may raise to stop."""
    sequence = video_sequence(video, box)
    frames = len(sequence)
    source = sequence if on_frame is None else watched(sequence, lambda i: on_frame(i, frames))
    result = run_demo(source, refiner, options.tracker, progress=False)
    return Run(video, box, options, sequence, result, repr(refiner), refiner.blends)


def iou_curves(run: Run) -> dict[str, NDArray[np.float64]]:
    """Per-frame IoU: of the base and refined boxes with the ground truth where there is one,
    else of the base box with the refined one."""
    truth = ground_truth(run.video)
    result = run.result
    if truth is not None:
        return {
            "base": iou(result.base_boxes, truth),
            "base + AR": iou(result.refined_boxes, truth),
        }
    return {"base vs base + AR": iou(result.base_boxes, result.refined_boxes)}


def summary(run: Run) -> dict[str, Any]:
    """Frames, tracker, refiner, milliseconds per frame and mean IoU of each curve."""
    frames = max(len(run.sequence) - 1, 1)
    return {
        "video": run.video.name,
        "frames": len(run.sequence),
        "box": list(run.box),
        "tracker": run.options.tracker,
        "refiner": run.refiner,
        "blend": run.blended,
        "flip": run.options.flip,
        "base_ms_per_frame": 1000 * run.result.base_seconds / frames,
        "refine_ms_per_frame": 1000 * run.result.refine_seconds / frames,
        "mean_iou": {name: float(np.nanmean(v)) for name, v in iou_curves(run).items()},
    }


def format_summary(info: dict[str, Any], blend_asked: bool = False) -> str:
    """The summary as Markdown for the page."""
    lines = [
        f"**{info['tracker']}** on {info['video']} ({info['frames']} frames, first box "
        f"{', '.join(f'{v:g}' for v in info['box'])})",
        "",
        "| | ms per frame |",
        "| --- | --- |",
        f"| base tracker | {info['base_ms_per_frame']:.1f} |",
        f"| refiner | {info['refine_ms_per_frame']:.1f} |",
        "",
        "| mean IoU | |",
        "| --- | --- |",
        *(f"| {name} | {value:.3f} |" for name, value in info["mean_iou"].items()),
        "",
        f"Refiner: `{info['refiner']}`",
    ]
    if blend_asked and not info["blend"]:
        lines.append("\nThese weights have no blend head: blend was not applied.")
    return "\n".join(lines)


def write_boxes_csv(path: Path, run: Run) -> Path:
    """``frame, base_x .. base_h, refined_x .. refined_h``: pixels, full precision."""
    header = ["frame", *(f"{kind}_{c}" for kind in ("base", "refined") for c in BOX_COLUMNS)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        pairs = zip(run.result.base_boxes, run.result.refined_boxes, strict=True)
        for index, (base, refined) in enumerate(pairs):
            writer.writerow([index, *(repr(float(v)) for v in (*base, *refined))])
    return path


def read_boxes_csv(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The base and refined ``N x 4`` boxes of a file :func:`write_boxes_csv` wrote."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    values = np.asarray([[float(v) for v in row[1:]] for row in rows], dtype=np.float64)
    return values[:, :4], values[:, 4:]


def write_boxes_json(path: Path, run: Run) -> Path:
    """The summary with ``base`` and ``refined`` boxes (``x, y, w, h`` pixels, frame 0 first)."""
    content = {
        **summary(run),
        "box_format": "xywh",
        "base": run.result.base_boxes.tolist(),
        "refined": run.result.refined_boxes.tolist(),
    }
    path.write_text(json.dumps(content, indent=1) + "\n")
    return path


def browser_video(source: Path, path: Path, fps: float) -> Path | None:
    """``source`` re-encoded as WebM (VP8), which browsers play; ``None`` where this OpenCV
    cannot write it."""
    frames = iter_frames(source)
    first = next(frames, None)
    if first is None:
        return None
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"VP80"), fps, (width, height))
    if not writer.isOpened():
        return None
    writer.write(first)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@dataclass(frozen=True)
class Outputs:
    """The files of a run: the video to show, and the downloads."""

    shown: Path
    downloads: list[Path]


def write_outputs(run: Run, folder: Path) -> Outputs:
    """Write ``boxes.csv``, ``boxes.json``, ``result.mp4`` (as ``alpha-refine demo`` draws it:
    base red, refined green, the mask unless turned off) and ``result.webm`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    drawn = run.result
    if not run.options.mask:
        drawn = replace(drawn, masks=[None] * len(drawn.masks))
    video = write_video(folder / "result.mp4", run.sequence, drawn, fps=run.video.fps)
    shown = browser_video(video, folder / "result.webm", run.video.fps) or video
    downloads = [
        write_boxes_csv(folder / "boxes.csv", run),
        write_boxes_json(folder / "boxes.json", run),
        video,
    ]
    return Outputs(shown, downloads)

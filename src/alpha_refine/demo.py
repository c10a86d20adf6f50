"""``alpha-refine demo``: a base tracker with and without refinement, side by side.

With no arguments it tracks a synthetic sequence the package generates (so it needs no data and
no network), prints how much refinement changed the scores against the ground truth, and writes
an annotated video (base box, refined box, mask overlay), an IoU-over-time plot and a JSON
summary. ``--video FILE`` or ``--frames DIR`` with ``--box x,y,w,h`` run it on your own footage
(no ground truth, so no scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from alpha_refine.data.sequence import Sequence
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.refiner import Refiner
from alpha_refine.trackers import RefinedTracker, create_tracker

BASE_COLOR = (0, 0, 255)  # red, BGR
REFINED_COLOR = (0, 255, 0)  # green
TRUTH_COLOR = (255, 255, 255)
MASK_COLOR = np.array([0, 200, 0], np.float32)


def demo_sequence(length: int = 100, seed: int = 3) -> Sequence:
    """The built-in demo clip: one synthetic sequence with exact ground truth."""
    config = SyntheticConfig(frame_size=(360, 480), length=length, occlusion_probability=0.0)
    return SyntheticSequences(1, config, seed=seed)[0]


def video_sequence(path: str | Path, box: NDArray[np.float64], max_frames: int) -> Sequence:
    """Frames of a video file; only the first frame's box is known."""
    capture = cv2.VideoCapture(str(path))
    frames: list[NDArray[np.uint8]] = []
    while len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(np.asarray(frame, dtype=np.uint8))
    capture.release()
    if not frames:
        raise FileNotFoundError(f"cannot read frames from video {path}")
    return _first_box_only(Path(path).stem, frames, box)


def folder_sequence(folder: str | Path, box: NDArray[np.float64], max_frames: int) -> Sequence:
    """Image files of a folder in name order; only the first frame's box is known."""
    suffixes = {".jpg", ".jpeg", ".png", ".bmp"}
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    files = files[:max_frames]
    boxes = np.full((len(files), 4), np.nan)
    boxes[0] = box
    return Sequence.from_files(Path(folder).name, files, boxes, visible=np.ones(len(files), bool))


def _first_box_only(
    name: str, frames: list[NDArray[np.uint8]], box: NDArray[np.float64]
) -> Sequence:
    boxes = np.full((len(frames), 4), np.nan)
    boxes[0] = box
    return Sequence.from_arrays(name, frames, boxes, visible=np.ones(len(frames), bool))


@dataclass
class DemoResult:
    base_boxes: NDArray[np.float64]
    refined_boxes: NDArray[np.float64]
    masks: list[NDArray[np.float32] | None] = field(default_factory=list)
    base_seconds: float = 0.0
    refine_seconds: float = 0.0


def run_demo(
    sequence: Sequence, refiner: Refiner, tracker: str = "mil", progress: bool = True
) -> DemoResult:
    """Track ``sequence`` with the base tracker alone and with refinement (feedback as the
    adapter allows); both start from the first frame's ground truth."""
    first = sequence.frame(0)
    start = sequence.boxes[0]
    base = create_tracker(tracker)
    refined = RefinedTracker(create_tracker(tracker), refiner, return_mask=True)
    base.init(first, start)
    refined.init(first, start)
    result = DemoResult(
        base_boxes=np.zeros((len(sequence), 4)), refined_boxes=np.zeros((len(sequence), 4))
    )
    result.base_boxes[0] = result.refined_boxes[0] = start
    result.masks.append(None)
    for index in tqdm(range(1, len(sequence)), disable=not progress, desc="demo"):
        frame = sequence.frame(index)
        result.base_boxes[index] = base.update(frame)
        result.refined_boxes[index] = refined.update(frame)
        result.masks.append(refined.last_mask)
        result.base_seconds += refined.last_timing.base
        result.refine_seconds += refined.last_timing.refine
    return result


def _draw_box(image: NDArray[np.uint8], box: NDArray[np.float64], color: tuple[int, ...]) -> None:
    if not np.all(np.isfinite(box)):
        return
    x, y, w, h = box
    cv2.rectangle(image, (round(x), round(y)), (round(x + w), round(y + h)), color, 2)


def annotate(
    frame: NDArray[np.uint8],
    truth: NDArray[np.float64] | None,
    base: NDArray[np.float64],
    refined: NDArray[np.float64],
    mask: NDArray[np.float32] | None,
    index: int,
) -> NDArray[np.uint8]:
    """One video frame: mask overlay, ground truth (white), base (red), refined (green)."""
    image = frame.astype(np.float32)
    if mask is not None:
        alpha = (np.clip(mask, 0, 1) * 0.45)[..., None]
        image = image * (1 - alpha) + MASK_COLOR * alpha
    out = np.clip(image, 0, 255).astype(np.uint8)
    if truth is not None:
        _draw_box(out, truth, TRUTH_COLOR)
    _draw_box(out, base, BASE_COLOR)
    _draw_box(out, refined, REFINED_COLOR)
    legend = [("ground truth", TRUTH_COLOR), ("base", BASE_COLOR), ("base + AR", REFINED_COLOR)]
    for row, (text, color) in enumerate(legend if truth is not None else legend[1:]):
        cv2.putText(
            out, text, (8, 18 + 18 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA
        )
    cv2.putText(
        out, f"#{index}", (8, out.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, TRUTH_COLOR, 1
    )
    return out


def write_video(path: Path, sequence: Sequence, result: DemoResult, fps: float = 15.0) -> Path:
    """MP4 (``mp4v``) of the annotated frames; a GIF if this OpenCV cannot write MP4."""
    has_truth = bool(np.isfinite(sequence.boxes[1:]).all()) if len(sequence) > 1 else False
    frames = (
        annotate(
            sequence.frame(i),
            sequence.boxes[i] if has_truth else None,
            result.base_boxes[i],
            result.refined_boxes[i],
            result.masks[i],
            i,
        )
        for i in range(len(sequence))
    )
    first = sequence.frame(0)
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if writer.isOpened():
        for frame in frames:
            writer.write(frame)
        writer.release()
        return path
    from PIL import Image

    gif = path.with_suffix(".gif")
    images = [Image.fromarray(frame[..., ::-1]) for frame in frames]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return gif


def _scores(sequence: Sequence, boxes: NDArray[np.float64]) -> dict[str, float]:
    from alpha_refine.eval.metrics import evaluate_sequence

    scores = evaluate_sequence(boxes, sequence.boxes, sequence.visible, convention="got10k")
    return {"auc": scores.auc, "precision": scores.precision, "mean_iou": scores.mean_iou}


def write_plot(path: Path, sequence: Sequence, result: DemoResult) -> Path | None:
    """IoU with the ground truth per frame, base vs refined (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from alpha_refine.geometry import iou

    figure, axis = plt.subplots(figsize=(8, 3.2), dpi=110)
    frames = np.arange(len(sequence))
    axis.plot(frames, iou(result.base_boxes, sequence.boxes), color="tab:red", label="base")
    axis.plot(
        frames, iou(result.refined_boxes, sequence.boxes), color="tab:green", label="base + AR"
    )
    axis.set_xlabel("frame")
    axis.set_ylabel("IoU with ground truth")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def demo(
    refiner: Refiner,
    out_dir: str | Path,
    *,
    sequence: Sequence | None = None,
    tracker: str = "mil",
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo and write ``demo.mp4``, ``iou.png`` and ``demo.json`` into ``out_dir``."""
    sequence = sequence or demo_sequence()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = run_demo(sequence, refiner, tracker, progress=progress)
    frames = max(len(sequence) - 1, 1)
    summary: dict[str, Any] = {
        "sequence": sequence.name,
        "frames": len(sequence),
        "tracker": tracker,
        "refiner": repr(refiner),
        "base_ms_per_frame": 1000 * result.base_seconds / frames,
        "refine_ms_per_frame": 1000 * result.refine_seconds / frames,
    }
    has_truth = bool(np.isfinite(sequence.boxes[1:]).all())
    if has_truth:
        summary["base"] = _scores(sequence, result.base_boxes)
        summary["refined"] = _scores(sequence, result.refined_boxes)
        plot = write_plot(out / "iou.png", sequence, result)
        summary["plot"] = str(plot) if plot else None
    summary["video"] = str(write_video(out / "demo.mp4", sequence, result))
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The printed comparison."""
    lines = [
        f"{summary['tracker']} on {summary['sequence']} ({summary['frames']} frames): "
        f"base {summary['base_ms_per_frame']:.1f} ms/frame, "
        f"refiner {summary['refine_ms_per_frame']:.1f} ms/frame",
    ]
    if "base" in summary:
        lines.append(f"{'':12s}{'AUC':>8s}{'P@20':>8s}{'mean IoU':>10s}")
        for label, key in (("base", "base"), ("base + AR", "refined")):
            s = summary[key]
            lines.append(f"{label:12s}{s['auc']:8.3f}{s['precision']:8.3f}{s['mean_iou']:10.3f}")
    lines.append(f"video: {summary['video']}")
    if summary.get("plot"):
        lines.append(f"plot: {summary['plot']}")
    return "\n".join(lines)

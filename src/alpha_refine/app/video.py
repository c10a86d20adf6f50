"""The app's video and box functions: open and check a video, read its frames lazily, and turn
clicks or typed text into a checked ``x, y, w, h`` box in pixels."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine.app.session import AppError, Limits
from alpha_refine.data.frames import iter_frames
from alpha_refine.data.sequence import Sequence
from alpha_refine.demo import demo_sequence

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
GENERATED_NAME = "generated clip"
GENERATED_FPS = 15.0  # write_video's default, as the demo writes it

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Video:
    """A checked video: its file (``None`` for the generated clip), frame count, size and rate."""

    path: Path | None
    name: str
    frames: int
    width: int
    height: int
    fps: float

    @property
    def has_truth(self) -> bool:
        """Whether there is a ground truth to score against (only the generated clip has one)."""
        return self.path is None

    def describe(self) -> str:
        truth = ", with ground truth" if self.has_truth else ""
        return f"{self.name}: {self.frames} frames, {self.width} x {self.height}{truth}"


def open_video(path: str | Path, limits: Limits) -> Video:
    """Check an uploaded file against ``limits`` and read it once through; :class:`AppError`
    saying what is wrong (not a video, damaged, no frames, too long or too large)."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise AppError(
            f"{path.name}: not a video file name; upload one of {', '.join(VIDEO_SUFFIXES)}"
        )
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise AppError(
            f"{path.name} is {size / 1e6:.1f} MB, over this app's limit of "
            f"{limits.max_megabytes:g} MB (alpha-refine app --max-megabytes)"
        )
    count, shape = 0, (0, 0)
    try:
        for frame in itertools.islice(iter_frames(path), limits.max_frames + 1):
            if count and frame.shape[:2] != shape:
                raise AppError(f"{path.name}: the frame size changes at frame {count}")
            count, shape = count + 1, frame.shape[:2]
    except FileNotFoundError as error:
        raise AppError(f"{path.name}: OpenCV cannot read it as a video (damaged?)") from error
    if count == 0:
        raise AppError(f"{path.name}: no frames could be decoded (not a video, or damaged)")
    if count < 2:
        raise AppError(f"{path.name}: only one frame; tracking needs at least two")
    if count > limits.max_frames:
        raise AppError(
            f"{path.name} has more than {limits.max_frames} frames, this app's limit "
            "(alpha-refine app --max-frames); cut it shorter"
        )
    capture = cv2.VideoCapture(str(path))
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    capture.release()
    fps = fps if math.isfinite(fps) and 1 <= fps <= 240 else 25.0
    return Video(path, path.name, count, shape[1], shape[0], fps)


def generated_video() -> Video:
    """The clip ``alpha-refine demo`` generates (:func:`~alpha_refine.demo.demo_sequence`)."""
    clip = demo_sequence()
    height, width = clip.frame(0).shape[:2]
    return Video(None, GENERATED_NAME, len(clip), width, height, GENERATED_FPS)


class _FrameReader:
    """Frame ``index`` of a video file, decoded in order (a backward step starts over), so a
    long video never sits in memory."""

    def __init__(self, path: Path, frames: int) -> None:
        self.path = path
        self.frames = frames
        self._iterator: Iterator[NDArray[np.uint8]] | None = None
        self._next = 0

    def __call__(self, index: int) -> NDArray[np.uint8]:
        if self._iterator is None or index < self._next:
            self._iterator, self._next = iter_frames(self.path), 0
        for _ in range(index - self._next):
            next(self._iterator, None)
        frame = next(self._iterator, None)
        if frame is None:
            raise AppError(f"{self.path.name}: frame {index} cannot be decoded")
        self._next = index + 1
        return frame


def video_sequence(video: Video, box: Box) -> Sequence:
    """The sequence to track: ``box`` on the first frame; the generated clip keeps its ground
    truth on the others (the first row is ``box``, as ``alpha-refine demo`` starts from it)."""
    if video.path is None:
        clip = demo_sequence()
        boxes = clip.boxes.copy()
        boxes[0] = box
        return Sequence(clip.name, boxes, clip.frame, visible=clip.visible)
    boxes = np.full((video.frames, 4), np.nan)
    boxes[0] = box
    visible = np.ones(video.frames, bool)
    return Sequence(video.name, boxes, _FrameReader(video.path, video.frames), visible=visible)


def ground_truth(video: Video) -> NDArray[np.float64] | None:
    """The generated clip's ground-truth boxes; ``None`` for an upload."""
    return demo_sequence().boxes if video.path is None else None


def watched(sequence: Sequence, on_frame: Callable[[int], None]) -> Sequence:
    """``sequence`` with ``on_frame(index)`` called before each frame is read (progress and
    cancelling, without changing what is tracked)."""

    def load(index: int) -> NDArray[np.uint8]:
        on_frame(index)
        return sequence.frame(index)

    return Sequence(sequence.name, sequence.boxes, load, visible=sequence.visible)


def first_frame(video: Video) -> NDArray[np.uint8]:
    """The first frame, BGR."""
    return video_sequence(video, (0.0, 0.0, 1.0, 1.0)).frame(0)


def box_from_corners(first: tuple[float, float], second: tuple[float, float]) -> Box:
    """The box with opposite corners at two clicked points, in either order (``x + w`` is the
    right edge, as everywhere in the library)."""
    x0, x1 = sorted((float(first[0]), float(second[0])))
    y0, y1 = sorted((float(first[1]), float(second[1])))
    return (x0, y0, x1 - x0, y1 - y0)


def parse_box(text: str) -> Box:
    """``"x, y, w, h"`` (commas or spaces) as four numbers; :class:`AppError` otherwise."""
    parts = text.replace(",", " ").split()
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise AppError(f"box {text!r}: expected four numbers x, y, w, h (pixels)")
    return (values[0], values[1], values[2], values[3])


def check_box(box: Box, video: Video) -> Box:
    """``box`` if it is a finite box of at least 2 x 2 pixels inside the frame; otherwise
    :class:`AppError` saying what is wrong."""
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box):
        raise AppError(f"box {_text(box)}: not finite numbers")
    if w < 2 or h < 2:
        raise AppError(
            f"box {_text(box)} is {w:g} x {h:g} pixels; draw one at least 2 x 2 "
            "(click two opposite corners)"
        )
    if x < 0 or y < 0 or x + w > video.width or y + h > video.height:
        raise AppError(
            f"box {_text(box)} is not inside the {video.width} x {video.height} frame "
            f"(x + w <= {video.width}, y + h <= {video.height})"
        )
    return box


def box_text(box: Box) -> str:
    """``"x, y, w, h"`` as shown in the page."""
    return _text(box)


def _text(box: Box) -> str:
    return ", ".join(f"{v:g}" for v in box)


def draw_selection(
    frame: NDArray[np.uint8], box: Box | None, corner: tuple[float, float] | None
) -> NDArray[np.uint8]:
    """The first frame with the chosen box (yellow) or the first clicked corner (a cross)."""
    image = frame.copy()
    color = (0, 220, 255)
    if box is not None:
        x, y, w, h = (round(v) for v in box)
        cv2.rectangle(image, (x, y), (x + w, y + h), color, 2)
    if corner is not None:
        center = (round(corner[0]), round(corner[1]))
        cv2.drawMarker(image, center, color, cv2.MARKER_CROSS, 16, 2)
    return np.asarray(image, dtype=np.uint8)

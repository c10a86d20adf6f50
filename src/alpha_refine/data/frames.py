"""Frames of a video, read one at a time from whatever a user points a script at.

``iter_frames`` takes a video file, a folder of images, a glob (``img/*.jpg``) or a printf-style
pattern (``img/%08d.jpg``), so example scripts and tools accept all four the same way.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine.data.annotations import IMAGE_EXTENSIONS, list_images, natural_key
from alpha_refine.data.sequence import read_image

# One printf integer conversion, as OpenCV's image-sequence reader takes it: %d, %5d, %08d.
_PRINTF = re.compile(r"%(0?)(\d*)d")


def frame_files(source: str | Path) -> list[Path] | None:
    """The image files ``source`` names, in frame order, or ``None`` for a video file.

    ``source`` is a folder (its images in natural name order), a glob (``img/*.jpg``, natural
    order), a printf-style pattern (``img/%08d.jpg``, number order) or a video file.

    Raises:
        FileNotFoundError: nothing matches ``source``, or it names no existing file or folder.
    """
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = list_images(path)
        if not files:
            suffixes = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise FileNotFoundError(f"no image files ({suffixes}) in {path}")
        return files
    if path.is_file():
        return None
    conversion = _PRINTF.search(path.name)
    if conversion is not None and len(_PRINTF.findall(path.name)) == 1:
        return _printf_files(path.parent, path.name, conversion)
    if glob.has_magic(text):
        files = sorted((Path(p) for p in glob.glob(text) if Path(p).is_file()), key=_path_key)
        if not files:
            raise FileNotFoundError(f"no files match {text}")
        return files
    raise FileNotFoundError(
        f"{text} is not a video file, a folder of images, a glob (img/*.jpg) "
        "or a printf pattern (img/%08d.jpg)"
    )


def iter_frames(source: str | Path) -> Iterator[NDArray[np.uint8]]:
    """The frames of ``source`` as BGR ``uint8`` ``H x W x 3`` arrays, one at a time.

    ``source`` is what :func:`frame_files` takes: a video file, a folder of images, a glob or a
    printf-style pattern. ``source`` is checked when this is called, not on the first frame.

    Raises:
        FileNotFoundError: ``source`` names no frames, or the video cannot be opened.
    """
    files = frame_files(source)
    if files is not None:
        return (read_image(f) for f in files)
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        capture.release()
        raise FileNotFoundError(f"cannot open video {source}")
    return _video_frames(capture)


def _video_frames(capture: cv2.VideoCapture) -> Iterator[NDArray[np.uint8]]:
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield np.asarray(frame, dtype=np.uint8)
    finally:
        capture.release()


def _printf_files(folder: Path, pattern: str, conversion: re.Match[str]) -> list[Path]:
    prefix, suffix = pattern[: conversion.start()], pattern[conversion.end() :]
    zero, width = conversion.groups()
    # %08d writes at least 8 digits, zero-padded; %d any number of them.
    digits = rf"\d{{{width},}}" if zero and width else r"\d+"
    name = re.compile(rf"{re.escape(prefix)}({digits}){re.escape(suffix)}")
    numbered = []
    if folder.is_dir():
        for entry in folder.iterdir():
            match = name.fullmatch(entry.name)
            if match and entry.is_file():
                numbered.append((int(match.group(1)), entry))
    if not numbered:
        raise FileNotFoundError(f"no files match the printf pattern {folder / pattern}")
    return [entry for _, entry in sorted(numbered)]


def _path_key(path: Path) -> tuple[tuple[str | int, ...], ...]:
    return tuple(natural_key(part) for part in path.parts)

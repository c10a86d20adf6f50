"""Parsing of the small text files tracking datasets ship: boxes, per-frame flags, frame lists.

Everything here reads text or directory listings only; no image is decoded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

# Datasets mix commas, tabs and spaces, sometimes within one file (OTB).
_SEPARATORS = re.compile(r"[,\s]+")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that orders ``2.jpg`` before ``10.jpg`` (TrackingNet frames are not zero-padded).

    For zero-padded names it is the plain lexical order.
    """
    parts = _DIGITS.split(name)
    # split() alternates text and digit runs, starting with text, so positions compare like types.
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` in natural name order (the frame order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no frame folder {folder}")
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
        ]
    return [folder / n for n in sorted(names, key=natural_key)]


def parse_numbers(text: str) -> list[float]:
    """The numbers in a line, separated by commas, tabs or spaces (``NaN``, ``1e3`` allowed)."""
    tokens = [t for t in _SEPARATORS.split(text.strip()) if t]
    return [float(t) for t in tokens]


def _content_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers; blank lines are allowed only at the end."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    result = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ValueError(f"{path}:{number}: blank line inside the annotation file")
        result.append((number, line))
    return result


def read_boxes(path: str | Path, columns: int = 4) -> NDArray[np.float64]:
    """Boxes from a text file, one per line: ``N x columns`` float64 (``x, y, w, h`` for 4).

    Separators may be commas, tabs or spaces; ``NaN``/``nan`` entries and scientific notation
    are accepted; trailing blank lines are ignored. A line with another number of values raises
    ``ValueError`` naming the file and line.
    """
    path = Path(path)
    rows = []
    for number, line in _content_lines(path):
        try:
            values = parse_numbers(line)
        except ValueError:
            raise ValueError(f"{path}:{number}: not a list of numbers: {line.strip()!r}") from None
        if len(values) != columns:
            raise ValueError(
                f"{path}:{number}: expected {columns} values, got {len(values)}: {line.strip()!r}"
            )
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def read_numbers(path: str | Path) -> NDArray[np.float64]:
    """All numbers of a file as one flat float64 array, whatever the separators and line breaks.

    Suits per-frame label files: one value per line (GOT-10k ``cover.label``, VOT ``*.tag``)
    or all on one comma-separated line (LaSOT ``full_occlusion.txt``).
    """
    path = Path(path)
    values: list[float] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        try:
            values.extend(parse_numbers(line))
        except ValueError:
            raise ValueError(f"{path}:{number}: not a list of numbers: {line.strip()!r}") from None
    return np.asarray(values, dtype=np.float64)


def read_flags(path: str | Path, length: int | None = None) -> NDArray[np.bool_]:
    """Per-frame 0/1 flags as bool; with ``length``, a different count raises ``ValueError``."""
    flags: NDArray[np.bool_] = read_numbers(path) != 0
    if length is not None and len(flags) != length:
        raise ValueError(f"{path}: {len(flags)} values for {length} frames")
    return flags


def read_name_list(path: str | Path) -> list[str]:
    """Sequence names from a list file: one per line (or comma/space separated), ``#`` comments."""
    names: list[str] = []
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        line = line.split("#", 1)[0]
        names.extend(t for t in _SEPARATORS.split(line.strip()) if t)
    return names


def pad_to_length(values: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """A per-frame array cut or zero-padded to ``length`` (VOT tag files may stop early)."""
    out = np.zeros(length, dtype=np.float64)
    n = min(length, len(values))
    out[:n] = values[:n]
    return out


def read_attribute_files(folder: str | Path, length: int) -> dict[str, NDArray[Any]]:
    """Per-frame attribute files of a folder: ``*.tag``/``*.label`` as bool, ``*.value`` as float.

    Keys are the file stems (``camera_motion``...). Arrays are cut or zero-padded to ``length``:
    VOT tag files may stop after the last 1.
    """
    folder = Path(folder)
    attributes: dict[str, NDArray[Any]] = {}
    if not folder.is_dir():
        return attributes
    for path in sorted(folder.iterdir()):
        if path.suffix in (".tag", ".label"):
            attributes[path.stem] = pad_to_length(read_numbers(path), length) != 0
        elif path.suffix == ".value":
            attributes[path.stem] = pad_to_length(read_numbers(path), length)
    return attributes

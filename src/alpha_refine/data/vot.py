"""VOT reader: rectangles, polygons and VOT2020 RLE masks in ``groundtruth.txt``.

Ground-truth lines are one of

* ``x,y,w,h``: a rectangle, used as is;
* ``x1,y1,...,x4,y4``: a (rotated) polygon, turned into its axis-aligned bounding box
  ``x = min(xi)``, ``w = max(xi) - min(xi)`` (and the same for ``y``), continuous coordinates;
* ``m<x>,<y>,<w>,<h>,<r1>,<r2>,...``: a VOT2020 mask, run-length encoded over the ``w x h``
  region at offset ``(x, y)``, row-major, runs alternating 0s and 1s starting with 0s. The box is
  the tight box of its pixels (``x = min col``, ``w = max col - min col + 1``) and
  :meth:`Sequence.mask` decodes the full-frame mask lazily (the frame size comes from the first
  frame's header, read once when the first mask is asked for).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from alpha_refine.data._common import subdirs, unit_filter
from alpha_refine.data.annotations import (
    list_images,
    parse_numbers,
    read_attribute_files,
    read_name_list,
)
from alpha_refine.data.sequence import Sequence, read_image

__all__ = ["decode_vot_rle", "load_vot", "mask_box", "parse_vot_line", "vot_rle_to_mask"]


def decode_vot_rle(text: str) -> tuple[int, int, NDArray[np.bool_]]:
    """A VOT2020 ``m<x>,<y>,<w>,<h>,<runs>`` string as ``(x, y, region)``: ``region`` is the
    ``h x w`` bool mask at offset ``(x, y)``."""
    if not text.startswith("m"):
        raise ValueError(f"not a VOT mask (no leading 'm'): {text[:40]!r}")
    values = [int(v) for v in parse_numbers(text[1:])]
    if len(values) < 4:
        raise ValueError(f"VOT mask needs x,y,w,h: {text[:40]!r}")
    x, y, w, h = values[:4]
    runs = np.asarray(values[4:], dtype=np.int64)
    if w < 0 or h < 0 or np.any(runs < 0) or runs.sum() > w * h:
        raise ValueError(f"VOT mask runs do not fit its {w} x {h} region: {text[:40]!r}")
    # Even-indexed runs are 0s, odd-indexed ones 1s; pixels after the last run are 0.
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    region = np.zeros(w * h, dtype=bool)
    region[: len(flat)] = flat
    return x, y, region.reshape(h, w)


def mask_box(mask: NDArray[np.bool_], offset: tuple[int, int] = (0, 0)) -> NDArray[np.float64]:
    """Tight ``x, y, w, h`` box of a mask's pixels (``w = max col - min col + 1``), NaN if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return np.full(4, np.nan)
    return np.array(
        [
            offset[0] + cols[0],
            offset[1] + rows[0],
            cols[-1] - cols[0] + 1,
            rows[-1] - rows[0] + 1,
        ],
        dtype=np.float64,
    )


def vot_rle_to_mask(text: str, size: tuple[int, int]) -> NDArray[np.bool_]:
    """The full-frame ``H x W`` bool mask of a VOT RLE string; ``size`` is ``(W, H)``."""
    x, y, region = decode_vot_rle(text)
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    # The region may reach past the frame edge; keep the part inside.
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + region.shape[1], width), min(y + region.shape[0], height)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = region[y0 - y : y1 - y, x0 - x : x1 - x]
    return mask


def parse_vot_line(line: str) -> tuple[NDArray[np.float64], str | None]:
    """One ground-truth line as ``(box, rle)``: ``rle`` is the mask string or None."""
    line = line.strip()
    if line.startswith("m"):
        x, y, region = decode_vot_rle(line)
        return mask_box(region, (x, y)), line
    values = parse_numbers(line)
    if len(values) == 4:
        return np.asarray(values, dtype=np.float64), None
    if len(values) == 8:
        xs, ys = np.asarray(values[0::2]), np.asarray(values[1::2])
        return np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]), None
    raise ValueError(f"expected 4 (rectangle) or 8 (polygon) values or an 'm' mask, got {line!r}")


def _read_groundtruth(path: Path) -> tuple[NDArray[np.float64], list[str | None]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    boxes = np.full((len(lines), 4), np.nan)
    masks: list[str | None] = []
    for number, line in enumerate(lines, start=1):
        try:
            boxes[number - 1], rle = parse_vot_line(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        masks.append(rle)
    return boxes, masks


def _frames(folder: Path) -> list[Path]:
    color = folder / "color"
    return list_images(color if color.is_dir() else folder)


def _vot_sequence(name: str, folder: Path) -> Sequence:
    frames = _frames(folder)
    boxes, rles = _read_groundtruth(folder / "groundtruth.txt")
    if len(frames) != len(boxes):
        raise ValueError(f"VOT {name}: {len(frames)} frames but {len(boxes)} boxes")
    attributes = {"dataset": "vot", "path": folder, "frame_paths": frames}
    attributes.update(read_attribute_files(folder, len(frames)))
    if not any(r is not None for r in rles):
        return Sequence.from_files(name, frames, boxes, attributes=attributes)

    size: list[tuple[int, int]] = []

    def mask_loader(index: int) -> NDArray[np.bool_] | None:
        rle = rles[index]
        if rle is None:
            return None
        if not size:
            with Image.open(frames[0]) as image:  # reads the header only
                size.append(image.size)
        return vot_rle_to_mask(rle, size[0])

    return Sequence(
        name,
        boxes,
        lambda index: read_image(frames[index]),
        mask_loader=mask_loader,
        attributes=attributes,
    )


def load_vot(root: str | Path, *, names: Collection[str] | None = None) -> list[Sequence]:
    """VOT: ``<root>/list.txt``, ``<root>/<seq>/color/*.jpg`` (or frames directly in
    ``<seq>/``) and ``<seq>/groundtruth.txt``; per-frame ``*.tag``/``*.label``/``*.value`` files
    become ``attributes`` (bool/float arrays named after the file)."""
    root = Path(root)
    keep = unit_filter(names)
    list_path = root / "list.txt"
    if list_path.is_file():
        order = read_name_list(list_path)
    else:
        order = [p.name for p in subdirs(root) if (p / "groundtruth.txt").is_file()]
    return [_vot_sequence(name, root / name) for name in order if keep(name)]

"""Result files in the standard text format, written atomically, and their run metadata.

Layout of a results folder (one per tracker, e.g. ``<out>/mil`` and ``<out>/mil+AR``):

* ``<sequence>.txt``: one ``x,y,w,h`` line per frame, in pixels (comma-separated, as the got10k
  and pytracking toolkits write them; NaN as ``nan``). Frame 0 holds the initial box.
* ``<sequence>_time.txt``: seconds per frame, one per line (frame 0: the initialisation).
* refined results also have ``<sequence>_base.txt`` (the base tracker's boxes the refiner saw)
  and ``<sequence>_timing.txt`` (``base,refine,feedback`` seconds per frame).
* ``run.json``: what produced the folder (tracker, the SHA-256 of a deep tracker's model files,
  refiner fingerprint, gate, feedback, frame limit), so that resuming never mixes results of
  different runs.

Every file is written to a temporary name and renamed, and the box file is written last: a
sequence whose box file exists with one line per frame is complete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine._atomic import write_atomic
from alpha_refine.data.annotations import read_boxes, read_numbers

RUN_INFO = "run.json"
# Keys of run.json that must match for results to be resumed or aggregated together.
RUN_KEYS = ("tracker", "tracker_models", "refiner_fingerprint", "gate", "feedback", "max_frames")


class ResultsMismatchError(ValueError):
    """A results folder was produced by a different run (tracker, refiner, feedback...)."""


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "nan"
    return np.format_float_positional(float(value), precision=3, trim="-")


def format_boxes(boxes: ArrayLike) -> str:
    """``x,y,w,h`` lines (3 decimals at most, trailing zeros dropped), one per box."""
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return "".join(",".join(_number(v) for v in row) + "\n" for row in array)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    return write_atomic(path, text.encode("utf-8"))


def write_boxes(path: str | Path, boxes: ArrayLike) -> Path:
    """Write ``N x 4`` xywh boxes as a result file."""
    return write_text_atomic(path, format_boxes(boxes))


def read_result_boxes(path: str | Path) -> NDArray[np.float64]:
    """A result file as ``N x 4`` float64 xywh boxes (commas, tabs or spaces accepted)."""
    return read_boxes(path)


def write_times(path: str | Path, seconds: ArrayLike) -> Path:
    """Per-frame seconds, one per line; ``N x k`` arrays give ``k`` comma-separated columns."""
    array = np.asarray(seconds, dtype=np.float64)
    rows = array.reshape(len(array), -1)
    text = "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows)
    return write_text_atomic(path, text)


def read_times(path: str | Path) -> NDArray[np.float64]:
    """A one-column time file as a flat float64 array of seconds."""
    return read_numbers(path)


def result_file(folder: str | Path, sequence: str) -> Path:
    """``<folder>/<sequence>.txt``."""
    return Path(folder) / f"{sequence}.txt"


def time_file(folder: str | Path, sequence: str) -> Path:
    """``<folder>/<sequence>_time.txt``."""
    return Path(folder) / f"{sequence}_time.txt"


def find_result_file(folder: str | Path, sequence: str) -> Path | None:
    """A saved result of ``sequence``: ``<folder>/<sequence>.txt`` (pysot, pytracking, ours)
    or the got10k toolkit's ``<folder>/<sequence>/<sequence>_001.txt``; ``None`` if neither."""
    for candidate in (
        result_file(folder, sequence),
        Path(folder) / sequence / f"{sequence}_001.txt",
    ):
        if candidate.is_file():
            return candidate
    return None


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def is_complete(folder: str | Path, sequence: str, frames: int) -> bool:
    """Whether ``sequence`` has a box file with ``frames`` lines and a time file."""
    boxes = result_file(folder, sequence)
    return (
        boxes.is_file() and time_file(folder, sequence).is_file() and _line_count(boxes) == frames
    )


def read_run_info(folder: str | Path) -> dict[str, Any] | None:
    """The folder's ``run.json``, or ``None`` if it has none."""
    path = Path(folder) / RUN_INFO
    if not path.is_file():
        return None
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return info


def claim_folder(folder: str | Path, info: Mapping[str, Any]) -> None:
    """Write ``run.json`` into ``folder``, or check that the one there matches ``info``.

    Raises:
        ResultsMismatchError: the folder holds results of another run (different tracker,
            refiner weights, feedback or frame limit).
    """
    folder = Path(folder)
    existing = read_run_info(folder)
    if existing is None:
        write_text_atomic(folder / RUN_INFO, json.dumps(dict(info), indent=2) + "\n")
        return
    differences = [
        f"{key}: {existing.get(key)!r} there, {info.get(key)!r} now"
        for key in RUN_KEYS
        if existing.get(key) != info.get(key)
    ]
    if differences:
        raise ResultsMismatchError(
            f"{folder} holds results of another run ({'; '.join(differences)}); "
            "choose another output folder or delete it"
        )

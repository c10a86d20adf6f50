"""Readers for tracking benchmarks and the project's plain layout, and ``load_dataset(spec)``.

Every reader returns a list of :class:`~alpha_refine.data.sequence.Sequence` whose frames load
lazily; listing a dataset reads only text files and directory listings, never an image (the mask
datasets, DAVIS and YouTube-VOS, are the documented exception: see
:mod:`alpha_refine.data.segmentation`). Boxes are ``x, y, w, h`` float64 in pixels exactly as the
dataset writes them (OTB/UAV123/VOT coordinates are MATLAB-era and are not shifted), with NaN
rows where the dataset has no box.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alpha_refine.data._common import DatasetWarning, subdirs, unit_filter
from alpha_refine.data.annotations import (
    list_images,
    natural_key,
    read_attribute_files,
    read_boxes,
    read_flags,
    read_name_list,
    read_numbers,
)
from alpha_refine.data.segmentation import load_davis, load_youtubevos
from alpha_refine.data.sequence import Sequence
from alpha_refine.data.vot import load_vot

__all__ = [
    "DATASET_KINDS",
    "load_dataset",
    "load_frames",
    "load_got10k",
    "load_lasot",
    "load_otb",
    "load_plain",
    "load_trackingnet",
    "load_uav123",
]


def _pad_boxes(name: str, boxes: NDArray[np.float64], frames: int) -> NDArray[np.float64]:
    """Boxes padded with NaN rows to ``frames`` when only the first box is given (test splits)."""
    if len(boxes) == frames:
        return boxes
    if len(boxes) == 1 and frames >= 1:
        padded = np.full((frames, 4), np.nan)
        padded[0] = boxes[0]
        return padded
    raise ValueError(f"{name}: {frames} frames but {len(boxes)} boxes")


# --------------------------------------------------------------------------------------- OTB

# Frame ranges (1-based, inclusive) from the OTB benchmark's sequence configuration for the
# sequences whose image folder holds more frames than the annotation covers.
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
    "Tiger1": (6, 354),
    "BlurCar1": (247, 988),
    "BlurCar3": (3, 359),
    "BlurCar4": (18, 397),
}

_OTB_ANNOTATION = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")


def _frame_number(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _otb_frames(name: str, frames: list[Path], count: int) -> list[Path]:
    """The ``count`` frames an OTB annotation covers.

    Known ranges (:data:`OTB_FRAME_RANGES`) select frames by file number when that gives
    ``count`` frames. Otherwise, with more images than boxes, we cannot know the range and take
    the LAST ``count`` frames (late starts like David's and Tiger1's are the common case), with
    a :class:`DatasetWarning`.
    """
    if len(frames) == count:
        return frames
    if name in OTB_FRAME_RANGES:
        first, last = OTB_FRAME_RANGES[name]
        chosen = [p for p in frames if first <= (_frame_number(p) or 0) <= last]
        if len(chosen) == count:
            return chosen
    if len(frames) > count:
        warnings.warn(
            f"OTB {name}: {len(frames)} images but {count} boxes; using the last {count} frames",
            DatasetWarning,
            stacklevel=3,
        )
        return frames[len(frames) - count :]
    raise ValueError(f"OTB {name}: {len(frames)} images but {count} boxes")


def load_otb(root: str | Path, *, names: Collection[str] | None = None) -> list[Sequence]:
    """OTB-2013/OTB-100: ``<root>/<Seq>/img/*.jpg`` and ``groundtruth_rect[.k].txt``.

    Sequences with several annotation files (``groundtruth_rect.1.txt``, ``.2.txt``: several
    targets) give one sequence per file, named ``Seq-1``, ``Seq-2``; a single annotation file,
    numbered or not, gives ``Seq``.
    """
    root = Path(root)
    keep = unit_filter(names)
    sequences = []
    for folder in subdirs(root):
        if not keep(folder.name) or not (folder / "img").is_dir():
            continue
        annotations = []
        for path in folder.iterdir():
            match = _OTB_ANNOTATION.match(path.name)
            if match:
                annotations.append((int(match.group(1) or 0), path))
        annotations.sort()
        numbered = [a for a in annotations if a[0] > 0]
        if len(numbered) > 1:
            annotations = numbered
        elif len(annotations) > 1:
            annotations = annotations[:1]  # an unnumbered file next to a single numbered one
        frames = list_images(folder / "img") if annotations else []
        for number, path in annotations:
            name = f"{folder.name}-{number}" if len(annotations) > 1 else folder.name
            boxes = read_boxes(path)
            if len(boxes) == 0:
                warnings.warn(
                    f"OTB {name}: empty {path.name}, skipped", DatasetWarning, stacklevel=2
                )
                continue
            chosen = _otb_frames(folder.name, frames, len(boxes))
            sequences.append(
                Sequence.from_files(
                    name, chosen, boxes, attributes={"dataset": "otb", "path": folder}
                )
            )
    return sequences


# ------------------------------------------------------------------------------------- LaSOT


def _lasot_folders(root: Path) -> list[Path]:
    """Sequence folders at ``<root>/<class>/<class-N>`` (or directly ``<root>/<class-N>``)."""
    folders = []
    for child in subdirs(root):
        if (child / "groundtruth.txt").is_file():
            folders.append(child)
        else:
            folders.extend(g for g in subdirs(child) if (g / "groundtruth.txt").is_file())
    return folders


def load_lasot(
    root: str | Path,
    list_file: str | Path | None = None,
    *,
    names: Collection[str] | None = None,
) -> list[Sequence]:
    """LaSOT: ``<root>/<class>/<class-N>/img/*.jpg``, ``groundtruth.txt`` and flag files.

    ``visible`` is ``not full_occlusion and not out_of_view``; both flag arrays are also in
    ``attributes``, with ``target_visible`` (the flags alone, for the metrics, which treat
    "invisible" and "no box" differently). ``list_file`` (e.g. ``testing_set.txt``) restricts
    and orders the sequences.
    """
    root = Path(root)
    keep = unit_filter(names)
    folders = {f.name: f for f in _lasot_folders(root)}
    if list_file is not None:
        listed = read_name_list(list_file)
        missing = [n for n in listed if n not in folders]
        if missing:
            raise FileNotFoundError(f"{list_file}: sequences not found under {root}: {missing}")
        order = listed
    else:
        order = sorted(folders, key=natural_key)
    sequences = []
    for name in order:
        if not keep(name):
            continue
        folder = folders[name]
        boxes = read_boxes(folder / "groundtruth.txt")
        frames = list_images(folder / "img")
        occlusion = _optional_flags(folder / "full_occlusion.txt", len(boxes))
        out_of_view = _optional_flags(folder / "out_of_view.txt", len(boxes))
        sequences.append(
            Sequence.from_files(
                name,
                frames,
                boxes,
                visible=~occlusion & ~out_of_view,
                attributes={
                    "dataset": "lasot",
                    "path": folder,
                    "class": folder.parent.name if folder.parent != root else name.split("-")[0],
                    "full_occlusion": occlusion,
                    "out_of_view": out_of_view,
                    "target_visible": ~occlusion & ~out_of_view,
                },
            )
        )
    return sequences


def _optional_flags(path: Path, length: int) -> NDArray[np.bool_]:
    return read_flags(path, length) if path.is_file() else np.zeros(length, dtype=bool)


# ----------------------------------------------------------------------------------- GOT-10k


def _split_folder(root: Path, split: str | None, kind: str, marker: str) -> Path:
    """``root/split``; without a split, ``root`` itself if it holds ``marker``."""
    if split is not None:
        folder = root / split
        if not folder.is_dir():
            available = [p.name for p in subdirs(root)]
            raise FileNotFoundError(f"{kind}: no split {split!r} in {root} (found {available})")
        return folder
    if (root / marker).exists():
        return root
    available = [p.name for p in subdirs(root)]
    raise ValueError(f"{kind}: name a split of {root}, one of {available}")


def _meta_info(path: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip()] = value.strip()
    return meta


def _resolution(text: str | None) -> tuple[int, int] | None:
    numbers = re.findall(r"\d+", text or "")
    return (int(numbers[0]), int(numbers[1])) if len(numbers) == 2 else None


def load_got10k(
    root: str | Path, split: str | None = None, *, names: Collection[str] | None = None
) -> list[Sequence]:
    """GOT-10k: ``<root>/<split>/<SEQ>/00000001.jpg...`` with ``groundtruth.txt`` and labels.

    ``visible`` is ``absence == 0 and cover > 0``; ``attributes`` hold ``absence``, ``cover``,
    ``target_visible`` (those flags alone, for the metrics), ``meta`` (``meta_info.ini``) and
    ``image_size`` ``(W, H)`` when the metadata gives it. The test split has only the first
    box: the other rows are NaN.
    """
    folder = _split_folder(Path(root), split, "got10k", "list.txt")
    keep = unit_filter(names)
    list_path = folder / "list.txt"
    is_listed = list_path.is_file()
    order = read_name_list(list_path) if is_listed else [p.name for p in subdirs(folder)]
    sequences = []
    for name in order:
        if not keep(name):
            continue
        seq_dir = folder / name
        frames = list_images(seq_dir)
        boxes = _pad_boxes(name, read_boxes(seq_dir / "groundtruth.txt"), len(frames))
        attributes: dict[str, Any] = {"dataset": "got10k", "path": seq_dir}
        visible = np.ones(len(frames), dtype=bool)
        if (seq_dir / "absence.label").is_file():
            absence = read_numbers(seq_dir / "absence.label").astype(np.int64)
            _check_length(seq_dir / "absence.label", absence, len(frames))
            attributes["absence"] = absence
            visible &= absence == 0
        if (seq_dir / "cover.label").is_file():
            cover = read_numbers(seq_dir / "cover.label").astype(np.int64)
            _check_length(seq_dir / "cover.label", cover, len(frames))
            attributes["cover"] = cover
            visible &= cover > 0
        if "absence" in attributes or "cover" in attributes:
            attributes["target_visible"] = visible.copy()
        meta = _meta_info(seq_dir / "meta_info.ini")
        if meta:
            attributes["meta"] = meta
            size = _resolution(meta.get("resolution"))
            if size is not None:
                attributes["image_size"] = size
        sequences.append(
            Sequence.from_files(name, frames, boxes, visible=visible, attributes=attributes)
        )
    return sequences


def _check_length(path: Path, values: NDArray[Any], length: int) -> None:
    if len(values) != length:
        raise ValueError(f"{path}: {len(values)} values for {length} frames")


# ------------------------------------------------------------------------------- TrackingNet


def _trackingnet_chunks(root: Path, chunks: str | Collection[str] | None) -> list[Path]:
    present = [p for p in subdirs(root) if re.fullmatch(r"TRAIN_\d+|TEST", p.name)]
    if chunks is None:
        return present
    wanted = chunks.split(",") if isinstance(chunks, str) else list(chunks)
    selected: list[Path] = []
    for chunk in wanted:
        chunk = chunk.strip()
        if chunk.upper() == "TRAIN":
            selected.extend(p for p in present if p.name.startswith("TRAIN_"))
        elif (root / chunk).is_dir():
            selected.append(root / chunk)
        else:
            raise FileNotFoundError(
                f"trackingnet: no chunk {chunk!r} in {root} (found {[p.name for p in present]})"
            )
    return selected


def load_trackingnet(
    root: str | Path,
    chunks: str | Collection[str] | None = None,
    *,
    names: Collection[str] | None = None,
) -> list[Sequence]:
    """TrackingNet: ``<root>/<chunk>/frames/<seq>/<i>.jpg`` and ``<root>/<chunk>/anno/<seq>.txt``.

    ``chunks``: ``None`` (every ``TRAIN_k`` and ``TEST`` present), ``"TEST"``, ``"TRAIN"`` (all
    train chunks), ``"TRAIN_3"`` or a comma-separated list. TEST annotations hold only the first
    box: the other rows are NaN.
    """
    root = Path(root)
    keep = unit_filter(names)
    sequences = []
    for chunk in _trackingnet_chunks(root, chunks):
        anno_dir = chunk / "anno"
        if not anno_dir.is_dir():
            raise FileNotFoundError(f"trackingnet: no annotation folder {anno_dir}")
        for anno in sorted(anno_dir.glob("*.txt"), key=lambda p: natural_key(p.name)):
            name = anno.stem
            if not keep(name):
                continue
            frames = list_images(chunk / "frames" / name)
            boxes = _pad_boxes(name, read_boxes(anno), len(frames))
            sequences.append(
                Sequence.from_files(
                    name,
                    frames,
                    boxes,
                    attributes={"dataset": "trackingnet", "path": chunk, "chunk": chunk.name},
                )
            )
    return sequences


# ------------------------------------------------------------------------------------ UAV123


def _uav_variant_dir(root: Path, sub: str, variant: str | None) -> Path:
    base = root / sub
    if not base.is_dir():
        raise FileNotFoundError(f"uav123: no folder {base}")
    if variant is not None:
        if not (base / variant).is_dir():
            raise FileNotFoundError(f"uav123: no folder {base / variant}")
        return base / variant
    if (base / "UAV123").is_dir():
        return base / "UAV123"
    options = subdirs(base)
    if len(options) == 1:
        return options[0]
    raise ValueError(f"uav123: name the variant, one of {[p.name for p in options]}")


def load_uav123(
    root: str | Path,
    variant: str | None = None,
    ranges: str | Path | dict[str, tuple[int, int]] | None = None,
    *,
    names: Collection[str] | None = None,
) -> list[Sequence]:
    """UAV123 (and UAV123_10fps, UAV20L): ``<root>/data_seq/<variant>/<seq>/000001.jpg`` and
    ``<root>/anno/<variant>/<name>.txt``; NaN rows mark frames where the target is absent.

    An annotation ``<seq>.txt`` whose image folder ``<seq>`` exists covers that folder's frames
    from the first one. Split annotations (``bird1_1.txt``, ``bird1_2.txt`` over the one folder
    ``bird1``) cover frame ranges given only by the benchmark's MATLAB configuration; pass them as
    ``ranges`` (a dict or JSON file ``{"bird1_1": [1, 253], ...}``, 1-based inclusive positions
    in the folder's sorted images). Without a range, a split annotation is skipped with a
    :class:`DatasetWarning` rather than paired with wrong frames.
    """
    root = Path(root)
    data_dir = _uav_variant_dir(root, "data_seq", variant)
    anno_dir = _uav_variant_dir(root, "anno", variant)
    if isinstance(ranges, (str, Path)):
        frame_ranges = {
            k: (int(v[0]), int(v[1])) for k, v in json.loads(Path(ranges).read_text()).items()
        }
    else:
        frame_ranges = dict(ranges or {})
    keep = unit_filter(names)
    sequences = []
    skipped = []
    for anno in sorted(anno_dir.glob("*.txt"), key=lambda p: natural_key(p.name)):
        name = anno.stem
        if not keep(name):
            continue
        boxes = read_boxes(anno)
        folder = data_dir / name
        if name in frame_ranges:
            if not folder.is_dir():
                folder = data_dir / re.sub(r"_\d+$", "", name)
            first, last = frame_ranges[name]
            frames = list_images(folder)[first - 1 : last]
        elif folder.is_dir():
            frames = list_images(folder)
            if len(frames) > len(boxes):
                warnings.warn(
                    f"UAV123 {name}: {len(frames)} images but {len(boxes)} boxes; "
                    f"using the first {len(boxes)} frames",
                    DatasetWarning,
                    stacklevel=2,
                )
                frames = frames[: len(boxes)]
        else:
            skipped.append(name)
            continue
        sequences.append(
            Sequence.from_files(
                name, frames, boxes, attributes={"dataset": "uav123", "path": folder}
            )
        )
    if skipped:
        warnings.warn(
            f"UAV123: {len(skipped)} split annotations skipped because their frame ranges are "
            f"unknown (pass ranges=...): {skipped}",
            DatasetWarning,
            stacklevel=2,
        )
    return sequences


# ------------------------------------------------------------------------------ plain layout


def _is_plain_sequence(folder: Path) -> bool:
    return (folder / "img").is_dir() and (folder / "groundtruth.txt").is_file()


def _mask_paths(mask_dir: Path, frames: list[Path]) -> list[Path | None] | None:
    """``masks/<frame stem>.png`` for each frame (None where missing); None without a folder."""
    if not mask_dir.is_dir():
        return None
    available = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
    return [available.get(f.stem) for f in frames]


def _plain_sequence(folder: Path) -> Sequence:
    frames = list_images(folder / "img")
    boxes = _pad_boxes(folder.name, read_boxes(folder / "groundtruth.txt"), len(frames))
    return Sequence.from_files(
        folder.name,
        frames,
        boxes,
        mask_paths=_mask_paths(folder / "masks", frames),
        attributes={
            "dataset": "plain",
            "path": folder,
            **read_attribute_files(folder / "meta", len(frames)),
        },
    )


def load_plain(path: str | Path, *, names: Collection[str] | None = None) -> list[Sequence]:
    """The project's plain layout: ``<seq>/img/`` (sorted names = frame order),
    ``<seq>/groundtruth.txt`` (one ``x,y,w,h`` per frame, or only the first box), optional
    ``<seq>/masks/<frame stem>.png`` (0/255) and ``<seq>/meta/*.label|*.tag|*.value``.

    ``path`` is one such sequence folder or a folder of them.
    """
    path = Path(path)
    if _is_plain_sequence(path):
        return [_plain_sequence(path)]
    keep = unit_filter(names)
    folders = [f for f in subdirs(path) if _is_plain_sequence(f)]
    if not folders:
        raise ValueError(f"{path}: no sequence folders (with img/ and groundtruth.txt) found")
    return [_plain_sequence(f) for f in folders if keep(f.name)]


def load_frames(
    frames_dir: str | Path, boxes_file: str | Path, name: str | None = None
) -> list[Sequence]:
    """A folder of frames plus one box file (one box per frame, or just the first box)."""
    frames_dir = Path(frames_dir)
    frames = list_images(frames_dir)
    if not frames:
        raise ValueError(f"{frames_dir}: no image files")
    if name is None:
        name = frames_dir.parent.name if frames_dir.name == "img" else frames_dir.name
    boxes = _pad_boxes(name, read_boxes(boxes_file), len(frames))
    return [
        Sequence.from_files(
            name, frames, boxes, attributes={"dataset": "frames", "path": frames_dir}
        )
    ]


# ------------------------------------------------------------------------------ spec strings

DATASET_KINDS: dict[str, str] = {
    "otb": "otb:/root",
    "lasot": "lasot:/root[:/list_file.txt]",
    "got10k": "got10k:/root:val|train|test",
    "trackingnet": "trackingnet:/root[:TEST|TRAIN|TRAIN_k,...]",
    "uav123": "uav123:/root[:variant|:/ranges.json]",
    "vot": "vot:/root",
    "davis": "davis:/root[:val|train|2016/val]",
    "youtubevos": "youtubevos:/root:train|valid",
    "plain": "plain:/path (or a bare path)",
    "frames": "frames:/frames_dir:/boxes.txt",
}


def _known_kinds() -> str:
    return "; ".join(DATASET_KINDS.values())


def _read_spec(
    kind: str, path: Path, extra: str | None, names: Collection[str] | None
) -> list[Sequence]:
    if kind == "otb":
        return load_otb(path, names=names)
    if kind == "lasot":
        return load_lasot(path, extra, names=names)
    if kind == "got10k":
        return load_got10k(path, extra, names=names)
    if kind == "trackingnet":
        return load_trackingnet(path, extra, names=names)
    if kind == "uav123":
        if extra is not None and extra.endswith(".json"):
            return load_uav123(path, ranges=extra, names=names)
        return load_uav123(path, extra, names=names)
    if kind == "vot":
        return load_vot(path, names=names)
    if kind == "davis":
        return load_davis(path, extra, names=names)
    if kind == "youtubevos":
        return load_youtubevos(path, extra, names=names)
    if kind == "plain":
        return load_plain(path, names=names)
    if extra is None:
        raise ValueError(f"frames: give the box file, as {DATASET_KINDS['frames']}")
    return load_frames(path, extra)


_NO_EXTRA = {"otb", "vot", "plain"}


def load_dataset(spec: str, names: Collection[str] | None = None) -> list[Sequence]:
    """Sequences named by a ``kind:path[:extra]`` spec string (see :data:`DATASET_KINDS`).

    A bare existing path means ``plain:``. ``names`` keeps only those sequences, in dataset
    order; a name that is not found raises ``ValueError``. Unknown kinds raise ``ValueError`` and
    missing folders ``FileNotFoundError``, both naming the spec and the known kinds.
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind.lower() not in DATASET_KINDS:
        if Path(spec).expanduser().exists():
            kind, rest = "plain", spec
        elif sep:
            raise ValueError(f"unknown dataset kind {kind!r} in {spec!r}; known: {_known_kinds()}")
        else:
            raise FileNotFoundError(
                f"{spec!r}: no such path; known dataset kinds: {_known_kinds()}"
            )
    kind = kind.lower()
    path_text, sep, extra_text = rest.partition(":")
    extra = extra_text if sep and extra_text else None
    if extra is not None and kind in _NO_EXTRA:
        raise ValueError(f"{spec!r}: {kind} takes no ':{extra}' part; known: {_known_kinds()}")
    path = Path(path_text).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{spec!r}: no such folder {path}; known: {_known_kinds()}")
    sequences = _read_spec(kind, path, extra, names)
    if names is not None:
        wanted = set(names)
        found = {s.name for s in sequences}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(f"{spec!r}: no sequences named {missing}")
        sequences = [s for s in sequences if s.name in wanted]
    return sequences

"""Video object segmentation datasets (DAVIS, YouTube-VOS) as box-tracking sequences.

Annotations are PNGs of object ids (palette images; DAVIS-2016's 0/255 masks count as object 1).
Each object of a video becomes one :class:`Sequence` named ``<video>_<id>``: its box in a frame
is the tight box of that object's pixels (``x = min col``, ``w = max col - min col + 1``,
0-based), its mask those pixels, and frames where it has no pixel are not visible. Frames without
an annotation file (YouTube-VOS annotates every 5th frame in train, only first appearances in
valid) get NaN boxes and a ``None`` mask.

Boxes need every annotation of a video decoded, which is too slow for listing (YouTube-VOS has
about 100k annotation PNGs), so these sequences compute their boxes on first access of
``boxes``/``visible``, once per video for all its objects. Listing decodes nothing for
YouTube-VOS (object ids come from ``meta.json``) and one PNG per video for DAVIS (the first
annotation, for its object ids: DAVIS objects all appear in the first frame).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from alpha_refine.data._common import subdirs, unit_filter
from alpha_refine.data.annotations import list_images, read_name_list
from alpha_refine.data.sequence import Sequence, read_image

__all__ = [
    "BenchmarkSequenceError",
    "MaskBoxSequence",
    "load_davis",
    "load_davis_train",
    "load_youtubevos",
    "read_davis_split",
    "read_id_mask",
]


def read_id_mask(path: str | Path) -> NDArray[np.int64]:
    """An annotation PNG as ``H x W`` object ids (0 = background).

    Palette PNGs give their palette indices (OpenCV would expand them to colours); grey PNGs
    give their values, except that a 0/255 mask is object 1; colour PNGs are any-non-black = 1.
    """
    with Image.open(path) as image:
        if image.mode == "P":
            return np.asarray(image, dtype=np.int64)
        if image.mode in ("1", "L", "I", "I;16"):
            ids = np.asarray(image, dtype=np.int64)
            if ids.max(initial=0) == 255 and not np.any((ids > 0) & (ids < 255)):
                return (ids > 0).astype(np.int64)
            return ids
        return (np.asarray(image.convert("L")) > 0).astype(np.int64)


def _box_of(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return np.full(4, np.nan)
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array(
        [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], dtype=np.float64
    )


class _VideoAnnotations:
    """The annotation files of one video, with boxes of all its objects computed once."""

    def __init__(self, paths: list[Path | None], object_ids: list[int]) -> None:
        self.paths = paths
        self.object_ids = object_ids
        self._boxes: dict[int, NDArray[np.float64]] | None = None

    def mask(self, index: int, object_id: int) -> NDArray[np.bool_] | None:
        path = self.paths[index]
        return None if path is None else read_id_mask(path) == object_id

    def boxes(self, object_id: int) -> NDArray[np.float64]:
        if self._boxes is None:
            boxes = {i: np.full((len(self.paths), 4), np.nan) for i in self.object_ids}
            for index, path in enumerate(self.paths):
                if path is None:
                    continue
                ids = read_id_mask(path)
                for object_id_ in self.object_ids:
                    boxes[object_id_][index] = _box_of(ids == object_id_)
            self._boxes = boxes
        return self._boxes[object_id]


class MaskBoxSequence(Sequence):
    """A :class:`Sequence` whose boxes come from its masks and are computed on first use.

    ``len()``, ``frame()``, ``mask()`` and ``attributes`` need no box; the first access of
    ``boxes`` or ``visible`` calls ``compute_boxes`` once. ``visible`` is then "has a box", the
    base class rule.
    """

    def __init__(
        self,
        name: str,
        num_frames: int,
        compute_boxes: Callable[[], NDArray[np.float64]],
        frame_loader: Callable[[int], NDArray[np.uint8]],
        mask_loader: Callable[[int], NDArray[np.bool_] | None],
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self._num_frames = num_frames
        self._compute_boxes: Callable[[], NDArray[np.float64]] | None = compute_boxes
        # The base initialiser only sees placeholders of the right shape (its checks pass);
        # real values replace them on first access.
        self._lazy_boxes = np.full((num_frames, 4), np.nan)
        self._lazy_visible = np.zeros(num_frames, dtype=bool)
        self._initialising = True
        super().__init__(
            name,
            self._lazy_boxes,
            frame_loader,
            mask_loader=mask_loader,
            attributes=attributes,
        )
        self._initialising = False

    def _materialise(self) -> None:
        if self._compute_boxes is not None and not self._initialising:
            compute, self._compute_boxes = self._compute_boxes, None
            boxes = np.asarray(compute(), dtype=np.float64).reshape(self._num_frames, 4)
            self._lazy_boxes = boxes
            self._lazy_visible = np.all(np.isfinite(boxes), axis=1) & np.all(
                boxes[:, 2:] > 0, axis=1
            )

    @property
    def boxes(self) -> NDArray[np.float64]:
        self._materialise()
        return self._lazy_boxes

    @boxes.setter
    def boxes(self, value: NDArray[np.float64]) -> None:
        if not self._initialising:
            self._compute_boxes = None
        self._lazy_boxes = value

    @property
    def visible(self) -> NDArray[np.bool_]:
        self._materialise()
        return self._lazy_visible

    @visible.setter
    def visible(self, value: NDArray[np.bool_]) -> None:
        if not self._initialising:
            self._materialise()
        self._lazy_visible = value

    def __len__(self) -> int:
        return self._num_frames


def _object_sequences(
    video: str,
    frames: list[Path],
    annotation_dir: Path,
    object_ids: list[int],
    attributes: dict[str, Any],
    object_attributes: dict[int, dict[str, Any]] | None = None,
) -> list[Sequence]:
    available = {p.stem: p for p in annotation_dir.glob("*.png")} if annotation_dir.is_dir() else {}
    annotations = _VideoAnnotations([available.get(f.stem) for f in frames], object_ids)

    def frame_loader(index: int) -> NDArray[np.uint8]:
        return read_image(frames[index])

    sequences: list[Sequence] = []
    for object_id in object_ids:
        # Default arguments bind this object's id in each closure.
        def mask_loader(index: int, oid: int = object_id) -> NDArray[np.bool_] | None:
            return annotations.mask(index, oid)

        def compute(oid: int = object_id) -> NDArray[np.float64]:
            return annotations.boxes(oid)

        sequences.append(
            MaskBoxSequence(
                f"{video}_{object_id}",
                len(frames),
                compute,
                frame_loader,
                mask_loader,
                attributes={
                    **attributes,
                    "frame_paths": frames,
                    "video": video,
                    "object_id": object_id,
                    **(object_attributes or {}).get(object_id, {}),
                },
            )
        )
    return sequences


def read_davis_split(path: str | Path) -> list[str]:
    """Video names of a DAVIS split file, in file order.

    Reads both layouts: one name per line (DAVIS-2017 ``ImageSets/2017/val.txt``) and DAVIS-2016's
    frame lists (``ImageSets/480p/train.txt``: ``/JPEGImages/480p/bear/00000.jpg /Annotations/...``
    per line), where the name is the folder of each frame.
    """
    names: dict[str, None] = {}
    for token in read_name_list(path):
        if "/" in token:
            parts = [p for p in token.split("/") if p]
            if len(parts) < 2 or not parts[0].startswith("JPEGImages"):
                continue  # the annotation column of a frame list
            token = parts[-2]
        names[token] = None
    return list(names)


def _davis_split_files(root: Path, split: str) -> list[Path]:
    candidates = [root / "ImageSets" / f"{split}.txt"]
    if "/" not in split:
        candidates += [
            root / "ImageSets" / folder / f"{split}.txt" for folder in ("2017", "2016", "480p")
        ]
    return candidates


def _davis_split(root: Path, split: str) -> list[str]:
    candidates = _davis_split_files(root, split)
    for path in candidates:
        if path.is_file():
            return read_davis_split(path)
    raise FileNotFoundError(f"davis: no split file for {split!r} (looked for {candidates})")


class BenchmarkSequenceError(ValueError):
    """A training source was asked for a sequence outside its training split."""


def load_davis_train(
    root: str | Path,
    *,
    names: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> list[Sequence]:
    """The **training split only** of a DAVIS tree, for training: the videos of its ``train`` list.

    DAVIS trees also hold the validation videos, which are benchmarks. This source reads the
    names of ``ImageSets/[2017|2016|480p/]train.txt`` and nothing else: ``names`` and ``exclude``
    (video names such as ``"bear"``, or sequence names such as ``"bear_1"``) must all be in that
    list, and any other name, a validation video's above all, raises
    :class:`BenchmarkSequenceError`. Sequences are ``<video>_<id>`` as in :func:`load_davis`.
    """
    root = Path(root)
    train = _davis_split(root, "train")
    allowed = set(train)
    asked = [*(names or ()), *exclude]
    refused = sorted({n for n in asked if n not in allowed and _video_of(n) not in allowed})
    if refused:
        validation = set()
        for path in _davis_split_files(root, "val"):
            if path.is_file():
                validation = set(read_davis_split(path))
                break
        benchmark = [n for n in refused if n in validation or _video_of(n) in validation]
        why = (
            f" ({benchmark} are validation videos: benchmarks, never trained on)"
            if benchmark
            else ""
        )
        raise BenchmarkSequenceError(
            f"davis training source {root}: {refused} not in its train list{why}; "
            f"train videos: {train}"
        )
    wanted = None if names is None else {_video_of(n) if n not in allowed else n for n in names}
    videos = [v for v in train if (wanted is None or v in wanted) and v not in exclude]
    sequences = load_davis(root, "train", names=videos)
    skip = set(exclude)
    if names is not None:
        keep = set(names)
        sequences = [s for s in sequences if s.name in keep or _video_of(s.name) in keep]
    return [s for s in sequences if s.name not in skip]


def _video_of(name: str) -> str:
    """The video of a ``<video>_<id>`` sequence name (the name itself if it has no id)."""
    video, sep, object_id = name.rpartition("_")
    return video if sep and object_id.isdigit() else name


def load_davis(
    root: str | Path,
    split: str | None = None,
    *,
    resolution: str = "480p",
    names: Collection[str] | None = None,
) -> list[Sequence]:
    """DAVIS: ``<root>/JPEGImages/<resolution>/<video>/*.jpg`` and
    ``<root>/Annotations/<resolution>/<video>/*.png``; one sequence per object, ``<video>_<id>``.

    ``split`` names a list in ``ImageSets/2017/`` (or ``2016/``, ``480p/``), e.g. ``"val"``, or is
    a path relative to ``ImageSets`` such as ``"2016/val"``; without it every video is read. For
    training, use :func:`load_davis_train`, which reads the train list only. Object ids
    are those of the video's first annotation.
    """
    root = Path(root)
    image_root = root / "JPEGImages" / resolution
    if not image_root.is_dir():
        raise FileNotFoundError(f"davis: no frame folder {image_root}")
    keep = unit_filter(names)
    videos = _davis_split(root, split) if split else [p.name for p in subdirs(image_root)]
    sequences: list[Sequence] = []
    for video in videos:
        if not keep(video):
            continue
        frames = list_images(image_root / video)
        annotation_dir = root / "Annotations" / resolution / video
        first = sorted(annotation_dir.glob("*.png")) if annotation_dir.is_dir() else []
        if not first:
            continue
        object_ids = [int(i) for i in np.unique(read_id_mask(first[0])) if i != 0]
        sequences += _object_sequences(
            video, frames, annotation_dir, object_ids, {"dataset": "davis", "path": root}
        )
    return sequences


def load_youtubevos(
    root: str | Path, split: str | None = None, *, names: Collection[str] | None = None
) -> list[Sequence]:
    """YouTube-VOS: ``<root>/<split>/JPEGImages/<video>/*.jpg``, ``.../Annotations/<video>/*.png``
    and ``<root>/<split>/meta.json``; one sequence per object, ``<video>_<id>``.

    Object ids and categories come from ``meta.json`` (without it, from decoding every
    annotation of the video, which is slow). ``split`` is e.g. ``"train"`` or ``"valid"``;
    without it ``root`` must be the split folder.
    """
    root = Path(root)
    folder = root / split if split else root
    if not (folder / "JPEGImages").is_dir():
        available = [p.name for p in subdirs(root)] if root.is_dir() else []
        raise FileNotFoundError(
            f"youtubevos: no {folder / 'JPEGImages'}; name a split of {root}: {available}"
        )
    meta_path = folder / "meta.json"
    meta: dict[str, Any] = (
        json.loads(meta_path.read_text(encoding="utf-8"))["videos"] if meta_path.is_file() else {}
    )
    keep = unit_filter(names)
    sequences: list[Sequence] = []
    for video_dir in subdirs(folder / "JPEGImages"):
        video = video_dir.name
        if not keep(video):
            continue
        annotation_dir = folder / "Annotations" / video
        object_attributes: dict[int, dict[str, Any]] = {}
        if video in meta:
            objects = meta[video].get("objects", {})
            object_ids = sorted(int(k) for k in objects)
            object_attributes = {
                int(k): {"category": v.get("category")} for k, v in objects.items()
            }
        else:
            found: set[int] = set()
            for path in annotation_dir.glob("*.png") if annotation_dir.is_dir() else []:
                found.update(int(i) for i in np.unique(read_id_mask(path)) if i != 0)
            object_ids = sorted(found)
        sequences += _object_sequences(
            video,
            list_images(video_dir),
            annotation_dir,
            object_ids,
            {"dataset": "youtubevos", "path": folder},
            object_attributes,
        )
    return sequences

"""Still-image datasets as one-frame sequences, for training (reference and test = same image).

* COCO-style JSON (``images``, ``annotations`` with ``bbox`` and optional ``segmentation`` as
  polygons or RLE): one sequence per non-crowd annotation.
* Saliency folders (DUTS, MSRA10K, ECSSD...): an image and a same-named mask; the box is the
  tight box of the mask.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine.data.sequence import Sequence, read_image

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def decode_coco_rle(counts: list[int] | str, height: int, width: int) -> NDArray[np.bool_]:
    """Decode a COCO run-length encoding (column-major runs, starting with zeros)."""
    runs = _uncompress_counts(counts) if isinstance(counts, str) else list(counts)
    flat = np.zeros(height * width, dtype=bool)
    position, value = 0, False
    for run in runs:
        if value:
            flat[position : position + run] = True
        position += run
        value = not value
    if position != height * width:
        raise ValueError(f"RLE covers {position} pixels, expected {height} x {width}")
    mask: NDArray[np.bool_] = flat.reshape(width, height).T
    return mask


def _uncompress_counts(text: str) -> list[int]:
    """COCO's compressed counts: 5-bit groups in chars from 48, deltas after the second run."""
    counts: list[int] = []
    index = 0
    while index < len(text):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(text[index]) - 48
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            index += 1
            shift += 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _segmentation_mask(segmentation: Any, height: int, width: int) -> NDArray[np.bool_] | None:
    if isinstance(segmentation, list) and segmentation:
        mask = np.zeros((height, width), np.uint8)
        polygons = [
            np.round(np.asarray(p, np.float64).reshape(-1, 2)).astype(np.int32)
            for p in segmentation
        ]
        cv2.fillPoly(mask, [p for p in polygons if len(p) >= 3], 1)
        return mask.astype(bool)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        rle_height, rle_width = segmentation.get("size", (height, width))
        return decode_coco_rle(segmentation["counts"], int(rle_height), int(rle_width))
    return None


# Loaders bound per item with partial: they run lazily, long after the listing loop.
def _image_loader(path: Path, _: int) -> NDArray[np.uint8]:
    return read_image(path)


def _segmentation_loader(
    segmentation: Any, height: int, width: int, _: int
) -> NDArray[np.bool_] | None:
    return _segmentation_mask(segmentation, height, width)


def load_coco(
    annotation_file: str | Path, image_root: str | Path | None = None, min_size: float = 8.0
) -> list[Sequence]:
    """One-frame sequences from a COCO-style JSON; images are found under ``image_root``
    (default: the JSON's folder). Crowd annotations and boxes under ``min_size`` px are skipped.
    """
    path = Path(annotation_file)
    root = Path(image_root) if image_root is not None else path.parent
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read COCO annotations {path}: {error}") from error
    images = {image["id"]: image for image in data.get("images", [])}
    sequences: list[Sequence] = []
    for annotation in data.get("annotations", []):
        if annotation.get("iscrowd", 0):
            continue
        box = np.asarray(annotation.get("bbox", []), dtype=np.float64)
        if box.shape != (4,) or box[2] < min_size or box[3] < min_size:
            continue
        image = images.get(annotation["image_id"])
        if image is None:
            raise ValueError(f"{path}: annotation {annotation.get('id')} names unknown image")
        file = root / image["file_name"]
        height, width = int(image["height"]), int(image["width"])
        segmentation = annotation.get("segmentation")
        mask_loader = (
            partial(_segmentation_loader, segmentation, height, width) if segmentation else None
        )
        sequences.append(
            Sequence(
                f"{Path(image['file_name']).stem}#{annotation.get('id', len(sequences))}",
                box[None],
                partial(_image_loader, file),
                mask_loader=mask_loader,
                attributes={"category_id": annotation.get("category_id")},
            )
        )
    return sequences


def _pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image, mask) pairs: sibling folders named like images/masks, or one mixed folder."""
    folders = [p for p in root.iterdir() if p.is_dir()]

    def find(words: tuple[str, ...]) -> Path | None:
        return next((f for f in folders if any(w in f.name.lower() for w in words)), None)

    image_dir = find(("image", "img", "jpeg"))
    mask_dir = find(("mask", "gt", "annotation"))
    if image_dir is None or mask_dir is None:
        image_dir = mask_dir = root
    masks = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
    pairs = []
    for image in sorted(image_dir.iterdir()):
        if (
            image.suffix.lower() in _IMAGE_SUFFIXES
            and image.stem in masks
            and image != masks[image.stem]
        ):
            pairs.append((image, masks[image.stem]))
    return pairs


def salient_object(
    mask: NDArray[np.generic], second_object_ratio: float = 0.2
) -> NDArray[np.bool_] | None:
    """The one object of a saliency mask, or ``None`` when there is no single one.

    Saliency masks are 8-bit with soft edges: binarised at 128. A salient region may join
    several objects; the largest connected component is the target, and an image whose second
    component reaches ``second_object_ratio`` of the largest is ambiguous (``None``), as is an
    empty mask.
    """
    binary = (np.asarray(mask) >= 128).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    if len(order) > 1 and areas[order[1]] >= second_object_ratio * areas[order[0]]:
        return None
    largest: NDArray[np.bool_] = labels == order[0] + 1
    return largest


def _salient_mask_loader(path: Path, _: int) -> NDArray[np.bool_]:
    mask = salient_object(_read_gray(path))
    if mask is None:  # listed only after the same check passed
        raise ValueError(f"saliency mask {path} no longer holds one object")
    return mask


def _read_gray(path: Path) -> NDArray[np.uint8]:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"cannot read mask {path}")
    gray: NDArray[np.uint8] = np.asarray(mask, np.uint8)
    return gray


def load_saliency(root: str | Path) -> list[Sequence]:
    """One-frame sequences from a saliency dataset folder (image + same-named PNG mask).

    The target is the mask's one object (:func:`salient_object`); images whose mask holds none,
    or several of similar size, are skipped.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"saliency dataset folder not found: {folder}")
    sequences: list[Sequence] = []
    for image, mask_path in _pairs(folder):
        mask = salient_object(_read_gray(mask_path))
        if mask is None:
            continue
        ys, xs = np.nonzero(mask)
        box = np.array(
            [[xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]], float
        )
        sequences.append(
            Sequence(
                image.stem,
                box,
                partial(_image_loader, image),
                mask_loader=partial(_salient_mask_loader, mask_path),
            )
        )
    if not sequences:
        raise ValueError(f"no image + mask pairs found in {folder}")
    return sequences

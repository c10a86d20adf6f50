from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from alpha_refine.data.images import decode_coco_rle, load_coco, load_saliency

mask_api = pytest.importorskip("pycocotools.mask")


def _random_mask(seed: int, height: int = 23, width: int = 31) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(
        mask, (15, 11), (int(rng.integers(3, 14)), int(rng.integers(3, 10))), 20, 0, 360, 1, -1
    )
    mask[rng.integers(0, height, 5), rng.integers(0, width, 5)] = 1
    return mask


@pytest.mark.parametrize("seed", range(5))
def test_rle_decoding_matches_pycocotools(seed: int) -> None:
    mask = _random_mask(seed)
    encoded = mask_api.encode(np.asfortranarray(mask))
    compressed = encoded["counts"].decode()
    np.testing.assert_array_equal(decode_coco_rle(compressed, *mask.shape), mask.astype(bool))
    # Uncompressed counts: the runs themselves, column-major.
    flat = mask.T.ravel()
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    runs = np.diff(np.concatenate([[0], changes])).tolist()
    np.testing.assert_array_equal(
        decode_coco_rle(runs[: len(runs)], *mask.shape), mask.astype(bool)
    )


def test_rle_with_wrong_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="RLE covers"):
        decode_coco_rle([3, 4], 5, 5)


def test_coco_json(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((40, 50, 3), np.uint8))
    mask = _random_mask(1, 40, 50)
    rle = mask_api.encode(np.asfortranarray(mask))
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 40, "width": 50}],
        "annotations": [
            {"id": 10, "image_id": 1, "bbox": [5, 6, 20, 10], "iscrowd": 0,
             "segmentation": [[5, 6, 25, 6, 25, 16, 5, 16]]},
            {"id": 11, "image_id": 1, "bbox": [1, 1, 30, 30], "iscrowd": 0,
             "segmentation": {"size": [40, 50], "counts": rle["counts"].decode()}},
            {"id": 12, "image_id": 1, "bbox": [1, 1, 30, 30], "iscrowd": 1},
            {"id": 13, "image_id": 1, "bbox": [1, 1, 3, 30], "iscrowd": 0},
        ],
    }  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(data))
    sequences = load_coco(tmp_path / "ann.json")
    assert [s.name for s in sequences] == ["a#10", "a#11"]
    polygon = sequences[0].mask(0)
    assert polygon is not None and polygon[6:17, 5:26].all() and polygon.sum() == 11 * 21
    np.testing.assert_array_equal(sequences[1].mask(0), mask.astype(bool))
    assert sequences[0].frame(0).shape == (40, 50, 3)
    np.testing.assert_array_equal(sequences[0].boxes, [[5, 6, 20, 10]])


def test_saliency_folder(tmp_path: Path) -> None:
    (tmp_path / "DUTS-TR-Image").mkdir()
    (tmp_path / "DUTS-TR-Mask").mkdir()
    mask = np.zeros((30, 40), np.uint8)
    mask[5:12, 8:30] = 255
    cv2.imwrite(str(tmp_path / "DUTS-TR-Image" / "x.jpg"), np.zeros((30, 40, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "DUTS-TR-Mask" / "x.png"), mask)
    cv2.imwrite(str(tmp_path / "DUTS-TR-Image" / "no_mask.jpg"), np.zeros((30, 40, 3), np.uint8))
    (sequence,) = load_saliency(tmp_path)
    np.testing.assert_array_equal(sequence.boxes, [[8, 5, 22, 7]])
    assert sequence.has_masks and sequence.mask(0).sum() == 7 * 22  # type: ignore[union-attr]
    with pytest.raises(FileNotFoundError):
        load_saliency(tmp_path / "missing")

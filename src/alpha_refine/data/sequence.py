"""A tracking sequence with lazily loaded frames: what every dataset reader returns."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as SequenceOf
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

FrameLoader = Callable[[int], NDArray[np.uint8]]
MaskLoader = Callable[[int], "NDArray[np.bool_] | None"]


def read_image(path: str | Path) -> NDArray[np.uint8]:
    """An image file as ``H x W x 3`` BGR ``uint8``; a clear error if it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.asarray(image, dtype=np.uint8)


def read_mask(path: str | Path) -> NDArray[np.bool_]:
    """A mask image as ``H x W`` bool (any non-zero pixel is foreground)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise FileNotFoundError(f"cannot read mask {path}")
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    return np.asarray(mask > 0)


class Sequence:
    """Frames, ground-truth boxes and (optionally) masks of one target.

    Attributes:
        name: sequence name (unique within its dataset).
        boxes: ``N x 4`` float64 ``x, y, w, h`` ground truth in pixels; rows are NaN where the
            dataset gives no box.
        visible: ``N`` bool, False where the target is absent, fully occluded or out of view.
        attributes: free-form per-sequence facts (e.g. per-frame attribute arrays, the source).

    Frames are loaded on demand with :meth:`frame` (BGR ``uint8``), masks with :meth:`mask`.
    """

    def __init__(
        self,
        name: str,
        boxes: NDArray[Any],
        frame_loader: FrameLoader,
        *,
        visible: NDArray[Any] | None = None,
        mask_loader: MaskLoader | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        finite = np.all(np.isfinite(self.boxes), axis=1) & np.all(self.boxes[:, 2:] > 0, axis=1)
        self.visible = finite if visible is None else np.asarray(visible, dtype=bool) & finite
        if self.visible.shape != (len(self.boxes),):
            raise ValueError(
                f"{name}: visible has shape {self.visible.shape}, expected ({len(self.boxes)},)"
            )
        self._frame_loader = frame_loader
        self._mask_loader = mask_loader
        self.attributes = attributes or {}

    @classmethod
    def from_files(
        cls,
        name: str,
        frame_paths: SequenceOf[str | Path],
        boxes: NDArray[Any],
        *,
        mask_paths: SequenceOf[str | Path | None] | None = None,
        visible: NDArray[Any] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Sequence:
        """A sequence whose frames (and masks) are image files, one per box row."""
        paths = [Path(p) for p in frame_paths]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(paths) != len(boxes):
            raise ValueError(f"{name}: {len(paths)} frames but {len(boxes)} boxes")
        mask_loader: MaskLoader | None = None
        if mask_paths is not None:
            masks = [None if p is None else Path(p) for p in mask_paths]
            if len(masks) != len(paths):
                raise ValueError(f"{name}: {len(paths)} frames but {len(masks)} mask paths")

            def mask_loader(index: int) -> NDArray[np.bool_] | None:
                path = masks[index]
                return None if path is None else read_mask(path)

        return cls(
            name,
            boxes,
            lambda index: read_image(paths[index]),
            visible=visible,
            mask_loader=mask_loader,
            attributes={"frame_paths": paths, **(attributes or {})},
        )

    @classmethod
    def from_arrays(
        cls,
        name: str,
        frames: SequenceOf[NDArray[np.uint8]],
        boxes: NDArray[Any],
        *,
        masks: SequenceOf[NDArray[np.bool_]] | None = None,
        visible: NDArray[Any] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Sequence:
        """A sequence held in memory (synthetic data, tests)."""
        frame_list = list(frames)
        mask_list = None if masks is None else list(masks)
        return cls(
            name,
            boxes,
            lambda index: frame_list[index],
            visible=visible,
            mask_loader=None if mask_list is None else (lambda index: mask_list[index]),
            attributes=attributes,
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, frames={len(self)}, masks={self.has_masks})"

    @property
    def has_masks(self) -> bool:
        return self._mask_loader is not None

    def frame(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` as ``H x W x 3`` BGR ``uint8``."""
        return self._frame_loader(self._check_index(index))

    def mask(self, index: int) -> NDArray[np.bool_] | None:
        """Mask of frame ``index`` as ``H x W`` bool, or ``None`` if the dataset has none."""
        if self._mask_loader is None:
            return None
        return self._mask_loader(self._check_index(index))

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name}: frame {index} out of range (0..{len(self) - 1})")
        return index % len(self)

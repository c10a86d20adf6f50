"""Validation and normalisation of user inputs at the public edge."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from alpha_refine.geometry import BOX_FORMATS, convert_boxes

COLORS = ("bgr", "rgb")
# Far beyond any real frame; keeps crop arithmetic in exact integer range.
MAX_COORDINATE = 1e7


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else goes to ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto' or a torch device, got {device!r}") from error


def as_rgb_frame(frame: Any, color: str, name: str = "frame") -> NDArray[Any]:
    """An ``H x W x 3`` RGB array, ``uint8`` or ``float32`` scaled to 0..255.

    Accepts ``H x W`` and ``H x W x 1`` (grayscale), ``H x W x 3`` (``color`` order) and
    ``H x W x 4`` (``color`` order plus alpha, which is ignored). ``uint8`` frames are used as
    they are; ``float32``/``float64`` frames must lie in ``[0, 1]``.
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array (H x W x 3 uint8, {color.upper()} order), got "
            f"{type(frame).__name__}; convert PIL images with np.asarray(image) and color='rgb'"
        )
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"{name} must have shape H x W, H x W x 1, H x W x 3 or H x W x 4, got {frame.shape}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {frame.shape}")
    if frame.dtype == np.uint8:
        pixels: NDArray[Any] = frame
    elif frame.dtype in (np.float32, np.float64):
        low, high = float(frame.min()), float(frame.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 1.0:
            raise ValueError(
                f"float {name} values must be finite and in [0, 1], got range [{low}, {high}]; "
                "pass uint8 frames (0..255) or divide by 255"
            )
        pixels = frame.astype(np.float32) * np.float32(255.0)
    else:
        raise TypeError(f"{name} dtype must be uint8, float32 or float64, got {frame.dtype}")
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        gray = pixels.reshape(pixels.shape[0], pixels.shape[1], 1)
        return np.ascontiguousarray(np.broadcast_to(gray, (*gray.shape[:2], 3)))
    pixels = pixels[..., :3]
    if color == "bgr":
        pixels = pixels[..., ::-1]
    return np.ascontiguousarray(pixels)


def as_xywh_boxes(box: Any, box_format: str, name: str = "box") -> tuple[NDArray[np.float64], bool]:
    """``N x 4`` float64 ``x, y, w, h`` boxes from one box ``(4,)`` or many ``(N, 4)``.

    Returns the boxes and whether a single box was given. Rejects non-numeric, NaN/inf and boxes
    of non-positive width or height.
    """
    try:
        array = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be 4 numbers ({box_format}) or an N x 4 array") from error
    single = array.shape == (4,)
    if not single and not (array.ndim == 2 and array.shape[1] == 4 and array.shape[0] > 0):
        raise ValueError(
            f"{name} must have shape (4,) or (N, 4) with N >= 1 ({box_format}), got {array.shape}"
        )
    boxes = array.reshape(-1, 4)
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{name} must be finite, got {boxes.tolist()}")
    if np.any(np.abs(boxes) > MAX_COORDINATE):
        raise ValueError(
            f"{name} values must be within +-{MAX_COORDINATE:.0e} pixels, got {boxes.tolist()}"
        )
    xywh = convert_boxes(boxes, box_format, "xywh")  # type: ignore[arg-type]
    if np.any(xywh[:, 2:] <= 0):
        raise ValueError(
            f"{name} must have positive width and height ({box_format}), got {boxes.tolist()}"
        )
    return xywh, single


__all__ = [
    "BOX_FORMATS",
    "COLORS",
    "as_rgb_frame",
    "as_xywh_boxes",
    "check_choice",
    "resolve_device",
]

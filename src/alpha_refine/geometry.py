"""Crop geometry, box formats, box overlap (IoU) and masks, in plain numpy/OpenCV.

Conventions used throughout:

* Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``, so a box ``x, y, w, h``
  covers ``[x, x + w) x [y, y + h)``. This matches OpenCV's resize (pixel centres at ``i + 0.5``).
* Box formats: ``"xywh"`` (top-left, width, height), ``"xyxy"`` (top-left, bottom-right) and
  ``"cxcywh"`` (centre, width, height). Box arrays have shape ``(..., 4)``.
* A *search window* is an integer ``x0, y0, ws, hs`` rectangle in frame pixels that is cut out of
  the frame (zero padded outside it) and resized, generally anisotropically, to ``size x size``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

BoxFormat = Literal["xywh", "xyxy", "cxcywh"]
BOX_FORMATS: tuple[str, ...] = ("xywh", "xyxy", "cxcywh")

SEARCH_FACTOR = 2.0
CROP_SIZE = 256

FloatArray = NDArray[np.float64]
IouGeometry = Literal["continuous", "pixel"]


def _as_float_boxes(boxes: ArrayLike) -> FloatArray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (..., 4), got {array.shape}")
    return array


def convert_boxes(boxes: ArrayLike, source: BoxFormat, target: BoxFormat) -> FloatArray:
    """Convert boxes of shape ``(..., 4)`` between ``"xywh"``, ``"xyxy"`` and ``"cxcywh"``."""
    for name, fmt in (("source", source), ("target", target)):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{name} must be one of {BOX_FORMATS}, got {fmt!r}")
    array = _as_float_boxes(boxes)
    if source == target:  # no arithmetic, so no rounding: crop sizes use ceil(2 w)
        unchanged: FloatArray = array.copy()
        return unchanged
    a, b, c, d = np.moveaxis(array, -1, 0)
    if source == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d
    elif source == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    else:
        x1, y1, x2, y2 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if target == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    elif target == "xyxy":
        out = (x1, y1, x2, y2)
    else:
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    return np.stack(out, axis=-1)


def xywh_to_xyxy(boxes: ArrayLike) -> FloatArray:
    """``x, y, w, h`` -> ``x1, y1, x2, y2`` for boxes of shape ``(..., 4)``."""
    return convert_boxes(boxes, "xywh", "xyxy")


def xyxy_to_xywh(boxes: ArrayLike) -> FloatArray:
    """``x1, y1, x2, y2`` -> ``x, y, w, h`` for boxes of shape ``(..., 4)``."""
    return convert_boxes(boxes, "xyxy", "xywh")


def xywh_to_cxcywh(boxes: ArrayLike) -> FloatArray:
    """``x, y, w, h`` -> ``cx, cy, w, h`` for boxes of shape ``(..., 4)``."""
    return convert_boxes(boxes, "xywh", "cxcywh")


def cxcywh_to_xywh(boxes: ArrayLike) -> FloatArray:
    """``cx, cy, w, h`` -> ``x, y, w, h`` for boxes of shape ``(..., 4)``."""
    return convert_boxes(boxes, "cxcywh", "xywh")


def iou(
    pred: ArrayLike, gt: ArrayLike, geometry: IouGeometry = "continuous", eps: float = 0.0
) -> FloatArray:
    """Intersection over union of ``x, y, w, h`` boxes, shapes ``(..., 4)`` -> ``(...)``.

    ``continuous``: a box covers ``[x, x + w)`` (got10k, pysot). ``pixel``: it covers the pixels
    ``x .. x + w - 1`` inclusive, so the intersection of two boxes gains one pixel per axis
    (pytracking, LaSOT toolkit). Non-finite boxes give NaN; an empty union gives 0. ``eps`` is
    added to the union (the got10k toolkit adds machine epsilon).
    """
    pred, gt = _as_float_boxes(pred), _as_float_boxes(gt)
    if geometry == "pixel":
        tl = np.maximum(pred[..., :2], gt[..., :2])
        br = np.minimum(pred[..., :2] + pred[..., 2:] - 1.0, gt[..., :2] + gt[..., 2:] - 1.0)
        size = np.maximum(br - tl + 1.0, 0.0)
    elif geometry == "continuous":
        tl = np.maximum(pred[..., :2], gt[..., :2])
        br = np.minimum(pred[..., :2] + pred[..., 2:], gt[..., :2] + gt[..., 2:])
        size = np.maximum(br - tl, 0.0)
    else:
        raise ValueError(f"unknown IoU geometry {geometry!r}; use 'continuous' or 'pixel'")
    inter = size[..., 0] * size[..., 1]
    union = pred[..., 2] * pred[..., 3] + gt[..., 2] * gt[..., 3] - inter + eps
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = np.where(union > 0, inter / union, 0.0)
    overlap[np.isnan(union)] = np.nan
    result: FloatArray = np.clip(overlap, 0.0, 1.0)
    return result


def search_windows(boxes_xywh: ArrayLike, factor: float = SEARCH_FACTOR) -> NDArray[np.int64]:
    """Integer search windows ``x0, y0, ws, hs`` around ``x, y, w, h`` boxes (shape ``(..., 4)``).

    As published: ``ws = ceil(factor * w)`` and ``hs = ceil(factor * h)`` independently (so the
    window is generally not square), ``x0 = round(cx - ws / 2)`` with round-half-to-even.
    """
    boxes = _as_float_boxes(boxes_xywh)
    x, y, w, h = np.moveaxis(boxes, -1, 0)
    ws = np.ceil(factor * w)
    hs = np.ceil(factor * h)
    # np.round is round-half-to-even, like Python's round() used by the published code.
    x0 = np.round(x + w / 2 - ws / 2)
    y0 = np.round(y + h / 2 - hs / 2)
    return np.stack((x0, y0, ws, hs), axis=-1).astype(np.int64)


def published_inverse_windows(boxes_xywh: ArrayLike, factor: float = SEARCH_FACTOR) -> FloatArray:
    """The windows the published code uses to map crop boxes back to the frame.

    It takes the *unrounded* origin ``x - 0.5 w`` (exact only when ``factor * w`` is an integer
    and the origin needs no rounding), with the rounded-up size. Our default inverse uses the
    integer window that was really cropped; this exists to reproduce the published numbers.
    """
    boxes = _as_float_boxes(boxes_xywh)
    x, y, w, h = np.moveaxis(boxes, -1, 0)
    half = (factor - 1.0) / 2
    return np.stack((x - half * w, y - half * h, np.ceil(factor * w), np.ceil(factor * h)), -1)


def crop_and_resize(
    image: NDArray[Any],
    window: ArrayLike,
    size: int = CROP_SIZE,
    published_edge: bool = False,
) -> NDArray[Any]:
    """Cut ``window`` (``x0, y0, ws, hs``, integers) out of ``image`` and resize it to ``size``.

    ``image`` is ``H x W x C``; pixels outside the image are zero. Bilinear interpolation
    (OpenCV ``INTER_LINEAR``). Returns ``size x size x C`` with the dtype of ``image``.

    ``published_edge=True`` reproduces a quirk of the published crop: when the window reaches
    the right (bottom) image edge, the last image column (row) is replaced by zero padding.
    """
    x0, y0, ws, hs = (int(v) for v in np.asarray(window).reshape(4))
    if ws <= 0 or hs <= 0:
        raise ValueError(f"window must have positive size, got {ws}x{hs}")
    height, width = image.shape[:2]
    if ws * hs > max(4 * height * width, _DIRECT_SAMPLING_PIXELS):
        return _sample_window(image, (x0, y0, ws, hs), size)
    x1 = min(width, x0 + ws)
    y1 = min(height, y0 + hs)
    if published_edge:
        x1 -= int(x0 + ws >= width)
        y1 -= int(y0 + hs >= height)
    x_start, y_start = max(0, x0), max(0, y0)
    left, top = x_start - x0, y_start - y0
    right, bottom = max(0, x0 + ws - max(x1, x_start)), max(0, y0 + hs - max(y1, y_start))
    # A window wholly left of or above the frame has x1 (y1) <= 0: slicing with it would wrap.
    inside = image[:0, :0] if x1 <= x_start or y1 <= y_start else image[y_start:y1, x_start:x1]
    if inside.size == 0:
        patch = np.zeros((hs, ws, *image.shape[2:]), dtype=image.dtype)
    elif left or top or right or bottom:
        patch = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    else:
        patch = inside
    resized = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
    if resized.ndim < image.ndim:  # OpenCV drops a trailing channel axis of length 1
        resized = resized[..., None]
    return resized


# Windows larger than this (and than 4x the frame) are sampled from the frame directly instead of
# being padded in memory first: a box far larger than the frame must not allocate gigabytes.
_DIRECT_SAMPLING_PIXELS = 1 << 22


def _sample_window(
    image: NDArray[Any], window: tuple[int, int, int, int], size: int
) -> NDArray[Any]:
    """Bilinear samples at the pixel centres ``cv2.resize`` would use, zero outside the frame.

    Equal to the padded crop except within one pixel of a window edge that lies inside the
    frame (``cv2.resize`` clamps there) and for OpenCV's fixed-point rounding (1 grey level).
    """
    x0, y0, ws, hs = window
    scale_x, scale_y = ws / size, hs / size
    matrix = np.array(
        [[scale_x, 0.0, x0 + 0.5 * scale_x - 0.5], [0.0, scale_y, y0 + 0.5 * scale_y - 0.5]]
    )
    sampled = cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    if sampled.ndim < image.ndim:
        sampled = sampled[..., None]
    return np.asarray(sampled, dtype=image.dtype)


def boxes_to_crop(boxes_xywh: ArrayLike, windows: ArrayLike, size: int = CROP_SIZE) -> FloatArray:
    """Map frame boxes ``x, y, w, h`` into the ``size x size`` crop of ``windows``."""
    boxes = _as_float_boxes(boxes_xywh)
    win = _as_float_boxes(windows)
    scale_x = size / win[..., 2]
    scale_y = size / win[..., 3]
    return np.stack(
        (
            (boxes[..., 0] - win[..., 0]) * scale_x,
            (boxes[..., 1] - win[..., 1]) * scale_y,
            boxes[..., 2] * scale_x,
            boxes[..., 3] * scale_y,
        ),
        axis=-1,
    )


def boxes_from_crop(
    crop_boxes_xywh: ArrayLike, windows: ArrayLike, size: int = CROP_SIZE
) -> FloatArray:
    """Exact inverse of :func:`boxes_to_crop`: crop-pixel boxes back to frame pixels."""
    boxes = _as_float_boxes(crop_boxes_xywh)
    win = _as_float_boxes(windows)
    scale_x = win[..., 2] / size
    scale_y = win[..., 3] / size
    return np.stack(
        (
            win[..., 0] + boxes[..., 0] * scale_x,
            win[..., 1] + boxes[..., 1] * scale_y,
            boxes[..., 2] * scale_x,
            boxes[..., 3] * scale_y,
        ),
        axis=-1,
    )


def mirror_crop_corners(corners_xyxy: ArrayLike, size: int = CROP_SIZE) -> FloatArray:
    """``x1, y1, x2, y2`` crop-pixel corners (``(..., 4)``) in the crop mirrored left to
    right: ``size - x2, y1, size - x1, y2``."""
    corners = _as_float_boxes(corners_xyxy)
    x1, y1, x2, y2 = np.moveaxis(corners, -1, 0)
    return np.stack((size - x2, y1, size - x1, y2), axis=-1)


def _linear_taps(
    first: int, stop: int, origin: int, window: int, source: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """Source indices and weights of ``cv2.resize``'s bilinear (``INTER_LINEAR``) resampling of
    ``source`` pixels to ``window`` pixels placed at ``origin``, for output pixels
    ``first .. stop - 1``: pixel centres aligned, edges clamped, as OpenCV does."""
    position = (np.arange(first, stop) - origin + 0.5) * (source / window) - 0.5
    low = np.floor(position)
    weight = (position - low).astype(np.float32)
    low = low.astype(np.intp)
    weight[low < 0] = 0.0
    weight[low >= source - 1] = 0.0
    low = np.clip(low, 0, source - 1)
    return low, np.minimum(low + 1, source - 1), weight


def paste_mask(
    crop_mask: NDArray[np.floating], window: ArrayLike, frame_shape: tuple[int, int]
) -> NDArray[np.float32]:
    """Put a ``size x size`` crop mask back into a zero ``H x W`` frame canvas.

    The mask is resized (bilinear, as ``cv2.resize``) to the window's ``ws x hs``, placed at
    ``x0, y0`` and cut to the frame: the inverse of :func:`crop_and_resize`. Only the part inside
    the frame is computed, so a window far larger than the frame costs no more than the frame.
    """
    x0, y0, ws, hs = (int(v) for v in np.asarray(window).reshape(4))
    height, width = frame_shape
    canvas = np.zeros((height, width), dtype=np.float32)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(width, x0 + ws), min(height, y0 + hs)
    if fx1 <= fx0 or fy1 <= fy0:
        return canvas
    mask = np.asarray(crop_mask, dtype=np.float32)
    top, bottom, down = _linear_taps(fy0, fy1, y0, hs, mask.shape[0])
    left, right, across = _linear_taps(fx0, fx1, x0, ws, mask.shape[1])
    rows = mask[top] * (1.0 - down)[:, None] + mask[bottom] * down[:, None]
    canvas[fy0:fy1, fx0:fx1] = rows[:, left] * (1.0 - across) + rows[:, right] * across
    return canvas


def clip_boxes(
    boxes_xywh: ArrayLike, frame_shape: tuple[int, int], min_size: float = 10.0
) -> FloatArray:
    """Clip ``x, y, w, h`` boxes to an ``H x W`` frame, keeping at least ``min_size`` pixels.

    The minimum is capped at the frame size, so the result always lies inside the frame and has
    positive width and height. A box with ``x2 < x1`` (or ``y2 < y1``) collapses to the minimum
    size at its clipped left (top) edge.
    """
    height, width = frame_shape
    x1, y1, x2, y2 = np.moveaxis(xywh_to_xyxy(boxes_xywh), -1, 0)
    min_w, min_h = min(min_size, width), min(min_size, height)
    x1 = np.clip(x1, 0.0, width - min_w)
    y1 = np.clip(y1, 0.0, height - min_h)
    x2 = np.clip(x2, x1 + min_w, width)
    y2 = np.clip(y2, y1 + min_h, height)
    return np.stack((x1, y1, x2 - x1, y2 - y1), axis=-1)


def threshold_mask(probabilities: ArrayLike, threshold: float = 0.5) -> NDArray[np.bool_]:
    """Binary mask from a probability map: ``probabilities > threshold``.

    Use 0.5 for mask-to-box (as published) and 0.65 for VOT2020-style masks.
    """
    if not 0.0 <= threshold <= 1.0 or math.isnan(threshold):
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    return np.asarray(probabilities) > threshold


def _largest_contour(
    mask: ArrayLike, threshold: float, min_area: float
) -> NDArray[np.int32] | None:
    binary = threshold_mask(mask, threshold)
    if binary.ndim != 2:
        raise ValueError(f"mask must be a 2-D H x W map, got shape {binary.shape}")
    contours, _ = cv2.findContours(
        binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return None
    areas = [cv2.contourArea(c) for c in contours]
    best = int(np.argmax(areas))
    if areas[best] <= min_area:
        return None
    return np.asarray(contours[best], dtype=np.int32)


def mask_to_box(
    mask: ArrayLike, threshold: float = 0.5, min_area: float = 100.0
) -> FloatArray | None:
    """Axis-aligned ``x, y, w, h`` box of the largest external contour of a mask.

    ``mask`` is an ``H x W`` probability (or binary) map. Returns ``None`` when no contour has an
    area above ``min_area`` pixels (the published callers then keep the input box).
    """
    contour = _largest_contour(mask, threshold, min_area)
    if contour is None:
        return None
    x, y, w, h = cv2.boundingRect(contour)
    return np.array([x, y, w, h], dtype=np.float64)


def mask_to_rotated_box(
    mask: ArrayLike, threshold: float = 0.5, min_area: float = 100.0
) -> FloatArray | None:
    """Minimum-area rotated rectangle of the largest contour, as 4 corner points ``(4, 2)``.

    VOT-style polygon output (``x1, y1, ..., x4, y4`` after ``.ravel()``); ``None`` as in
    :func:`mask_to_box`.
    """
    contour = _largest_contour(mask, threshold, min_area)
    if contour is None:
        return None
    return np.asarray(cv2.boxPoints(cv2.minAreaRect(contour)), dtype=np.float64)

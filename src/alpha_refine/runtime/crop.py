"""The batched on-device crop: every search window of a frame cut and resized in one gather.

:func:`batched_crop` reproduces ``geometry.crop_and_resize`` (OpenCV ``INTER_LINEAR``, zero
padding, the ``published_edge`` quirk) bit for bit on ``uint8`` frames, including OpenCV's
fixed-point arithmetic, so the engines see exactly the crops of the plain path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from alpha_refine._inputs import as_rgb_frame
from alpha_refine.geometry import CROP_SIZE

# OpenCV's INTER_LINEAR on 8-bit images: 11-bit fixed-point coefficients.
_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS


# --- frames -------------------------------------------------------------------------------


def frame_pixels(frame: Any, color: str) -> tuple[NDArray[Any], bool]:
    """Frame pixels to crop from, and whether the crops' channels must be reversed to be RGB.

    The common case, a contiguous ``uint8`` ``H x W x 3`` frame, is used as it is (no
    full-frame copy to reorder channels: the crops are reordered instead, which is cheaper and
    gives the same values). Everything else goes through
    :func:`alpha_refine._inputs.as_rgb_frame`.
    """
    if (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and frame.ndim == 3
        and frame.shape[2] == 3
        and frame.shape[0] > 0
        and frame.shape[1] > 0
        and frame.flags.c_contiguous
    ):
        return frame, color == "bgr"
    return as_rgb_frame(frame, color), False


# --- batched crop -------------------------------------------------------------------------


def _axis_tables(
    origins: NDArray[np.int64],
    sizes: NDArray[np.int64],
    extent: int,
    out_size: int,
    published_edge: bool,
    clamp_weights: bool,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
    """Source indices and weights of OpenCV's linear resize along one axis, in frame pixels.

    Follows ``cv::resize``: ``f = float((d + 0.5) * scale - 0.5)``. Along x (``clamp_weights``)
    OpenCV moves samples left of the first or right of the last source pixel onto that pixel
    with weight 1; along y it only clamps the row indices and keeps the weights (which then
    both apply to the same row). Weights of source pixels outside the frame (the zero padding)
    are zero.
    """
    origins = origins[:, None]
    sizes = sizes[:, None]
    scale = 1.0 / (out_size / sizes.astype(np.float64))
    position = ((np.arange(out_size, dtype=np.float64)[None] + 0.5) * scale - 0.5).astype(
        np.float32
    )
    index = np.floor(position).astype(np.int64)
    fraction = position - index.astype(np.float32)
    last = np.broadcast_to(sizes - 1, index.shape)
    if clamp_weights:
        low, high = index < 0, index >= last
        fraction[low | high] = 0.0
        index = np.where(low, 0, np.where(high, last, index))
        next_index = np.minimum(index + 1, last)
    else:
        next_index = np.clip(index + 1, 0, last)
        index = np.clip(index, 0, last)
    weight0 = (np.float32(1.0) - fraction).astype(np.float32)
    weight1 = fraction
    # The part of the window covered by the frame; the published crop also drops the last
    # frame column/row when the window reaches the right/bottom edge.
    start = np.maximum(origins, 0)
    end = np.minimum(origins + sizes, extent)
    if published_edge:
        end = end - (origins + sizes >= extent)
    source0, source1 = origins + index, origins + next_index
    weight0 = np.where((source0 >= start) & (source0 < end), weight0, np.float32(0.0))
    weight1 = np.where((source1 >= start) & (source1 < end), weight1, np.float32(0.0))
    return (
        np.clip(source0, 0, extent - 1),
        np.clip(source1, 0, extent - 1),
        weight0.astype(np.float32),
        weight1.astype(np.float32),
    )


def batched_crop(
    frame: Tensor,
    windows: NDArray[np.int64],
    size: int = CROP_SIZE,
    published_edge: bool = False,
) -> Tensor:
    """All ``windows`` of one frame, cropped and resized in one batched operation.

    The same crops as :func:`alpha_refine.geometry.crop_and_resize` on each window: zero
    padding outside the frame, OpenCV ``INTER_LINEAR`` with the window's own border replicated
    (not the frame's), no antialiasing. On ``uint8`` frames OpenCV's fixed-point arithmetic is
    reproduced, so the crops are bit-identical to OpenCV's; float frames use float weights.
    (For windows far larger than the frame ``crop_and_resize`` samples the frame directly and
    differs from this padded result by up to one grey level near the window's edges.)

    Args:
        frame: ``H x W x C`` ``uint8`` or ``float32`` tensor, on the device that crops.
        windows: ``N x 4`` integer windows ``x0, y0, ws, hs`` (positive sizes).
        size: output side.
        published_edge: reproduce the published crop's zeroed last column/row.

    Returns:
        ``N x size x size x C``: ``int32`` values in ``0..255`` for ``uint8`` frames,
        ``float32`` for float frames.
    """
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    if np.any(windows[:, 2:] <= 0):
        raise ValueError(f"windows must have positive sizes, got {windows.tolist()}")
    height, width, channels = frame.shape
    x0, x1, wx0, wx1 = _axis_tables(windows[:, 0], windows[:, 2], width, size, published_edge, True)
    y0, y1, wy0, wy1 = _axis_tables(
        windows[:, 1], windows[:, 3], height, size, published_edge, False
    )
    fixed_point = frame.dtype == torch.uint8
    weights = np.stack((wx0, wx1, wy0, wy1), axis=1)
    if fixed_point:  # OpenCV rounds each coefficient to 11 bits (round half to even)
        weights = np.rint(weights * np.float32(_COEF_SCALE))
    # Two small uploads for the whole batch: indices and weights.
    index = torch.from_numpy(np.stack((x0, x1, y0 * width, y1 * width), axis=1)).to(frame.device)
    weight = torch.from_numpy(weights.astype(np.float32)).to(frame.device)
    if fixed_point:
        weight = weight.to(torch.int32)
        pixels = frame.reshape(-1, channels).to(torch.int32)
    else:
        pixels = frame.reshape(-1, channels).float()

    def horizontal(rows: Tensor) -> Tensor:  # N x size x size x C, interpolated along x
        left = pixels[rows[:, :, None] + index[:, 0, None, :]]
        right = pixels[rows[:, :, None] + index[:, 1, None, :]]
        return left * weight[:, 0, None, :, None] + right * weight[:, 1, None, :, None]

    top, bottom = horizontal(index[:, 2]), horizontal(index[:, 3])
    weight_top, weight_bottom = weight[:, 2, :, None, None], weight[:, 3, :, None, None]
    if fixed_point:
        # OpenCV's vertical pass on 8-bit data: products of 16-bit values keep the high half.
        top = (weight_top * (top >> 4)) >> 16
        bottom = (weight_bottom * (bottom >> 4)) >> 16
        return (top + bottom + 2) >> 2
    return top * weight_top + bottom * weight_bottom

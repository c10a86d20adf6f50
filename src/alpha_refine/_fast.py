"""Inference engines and the batched on-device crop used by :class:`alpha_refine.Refiner`.

Everything here is an exact re-arrangement of the plain path (OpenCV crop per target, the
network as built), up to floating-point rounding:

* :func:`batched_crop` cuts and resizes all search windows in one batched gather on the device,
  reproducing ``geometry.crop_and_resize`` (OpenCV ``INTER_LINEAR``, zero padding, the
  ``published_edge`` quirk) bit for bit on ``uint8`` frames, including OpenCV's fixed-point
  arithmetic.
* :func:`fold_batchnorm` folds inference-mode BatchNorm into the preceding convolution.
* :class:`TorchEngine` runs a BN-folded, ``channels_last`` copy of the network under
  ``torch.inference_mode``, optionally under CUDA autocast (fp16/bf16) and ``torch.compile``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from alpha_refine._inputs import as_rgb_frame
from alpha_refine.geometry import CROP_SIZE
from alpha_refine.model.heads import corner_confidence
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops

Precision = Literal["float32", "float16", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "float16", "bfloat16")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}

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


# --- BatchNorm folding --------------------------------------------------------------------


_Module = TypeVar("_Module", bound=nn.Module)


def fold_batchnorm(module: _Module) -> _Module:
    """Fold every ``Conv2d`` followed by a ``BatchNorm2d`` into one ``Conv2d``, in place.

    Finds the pairs the Alpha-Refine modules use: consecutive entries of an ``nn.Sequential``
    and the ``convK``/``bnK`` attributes of the ResNet trunk and its blocks. The batch norm is
    replaced by ``nn.Identity``. Only valid in eval mode (running statistics). Returns
    ``module``.
    """
    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    for k in range(1, 4):
        named_conv = getattr(module, f"conv{k}", None)
        named_norm = getattr(module, f"bn{k}", None)
        if isinstance(named_conv, nn.Conv2d) and isinstance(named_norm, nn.BatchNorm2d):
            setattr(module, f"conv{k}", fuse_conv_bn_eval(named_conv, named_norm))
            setattr(module, f"bn{k}", nn.Identity())
    return module


# --- engines ------------------------------------------------------------------------------


class SearchOutput(NamedTuple):
    """An engine's answer for ``N`` search crops (``float32``).

    Attributes:
        corners: ``N x 4`` ``x1, y1, x2, y2`` in crop pixels.
        confidence: ``N`` corner-map sharpness in ``[0, 1]``
            (:func:`~alpha_refine.model.heads.corner_confidence`).
        mask: ``N x S x S`` foreground probabilities, or ``None`` when not asked for.
    """

    corners: Tensor
    confidence: Tensor
    mask: Tensor | None


class Engine(Protocol):
    """What the refiner needs from a backend. Crops are ``N x S x S x 3`` RGB, ``0..255``.

    Engines hold no target state (kernels are passed in), so refiners may share one.
    """

    device: torch.device

    def kernels(self, crops: Tensor) -> Tensor:
        """Template kernels ``N x C x 8 x 8`` (``float32``) from template crops."""
        ...

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        """Corners, confidence and (if asked) mask probabilities of the search crops."""
        ...


class TorchEngine:
    """The network in PyTorch, prepared for inference.

    Args:
        network: the network; it is copied, never modified.
        device: where to run.
        precision: ``"float16"``/``"bfloat16"`` run the network under autocast (the
            correlation and the soft-argmax stay in ``float32``).
        compile: wrap the network in ``torch.compile`` (``mode="reduce-overhead"``, i.e. CUDA
            graphs, on CUDA). Each new number of targets compiles once more.
        fold_bn: fold BatchNorm into the convolutions (exact up to rounding).
        channels_last: NHWC memory layout for convolutions.
    """

    def __init__(
        self,
        network: AlphaRefineNet,
        device: torch.device,
        *,
        precision: Precision = "float32",
        compile: bool = False,
        fold_bn: bool = True,
        channels_last: bool = True,
    ) -> None:
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        prepared = copy.deepcopy(network).eval().requires_grad_(False)
        if fold_bn:
            fold_batchnorm(prepared)
        prepared = prepared.to(device)
        if channels_last:
            prepared = prepared.to(memory_format=torch.channels_last)
        self.network: AlphaRefineNet = prepared
        self._template: Callable[[Tensor], Tensor] = prepared.template_kernel
        self._forward: Callable[..., Any] = prepared
        if compile:
            mode = "reduce-overhead" if device.type == "cuda" else None
            self._template = torch.compile(prepared.template_kernel, mode=mode)
            self._forward = torch.compile(prepared, mode=mode)

    def _inputs(self, crops: Tensor) -> Tensor:
        batch = normalize_crops(crops.to(self.device, non_blocking=True))
        if self.channels_last:  # a permuted NHWC tensor already is channels_last
            return batch.contiguous(memory_format=torch.channels_last)
        return batch.contiguous()

    def _autocast(self) -> Any:
        if self.precision == "float32":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def kernels(self, crops: Tensor) -> Tensor:
        with torch.inference_mode(), self._autocast():
            # A copy: under CUDA graphs the output buffer is reused by the next call.
            return self._template(self._inputs(crops)).float().clone()

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        with torch.inference_mode(), self._autocast():
            output = self._forward(self._inputs(crops), kernels, with_mask=with_mask)
            corners = output.corners.float()
            confidence = corner_confidence(output.corner_scores.float())
            probabilities = None
            if output.mask_logits is not None:
                probabilities = output.mask_logits[:, 0].float().sigmoid()
        return SearchOutput(corners, confidence, probabilities)

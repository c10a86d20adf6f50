"""Pixel-wise correlation of search features with the template kernel, then attention."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from alpha_refine.model.layers import conv_bn_relu

KERNEL_SIZE = 8  # the template kernel is the centre 8 x 8 window of the 16 x 16 layer3 map
CORRELATION_CHANNELS = KERNEL_SIZE * KERNEL_SIZE


def full_precision(device_type: str) -> contextlib.AbstractContextManager[Any]:
    """Suspend autocast, if it is on, for ops that reduced precision would break."""
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no device type
        enabled = torch.is_autocast_enabled() if device_type == "cuda" else False
    return torch.autocast(device_type, enabled=False) if enabled else contextlib.nullcontext()


def at_least_float32(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 if it is in a 16-bit float type, else unchanged."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def template_kernel(template_layer3: Tensor) -> Tensor:
    """Centre ``8 x 8`` window (rows and columns 4..11) of a ``N x C x 16 x 16`` map."""
    height, width = template_layer3.shape[-2:]
    top = (height - KERNEL_SIZE) // 2
    left = (width - KERNEL_SIZE) // 2
    return template_layer3[..., top : top + KERNEL_SIZE, left : left + KERNEL_SIZE]


def pixelwise_correlation(kernel: Tensor, search: Tensor) -> Tensor:
    """Correlate each kernel pixel with every search pixel.

    ``kernel`` is ``N x C x 8 x 8``, ``search`` is ``N x C x H x W``; the result is
    ``N x 64 x H x W`` with ``out[n, 8 * row + col] = sum_c kernel[n, c, row, col] * search[n, c]``
    (no normalisation, no bias). That channel order is baked into the published weights.
    """
    n, c, height, width = search.shape
    # In float32 even under fp16 autocast: sums over C channels of products can exceed 65504.
    with full_precision(search.device.type):
        kernel_vectors = at_least_float32(kernel).reshape(n, c, -1).transpose(1, 2)  # N x 64 x C
        flat = at_least_float32(search).reshape(n, c, height * width)
        return (kernel_vectors @ flat).reshape(n, -1, height, width)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation gate: scale channels by ``sigmoid(fc2(relu(fc1(mean))))``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1)

    def forward(self, features: Tensor) -> Tensor:
        pooled = features.mean(dim=(2, 3), keepdim=True)
        weights: Tensor = self.fc2(self.fc1(pooled).relu()).sigmoid()
        return features * weights


class CorrelationFusion(nn.Module):
    """Correlation, a 1 x 1 conv stack (64 -> 128 -> 128 -> 64) and channel attention."""

    out_channels = CORRELATION_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        self.post_corr = nn.Sequential(
            *conv_bn_relu(CORRELATION_CHANNELS, 128, kernel_size=1),
            *conv_bn_relu(128, 128, kernel_size=1),
            *conv_bn_relu(128, CORRELATION_CHANNELS, kernel_size=1),
        )
        self.channel_attention = ChannelAttention(CORRELATION_CHANNELS)

    def forward(self, kernel: Tensor, search_layer3: Tensor) -> Tensor:
        fused: Tensor = self.post_corr(pixelwise_correlation(kernel, search_layer3))
        attended: Tensor = self.channel_attention(fused)
        return attended

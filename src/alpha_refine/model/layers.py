"""The convolution block every head is built from."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    """A ``kernel_size`` convolution (same padding), BatchNorm and ReLU, as a list to splice into
    an ``nn.Sequential``; the published weights' names follow that layout (``0``, ``1``, ``2``
    in a block of their own, or consecutive indices in a longer stack)."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]

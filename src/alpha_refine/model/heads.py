"""Corner head (box) and mask decoder (U-Net style, auxiliary)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alpha_refine.model.backbone import BackboneFeatures
from alpha_refine.model.fusion import at_least_float32, full_precision
from alpha_refine.model.layers import conv_bn_relu

CORNER_STRIDE = 16  # crop pixels per score-map cell


# Widths of the 3 x 3 layers of a corner tower: published, and light (the same depth, and so the
# same receptive field, at about a quarter of the cost).
PUBLISHED_TOWER_WIDTHS = (256, 128, 64, 32)
LIGHT_TOWER_WIDTHS = (128, 64, 32, 16)


def _corner_tower(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """3 x 3 conv + BN + ReLU layers of ``widths``, then a 1 x 1 conv to one score map."""
    inputs = (in_channels, *widths[:-1])
    layers = [
        nn.Sequential(*conv_bn_relu(c_in, c_out))
        for c_in, c_out in zip(inputs, widths, strict=True)
    ]
    return nn.Sequential(*layers, nn.Conv2d(widths[-1], 1, kernel_size=1))


def soft_argmax(score_map: Tensor, stride: int = CORNER_STRIDE) -> Tensor:
    """Expected ``x, y`` under ``softmax`` of an ``N x 1 x H x W`` score map.

    Cell ``(row, col)`` stands for the crop pixel ``(col * stride, row * stride)``: the cell's
    top-left corner, as in the published model (so the range is ``0 .. (W - 1) * stride``).
    Returns ``N x 2``.
    """
    n, _, height, width = score_map.shape
    # float32 under autocast too: fp16 resolves only 1/8 px at the crop's far side.
    with full_precision(score_map.device.type):
        probabilities = at_least_float32(score_map).reshape(n, height * width).softmax(dim=1)
        cols = torch.arange(width, device=score_map.device, dtype=probabilities.dtype) * stride
        rows = torch.arange(height, device=score_map.device, dtype=probabilities.dtype) * stride
        grid_x = cols.repeat(height)
        grid_y = rows.repeat_interleave(width)
        return torch.stack((probabilities @ grid_x, probabilities @ grid_y), dim=1)


def corner_confidence(score_maps: Tensor) -> Tensor:
    """How concentrated the corner maps of ``N x K x H x W`` logits are, in ``[0, 1]``; ``N``.

    For each of the ``K`` maps (the two corners), ``1 - s / s_flat``: ``s`` is the root mean
    square distance of the ``softmax`` distribution from its expectation (the soft-argmax, i.e.
    the decoded corner) and ``s_flat`` that of a flat map, so a map peaked on one cell gives 1,
    two neighbouring cells 0.92, a flat map or one split between distant places 0 (clamped).
    The result is the mean over the ``K`` maps. A low value means the decoded corners are
    averages over a wide area: the network is unsure where they are.
    """
    n, k, height, width = score_maps.shape
    with full_precision(score_maps.device.type):
        probabilities = at_least_float32(score_maps).reshape(n, k, height * width).softmax(dim=2)
        cols = torch.arange(width, device=score_maps.device, dtype=probabilities.dtype)
        rows = torch.arange(height, device=score_maps.device, dtype=probabilities.dtype)
        grid_x = cols.repeat(height)
        grid_y = rows.repeat_interleave(width)
        expected_x = (probabilities * grid_x).sum(dim=2, keepdim=True)
        expected_y = (probabilities * grid_y).sum(dim=2, keepdim=True)
        squared = (grid_x - expected_x).square() + (grid_y - expected_y).square()
        spread = (probabilities * squared).sum(dim=2).clamp_min(0.0).sqrt()
        flat = math.sqrt((width * width - 1) / 12 + (height * height - 1) / 12)
        if flat == 0.0:  # a 1 x 1 map: one place, certain
            return torch.ones_like(spread[:, 0])
        return (1.0 - spread / flat).clamp(0.0, 1.0).mean(dim=1)


class CornerHead(nn.Module):
    """Two conv towers scoring the top-left and bottom-right corners on the fused map."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = PUBLISHED_TOWER_WIDTHS) -> None:
        super().__init__()
        self.top_left = _corner_tower(in_channels, widths)
        self.bottom_right = _corner_tower(in_channels, widths)

    def forward(self, fused: Tensor) -> tuple[Tensor, Tensor]:
        """Score maps (logits) ``N x 1 x 16 x 16`` for the two corners."""
        return self.top_left(fused), self.bottom_right(fused)


def _conv_relu_pair(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
    )


# Widths of the mask decoder's lateral inputs (strides 2, 4, 8): the published ones, and a
# narrower set for light trunks, where the published widths would cost more than the trunk.
PUBLISHED_LATERAL_CHANNELS = (64, 256, 512)
LIGHT_LATERAL_CHANNELS = (32, 64, 128)
# Hidden widths of the lateral paths' conv pairs (strides 2, 4, 8): published, and light (the
# published ones at strides 4 and 8 cost more than the corner head).
PUBLISHED_LATERAL_HIDDEN = (16, 64, 128)
LIGHT_LATERAL_HIDDEN = (8, 16, 32)


class MaskAdjust(nn.ModuleList):
    """1 x 1 conv + BN + ReLU on the search crop's conv1, layer1 and layer2 features."""

    def __init__(
        self,
        in_channels: tuple[int, int, int],
        out_channels: tuple[int, int, int] = PUBLISHED_LATERAL_CHANNELS,
    ) -> None:
        super().__init__(
            nn.Sequential(*conv_bn_relu(c_in, c_out, kernel_size=1))
            for c_in, c_out in zip(in_channels, out_channels, strict=True)
        )
        self.out_channels = out_channels

    def forward(self, features: BackboneFeatures) -> tuple[Tensor, Tensor, Tensor]:
        conv1, layer1, layer2 = (
            module(feature)
            for module, feature in zip(
                self, (features.conv1, features.layer1, features.layer2), strict=True
            )
        )
        return conv1, layer1, layer2


class MaskDecoder(nn.Module):
    """Top-down decoder from the 16 x 16 fused map to 256 x 256 mask logits.

    At each scale the top-down path (``h*``) is upsampled bilinearly and added to the lateral
    path (``v*``) of the adjusted backbone feature, then merged by a ``post*`` conv.
    """

    def __init__(
        self,
        fused_channels: int,
        lateral_channels: tuple[int, int, int] = PUBLISHED_LATERAL_CHANNELS,
        lateral_hidden: tuple[int, int, int] = PUBLISHED_LATERAL_HIDDEN,
    ) -> None:
        super().__init__()
        lateral0, lateral1, lateral2 = lateral_channels
        hidden0, hidden1, hidden2 = lateral_hidden
        self.v0 = _conv_relu_pair(lateral0, hidden0, 4)
        self.v1 = _conv_relu_pair(lateral1, hidden1, 16)
        self.v2 = _conv_relu_pair(lateral2, hidden2, 32)
        self.h2 = _conv_relu_pair(fused_channels, 32, 32)
        self.h1 = _conv_relu_pair(16, 16, 16)
        self.h0 = _conv_relu_pair(4, 4, 4)
        self.post0 = nn.Conv2d(32, 16, kernel_size=3, padding=1)
        self.post1 = nn.Conv2d(16, 4, kernel_size=3, padding=1)
        self.post2 = nn.Conv2d(4, 1, kernel_size=3, padding=1)

    def forward(
        self, fused: Tensor, adjusted: tuple[Tensor, Tensor, Tensor], output_size: int
    ) -> Tensor:
        """Mask logits ``N x 1 x output_size x output_size`` (``sigmoid`` gives probabilities)."""
        conv1, layer1, layer2 = adjusted
        out = self.post0(_upsample(self.h2(fused), layer2) + self.v2(layer2))
        out = self.post1(_upsample(self.h1(out), layer1) + self.v1(layer1))
        out = self.post2(_upsample(self.h0(out), conv1) + self.v0(conv1))
        return F.interpolate(
            out, size=(output_size, output_size), mode="bilinear", align_corners=False
        )


def _upsample(features: Tensor, like: Tensor) -> Tensor:
    return F.interpolate(features, size=like.shape[-2:], mode="bilinear", align_corners=False)

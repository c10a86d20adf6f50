"""Finer corners: stride-8 corner maps from the stride-16 ones and the trunk's stride-8 features.

The corner head (:class:`~alpha_refine.model.heads.CornerHead`) scores corners on the 16 x 16
fused map, in cells of 16 crop pixels, so a corner between two cell positions is decoded as an
average of them. :class:`FineCornerHead` moves those score maps onto a grid of 8-pixel cells,
the stride of the search crop's ``layer2`` features, and adds a correction computed from the
fused map and those features. Its last convolution starts at zero: a network given this head
decodes at first (almost) the corners of its stride-16 maps, and training moves them only where
the finer features say so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alpha_refine.model.layers import conv_bn_relu

FINE_STRIDE = 8  # crop pixels per fine score-map cell
LATERAL_CHANNELS = 32  # width of the projected layer2 features
HIDDEN_CHANNELS = 32  # width of the correction's 3 x 3 layers


def to_fine_grid(coarse: Tensor) -> Tensor:
    """``N x K x H x W`` score maps at crop positions ``16 * i`` to ``N x K x (2H - 1) x (2W - 1)``
    at positions ``8 * j``, the same range: bilinear through the coarse positions (even fine cells
    take the coarse values, odd ones the mean of their two or four neighbours)."""
    _, _, height, width = coarse.shape
    return F.interpolate(
        coarse, size=(2 * height - 1, 2 * width - 1), mode="bilinear", align_corners=True
    )


class FineCornerHead(nn.Module):
    """Stride-8 top-left and bottom-right score maps (logits).

    ``fused``: the ``N x C x 16 x 16`` fused map; ``layer2``: the search crop's ``N x L x 32 x 32``
    trunk features; ``coarse_scores``: the corner head's ``N x 2 x 16 x 16`` maps. Returns
    ``N x 2 x 31 x 31``, cell ``(row, col)`` standing for crop pixel ``(8 col, 8 row)``: the
    coarse maps' range, ``0 .. 240``, so the finer grid changes how precisely a corner is placed,
    not where it can be.
    """

    def __init__(self, fused_channels: int, layer2_channels: int) -> None:
        super().__init__()
        lateral = conv_bn_relu(layer2_channels, LATERAL_CHANNELS, kernel_size=1)
        self.lateral = nn.Sequential(*lateral)
        inputs = fused_channels + LATERAL_CHANNELS + 2
        scores = nn.Conv2d(HIDDEN_CHANNELS, 2, kernel_size=1)
        # Zero: the head starts from the stride-16 maps, moved onto the finer grid.
        nn.init.zeros_(scores.weight)
        nn.init.zeros_(scores.get_parameter("bias"))
        self.correction = nn.Sequential(
            *conv_bn_relu(inputs, HIDDEN_CHANNELS),
            *conv_bn_relu(HIDDEN_CHANNELS, HIDDEN_CHANNELS),
            scores,
        )

    def forward(self, fused: Tensor, layer2: Tensor, coarse_scores: Tensor) -> Tensor:
        height, width = fused.shape[-2:]
        if layer2.shape[-2:] != (2 * height, 2 * width):
            raise ValueError(
                f"layer2 features must be {2 * height} x {2 * width} (twice the fused map's "
                f"size), got {tuple(layer2.shape[-2:])}"
            )
        prior = to_fine_grid(coarse_scores)
        # The fused map's and layer2's cells both cover crop pixels: they align at cell centres.
        context = F.interpolate(fused, size=layer2.shape[-2:], mode="bilinear", align_corners=False)
        padded_prior = F.pad(prior, (0, 1, 0, 1), mode="replicate").to(context.dtype)
        features = torch.cat((context, self.lateral(layer2), padded_prior), dim=1)
        correction: Tensor = self.correction(features)
        # The last row and column (248 px) lie past the coarse range: dropped.
        return prior + correction[..., : 2 * height - 1, : 2 * width - 1]

"""The Alpha-Refine network: Siamese trunk, correlation fusion, corner and mask heads."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from alpha_refine.config import ModelConfig
from alpha_refine.model.backbone import build_backbone
from alpha_refine.model.blend import BlendHead
from alpha_refine.model.fine_corners import FINE_STRIDE, FineCornerHead
from alpha_refine.model.fusion import CorrelationFusion, template_kernel
from alpha_refine.model.heads import (
    LIGHT_LATERAL_CHANNELS,
    LIGHT_LATERAL_HIDDEN,
    LIGHT_TOWER_WIDTHS,
    PUBLISHED_LATERAL_CHANNELS,
    PUBLISHED_LATERAL_HIDDEN,
    PUBLISHED_TOWER_WIDTHS,
    CornerHead,
    MaskAdjust,
    MaskDecoder,
    soft_argmax,
)


class RefinementOutput(NamedTuple):
    """Network output for ``N`` search crops, in crop pixels.

    Attributes:
        corners: ``N x 4`` ``x1, y1, x2, y2`` from the soft-argmax of the two corner maps (not
            clamped or ordered, as published): the stride-8 maps of a network with
            ``fine_corners``, else the stride-16 ones.
        mask_logits: ``N x 1 x S x S`` mask logits for an ``S x S`` crop, or ``None`` when no mask
            was asked for.
        corner_scores: ``N x 2 x 16 x 16`` raw top-left and bottom-right score maps of the
            corner head (stride 16; the confidence and the blend head read these).
        blend_summary: the blend head's per-crop summary
            (:meth:`~alpha_refine.model.blend.BlendHead.summarise`), or ``None`` for a network
            without one.
    """

    corners: Tensor
    mask_logits: Tensor | None
    corner_scores: Tensor
    blend_summary: Tensor | None = None


class AlphaRefineNet(nn.Module):
    """Alpha-Refine for normalised RGB crops of ``N x 3 x 256 x 256``.

    Use :meth:`template_kernel` once on the template crops, then :meth:`forward` on each frame's
    search crops with those kernels.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.backbone = build_backbone(self.config.backbone)
        conv1_ch, layer1_ch, layer2_ch, _ = self.backbone.channels
        self.fusion = CorrelationFusion()
        tower = LIGHT_TOWER_WIDTHS if self.config.heads == "light" else PUBLISHED_TOWER_WIDTHS
        self.corner_head = CornerHead(self.fusion.out_channels, tower)
        self.mask_adjust: MaskAdjust | None = None
        self.mask_head: MaskDecoder | None = None
        if self.config.mask_head:
            lateral = (
                PUBLISHED_LATERAL_CHANNELS
                if self.config.backbone.startswith("resnet")
                else LIGHT_LATERAL_CHANNELS
            )
            self.mask_adjust = MaskAdjust((conv1_ch, layer1_ch, layer2_ch), lateral)
            light_mask = self.config.heads in ("light", "light_mask")
            hidden = LIGHT_LATERAL_HIDDEN if light_mask else PUBLISHED_LATERAL_HIDDEN
            self.mask_head = MaskDecoder(self.fusion.out_channels, lateral, hidden)
        self.blend_head: BlendHead | None = None
        if self.config.blend_head:
            self.blend_head = BlendHead(self.fusion.out_channels)
        self.fine_corners: FineCornerHead | None = None
        if self.config.fine_corners:
            self.fine_corners = FineCornerHead(self.fusion.out_channels, layer2_ch)

    def template_kernel(self, template: Tensor) -> Tensor:
        """Reference kernels ``N x C x 8 x 8`` from template crops ``N x 3 x 256 x 256``."""
        return template_kernel(self.backbone(template).layer3)

    def forward(self, search: Tensor, kernel: Tensor, with_mask: bool = False) -> RefinementOutput:
        """Corners (and mask logits if ``with_mask``) for search crops ``N x 3 x S x S``."""
        if with_mask and self.mask_head is None:
            raise RuntimeError("this network has no mask head (config.mask_head is False)")
        features = self.backbone(search)
        fused, output = self.refine_layer3(features.layer3, kernel, features.layer2)
        if with_mask:
            assert self.mask_adjust is not None and self.mask_head is not None
            adjusted = self.mask_adjust(features)
            mask_logits = self.mask_head(fused, adjusted, output_size=search.shape[-1])
            output = output._replace(mask_logits=mask_logits)
        return output

    def refine_layer3(
        self, search_layer3: Tensor, kernel: Tensor, search_layer2: Tensor | None = None
    ) -> tuple[Tensor, RefinementOutput]:
        """The fused map and the box outputs (no mask) from the trunk's stride-16 features
        ``N x C x 16 x 16`` (and, for a network with ``fine_corners``, its stride-8
        ``search_layer2``): everything a box depends on after the trunk, which is what training
        on a frozen trunk's cached features (:mod:`alpha_refine.train.features`) runs."""
        fused = self.fusion(kernel, search_layer3)
        top_left, bottom_right = self.corner_head(fused)
        corner_scores = torch.cat((top_left, bottom_right), dim=1)
        if self.fine_corners is None:
            corners = torch.cat((soft_argmax(top_left), soft_argmax(bottom_right)), dim=1)
        else:
            if search_layer2 is None:
                raise ValueError("a network with fine_corners needs search_layer2")
            fine = self.fine_corners(fused, search_layer2, corner_scores)
            corners = torch.cat(
                (soft_argmax(fine[:, :1], FINE_STRIDE), soft_argmax(fine[:, 1:], FINE_STRIDE)),
                dim=1,
            )
        blend_summary = None
        if self.blend_head is not None:
            blend_summary = self.blend_head.summarise(fused, corner_scores)
        return fused, RefinementOutput(corners, None, corner_scores, blend_summary)

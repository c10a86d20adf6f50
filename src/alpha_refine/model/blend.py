"""The blend head: per box edge, how far to move from the input box towards the refined one.

The corner head's boxes are systematically off on some frames (the network's idea of the
object's extent), and an input box that is already good can come back worse. The blend head
learns, from the corner maps and the fused features, how much of the refinement to keep on
each edge: ``out = input + alpha * (refined - input)`` with ``alpha`` in ``[0, 1]``.

It is split in two because the input box is not an input of the network (the search crop is
cut around it): :meth:`BlendHead.summarise` runs inside the network (and the exported graphs)
and gives a small per-crop summary; :meth:`BlendHead.blend` combines it with the input and
refined corners. It reads the network's outputs without a gradient, so training it never
changes the boxes or masks the rest of the network gives.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from alpha_refine.model.heads import CORNER_STRIDE

BLEND_CONTEXT = 8
_EDGE_FEATURES = 4
_HIDDEN = 32


def corner_marginals(corner_scores: Tensor) -> Tensor:
    """``N x 4 x W`` marginal distributions of ``x1, y1, x2, y2`` from ``N x 2 x H x W`` corner
    logits (``H == W``): the ``softmax`` of each map summed over rows (for ``x``) or columns."""
    n, k, height, width = corner_scores.shape
    probabilities = corner_scores.float().reshape(n, k, height * width).softmax(dim=2)
    probabilities = probabilities.reshape(n, k, height, width)
    along_x, along_y = probabilities.sum(dim=2), probabilities.sum(dim=3)
    return torch.stack((along_x[:, 0], along_y[:, 0], along_x[:, 1], along_y[:, 1]), dim=1)


def _density_at(marginals: Tensor, coordinates: Tensor) -> Tensor:
    """The marginals (``N x 4 x W``, cell ``i`` at crop pixel ``i * stride``) linearly
    interpolated at ``N x 4`` crop-pixel coordinates (clamped to the map)."""
    width = marginals.shape[-1]
    cells = (coordinates / CORNER_STRIDE).clamp(0, width - 1)
    low = cells.floor().clamp(max=width - 2)
    fraction = (cells - low).unsqueeze(-1)
    index = low.long().unsqueeze(-1)
    return (
        marginals.gather(2, index) * (1 - fraction) + marginals.gather(2, index + 1) * fraction
    ).squeeze(-1)


class BlendHead(nn.Module):
    """Per-edge blend weights between the input box and the refined box."""

    def __init__(self, fused_channels: int) -> None:
        super().__init__()
        self.context = nn.Sequential(
            nn.BatchNorm1d(fused_channels), nn.Linear(fused_channels, BLEND_CONTEXT), nn.ReLU()
        )
        last = nn.Linear(_HIDDEN, 1)
        # Start by keeping the refinement (alpha = sigmoid(3) = 0.95): the published behaviour.
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, 3.0)
        self.edges = nn.Sequential(
            nn.Linear(5 * _EDGE_FEATURES + BLEND_CONTEXT + 4, _HIDDEN),
            nn.ReLU(),
            nn.Linear(_HIDDEN, _HIDDEN),
            nn.ReLU(),
            last,
        )

    def summarise(self, fused: Tensor, corner_scores: Tensor) -> Tensor:
        """``N x (4 W + 8)``: the corner marginals (:func:`corner_marginals`) and a context
        vector from the fused features ``N x C x H x W``, detached from the network."""
        marginals = corner_marginals(corner_scores.detach())
        context = self.context(fused.detach().float().mean(dim=(2, 3)))
        return torch.cat((marginals.flatten(1), context), dim=1)

    def weights(self, summary: Tensor, inputs: Tensor, refined: Tensor) -> Tensor:
        """``N x 4`` weights in ``[0, 1]`` for the ``x1, y1, x2, y2`` edges, from
        :meth:`summarise`'s ``summary``, the input box's and the refined box's corners
        (``N x 4`` ``x1, y1, x2, y2``, crop pixels)."""
        n = summary.shape[0]
        marginals = summary[:, :-BLEND_CONTEXT].reshape(n, 4, -1)
        context = summary[:, -BLEND_CONTEXT:]
        size = ((inputs[:, 2] - inputs[:, 0]) * (inputs[:, 3] - inputs[:, 1])).clamp_min(1.0)
        size = size.sqrt().unsqueeze(1)
        cells = torch.arange(marginals.shape[-1], device=summary.device) * CORNER_STRIDE
        mean = (marginals * cells).sum(dim=2)
        spread = (marginals * (cells - mean.unsqueeze(-1)).square()).sum(dim=2).sqrt()
        move = (refined - inputs) / size
        # How much likelier the corner maps find the refined edge than the input one.
        likelihood = (_density_at(marginals, inputs) + 1e-4).log() - (
            _density_at(marginals, refined) + 1e-4
        ).log()
        edge = torch.stack((move * 10, move.abs() * 10, spread / size * 10, likelihood / 5), -1)
        # Each edge also sees the other three: when every edge moved far, the input was poor.
        every_edge = edge.flatten(1).unsqueeze(1).expand(n, 4, 4 * _EDGE_FEATURES)
        which = torch.eye(4, device=summary.device).expand(n, 4, 4)
        context = context.unsqueeze(1).expand(n, 4, BLEND_CONTEXT)
        features = torch.cat((edge, every_edge, context, which), -1)
        logits: Tensor = self.edges(features)
        return logits.squeeze(-1).sigmoid()

    def blend(self, summary: Tensor, inputs: Tensor, refined: Tensor) -> Tensor:
        """The blended corners ``N x 4`` (crop pixels): ``inputs + weights * (refined -
        inputs)``, arguments as :meth:`weights`."""
        return inputs + self.weights(summary, inputs, refined) * (refined - inputs)


def corner_iou(boxes: Tensor, others: Tensor) -> Tensor:
    """Element-wise IoU of ``N x 4`` ``x1, y1, x2, y2`` boxes (``N``); differentiable."""
    top_left = torch.maximum(boxes[:, :2], others[:, :2])
    bottom_right = torch.minimum(boxes[:, 2:], others[:, 2:])
    intersection = (bottom_right - top_left).clamp_min(0).prod(dim=1)
    area = (boxes[:, 2:] - boxes[:, :2]).clamp_min(0).prod(dim=1)
    other_area = (others[:, 2:] - others[:, :2]).clamp_min(0).prod(dim=1)
    return intersection / (area + other_area - intersection).clamp_min(1e-6)

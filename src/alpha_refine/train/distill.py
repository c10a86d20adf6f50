"""Starting a network from another's weights, and learning from a trained network (the teacher).

Both serve one use: new heads (``[model] heads``) on a trained trunk. :func:`load_initial_weights`
copies everything whose name and shape fit, and :func:`distillation_loss` lets the new heads
learn the teacher's corner maps and mask probabilities on every training pair, not only the
ground truth's corners.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

from alpha_refine.model.network import AlphaRefineNet, RefinementOutput
from alpha_refine.train.config import DistillConfig


def load_initial_weights(network: AlphaRefineNet, source: str) -> list[str]:
    """Load the weights at ``source`` into ``network``; returns the names that start random.

    The source's architecture must match ``network``'s except, at most, its heads (``heads``,
    ``blend_head``, ``fine_corners``): then every tensor whose name and shape fit is loaded and
    the rest (the new heads' layers) stays as initialised. Any other difference is an error
    naming both architectures.
    """
    from alpha_refine.weights import load_pretrained

    initial, _ = load_pretrained(source)
    if initial.config == network.config:
        network.load_state_dict(initial.state_dict())
        return []
    heads_only = dataclasses.replace(
        initial.config,
        heads=network.config.heads,
        blend_head=network.config.blend_head,
        fine_corners=network.config.fine_corners,
    )
    if heads_only != network.config:
        raise ValueError(
            f"init_weights: {source} holds a {initial.config} network; it can start a network "
            f"that differs in its heads only, not {network.config}"
        )
    own = network.state_dict()
    fitting = {
        name: value
        for name, value in initial.state_dict().items()
        if name in own and own[name].shape == value.shape
    }
    network.load_state_dict(fitting, strict=False)
    return sorted(set(own) - set(fitting))


def load_teacher(config: DistillConfig, device: torch.device) -> AlphaRefineNet | None:
    """The teacher network of ``config`` (frozen, in eval mode), or ``None`` when it is off."""
    if not config.teacher:
        return None
    from alpha_refine.weights import load_pretrained

    teacher, _ = load_pretrained(config.teacher)
    return teacher.to(device).eval().requires_grad_(False)


def corner_map_divergence(student_scores: Tensor, teacher_scores: Tensor) -> Tensor:
    """Mean KL divergence ``KL(teacher || student)`` of the softmax over each corner map.

    Both are ``N x K x H x W`` logits; the mean runs over the ``N x K`` maps.
    """
    n, k = student_scores.shape[:2]
    student = F.log_softmax(student_scores.float().reshape(n * k, -1), dim=1)
    teacher = F.log_softmax(teacher_scores.float().reshape(n * k, -1), dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean")


def distillation_loss(
    student: RefinementOutput, teacher: RefinementOutput, config: DistillConfig
) -> tuple[Tensor, dict[str, float]]:
    """The weighted sum of the corner, corner-map and mask terms, and each term's value."""
    corners = F.mse_loss(student.corners.float(), teacher.corners.float())
    maps = corner_map_divergence(student.corner_scores, teacher.corner_scores)
    loss = config.corner_weight * corners + config.map_weight * maps
    mask = torch.zeros((), device=corners.device)
    if student.mask_logits is not None and teacher.mask_logits is not None:
        mask = F.binary_cross_entropy_with_logits(
            student.mask_logits.float(), teacher.mask_logits.float().sigmoid()
        )
        loss = loss + config.mask_weight * mask
    return loss, {
        "distill_corner_loss": float(corners.detach()),
        "distill_map_loss": float(maps.detach()),
        "distill_mask_loss": float(mask.detach()),
    }

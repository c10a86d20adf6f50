"""An independent reference of the published AR34 module, written from the project's model spec.

It runs on a state dict with the *published* key names, with plain functional ops and loops that
follow the spec's formulas literally (no code shared with the package), so tests can check that
our modules, key mapping and geometry reproduce the published behaviour.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

StateDict = dict[str, Tensor]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def _conv(x: Tensor, sd: StateDict, name: str, stride: int = 1, padding: int = 0) -> Tensor:
    return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), stride, padding)


def _bn(x: Tensor, sd: StateDict, name: str) -> Tensor:
    return F.batch_norm(
        x,
        sd[f"{name}.running_mean"],
        sd[f"{name}.running_var"],
        sd[f"{name}.weight"],
        sd[f"{name}.bias"],
        training=False,
        eps=1e-5,
    )


def _basic_block(x: Tensor, sd: StateDict, name: str, stride: int) -> Tensor:
    out = F.relu(_bn(_conv(x, sd, f"{name}.conv1", stride, 1), sd, f"{name}.bn1"))
    out = _bn(_conv(out, sd, f"{name}.conv2", 1, 1), sd, f"{name}.bn2")
    identity = x
    if f"{name}.downsample.0.weight" in sd:
        identity = _bn(_conv(x, sd, f"{name}.downsample.0", stride), sd, f"{name}.downsample.1")
    return F.relu(out + identity)


def backbone(x: Tensor, sd: StateDict) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """ResNet-34 conv1 (before max-pool), layer1, layer2, layer3."""
    p = "feature_extractor"
    conv1 = F.relu(_bn(_conv(x, sd, f"{p}.conv1", 2, 3), sd, f"{p}.bn1"))
    out = F.max_pool2d(conv1, 3, 2, 1)
    features = [conv1]
    for layer, (blocks, stride) in enumerate([(3, 1), (4, 2), (6, 2)], start=1):
        for block in range(blocks):
            out = _basic_block(out, sd, f"{p}.layer{layer}.{block}", stride if block == 0 else 1)
        features.append(out)
    return features[0], features[1], features[2], features[3]


def _soft_argmax(scores: Tensor) -> Tensor:
    probabilities = scores.reshape(scores.shape[0], 256).softmax(dim=1)
    k = torch.arange(256)
    x = (probabilities * ((k % 16) * 16).to(scores.dtype)).sum(dim=1)
    y = (probabilities * ((k // 16) * 16).to(scores.dtype)).sum(dim=1)
    return torch.stack((x, y), dim=1)


def network(search: Tensor, template: Tensor, sd: StateDict) -> tuple[Tensor, Tensor]:
    """Corner box ``x, y, w, h`` in crop pixels and mask probabilities, for ``N`` crops."""
    kernel = backbone(template, sd)[3][:, :, 4:12, 4:12]
    conv1, layer1, layer2, layer3 = backbone(search, sd)
    corr = torch.stack(
        [(kernel[:, :, k // 8, k % 8, None, None] * layer3).sum(dim=1) for k in range(64)], dim=1
    )
    fused = corr
    for conv, bn in [(0, 1), (3, 4), (6, 7)]:
        fused = F.relu(_bn(_conv(fused, sd, f"neck.post_corr.{conv}"), sd, f"neck.post_corr.{bn}"))
    gate = fused.mean(dim=(2, 3), keepdim=True)
    gate = _conv(
        F.relu(_conv(gate, sd, "neck.channel_attention.fc1")), sd, "neck.channel_attention.fc2"
    )
    fused = fused * torch.sigmoid(gate)

    corners = []
    for tower in ("tl", "br"):
        out = fused
        for i in range(1, 5):
            out = _conv(out, sd, f"corner_head.conv{i}_{tower}.0", 1, 1)
            out = F.relu(_bn(out, sd, f"corner_head.conv{i}_{tower}.1"))
        corners.append(_soft_argmax(_conv(out, sd, f"corner_head.conv5_{tower}")))
    (x1, y1), (x2, y2) = corners[0].T, corners[1].T
    box = torch.stack((x1, y1, x2 - x1, y2 - y1), dim=1)

    def adjust(x: Tensor, i: int) -> Tensor:
        return F.relu(_bn(_conv(x, sd, f"feat_adjust.{i}.0"), sd, f"feat_adjust.{i}.1"))

    def pair(x: Tensor, name: str) -> Tensor:
        x = F.relu(_conv(x, sd, f"mask_head.{name}.0", 1, 1))
        return F.relu(_conv(x, sd, f"mask_head.{name}.2", 1, 1))

    def up(x: Tensor, size: int) -> Tensor:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    v0, v1, v2 = (
        pair(adjust(conv1, 0), "v0"),
        pair(adjust(layer1, 1), "v1"),
        pair(adjust(layer2, 2), "v2"),
    )
    out = _conv(up(pair(fused, "h2"), 32) + v2, sd, "mask_head.post0", 1, 1)
    out = _conv(up(pair(out, "h1"), 64) + v1, sd, "mask_head.post1", 1, 1)
    out = _conv(up(pair(out, "h0"), 128) + v0, sd, "mask_head.post2", 1, 1)
    return box, torch.sigmoid(up(out, 256))[:, 0]


def crop(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The published crop: 2x window, rounded origin, zero padding with the right/bottom quirk."""
    x, y, w, h = box
    ws, hs = math.ceil(2 * w), math.ceil(2 * h)
    x1 = round(x + 0.5 * w - ws / 2)
    y1 = round(y + 0.5 * h - hs / 2)
    x2, y2 = x1 + ws, y1 + hs
    height, width = rgb.shape[:2]
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad, y2_pad = max(x2 - width + 1, 0), max(y2 - height + 1, 0)
    patch = rgb[y1 + y1_pad : y2 - y2_pad, x1 + x1_pad : x2 - x2_pad]
    patch = cv2.copyMakeBorder(patch, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(patch, (256, 256), interpolation=cv2.INTER_LINEAR)


def to_tensor(crop_rgb: np.ndarray) -> Tensor:
    normalised = (crop_rgb.astype(np.float64) / 255.0 - MEAN) / STD
    return torch.from_numpy(normalised.astype(np.float32)).permute(2, 0, 1)[None]


def refine(
    rgb: np.ndarray,
    init_box: tuple[float, float, float, float],
    box: tuple[float, float, float, float],
    sd: StateDict,
) -> tuple[np.ndarray, np.ndarray]:
    """The published ``refine``: box ``x, y, w, h`` in frame pixels (unclipped) and crop mask."""
    with torch.no_grad():
        crop_box, mask = network(to_tensor(crop(rgb, box)), to_tensor(crop(rgb, init_box)), sd)
    x, y, w, h = box
    fw, fh = 256 / math.ceil(2 * w), 256 / math.ceil(2 * h)
    xc, yc, wc, hc = crop_box[0].double().numpy()
    frame_box = np.array([x - 0.5 * w + xc / fw, y - 0.5 * h + yc / fh, wc / fw, hc / fh])
    return frame_box, mask[0].numpy()

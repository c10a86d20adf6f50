"""ResNet trunk truncated after ``layer3``, returning the features the heads need."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torchvision.models import resnet

# Output channels of (conv1, layer1, layer2, layer3) for each supported trunk.
BACKBONE_CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (64, 64, 128, 256),
    "resnet34": (64, 64, 128, 256),
    "resnet50": (64, 256, 512, 1024),
}


class BackboneFeatures(NamedTuple):
    """Feature maps of one 256 x 256 crop (strides 2, 4, 8 and 16)."""

    conv1: Tensor  # relu(bn1(conv1)), before max-pooling
    layer1: Tensor
    layer2: Tensor
    layer3: Tensor


class ResNetTrunk(nn.Module):
    """torchvision ResNet without ``layer4``, average pooling and ``fc``.

    Parameter names follow torchvision (``conv1``, ``bn1``, ``layer1`` ...), so ImageNet and
    published checkpoints load by name.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        if name not in BACKBONE_CHANNELS:
            raise ValueError(f"backbone must be one of {sorted(BACKBONE_CHANNELS)}, got {name!r}")
        full = getattr(resnet, name)(weights=None)
        self.conv1 = full.conv1
        self.bn1 = full.bn1
        self.relu = full.relu
        self.maxpool = full.maxpool
        self.layer1 = full.layer1
        self.layer2 = full.layer2
        self.layer3 = full.layer3
        self.channels = BACKBONE_CHANNELS[name]

    def forward(self, images: Tensor) -> BackboneFeatures:
        conv1 = self.relu(self.bn1(self.conv1(images)))
        layer1 = self.layer1(self.maxpool(conv1))
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        return BackboneFeatures(conv1, layer1, layer2, layer3)

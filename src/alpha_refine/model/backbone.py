"""Backbone trunks (ResNet to ``layer3``, EfficientNet-Lite0 to block 10) and their features."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from alpha_refine.model import resnet
from alpha_refine.model.efficientnet import TAP_BLOCKS, TAP_CHANNELS, EfficientNetLite0

# Output channels of the four features (strides 2, 4, 8, 16) for each supported trunk.
BACKBONE_CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (64, 64, 128, 256),
    "resnet34": (64, 64, 128, 256),
    "resnet50": (64, 256, 512, 1024),
    "efficientnet_lite0": TAP_CHANNELS,
}


class BackboneFeatures(NamedTuple):
    """Feature maps of one 256 x 256 crop (strides 2, 4, 8 and 16).

    The names are ResNet's; other trunks fill them with their features at the same strides.
    """

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
        if not name.startswith("resnet"):
            raise ValueError(f"not a ResNet: {name!r}")
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


class EfficientNetLite0Trunk(EfficientNetLite0):
    """EfficientNet-Lite0 up to block 10; taps blocks 0, 2, 4 and 10 (strides 2, 4, 8, 16).

    Parameter names are :class:`EfficientNetLite0`'s, so ImageNet weights load through
    :func:`alpha_refine.model.efficientnet.imagenet_key`.
    """

    def __init__(self) -> None:
        super().__init__(depth=TAP_BLOCKS[-1] + 1)
        self.channels = TAP_CHANNELS

    def forward(self, images: Tensor) -> BackboneFeatures:  # type: ignore[override]
        x = self.stem(images)
        taps = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in TAP_BLOCKS:
                taps.append(x)
        return BackboneFeatures(*taps)


def build_backbone(name: str) -> ResNetTrunk | EfficientNetLite0Trunk:
    """The trunk named by ``ModelConfig.backbone``, with random weights."""
    if name == "efficientnet_lite0":
        return EfficientNetLite0Trunk()
    return ResNetTrunk(name)

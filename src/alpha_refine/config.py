"""The architecture description saved next to the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Backbone = Literal["resnet18", "resnet34", "resnet50", "efficientnet_lite0"]
BACKBONES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "efficientnet_lite0")
Heads = Literal["published", "light", "light_mask"]
HEADS: tuple[str, ...] = ("published", "light", "light_mask")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an Alpha-Refine network.

    Attributes:
        backbone: ResNet trunk truncated after ``layer3`` (the paper's Table 8 compares the
            three; ``"resnet34"`` is the published AR34 model), or ``"efficientnet_lite0"``
            truncated after block 10 (stride 16), a light trunk for CPUs.
        mask_head: whether the network has the auxiliary mask decoder.
        heads: ``"published"`` (corner towers of widths 256-128-64-32, the published mask
            decoder), ``"light"`` (corner towers of widths 128-64-32-16 and a mask decoder
            with narrower lateral convolutions: the same depth and outputs at a fraction of
            the published heads' cost, for CPUs) or ``"light_mask"`` (the published corner
            towers with the light mask decoder).
        blend_head: whether the network has the blend head
            (:mod:`alpha_refine.model.blend`), which learns per box edge how far to move from
            the input box towards the refined one.
        fine_corners: whether the corners are decoded on stride-8 maps
            (:mod:`alpha_refine.model.fine_corners`): the corner head's stride-16 maps plus a
            correction from the trunk's ``layer2`` features.
    """

    backbone: Backbone = "resnet34"
    mask_head: bool = True
    heads: Heads = "published"
    blend_head: bool = False
    fine_corners: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        for name in ("mask_head", "blend_head", "fine_corners"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        if self.heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, got {self.heads!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict. ``heads`` appears only when it is not the published
        default, ``blend_head`` and ``fine_corners`` only when true, so files of networks
        without them stay readable by versions without those keys."""
        data = asdict(self)
        if self.heads == "published":
            del data["heads"]
        for optional in ("blend_head", "fine_corners"):
            if not data[optional]:
                del data[optional]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        if not isinstance(data, dict):
            raise TypeError(f"model config must be a dict, got {type(data).__name__}")
        known = {"backbone", "mask_head", "heads", "blend_head", "fine_corners"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown model config keys {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**data)

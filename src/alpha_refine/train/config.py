"""Training configuration, read from a TOML file.

Example (every key optional; defaults follow the published recipe)::

    [model]
    backbone = "resnet18"
    mask_head = true

    [optim]
    epochs = 40
    iterations_per_epoch = 500
    batch_size = 32
    lr = 1e-3
    lr_halve_every = 8
    mask_weight = 1000.0

    [[data]]
    kind = "synthetic"        # generated sequences with exact masks
    count = 400
    weight = 2.0

    [[data]]
    kind = "dataset"          # any dataset spec of `alpha-refine eval`
    spec = "plain:/data/sequences"
    exclude = ["otb_Girl"]
    weight = 1.0

    [validation]
    spec = "plain:/data/sequences"
    names = ["otb_Girl"]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from alpha_refine.config import ModelConfig
from alpha_refine.train.sampling import SamplingConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 40
    iterations_per_epoch: int = 500
    batch_size: int = 32  # per process
    lr: float = 1e-3
    lr_halve_every: int = 8  # epochs
    mask_weight: float = 1000.0
    amp: bool = True  # mixed precision, CUDA only
    grad_clip: float = 0.0  # 0: off
    # Keep the backbone's BatchNorm statistics (e.g. ImageNet's) instead of re-estimating them
    # from small batches; its affine parameters still train.
    freeze_backbone_bn: bool = False
    # The backbone's learning rate as a share of ``lr``: below 1 to keep pretrained features,
    # 0 to freeze the backbone (no gradients computed for it).
    backbone_lr_scale: float = 1.0
    # Top-level modules kept as they start (no gradients, BatchNorm statistics fixed), e.g.
    # ["backbone", "fusion", "corner_head"] to train a mask decoder without moving any box.
    freeze: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistillConfig:
    """Learning from a trained network (the teacher) beside the ground truth, e.g. to train
    light heads on the trunk of a model with the published heads. Off while ``teacher`` is
    empty. The terms are added to the ground-truth loss."""

    teacher: str = ""  # weights (our format, a folder or hub id) to learn from
    corner_weight: float = 1.0  # x MSE to the teacher's corners (crop pixels squared)
    map_weight: float = 10.0  # x KL divergence from the teacher's corner maps (softmax)
    mask_weight: float = 500.0  # x BCE to the teacher's mask probabilities, every sample


@dataclass(frozen=True)
class DataSource:
    """One weighted source: ``kind`` is ``synthetic``, ``dataset``, ``davis``, ``coco`` or
    ``saliency`` (``davis``: a DAVIS tree's train list only)."""

    kind: str
    weight: float = 1.0
    spec: str = ""  # dataset spec; COCO: the JSON file; saliency: the folder
    image_root: str = ""  # COCO: folder of the images (default: the JSON's folder)
    names: tuple[str, ...] = ()  # keep only these sequences
    exclude: tuple[str, ...] = ()  # drop these sequences
    count: int = 200  # synthetic: number of sequences
    length: int = 100  # synthetic: frames per sequence
    seed: int = 0  # synthetic: generator seed
    backgrounds: str = ""  # synthetic: a folder of images, or a dataset spec to take frames from
    cutouts: str = ""  # synthetic: a dataset spec whose masks give object cutouts


@dataclass(frozen=True)
class ValidationConfig:
    spec: str = ""
    names: tuple[str, ...] = ()
    every: int = 1  # epochs
    frames_per_sequence: int = 20
    scale_jitter: float = 0.25
    centre_jitter: float = 0.25
    # A second held-out set, validated and logged beside the first (val_holdout_* columns).
    holdout_spec: str = ""
    holdout_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureCacheConfig:
    """Train the fusion and box heads on a frozen trunk's cached features
    (:mod:`alpha_refine.train.features`). Off while ``dir`` is empty."""

    dir: str = ""  # the cache folder (built when missing; never committed)
    pairs: int = 20000  # pairs in the cache
    shard_size: int = 500  # pairs per shard file (the unit a build resumes by)
    seed: int = 1  # the cached pairs are TrainingPairs items of epoch 0 with this seed

    def __post_init__(self) -> None:
        if self.pairs < 1 or self.shard_size < 1:
            raise ValueError(
                f"[features] pairs and shard_size must be positive, got {self.pairs} and "
                f"{self.shard_size}"
            )


# Modules that cannot train on cached features: the trunk made them, the mask decoder needs
# the trunk's stride-2 and stride-4 maps, which are not cached.
NOT_TRAINED_ON_FEATURES = ("backbone", "mask_adjust", "mask_head")


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: tuple[DataSource, ...] = (DataSource(kind="synthetic"),)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    features: FeatureCacheConfig = field(default_factory=FeatureCacheConfig)
    seed: int = 0
    workers: int = 2
    out_dir: str = "runs/alpha-refine"
    checkpoint_every: int = 100  # iterations
    # Optional weights to start from (our format). They may have other heads than [model]
    # (``heads``): everything that fits is loaded, the rest starts random.
    init_weights: str = ""
    # "random" or "imagenet" (needs the train extra); init_weights, when set, wins.
    backbone_init: str = "random"

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        if "model" in values:
            values["model"] = ModelConfig.from_dict(values["model"])
        if "optim" in values:
            values["optim"] = _build(OptimConfig, values["optim"], f"{source} [optim]")
        if "validation" in values:
            values["validation"] = _build(
                ValidationConfig, values["validation"], f"{source} [validation]"
            )
        if "distill" in values:
            values["distill"] = _build(DistillConfig, values["distill"], f"{source} [distill]")
        if "features" in values:
            values["features"] = _build(
                FeatureCacheConfig, values["features"], f"{source} [features]"
            )
        if "sampling" in values:
            values["sampling"] = _build(SamplingConfig, values["sampling"], f"{source} [sampling]")
        if "backbone_init" in values and values["backbone_init"] not in ("random", "imagenet"):
            raise ValueError(
                f"{source}: backbone_init must be 'random' or 'imagenet', "
                f"got {values['backbone_init']!r}"
            )
        if "data" in values:
            values["data"] = tuple(
                _build(DataSource, item, f"{source} [[data]] #{i + 1}")
                for i, item in enumerate(values["data"])
            )
        config = cls(**values)
        if config.features.dir and config.distill.teacher:
            raise ValueError(
                f"{source}: [features] and [distill] teacher cannot be combined: the teacher "
                "needs the crops, which a feature cache does not keep"
            )
        return config

    @property
    def frozen_optim(self) -> OptimConfig:
        """``optim`` with what cannot train here added to ``freeze``: with a feature cache,
        the trunk and the mask decoder."""
        if not self.features.dir:
            return self.optim
        absent = () if self.model.mask_head else ("mask_adjust", "mask_head")
        fixed = [name for name in NOT_TRAINED_ON_FEATURES if name not in absent]
        freeze = tuple(dict.fromkeys((*self.optim.freeze, *fixed)))
        return replace(self.optim, freeze=freeze, backbone_lr_scale=0.0)


def _build(kind: type[Any], values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a table, got {type(values).__name__}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**converted)

"""The training loop: the published recipe, resumable, single- or multi-process.

Run with ``alpha-refine train --config CONFIG [--resume]``; on several GPUs or machines start it
with ``torchrun`` (one process per GPU, DistributedDataParallel). Outputs in ``out_dir``, written by
rank 0 alone: ``checkpoint.pt`` (model, optimiser, scheduler, position; written atomically),
``metrics.csv`` (losses, learning rate, validation oracle IoU), ``config.toml`` (a copy) and, at
the end, ``final/`` with the weights in our safetensors format. Rank 0 alone prints too.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from alpha_refine._atomic import write_atomic
from alpha_refine.data.datasets import load_dataset
from alpha_refine.data.images import load_coco, load_saliency
from alpha_refine.data.segmentation import load_davis_train
from alpha_refine.data.sequence import Sequence, read_image
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.model.blend import corner_iou
from alpha_refine.model.network import AlphaRefineNet, RefinementOutput
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.train.config import DataSource, DistillConfig, OptimConfig, TrainConfig
from alpha_refine.train.distill import distillation_loss, load_initial_weights, load_teacher
from alpha_refine.train.features import CachedPairs, build_feature_cache
from alpha_refine.train.sampling import Source, TrainingPairs

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.csv"


@dataclass(frozen=True)
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """Whether this process speaks for the run: the only one, or rank 0 under ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0


def _init_distributed(device: torch.device) -> _Distributed:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Distributed()
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    return _Distributed(torch.distributed.get_rank(), world_size, local_rank)


def _parallel(network: AlphaRefineNet, dist: _Distributed, device: torch.device) -> nn.Module:
    """``network`` wrapped in DistributedDataParallel when there are several processes.

    DDP's buckets take the parameters' strides when it is built. A gradient with other strides
    (the 1 x 1 kernels' channels_last gradients of contiguous parameters, which autograd keeps as
    they come) makes it warn "Grad strides do not match bucket view strides" and copy across
    layouts, hence channels_last parameters (:func:`training_network`). With
    ``gradient_as_bucket_view`` the gradients are the buckets' views after the all-reduce, so the
    reduced values are not copied back into separate gradient tensors.
    """
    if dist.world_size <= 1:
        return network
    return nn.parallel.DistributedDataParallel(
        network,
        device_ids=[dist.local_rank] if device.type == "cuda" else None,
        gradient_as_bucket_view=True,
    )


def training_loss(
    network: nn.Module,
    batch: dict[str, torch.Tensor],
    device: torch.device,
    mask_weight: float,
    teacher: AlphaRefineNet | None = None,
    distill: DistillConfig | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE on the corners in crop pixels + ``mask_weight`` x BCE on masks where present, plus
    ``1 - IoU`` of the blended box (:mod:`alpha_refine.model.blend`) for a network with a blend
    head, plus the distillation terms (:mod:`alpha_refine.train.distill`) when a ``teacher`` is
    given. The mask decoder runs only when it trains (a frozen one would only cost time)."""
    corners = batch["corners"].to(device)
    model: AlphaRefineNet = network.module if hasattr(network, "module") else network  # type: ignore[assignment]
    mask_loss = torch.zeros((), device=device)
    distilled: dict[str, float] = {}
    if "search_layer3" in batch:  # a feature cache's pair: its trunk ran when it was cached
        layer2 = batch.get("search_layer2")
        _, output = model.refine_layer3(
            batch["search_layer3"].to(device),
            batch["kernel"].to(device),
            None if layer2 is None else layer2.to(device),
        )
        corner_loss, blend_loss = box_losses(model, output, corners, batch["input_corners"])
        loss = corner_loss + blend_loss
    else:
        template = normalize_crops(batch["template"].to(device, non_blocking=True))
        search = normalize_crops(batch["search"].to(device, non_blocking=True))
        has_mask = batch["has_mask"].to(device)
        # Under DDP every rank must use every parameter at every step, with masks or not.
        distributed = isinstance(network, nn.parallel.DistributedDataParallel)
        mask_trains = model.mask_head is not None and any(
            parameter.requires_grad for parameter in model.mask_head.parameters()
        )
        want_mask = mask_trains and (bool(has_mask.any()) or teacher is not None or distributed)
        kernel = model.template_kernel(template)
        # Through the (possibly DDP-wrapped) module so gradients are synchronised.
        output = network(search, kernel, with_mask=want_mask)
        corner_loss, blend_loss = box_losses(model, output, corners, batch["input_corners"])
        loss = corner_loss + blend_loss
        if output.mask_logits is not None and bool(has_mask.any()):
            logits = output.mask_logits[has_mask, 0].float()
            target = batch["mask"].to(device)[has_mask]
            mask_loss = F.binary_cross_entropy_with_logits(logits, target)
            loss = loss + mask_weight * mask_loss
        elif output.mask_logits is not None:  # no masks in this batch: a zero gradient
            loss = loss + 0.0 * output.mask_logits.float().sum()
        if teacher is not None:
            with torch.no_grad():
                guide = teacher(search, teacher.template_kernel(template), with_mask=want_mask)
            extra, distilled = distillation_loss(output, guide, distill or DistillConfig())
            loss = loss + extra
    return loss, {
        "loss": float(loss.detach()),
        "corner_loss": float(corner_loss.detach()),
        "mask_loss": float(mask_loss.detach()),
        "blend_loss": float(blend_loss.detach()),
        **distilled,
    }


def box_losses(
    model: AlphaRefineNet,
    output: RefinementOutput,
    corners: torch.Tensor,
    input_corners: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The corners' MSE (crop pixels squared) and, for a network with a blend head, ``1 - IoU``
    of the blended box (zero without one)."""
    corner_loss = F.mse_loss(output.corners.float(), corners)
    blend_loss = torch.zeros((), device=corners.device)
    if model.blend_head is not None and output.blend_summary is not None:
        blended = model.blend_head.blend(
            output.blend_summary.float(),
            input_corners.to(corners.device),
            output.corners.detach().float(),
        )
        blend_loss = (1.0 - corner_iou(blended, corners)).mean()
    return corner_loss, blend_loss


def training_step(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    optim: OptimConfig,
    device: torch.device,
    teacher: AlphaRefineNet | None = None,
    distill: DistillConfig | None = None,
) -> dict[str, float]:
    """One step of the recipe: loss, backward (where DDP all-reduces), clipping, update.

    ``model`` is the network or its DDP wrapper; ``teacher`` and ``distill`` as in
    :func:`training_loss`. Returns the losses of :func:`training_loss`; raises
    :class:`FloatingPointError`, before any update, when the loss is not finite.
    """
    with torch.autocast(device.type, dtype=torch.float16, enabled=scaler.is_enabled()):
        loss, stats = training_loss(model, batch, device, optim.mask_weight, teacher, distill)
    if not math.isfinite(stats["loss"]):
        raise FloatingPointError(f"loss became {stats['loss']}")
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
    if optim.grad_clip > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return stats


def training_optimizer(network: AlphaRefineNet, optim: OptimConfig) -> torch.optim.Adam:
    """Adam over the parameters that train: the heads at ``optim.lr``, the trunk (unless
    frozen) at ``optim.lr x optim.backbone_lr_scale``."""
    backbone_ids = {id(parameter) for parameter in network.backbone.parameters()}
    heads = [p for p in network.parameters() if id(p) not in backbone_ids and p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": heads}]
    trunk = [p for p in network.backbone.parameters() if p.requires_grad]
    if trunk:
        groups.append({"params": trunk, "lr": optim.lr * optim.backbone_lr_scale})
    return torch.optim.Adam(groups, lr=optim.lr)


def _initialisation(config: TrainConfig, random_tensors: list[str] | None = None) -> str:
    if config.init_weights and random_tensors:
        modules = sorted({name.rsplit(".", 2)[0] for name in random_tensors})
        return f"{config.init_weights}, except {', '.join(modules)} (random)"
    if config.init_weights:
        return config.init_weights
    if config.backbone_init == "imagenet":
        return f"ImageNet-trained {config.model.backbone} backbone, the rest random"
    return "from scratch (random)"


def _set_training(network: AlphaRefineNet, optim: OptimConfig) -> None:
    """Training mode, with the backbone's BatchNorm layers (if asked) and the frozen modules
    kept in eval mode."""
    network.train()
    if optim.freeze_backbone_bn:
        for module in network.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    for name in optim.freeze:
        getattr(network, name).eval()


def _freeze(network: AlphaRefineNet, optim: OptimConfig) -> None:
    """No gradients for ``optim.freeze``'s modules (and the backbone at a zero learning rate)."""
    names = [name for name, module in network.named_children() if module is not None]
    unknown = sorted(set(optim.freeze) - set(names))
    if unknown:
        raise ValueError(f"[optim] freeze: {unknown} are not modules of this network: {names}")
    for name in optim.freeze:
        getattr(network, name).requires_grad_(False)
    if optim.backbone_lr_scale <= 0:
        network.backbone.requires_grad_(False)


def training_network(config: TrainConfig, device: torch.device) -> tuple[AlphaRefineNet, list[str]]:
    """The network to train, initialised per ``config``, in training mode, on ``device``, and
    the names of the tensors that ``init_weights`` did not fill (other heads: they start random).

    Its parameters are channels_last: the crops come in as NHWC permuted to NCHW, so the
    convolutions run channels_last and their weight gradients come out channels_last. Parameters
    in that layout keep those gradients as they are (autograd copies a gradient whose strides
    differ from its parameter's into the parameter's layout) and match the buckets of
    DistributedDataParallel, which take the parameters' strides (docs/training.md).
    """
    torch.manual_seed(config.seed)
    network = AlphaRefineNet(config.model)
    random_tensors: list[str] = []
    if config.init_weights:
        random_tensors = load_initial_weights(network, config.init_weights)
    elif config.backbone_init == "imagenet":
        from alpha_refine.train.imagenet import load_imagenet_backbone

        load_imagenet_backbone(network.backbone, config.model.backbone)
    network.to(device).to(memory_format=torch.channels_last)
    _freeze(network, config.frozen_optim)
    _set_training(network, config.frozen_optim)
    return network, random_tensors


def _backgrounds(spec: str, exclude: tuple[str, ...], per_sequence: int = 3) -> list[np.ndarray]:
    """Background images: every image in a folder, or a few frames of each dataset sequence."""
    folder = Path(spec)
    if folder.is_dir() and not any(p.is_dir() for p in folder.iterdir()):
        patterns = ("*.jpg", "*.jpeg", "*.png")
        return [read_image(p) for pattern in patterns for p in sorted(folder.glob(pattern))]
    images = []
    for sequence in load_dataset(spec):
        if sequence.name in exclude:
            continue
        for index in np.linspace(0, len(sequence) - 1, per_sequence).astype(int):
            images.append(sequence.frame(int(index)))
    return images


def _cutouts(
    spec: str, exclude: tuple[str, ...], per_sequence: int = 4
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Object cutouts from the masks of a dataset's sequences."""
    cutouts = []
    for sequence in load_dataset(spec):
        if not sequence.has_masks or sequence.name in exclude:
            continue
        visible = np.flatnonzero(sequence.visible)
        for index in visible[np.linspace(0, len(visible) - 1, per_sequence).astype(int)]:
            mask = sequence.mask(int(index))
            if mask is not None and mask.any():
                cutouts.append((sequence.frame(int(index)), mask))
    return cutouts


def _filter(sequences: list[Sequence], source: DataSource) -> list[Sequence]:
    if source.names:
        sequences = [s for s in sequences if s.name in source.names]
    return [s for s in sequences if s.name not in source.exclude]


def build_sources(config: TrainConfig) -> list[Source]:
    """Turn the config's ``[[data]]`` tables into weighted training sources."""
    sources = []
    for index, item in enumerate(config.data):
        name = f"{item.kind}#{index + 1}"
        if item.kind == "synthetic":
            generator = SyntheticSequences(
                item.count,
                SyntheticConfig(length=item.length),
                seed=item.seed,
                backgrounds=_backgrounds(item.backgrounds, item.exclude)
                if item.backgrounds
                else (),
                cutouts=_cutouts(item.cutouts, item.exclude) if item.cutouts else (),
            )
            sequences = generator.sequences()
        elif item.kind == "dataset":
            if item.spec.lower().startswith("davis:"):
                raise ValueError(
                    f'[[data]] #{index + 1}: a DAVIS tree trains through kind = "davis", '
                    "which reads its train list only (its validation videos are benchmarks)"
                )
            sequences = load_dataset(item.spec)
        elif item.kind == "davis":
            sequences = load_davis_train(item.spec, names=item.names or None, exclude=item.exclude)
        elif item.kind == "coco":
            sequences = load_coco(item.spec, item.image_root or None)
        elif item.kind == "saliency":
            sequences = load_saliency(item.spec)
        else:
            raise ValueError(f"[[data]] #{index + 1}: unknown kind {item.kind!r}")
        sources.append(Source(name, _filter(sequences, item), item.weight))
    return sources


def validation_sequences(spec: str, names: tuple[str, ...]) -> list[Sequence]:
    """The sequences of a ``[validation]`` set (``spec``, keeping ``names`` if given)."""
    if not spec:
        return []
    sequences = load_dataset(spec)
    if names:
        sequences = [s for s in sequences if s.name in names]
    return list(sequences)


class _OffsetSampler(torch.utils.data.Sampler[int]):
    """Indices ``start, start + step, ...`` below ``stop``: resumes mid-epoch, shards by rank."""

    def __init__(self, start: int, stop: int, step: int) -> None:
        self.indices = range(start, stop, step)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _atomic_save(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` through a temporary file: a failed save keeps the earlier checkpoint."""
    write_atomic(path, lambda stream: torch.save(state, stream))


def _log(path: Path, row: dict[str, Any]) -> None:
    fields = [
        "epoch", "iteration", "loss", "corner_loss", "mask_loss", "blend_loss",
        "distill_corner_loss", "distill_map_loss", "distill_mask_loss", "lr", "seconds",
        "val_iou_before", "val_iou_after", "val_holdout_iou_before", "val_holdout_iou_after",
    ]  # fmt: skip
    new = not path.exists()
    if not new:
        # A run resumed from an older version keeps its file's columns, so every row parses.
        with path.open(newline="") as handle:
            fields = next(csv.reader(handle), fields)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({key: row.get(key, "") for key in fields})


def export_checkpoint(config: TrainConfig, out_dir: str | Path) -> Path:
    """Write the weights of ``out_dir/checkpoint.pt`` of a run in our format (no optimiser)."""
    from alpha_refine.weights import save_weights

    checkpoint_path = Path(config.out_dir) / CHECKPOINT_NAME
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"no checkpoint at {checkpoint_path}")
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    network = AlphaRefineNet(config.model)
    network.load_state_dict(state["model"])
    done = int(state["epoch"]) * config.optim.iterations_per_epoch + int(state["iteration"])
    provenance = {
        "source": "trained with alpha-refine",
        "iterations": done,
        "initialisation": _initialisation(config),
    }
    return save_weights(network, out_dir, provenance=provenance)


def build_cache(config: TrainConfig) -> Path:
    """Build (or finish) ``config``'s feature cache without training; returns its folder."""
    network, _ = training_network(config, torch.device("cpu"))
    return build_feature_cache(config, network, lambda: build_sources(config))


def validate(
    network: AlphaRefineNet, sequences: list[Sequence], config: TrainConfig, device: torch.device
) -> tuple[float, float]:
    """Oracle mean IoU (before, after) on held-out sequences (a blend head blending)."""
    from alpha_refine.eval.oracle import oracle_experiment
    from alpha_refine.refiner import Refiner

    was_training = network.training
    refiner = Refiner.from_network(network, device=device, blend=True)  # the whole model
    result = oracle_experiment(
        refiner,
        sequences,
        scale_jitter=config.validation.scale_jitter,
        centre_jitter=config.validation.centre_jitter,
        frames_per_sequence=config.validation.frames_per_sequence,
        seed=config.seed,
    )
    network.train(was_training)
    return result.iou_before, result.iou_after


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    device: str | torch.device = "auto",
    config_path: str | Path | None = None,
    max_iterations: int | None = None,
) -> Path:
    """Train per ``config``; returns the folder with the final weights.

    ``resume=True`` continues from ``out_dir/checkpoint.pt`` at the exact iteration it stopped.
    ``max_iterations`` stops early (for time-boxed runs); the checkpoint allows resuming, and the
    returned folder is then ``out_dir/latest``. Under ``torchrun`` every process returns the same
    path, which rank 0 wrote.
    """
    from alpha_refine._inputs import resolve_device

    torch_device = resolve_device(device)
    dist = _init_distributed(torch_device)
    weights = _train(config, dist, torch_device, resume, config_path, max_iterations)
    if dist.world_size > 1:
        torch.distributed.destroy_process_group()
    return weights


def _train(
    config: TrainConfig,
    dist: _Distributed,
    torch_device: torch.device,
    resume: bool,
    config_path: str | Path | None,
    max_iterations: int | None,
) -> Path:
    from alpha_refine.weights import save_weights

    if torch_device.type == "cuda" and dist.world_size > 1:
        torch_device = torch.device("cuda", dist.local_rank)
    out = Path(config.out_dir)
    checkpoint_path = out / CHECKPOINT_NAME
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        if (
            config_path is not None
            and Path(config_path).resolve() != (out / "config.toml").resolve()
        ):
            shutil.copyfile(config_path, out / "config.toml")

    network, random_tensors = training_network(config, torch_device)
    teacher = load_teacher(config.distill, torch_device)
    optimizer = training_optimizer(network, config.optim)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.optim.lr_halve_every, gamma=0.5
    )
    use_amp = config.optim.amp and torch_device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    epoch, iteration = 0, 0
    if resume:
        if not checkpoint_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint_path}")
        state = torch.load(checkpoint_path, map_location=torch_device, weights_only=True)
        network.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        epoch, iteration = int(state["epoch"]), int(state["iteration"])

    model = _parallel(network, dist, torch_device)

    samples = config.optim.iterations_per_epoch * config.optim.batch_size * dist.world_size
    dataset: TrainingPairs | CachedPairs
    if config.features.dir:
        if dist.world_size > 1:
            raise ValueError("[features]: training on a feature cache runs in one process")
        build_feature_cache(config, network, lambda: build_sources(config))
        dataset = CachedPairs(config.features.dir, samples, seed=config.seed)
    else:
        dataset = TrainingPairs(
            build_sources(config), samples, seed=config.seed, config=config.sampling
        )
    validation_sets = {
        "val": (config.validation.spec, config.validation.names),
        "val_holdout": (config.validation.holdout_spec, config.validation.holdout_names),
    }
    validation = {
        key: validation_sequences(*where) if dist.main else []
        for key, where in validation_sets.items()
    }
    total = config.optim.epochs * config.optim.iterations_per_epoch
    done = 0
    provenance = {
        "source": "trained with alpha-refine",
        "training_config": str(config_path or ""),
        "initialisation": _initialisation(config, random_tensors),
    }

    def save_checkpoint() -> None:
        if dist.main:
            _atomic_save(
                {
                    "model": network.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "epoch": epoch,
                    "iteration": iteration,
                    "model_config": config.model.to_dict(),
                },
                checkpoint_path,
            )

    progress = tqdm(
        total=total,
        initial=epoch * config.optim.iterations_per_epoch + iteration,
        disable=not dist.main,
        desc="train",
    )
    start_time = time.perf_counter()
    while epoch < config.optim.epochs:
        dataset.set_epoch(epoch)
        per_step = config.optim.batch_size * dist.world_size
        sampler = _OffsetSampler(iteration * per_step + dist.rank, len(dataset), dist.world_size)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=config.optim.batch_size,
            sampler=sampler,
            # Cached pairs are slices of tensors in memory: workers would only copy them.
            num_workers=0 if config.features.dir else config.workers,
            pin_memory=torch_device.type == "cuda",
            drop_last=True,
            persistent_workers=False,
        )
        for batch in loader:
            try:
                stats = training_step(
                    model,
                    batch,
                    optimizer,
                    scaler,
                    config.optim,
                    torch_device,
                    teacher=teacher,
                    distill=config.distill,
                )
            except FloatingPointError as error:
                raise FloatingPointError(
                    f"{error} at epoch {epoch}, iteration {iteration}"
                ) from None
            iteration += 1
            done += 1
            progress.update(1)
            progress.set_postfix(loss=f"{stats['loss']:.1f}", corner=f"{stats['corner_loss']:.1f}")
            if dist.main:
                _log(
                    out / METRICS_NAME,
                    {
                        "epoch": epoch,
                        "iteration": iteration,
                        **{k: f"{v:.5g}" for k, v in stats.items()},
                        "lr": f"{scheduler.get_last_lr()[0]:.3g}",
                        "seconds": f"{time.perf_counter() - start_time:.1f}",
                    },
                )
            if iteration % config.checkpoint_every == 0:
                save_checkpoint()
            if max_iterations is not None and done >= max_iterations:
                save_checkpoint()
                if dist.main:
                    save_weights(network, out / "latest", provenance=provenance)
                progress.close()
                return out / "latest"
        epoch += 1
        iteration = 0
        scheduler.step()
        save_checkpoint()
        if dist.main:
            save_weights(network, out / "latest", provenance=provenance)
        if any(validation.values()) and epoch % config.validation.every == 0:
            row: dict[str, Any] = {"epoch": epoch}
            for key, sequences in validation.items():
                if sequences:
                    before, after = validate(network, sequences, config, torch_device)
                    row |= {
                        f"{key}_iou_before": f"{before:.4f}",
                        f"{key}_iou_after": f"{after:.4f}",
                    }
                    progress.write(f"epoch {epoch}: {key} oracle IoU {before:.3f} -> {after:.3f}")
            _log(out / METRICS_NAME, row)
            _set_training(network, config.frozen_optim)
    progress.close()
    final = out / "final"
    if dist.main:
        save_weights(network, final, provenance=provenance)
    return final

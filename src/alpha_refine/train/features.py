"""Training on a frozen trunk's cached features: many more pairs per CPU hour.

On a CPU most of a training step goes to the trunk (forward for both crops, backward for the
search crop) and to cutting and augmenting the crops. With the trunk frozen, its features of a
pair never change, so they are computed once and stored: the template kernel (``C x 8 x 8``) and
the search crop's stride-16 map (``C x 16 x 16``), and for a network with ``fine_corners`` its
stride-8 map (``layer2``, ``L x 32 x 32``) too, in float16, with the pair's ground-truth and
input corners. Training then runs only the fusion and the box heads on them
(:meth:`~alpha_refine.model.AlphaRefineNet.refine_layer3`), for as many epochs as wanted.

The cache is a folder of shards (``shard-00000.safetensors``, ``shard_size`` pairs each) and a
``manifest.json`` naming what it was built from: the trunk's fingerprint and the data, sampling
and seed of the config. :func:`build_feature_cache` writes missing shards only (each one
atomically), so an interrupted build resumes where it stopped, and it refuses a folder built from
anything else. Pair ``i`` is :class:`~alpha_refine.train.sampling.TrainingPairs` item ``i`` of
epoch 0 with the cache's seed, so a rebuild gives the same pairs. The cache is rebuilt by
``alpha-refine train --config CONFIG --cache-only``; it is never committed.

The mask decoder also needs the trunk's stride-2 and stride-4 maps, which are not cached: it
does not train here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from collections.abc import Sequence as SequenceOf
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save
from tqdm import tqdm

from alpha_refine._atomic import write_atomic
from alpha_refine.model.fusion import template_kernel
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.runtime.engine import TorchEngine
from alpha_refine.train.config import FeatureCacheConfig, TrainConfig
from alpha_refine.train.sampling import Source, TrainingPairs
from alpha_refine.weights.store import weights_fingerprint

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
# What one cached pair holds: the batch keys of TrainingPairs that the box heads' loss reads, and
# the trunk's outputs in place of the two crops (and the search crop's layer2 for fine corners).
CACHED_KEYS = ("kernel", "search_layer3", "corners", "input_corners")
LAYER2_KEY = "search_layer2"


def cached_keys(network: AlphaRefineNet) -> tuple[str, ...]:
    """The tensors a cache for ``network``'s box heads holds per pair."""
    return (*CACHED_KEYS, LAYER2_KEY) if network.fine_corners is not None else CACHED_KEYS


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def cache_manifest(config: TrainConfig, network: AlphaRefineNet) -> dict[str, Any]:
    """What a cache for ``config`` with ``network``'s trunk holds; equal manifests, equal pairs."""
    features = config.features
    origin = {
        "trunk": weights_fingerprint(network.backbone),
        "backbone": config.model.backbone,
        "seed": features.seed,
        "sampling": _changed(config.sampling),
        "data": [_changed(source) for source in config.data],
    }
    if network.fine_corners is not None:  # only then, so that earlier caches keep their key
        origin["layer2"] = True
    digest = hashlib.sha256(json.dumps(origin, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "format": FORMAT_VERSION,
        "key": digest,
        "pairs": features.pairs,
        "shard_size": features.shard_size,
        **origin,
    }


def _changed(settings: Any) -> dict[str, Any]:
    """The fields of a settings dataclass that differ from their defaults. New options are off
    by default and leave the pairs unchanged when off, so a cache stays valid when one is added."""
    return {
        f.name: getattr(settings, f.name)
        for f in fields(settings)
        if f.default is MISSING or getattr(settings, f.name) != f.default
    }


def _check_manifest(folder: Path, wanted: dict[str, Any]) -> None:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        write_atomic(path, (json.dumps(wanted, indent=2) + "\n").encode())
        return
    found = json.loads(path.read_text(encoding="utf-8"))
    same = ("format", "key", "pairs", "shard_size")
    if any(found.get(key) != wanted[key] for key in same):
        raise ValueError(
            f"the feature cache {folder} was built for other settings (trunk, data, sampling, "
            f"seed, pairs or shard size: its key {found.get('key')!r} with {found.get('pairs')} "
            f"pairs, this config's {wanted['key']!r} with {wanted['pairs']}); delete it or set "
            "another [features] dir"
        )


def build_feature_cache(
    config: TrainConfig,
    network: AlphaRefineNet,
    sources: Callable[[], SequenceOf[Source]],
    *,
    batch_size: int = 32,
    progress: bool = True,
) -> Path:
    """Write the shards of ``config.features.dir`` that are missing; returns the folder.

    ``network``'s trunk (in eval mode, BatchNorm folded) computes the features of
    ``config.features.pairs`` training pairs drawn from ``sources()`` (``config``'s data, read
    only when a shard is missing) with ``config``'s sampling.
    """
    features = config.features
    if not features.dir:
        raise ValueError("[features] dir is empty: no feature cache is configured")
    folder = Path(features.dir)
    _check_manifest(folder, cache_manifest(config, network))
    shards = -(-features.pairs // features.shard_size)
    missing = [i for i in range(shards) if not (folder / _shard_name(i)).is_file()]
    if not missing:
        return folder
    pairs = TrainingPairs(sources(), features.pairs, seed=features.seed, config=config.sampling)
    trunk = TorchEngine(network, torch.device("cpu")).network
    bar = tqdm(total=features.pairs, disable=not progress, desc="feature cache", unit="pair")
    bar.update(features.pairs - sum(len(_shard_range(i, features)) for i in missing))
    for index in missing:
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(pairs, _shard_range(index, features)),
            batch_size=batch_size,
            num_workers=config.workers,
        )
        parts: dict[str, list[torch.Tensor]] = {key: [] for key in cached_keys(network)}
        for batch in loader:
            for key, value in _trunk_features(trunk, batch, tuple(parts)).items():
                parts[key].append(value)
            parts["corners"].append(batch["corners"])
            parts["input_corners"].append(batch["input_corners"])
            bar.update(len(batch["corners"]))
        tensors = {key: torch.cat(values).contiguous() for key, values in parts.items()}
        write_atomic(folder / _shard_name(index), save(tensors))
    bar.close()
    return folder


def _shard_range(index: int, features: FeatureCacheConfig) -> range:
    start = index * features.shard_size
    return range(start, min(start + features.shard_size, features.pairs))


def _trunk_features(
    trunk: AlphaRefineNet, batch: dict[str, torch.Tensor], keys: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """Those of the template kernels (``kernel``) and search maps (``search_layer3``,
    ``search_layer2``) of a batch of crops that ``keys`` names, float16."""
    with torch.inference_mode():
        crops = torch.cat((batch["template"], batch["search"]))
        inputs = normalize_crops(crops).contiguous(memory_format=torch.channels_last)
        features = trunk.backbone(inputs)
        count = len(batch["template"])
        found = {
            "kernel": template_kernel(features.layer3[:count]),
            "search_layer3": features.layer3[count:],
            LAYER2_KEY: features.layer2[count:],
        }
        return {key: value.half().contiguous() for key, value in found.items() if key in keys}


class CachedPairs(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """The pairs of a feature cache, in a fresh seeded order each epoch.

    Item ``i`` of epoch ``e`` is cached pair ``order_e[i mod n]``, where ``order_e`` is a
    permutation drawn from ``(seed, e)``: an epoch may ask for more or fewer items than the
    cache holds, and a resumed run sees exactly the pairs an uninterrupted one would. Items hold
    the cache's tensors (:func:`cached_keys`), features as float32.
    """

    def __init__(self, folder: str | Path, samples_per_epoch: int, seed: int = 0) -> None:
        folder = Path(folder)
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no feature cache at {folder} (no {MANIFEST_NAME})")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        shards = sorted(folder.glob("shard-*.safetensors"))
        expected = -(-int(manifest["pairs"]) // int(manifest["shard_size"]))
        if len(shards) != expected:
            raise FileNotFoundError(
                f"the feature cache {folder} has {len(shards)} of its {expected} shards; "
                "finish it with `alpha-refine train --config CONFIG --cache-only`"
            )
        loaded = [load_file(path) for path in shards]
        self.tensors = {key: torch.cat([part[key] for part in loaded]) for key in loaded[0]}
        self.manifest = manifest
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.set_epoch(0)

    def __len__(self) -> int:
        return self.samples_per_epoch

    @property
    def pairs(self) -> int:
        """How many pairs the cache holds."""
        return len(self.tensors["corners"])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._order = np.random.default_rng([self.seed, epoch]).permutation(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pair = int(self._order[index % self.pairs])
        return {key: value[pair].float() for key, value in self.tensors.items()}

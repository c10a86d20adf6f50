"""Training on a frozen trunk's cached features (alpha_refine.train.features), on generated data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from alpha_refine import ModelConfig, Refiner
from alpha_refine.cli import main
from alpha_refine.model.fusion import template_kernel
from alpha_refine.model.preprocess import normalize_crops
from alpha_refine.train.config import DataSource, FeatureCacheConfig, OptimConfig, TrainConfig
from alpha_refine.train.features import (
    MANIFEST_NAME,
    CachedPairs,
    build_feature_cache,
    cache_manifest,
)
from alpha_refine.train.loop import build_cache, build_sources, train, training_network
from alpha_refine.train.sampling import TrainingPairs

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path: Path, **features: int) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(backbone="resnet18", mask_head=True, blend_head=True),
        optim=OptimConfig(epochs=2, iterations_per_epoch=3, batch_size=4),
        data=(DataSource(kind="synthetic", count=3, length=10, weight=1.0),),
        features=FeatureCacheConfig(
            dir=str(tmp_path / "cache"), **{"pairs": 10, "shard_size": 4, **features}
        ),
        workers=0,
        out_dir=str(tmp_path / "run"),
        checkpoint_every=2,
    )


def test_the_cache_holds_the_trunks_features_of_the_training_pairs(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = build_cache(config)
    assert sorted(p.name for p in folder.glob("shard-*")) == [
        "shard-00000.safetensors",
        "shard-00001.safetensors",
        "shard-00002.safetensors",
    ]
    cached = CachedPairs(folder, samples_per_epoch=10)
    assert cached.pairs == 10
    # Pair 5 is TrainingPairs item 5 of epoch 0 with the cache's seed, through the frozen trunk.
    pairs = TrainingPairs(build_sources(config), 10, seed=1, config=config.sampling)
    pair = pairs[5]
    network, _ = training_network(config, torch.device("cpu"))
    with torch.no_grad():
        crops = normalize_crops(torch.stack((pair["template"], pair["search"])))
        layer3 = network.backbone(crops).layer3
    stored = {key: value[5] for key, value in cached.tensors.items()}
    assert stored["search_layer3"].dtype == torch.float16
    torch.testing.assert_close(stored["search_layer3"].float(), layer3[1], atol=2e-2, rtol=1e-2)
    torch.testing.assert_close(
        stored["kernel"].float(), template_kernel(layer3[:1])[0], atol=2e-2, rtol=1e-2
    )
    assert torch.equal(stored["corners"], pair["corners"])
    assert torch.equal(stored["input_corners"], pair["input_corners"])


def test_an_interrupted_build_finishes_with_the_same_pairs(tmp_path: Path) -> None:
    config = _config(tmp_path)
    folder = build_cache(config)
    whole = {p.name: p.read_bytes() for p in folder.glob("shard-*")}
    (folder / "shard-00001.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"2 of its 3 shards.*--cache-only"):
        CachedPairs(folder, samples_per_epoch=4)
    main(["train", "--config", _toml(tmp_path, config), "--cache-only"])
    assert {p.name: p.read_bytes() for p in folder.glob("shard-*")} == whole


def test_a_cache_built_for_other_settings_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    build_cache(config)
    other = replace(config, sampling=replace(config.sampling, scale_jitter=0.5))
    with pytest.raises(ValueError, match="built for other settings"):
        build_cache(other)
    network, _ = training_network(config, torch.device("cpu"))
    with torch.no_grad():  # another trunk
        next(network.backbone.parameters()).add_(1.0)
    with pytest.raises(ValueError, match="built for other settings"):
        build_feature_cache(config, network, lambda: build_sources(config))
    manifest = json.loads((Path(config.features.dir) / MANIFEST_NAME).read_text())
    assert manifest["pairs"] == 10 and manifest["backbone"] == "resnet18"


def test_epochs_visit_the_cache_in_seeded_orders() -> None:
    cached = CachedPairs.__new__(CachedPairs)
    cached.tensors = {"corners": torch.arange(5.0)[:, None].repeat(1, 4)}
    cached.samples_per_epoch, cached.seed = 7, 0
    cached.set_epoch(0)
    first = [int(cached[i]["corners"][0]) for i in range(7)]
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and first[5:] == first[:2]  # wraps around
    cached.set_epoch(1)
    second = [int(cached[i]["corners"][0]) for i in range(5)]
    assert sorted(second) == [0, 1, 2, 3, 4] and second != first[:5]
    cached.set_epoch(0)
    assert [int(cached[i]["corners"][0]) for i in range(7)] == first


def test_training_on_the_cache_moves_only_the_box_heads_and_resumes_exactly(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    start, _ = training_network(config, torch.device("cpu"))
    before = {k: v.clone() for k, v in start.state_dict().items()}
    final = train(config, device="cpu")
    trained = Refiner.from_pretrained(final, device="cpu").network.state_dict()
    for key, value in before.items():
        moved = not torch.equal(trained[key], value)
        head = key.split(".")[0] in ("fusion", "corner_head", "blend_head")
        if key.endswith(("weight", "bias")) and not key.endswith("num_batches_tracked"):
            assert moved == head, key  # the trunk and mask decoder stay as they were
    metrics = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 6 and all(float(row.split(",")[2]) > 0 for row in metrics[1:])

    interrupted = replace(config, out_dir=str(tmp_path / "resumed"))
    train(interrupted, device="cpu", max_iterations=4)  # stops in the second epoch
    resumed = train(interrupted, device="cpu", resume=True)
    again = Refiner.from_pretrained(resumed, device="cpu").network.state_dict()
    for key, value in trained.items():
        torch.testing.assert_close(again[key], value, rtol=0, atol=1e-6, msg=key)


def test_a_teacher_needs_crops_so_it_cannot_use_the_cache() -> None:
    with pytest.raises(ValueError, match=r"\[features\] and \[distill\]"):
        TrainConfig.from_dict(
            {"features": {"dir": "cache"}, "distill": {"teacher": "weights/teacher"}}
        )
    with pytest.raises(ValueError, match="pairs and shard_size must be positive"):
        TrainConfig.from_dict({"features": {"dir": "cache", "pairs": 0}})


def _toml(tmp_path: Path, config: TrainConfig) -> str:
    path = tmp_path / "cache.toml"
    path.write_text(
        f"""seed = 0
workers = 0
out_dir = "{config.out_dir}"

[model]
backbone = "resnet18"
mask_head = true
blend_head = true

[features]
dir = "{config.features.dir}"
pairs = 10
shard_size = 4

[[data]]
kind = "synthetic"
count = 3
length = 10
""",
        encoding="utf-8",
    )
    return str(path)


def test_the_cache_key_names_only_settings_that_differ_from_their_defaults(tmp_path: Path) -> None:
    # A new sampling option is off by default and leaves pairs unchanged when off, so caches
    # built before it existed must stay valid: the key holds only the changed settings.
    config = _config(tmp_path)
    network, _ = training_network(config, torch.device("cpu"))
    manifest = cache_manifest(config, network)
    assert manifest["sampling"] == {}
    assert manifest["data"] == [{"kind": "synthetic", "count": 3, "length": 10}]
    explicit = replace(config, sampling=replace(config.sampling, style_probability=0.0))
    assert cache_manifest(explicit, network)["key"] == manifest["key"]
    styled = replace(config, sampling=replace(config.sampling, style_probability=0.5))
    assert cache_manifest(styled, network)["sampling"] == {"style_probability": 0.5}
    assert cache_manifest(styled, network)["key"] != manifest["key"]

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.train.config import DataSource, OptimConfig, TrainConfig
from alpha_refine.train.loop import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    export_checkpoint,
    train,
    training_loss,
    training_network,
    training_step,
)
from alpha_refine.train.sampling import Source, TrainingPairs

SMALL = SyntheticConfig(length=15, frame_size=(120, 160))


@pytest.fixture(scope="module")
def pairs() -> TrainingPairs:
    return TrainingPairs([Source("synthetic", SyntheticSequences(4, SMALL).sequences())], 8)


def test_pairs_are_deterministic_and_well_formed(pairs: TrainingPairs) -> None:
    item = pairs[3]
    assert item["template"].shape == (256, 256, 3) and item["template"].dtype == torch.uint8
    assert item["search"].shape == (256, 256, 3)
    assert item["mask"].shape == (256, 256) and bool(item["has_mask"])
    x1, y1, x2, y2 = item["corners"].tolist()
    assert x2 > x1 and y2 > y1
    # The ground-truth corners frame the mask in the search crop.
    ys, xs = np.nonzero(item["mask"].numpy() > 0.5)
    assert abs(xs.min() - x1) < 4 and abs(xs.max() + 1 - x2) < 4
    assert abs(ys.min() - y1) < 4 and abs(ys.max() + 1 - y2) < 4
    again = pairs[3]
    assert all(torch.equal(item[k], again[k]) for k in item)
    pairs.set_epoch(1)
    assert not torch.equal(pairs[3]["search"], item["search"])
    pairs.set_epoch(0)


def test_a_few_steps_lower_the_loss(pairs: TrainingPairs) -> None:
    torch.manual_seed(0)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18")).train()
    batch = torch.utils.data.default_collate([pairs[i] for i in range(4)])
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss, stats = training_loss(network, batch, torch.device("cpu"), mask_weight=1000.0)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(stats["loss"])
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
@pytest.mark.usefixtures("one_thread")
def test_gradients_come_in_their_parameters_layout(pairs: TrainingPairs, backbone: str) -> None:
    """DistributedDataParallel's buckets take the parameters' strides: a gradient with others
    (1 x 1 kernels of contiguous parameters fed channels_last crops) makes it warn "Grad strides
    do not match bucket view strides" and copy across layouts."""
    config = TrainConfig(model=ModelConfig(backbone=backbone), optim=OptimConfig(batch_size=2))
    network, started_random = training_network(config, torch.device("cpu"))
    assert started_random == []
    batch = torch.utils.data.default_collate([pairs[i] for i in range(2)])
    optimizer = torch.optim.Adam(network.parameters())
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    training_step(network, batch, optimizer, scaler, config.optim, torch.device("cpu"))
    parameters = dict(network.named_parameters())
    assert all(p.grad is not None for p in parameters.values())
    pointwise = [name for name, p in parameters.items() if p.shape[-2:] == (1, 1)]
    assert pointwise, "the network has 1 x 1 convolutions, whose gradients are the ones at risk"
    mismatched = [
        name
        for name, p in parameters.items()
        if p.grad is not None and p.grad.stride() != p.stride()
    ]
    assert mismatched == []


@pytest.mark.usefixtures("one_thread")
def test_box_only_batches_keep_every_parameter_in_a_ddp_step(
    pairs: TrainingPairs, tmp_path: Path
) -> None:
    """A batch without masks (still images with boxes only, on one rank) must still use the
    mask head under DDP, or the next step fails with "Expected to have finished reduction"."""
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        config = TrainConfig(model=ModelConfig(backbone="resnet18"), optim=OptimConfig())
        network, _ = training_network(config, torch.device("cpu"))
        model = torch.nn.parallel.DistributedDataParallel(network)
        batch = torch.utils.data.default_collate([pairs[i] for i in range(2)])
        batch["has_mask"] = torch.zeros_like(batch["has_mask"])
        optimizer = torch.optim.Adam(network.parameters())
        scaler = torch.amp.GradScaler("cuda", enabled=False)
        for _ in range(2):
            stats = training_step(
                model, batch, optimizer, scaler, config.optim, torch.device("cpu")
            )
            assert stats["mask_loss"] == 0.0
        assert network.mask_head is not None
        assert all(p.grad is not None for p in network.mask_head.parameters())
    finally:
        torch.distributed.destroy_process_group()


def _config(tmp_path: Path) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(backbone="resnet18", mask_head=True),
        optim=OptimConfig(epochs=2, iterations_per_epoch=2, batch_size=2),
        data=(DataSource(kind="synthetic", count=3, length=10, weight=1.0),),
        workers=0,
        out_dir=str(tmp_path / "run"),
        checkpoint_every=1,
    )


def test_train_writes_weights_and_resumes_exactly(tmp_path: Path) -> None:
    config = _config(tmp_path)
    final = train(config, device="cpu")
    straight = Refiner.from_pretrained(final, device="cpu").network.state_dict()
    metrics = (tmp_path / "run" / METRICS_NAME).read_text().splitlines()
    assert metrics[0].startswith("epoch,iteration,loss") and len(metrics) == 1 + 4

    interrupted = replace(config, out_dir=str(tmp_path / "resumed"))
    piece = train(interrupted, device="cpu", max_iterations=3)  # stops in the second epoch
    assert piece == tmp_path / "resumed" / "latest"
    assert (tmp_path / "resumed" / CHECKPOINT_NAME).is_file()
    exported = Refiner.from_pretrained(export_checkpoint(interrupted, tmp_path / "exported"))
    latest = Refiner.from_pretrained(piece)
    assert exported.weights_info.provenance["iterations"] == 3
    for key, value in latest.network.state_dict().items():
        assert torch.equal(exported.network.state_dict()[key], value), key
    resumed_final = train(interrupted, device="cpu", resume=True)
    resumed = Refiner.from_pretrained(resumed_final, device="cpu").network.state_dict()
    for key, value in straight.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6, msg=key)


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_config(tmp_path), device="cpu", resume=True)


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'seed = 3\n[model]\nbackbone = "resnet18"\n[optim]\nepochs = 5\n'
        '[[data]]\nkind = "synthetic"\ncount = 7\n[[data]]\nkind = "dataset"\n'
        'spec = "plain:/x"\nexclude = ["a", "b"]\nweight = 2.0\n'
    )
    config = TrainConfig.from_toml(path)
    assert config.seed == 3 and config.model.backbone == "resnet18" and config.optim.epochs == 5
    assert config.data[1] == DataSource(
        kind="dataset", spec="plain:/x", exclude=("a", "b"), weight=2.0
    )
    path.write_text("[optim]\nepochz = 5\n")
    with pytest.raises(ValueError, match=r"unknown keys \['epochz'\]"):
        TrainConfig.from_toml(path)


def test_validation_logs_both_held_out_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alpha_refine.train.loop as loop_module
    from alpha_refine.train.config import ValidationConfig

    held_out = {
        spec: SyntheticSequences(2, SMALL, seed=seed).sequences()
        for seed, spec in enumerate(("plain:development", "davis:holdout:train"))
    }
    monkeypatch.setattr(loop_module, "load_dataset", lambda spec: held_out[spec])
    validation = ValidationConfig(
        spec="plain:development",
        holdout_spec="davis:holdout:train",
        holdout_names=(held_out["davis:holdout:train"][0].name,),
        frames_per_sequence=2,
    )
    config = replace(_config(tmp_path), validation=validation)
    train(config, device="cpu")
    with (tmp_path / "run" / METRICS_NAME).open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["val_iou_after"]]
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for row in rows:
        for key in ("val", "val_holdout"):
            before, after = float(row[f"{key}_iou_before"]), float(row[f"{key}_iou_after"])
            assert 0 < before <= 1 and 0 <= after <= 1
    assert rows[0]["val_iou_before"] != rows[0]["val_holdout_iou_before"]


def test_metrics_of_a_run_from_an_older_version_keep_their_columns(tmp_path: Path) -> None:
    from alpha_refine.train.loop import _log

    path = tmp_path / METRICS_NAME
    path.write_text("epoch,iteration,loss,val_iou_before,val_iou_after\n0,1,2.5,,\n")
    _log(path, {"epoch": 2, "val_iou_before": "0.6", "val_holdout_iou_before": "0.7"})
    rows = list(csv.reader(path.open()))
    assert {len(row) for row in rows} == {5}
    assert rows[-1] == ["2", "", "", "0.6", ""]


def test_light_heads_start_from_published_head_weights_and_learn_from_them(
    tmp_path: Path, pairs: TrainingPairs
) -> None:
    from alpha_refine.train.config import DistillConfig
    from alpha_refine.train.distill import distillation_loss, load_initial_weights
    from alpha_refine.weights import save_weights

    torch.manual_seed(0)
    teacher = AlphaRefineNet(ModelConfig(backbone="resnet18")).eval()
    save_weights(teacher, tmp_path / "teacher")
    student = AlphaRefineNet(ModelConfig(backbone="resnet18", heads="light"))
    random = load_initial_weights(student, str(tmp_path / "teacher"))
    # The trunk, correlation and lateral 1 x 1 convs come from the teacher; the new corner
    # tower and the mask decoder's resized lateral convs start random.
    assert random and all(name.startswith(("corner_head.", "mask_head.v")) for name in random)
    for name, value in teacher.state_dict().items():
        if name.startswith(("backbone.", "fusion.", "mask_adjust.")):
            assert torch.equal(student.state_dict()[name], value), name
    with pytest.raises(ValueError, match="differs in its heads only"):
        load_initial_weights(
            AlphaRefineNet(ModelConfig(backbone="resnet34")), str(tmp_path / "teacher")
        )

    batch = torch.utils.data.default_collate([pairs[i] for i in range(2)])
    _, stats = training_loss(student.train(), batch, torch.device("cpu"), 1000.0, teacher=teacher)
    assert {"distill_corner_loss", "distill_map_loss", "distill_mask_loss"} <= set(stats)
    assert stats["distill_map_loss"] > 0 and stats["distill_corner_loss"] > 0
    # A network that reproduces the teacher has nothing left to learn from it.
    with torch.no_grad():
        kernel = teacher.template_kernel(torch.randn(2, 3, 256, 256))
        same = teacher(torch.randn(2, 3, 256, 256), kernel, with_mask=True)
    loss, terms = distillation_loss(same, same, DistillConfig(mask_weight=0.0))
    assert float(loss) == pytest.approx(0.0, abs=1e-4) and terms["distill_map_loss"] < 1e-6


def test_frozen_modules_keep_their_weights_and_statistics(tmp_path: Path) -> None:
    """A light mask decoder trained on frozen published parts: every box stays the same."""
    from alpha_refine.weights import save_weights

    torch.manual_seed(0)
    start = AlphaRefineNet(ModelConfig(backbone="resnet18"))
    save_weights(start, tmp_path / "start")
    config = replace(
        _config(tmp_path),
        model=ModelConfig(backbone="resnet18", heads="light_mask"),
        init_weights=str(tmp_path / "start"),
        optim=OptimConfig(
            epochs=1,
            iterations_per_epoch=2,
            batch_size=2,
            freeze=("backbone", "fusion", "corner_head"),
        ),
    )
    trained = Refiner.from_pretrained(train(config, device="cpu")).network.state_dict()
    for name, value in start.state_dict().items():
        if name.startswith(("backbone.", "fusion.", "corner_head.")):
            assert torch.equal(trained[name], value), name  # BatchNorm statistics included
    assert any(
        not torch.equal(trained[k], v)
        for k, v in start.state_dict().items()
        if k.startswith("mask_")
    )
    with pytest.raises(ValueError, match=r"freeze: \['trunk'\] are not modules"):
        train(replace(config, optim=OptimConfig(freeze=("trunk",))), device="cpu")


def test_a_zero_backbone_learning_rate_freezes_the_trunk(tmp_path: Path) -> None:
    config = replace(
        _config(tmp_path),
        optim=OptimConfig(epochs=1, iterations_per_epoch=2, batch_size=2, backbone_lr_scale=0.0),
    )
    torch.manual_seed(config.seed)
    initial = AlphaRefineNet(config.model).state_dict()
    trained = Refiner.from_pretrained(train(config, device="cpu")).network.state_dict()
    for name, value in initial.items():
        if name.startswith("backbone.") and "running_" not in name and "num_batches" not in name:
            assert torch.equal(trained[name], value), name
    assert any(not torch.equal(trained[k], v) for k, v in initial.items() if k.startswith("corner"))


def test_flip_probability_mirrors_the_whole_pair_and_leaves_other_draws_alone() -> None:
    from alpha_refine.train.sampling import SamplingConfig

    sequences = SyntheticSequences(3, SyntheticConfig(length=15, frame_size=(120, 160))).sequences()

    def items(config: SamplingConfig) -> list[dict[str, torch.Tensor]]:
        pairs = TrainingPairs([Source("synthetic", sequences)], 6, seed=3, config=config)
        return [pairs[i] for i in range(6)]

    plain, mirrored = items(SamplingConfig()), items(SamplingConfig(flip_probability=1.0))
    for a, b in zip(plain, mirrored, strict=True):
        for key in ("template", "search", "mask"):
            assert torch.equal(b[key], a[key].flip(1))
        for key in ("corners", "input_corners"):
            x1, y1, x2, y2 = a[key].tolist()
            assert b[key].tolist() == pytest.approx([256 - x2, y1, 256 - x1, y2], abs=1e-4)
    # Off by default, and drawn last: the same pairs as before the option existed.
    half = items(SamplingConfig(flip_probability=0.5))
    flipped = [not torch.equal(h["search"], p["search"]) for h, p in zip(half, plain, strict=True)]
    assert any(flipped) and not all(flipped)

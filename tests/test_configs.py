"""The training configs in ``configs/``: they parse, and none trains on what it validates on."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpha_refine.train.config import TrainConfig

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.toml"))


def test_there_are_configs() -> None:
    assert {path.name for path in CONFIGS} >= {"default-lite0.toml", "smoke.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_config_parses_and_holds_out_its_validation_sequences(path: Path) -> None:
    config = TrainConfig.from_toml(path)
    held_out = set(config.validation.names)
    for source in config.data:
        if source.kind == "dataset":
            reads = {source.spec}
        elif source.kind == "synthetic":
            reads = {source.backgrounds, source.cutouts}
        else:
            reads = set()  # still images (saliency, COCO) and DAVIS (checked below)
        if config.validation.spec in reads:
            used = held_out & set(source.names) if source.names else held_out
            leaked = used - set(source.exclude)
            assert not leaked, (
                f"{path.name}: {source.kind} data trains on held-out {sorted(leaked)}"
            )
        if source.kind == "davis" and config.validation.holdout_spec.startswith("davis:"):
            # The DAVIS hold-out names sequences (<video>_<id>); the source excludes videos.
            videos = {name.rpartition("_")[0] for name in config.validation.holdout_names}
            assert not source.names, f"{path.name}: davis names would need checking too"
            assert videos <= set(source.exclude), (
                f"{path.name}: davis data trains on held-out {sorted(videos - set(source.exclude))}"
            )


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("default-lite0", "default-lite0-stage2"), ("default-lite0-stage2", "default-lite0-stage3")],
)
def test_a_later_stage_starts_from_the_earlier_stages_weights(earlier: str, later: str) -> None:
    folder = Path(__file__).parents[1] / "configs"
    first = TrainConfig.from_toml(folder / f"{earlier}.toml")
    second = TrainConfig.from_toml(folder / f"{later}.toml")
    assert second.init_weights == f"{first.out_dir}/final" and second.out_dir != first.out_dir
    assert second.model == first.model and second.data == first.data
    assert second.validation == first.validation


@pytest.mark.parametrize(
    "later", ["default-lite0-stage4-davis", "default-lite0-light", "default-lite0-light-mask"]
)
def test_configs_after_stage_3_start_from_its_run_not_the_embedded_model(later: str) -> None:
    # The embedded model changes when one of them ships; a config must name fixed weights.
    folder = Path(__file__).parents[1] / "configs"
    stage3 = TrainConfig.from_toml(folder / "default-lite0-stage3.toml")
    config = TrainConfig.from_toml(folder / f"{later}.toml")
    assert config.init_weights == f"{stage3.out_dir}/final"
    assert config.distill.teacher in ("", config.init_weights)

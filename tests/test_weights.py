from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.weights import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    WeightsError,
    convert_published,
    load_pretrained,
    save_weights,
)
from fake_published import FORMATS, ltr_modules, save_training_checkpoint

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _assert_same_state(a: AlphaRefineNet, b: AlphaRefineNet) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def test_save_load_round_trip_is_bit_exact(network: AlphaRefineNet, tmp_path: Path) -> None:
    refiner = Refiner.from_network(network, device="cpu")
    refiner.save_pretrained(tmp_path, provenance={"source": "test fixture"})
    assert {p.name for p in tmp_path.iterdir()} == {WEIGHTS_NAME, CONFIG_NAME}
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config["format"] == "alpha-refine" and config["format_version"] == 1
    assert config["model"] == {"backbone": "resnet34", "mask_head": True}
    assert config["provenance"] == {"source": "test fixture"}
    loaded = Refiner.from_pretrained(tmp_path, device="cpu")
    _assert_same_state(loaded.network, network)
    assert loaded.weights_info.provenance == {"source": "test fixture"}


def test_lone_safetensors_file_carries_its_config(network: AlphaRefineNet, tmp_path: Path) -> None:
    save_weights(network, tmp_path / "saved")
    lone = tmp_path / "ar34.safetensors"
    lone.write_bytes((tmp_path / "saved" / WEIGHTS_NAME).read_bytes())
    net, info = load_pretrained(lone)
    assert info.model == ModelConfig()
    _assert_same_state(net, network)


def test_float16_storage_loads_back_as_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = AlphaRefineNet(ModelConfig(backbone="resnet18"))
    save_weights(net, tmp_path / "fp32")
    save_weights(net, tmp_path / "fp16", dtype="float16")
    size32 = (tmp_path / "fp32" / WEIGHTS_NAME).stat().st_size
    size16 = (tmp_path / "fp16" / WEIGHTS_NAME).stat().st_size
    assert size16 < 0.55 * size32
    loaded, info = load_pretrained(tmp_path / "fp16")
    assert info.dtype == "float16"
    for key, value in loaded.state_dict().items():
        original = net.state_dict()[key]
        assert value.dtype == original.dtype, key
        if original.is_floating_point():
            assert torch.equal(value, original.half().float()), key
        else:
            assert torch.equal(value, original), key


def test_inference_defaults_come_from_the_weights(network: AlphaRefineNet, tmp_path: Path) -> None:
    save_weights(network, tmp_path, inference={"geometry": "published"})
    assert Refiner.from_pretrained(tmp_path, device="cpu").geometry == "published"
    assert Refiner.from_pretrained(tmp_path, device="cpu", geometry="exact").geometry == "exact"


# --- the Hugging Face hub, offline against a cache the test builds ----------------------------


def _populate_hub_cache(cache: Path, repo_id: str, files: dict[str, bytes], ref: str) -> None:
    """Lay files out as huggingface_hub's cache does: blobs, a snapshot per commit, refs."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name, data in files.items():
        import hashlib

        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / ref).write_text(COMMIT)


@pytest.fixture
def hub_cache(network: AlphaRefineNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants

    save_weights(network, tmp_path / "model", provenance={"source": "hub test"})
    cache = tmp_path / "cache"
    files = {name: (tmp_path / "model" / name).read_bytes() for name in (WEIGHTS_NAME, CONFIG_NAME)}
    _populate_hub_cache(cache, "alpha-refine/ar-test", files, ref="main")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


@pytest.mark.parametrize(
    ("name", "revision"),
    [
        ("alpha-refine/ar-test", None),
        ("alpha-refine/ar-test", "main"),
        (f"alpha-refine/ar-test@{COMMIT}", None),
        ("alpha-refine/ar-test", COMMIT),
    ],
)
def test_hub_repo_from_offline_cache(
    network: AlphaRefineNet, hub_cache: Path, name: str, revision: str | None
) -> None:
    refiner = Refiner.from_pretrained(name, revision=revision, cache_dir=hub_cache, device="cpu")
    _assert_same_state(refiner.network, network)
    assert refiner.weights_info.provenance == {"source": "hub test"}


def test_hub_cache_through_environment(
    network: AlphaRefineNet, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    net, _ = load_pretrained("alpha-refine/ar-test", local_files_only=True)
    _assert_same_state(net, network)


def test_hub_repo_missing_from_offline_cache(hub_cache: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not in the local cache.*HF_HUB_OFFLINE"):
        load_pretrained("alpha-refine/other", cache_dir=hub_cache)
    with pytest.raises(FileNotFoundError, match="not in the local cache"):
        load_pretrained("alpha-refine/ar-test@v9", cache_dir=hub_cache)


def test_revision_given_twice_must_agree(hub_cache: Path) -> None:
    with pytest.raises(ValueError, match="revision given twice"):
        load_pretrained("alpha-refine/ar-test@main", revision="v2", cache_dir=hub_cache)


def test_push_to_hub_uploads_our_format(
    network: AlphaRefineNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import HfApi

    uploaded: dict[str, Any] = {}

    def create_repo(self: HfApi, repo_id: str, **kwargs: Any) -> None:
        uploaded["repo"] = (repo_id, kwargs)

    def upload_folder(self: HfApi, *, repo_id: str, folder_path: str, **kwargs: Any) -> Any:
        uploaded["files"] = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        return type("Commit", (), {"oid": COMMIT})()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    refiner = Refiner.from_network(network, device="cpu")
    commit = refiner.push_to_hub("alpha-refine/ar-test", model_card="# card", dtype="float16")
    assert commit == COMMIT
    assert uploaded["repo"][0] == "alpha-refine/ar-test"
    assert set(uploaded["files"]) == {WEIGHTS_NAME, CONFIG_NAME, "README.md"}
    assert json.loads(uploaded["files"][CONFIG_NAME])["dtype"] == "float16"


# --- strict loading and clear errors ---------------------------------------------------------


def test_missing_unexpected_and_wrong_shapes_are_listed(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_weights(AlphaRefineNet(ModelConfig(backbone="resnet50")), tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    config["model"]["backbone"] = "resnet18"
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(WeightsError) as error:
        load_pretrained(tmp_path)
    message = str(error.value)
    assert "resnet18" in message and "unexpected keys" in message and "wrong shapes" in message
    assert "backbone.layer1.0.conv3.weight" in message  # a bottleneck key, not in ResNet-18


def test_missing_mask_head_keys_are_listed(tmp_path: Path) -> None:
    save_weights(AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=False)), tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    config["model"]["mask_head"] = True
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"missing keys: mask_adjust\.0\.0\.bias"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format_version": 99}, "unknown config format_version 99"),
        ({"format": "timm"}, "not an alpha-refine config"),
        ({"dtype": "int8"}, "dtype must be one of"),
        ({"model": {"backbone": "vgg"}}, "bad model config"),
        ({"inference": []}, "must be JSON objects"),
    ],
)
def test_bad_configs(
    network: AlphaRefineNet, tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    save_weights(network, tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    config.update(change)
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=match):
        load_pretrained(tmp_path)


def test_corrupt_config_json(network: AlphaRefineNet, tmp_path: Path) -> None:
    save_weights(network, tmp_path)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read the config as JSON"):
        load_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "header"])
def test_corrupt_and_truncated_weight_files(
    network: AlphaRefineNet, tmp_path: Path, damage: str
) -> None:
    save_weights(network, tmp_path)
    path = tmp_path / WEIGHTS_NAME
    blob = path.read_bytes()
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "random":
        blob = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    elif damage == "empty":
        blob = b""
    else:
        blob = blob[:8] + b"{" * 32 + blob[40:]
    path.write_bytes(blob)
    with pytest.raises(WeightsError, match=r"corrupt or truncated safetensors file"):
        load_pretrained(tmp_path)


def test_name_resolution_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        load_pretrained(tmp_path)
    (tmp_path / "SEcmnet_ep0040-c.pth.tar").write_bytes(b"x")
    with pytest.raises(WeightsError, match="alpha-refine convert"):
        load_pretrained(tmp_path / "SEcmnet_ep0040-c.pth.tar")
    with pytest.raises(FileNotFoundError, match="neither an existing file or folder"):
        load_pretrained(tmp_path / "nope" / "deeper" / "x")
    lone = tmp_path / "lone" / "w.safetensors"
    lone.parent.mkdir()
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, lone)
    with pytest.raises(WeightsError, match="no config"):
        load_pretrained(lone)


# --- conversion of the published checkpoint --------------------------------------------------


@pytest.fixture(scope="module")
def published_files(
    published_state_dict: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    return save_training_checkpoint(tmp_path_factory.mktemp("published"), published_state_dict)


@pytest.mark.parametrize("fmt", FORMATS)
def test_convert_published_checkpoint(
    published_files: dict[str, Path],
    published_state_dict: dict[str, torch.Tensor],
    tmp_path: Path,
    fmt: str,
) -> None:
    out = convert_published(published_files[fmt], tmp_path / "converted")
    assert not ltr_modules()  # the authors' package was never needed nor imported
    net, info = load_pretrained(out)
    assert info.model == ModelConfig(backbone="resnet34", mask_head=True)
    assert info.inference == {"geometry": "published"}
    assert info.provenance["license"].startswith("GPL-3.0")
    import hashlib

    digest = hashlib.sha256(published_files[fmt].read_bytes()).hexdigest()
    assert info.provenance["source_sha256"] == digest
    state = net.state_dict()
    assert torch.equal(
        state["corner_head.top_left.4.weight"], published_state_dict["corner_head.conv5_tl.weight"]
    )
    assert torch.equal(
        state["mask_adjust.1.1.running_var"], published_state_dict["feat_adjust.1.1.running_var"]
    )
    assert len(state) == 310


def test_convert_already_extracted_state_dict(
    published_state_dict: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    from_memory = convert_published(published_state_dict, tmp_path / "a")
    torch.save(published_state_dict, tmp_path / "net.pth")
    from_file = convert_published(tmp_path / "net.pth", tmp_path / "b")
    a, _ = load_pretrained(from_memory)
    b, _ = load_pretrained(from_file)
    _assert_same_state(a, b)


def test_convert_rejects_other_layouts(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not the published Alpha-Refine layout"):
        convert_published({"backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path)
    state = {"feature_extractor.conv1.weight": torch.zeros(64, 3, 7, 7)}
    with pytest.raises(WeightsError, match="missing keys"):
        convert_published(state, tmp_path)


def test_embedded_default_model_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refiner = Refiner.from_pretrained(device="cpu")
    assert refiner.config == ModelConfig(
        backbone="efficientnet_lite0", mask_head=True, heads="light_mask", blend_head=True
    )
    assert not refiner.blend  # the blend head is opt-in (model card)
    assert refiner.weights_info.provenance["source"] == "trained with alpha-refine"
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    refiner.initialize(frame, (40, 30, 50, 40))
    box, mask = refiner.refine(frame, (42, 28, 50, 44), return_mask=True)
    assert np.all(np.isfinite(box)) and mask is not None

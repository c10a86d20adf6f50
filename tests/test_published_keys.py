"""The published state-dict layout maps one-to-one onto our network (layer4 and fc aside)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alpha_refine import AlphaRefineNet
from alpha_refine.weights.published import (
    native_to_published_key,
    published_to_native,
    published_to_native_key,
)

# The key list of the published checkpoint (from the project's model spec), with shapes.
KEY_LIST = Path(__file__).parent / "data" / "published_state_dict.txt"


def _published_layout() -> dict[str, tuple[int, ...]]:
    layout = {}
    for line in KEY_LIST.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, _ = line.split("\t")
        layout[key] = () if shape == "scalar" else tuple(int(s) for s in shape.split("x"))
    return layout


def test_key_list_is_complete() -> None:
    layout = _published_layout()
    assert len(layout) == 354
    assert sum(1 for k in layout if "layer4" in k or ".fc." in k) == 44


def test_published_layout_maps_one_to_one(network: AlphaRefineNet) -> None:
    layout = _published_layout()
    mapped = published_to_native(layout)
    ours = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    assert mapped == ours  # same keys and same shapes, nothing missing, nothing extra
    kept = [k for k in layout if published_to_native_key(k) is not None]
    assert len(kept) == 310


def test_mapping_inverts(network: AlphaRefineNet) -> None:
    for key in network.state_dict():
        assert published_to_native_key(native_to_published_key(key)) == key


def test_examples_of_the_documented_mapping() -> None:
    assert published_to_native_key("feature_extractor.layer3.5.bn2.running_var") == (
        "backbone.layer3.5.bn2.running_var"
    )
    assert published_to_native_key("corner_head.conv1_tl.1.weight") == (
        "corner_head.top_left.0.1.weight"
    )
    assert published_to_native_key("corner_head.conv5_br.bias") == "corner_head.bottom_right.4.bias"
    assert published_to_native_key("neck.channel_attention.fc1.weight") == (
        "fusion.channel_attention.fc1.weight"
    )
    assert published_to_native_key("feat_adjust.2.1.running_mean") == "mask_adjust.2.1.running_mean"
    assert published_to_native_key("feature_extractor.layer4.0.conv1.weight") is None
    assert published_to_native_key("feature_extractor.fc.bias") is None


def test_published_state_dict_loads_strictly(network: AlphaRefineNet) -> None:
    generator = torch.Generator().manual_seed(0)
    published = {
        key: torch.randn(shape, generator=generator) if shape else torch.tensor(7)
        for key, shape in _published_layout().items()
    }
    fresh = AlphaRefineNet()
    result = fresh.load_state_dict(published_to_native(published), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    state = fresh.state_dict()
    assert torch.equal(
        state["corner_head.top_left.4.weight"], published["corner_head.conv5_tl.weight"]
    )
    assert torch.equal(state["backbone.conv1.weight"], published["feature_extractor.conv1.weight"])


def test_unknown_keys_are_listed() -> None:
    with pytest.raises(KeyError, match=r"extra\.weight"):
        published_to_native({"extra.weight": 1, "neck.post_corr.0.bias": 2})

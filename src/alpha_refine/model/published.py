"""Key mapping between the published Alpha-Refine state dict and :class:`AlphaRefineNet`.

The published AR34 checkpoint (``SEcmnet_ep0040-c.pth.tar``) names its modules differently. The
mapping is one-to-one for every parameter and buffer except the unused ResNet ``layer4`` and
``fc``, which are dropped:

=========================================  ==========================================
published key prefix                        our key prefix
=========================================  ==========================================
``feature_extractor.``                      ``backbone.``
``feature_extractor.layer4.``, ``.fc.``     (dropped: not used by the refiner)
``neck.``                                   ``fusion.``
``corner_head.conv{i}_tl.{j}.`` (i=1..4)    ``corner_head.top_left.{i-1}.{j}.``
``corner_head.conv5_tl.``                   ``corner_head.top_left.4.``
``corner_head.conv{i}_br.`` ...             ``corner_head.bottom_right.`` ... (the same)
``feat_adjust.``                            ``mask_adjust.``
``mask_head.``                              ``mask_head.``
=========================================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

_Value = TypeVar("_Value")

_DROPPED = re.compile(r"^feature_extractor\.(layer4|fc)\.")
_CORNER = re.compile(r"^corner_head\.conv(\d)_(tl|br)\.")
_TOWERS = {"tl": "top_left", "br": "bottom_right"}
_PREFIXES = (
    ("feature_extractor.", "backbone."),
    ("neck.", "fusion."),
    ("feat_adjust.", "mask_adjust."),
    ("mask_head.", "mask_head."),
)
_NATIVE_CORNER = re.compile(r"^corner_head\.(top_left|bottom_right)\.(\d)\.")


def published_to_native_key(key: str) -> str | None:
    """Our name for a published key, or ``None`` for keys we drop (``layer4``, ``fc``)."""
    if _DROPPED.match(key):
        return None
    corner = _CORNER.match(key)
    if corner:
        index, tower = int(corner.group(1)), _TOWERS[corner.group(2)]
        return f"corner_head.{tower}.{index - 1}." + key[corner.end() :]
    for published, native in _PREFIXES:
        if key.startswith(published):
            return native + key[len(published) :]
    raise KeyError(f"not a key of the published Alpha-Refine state dict: {key!r}")


def native_to_published_key(key: str) -> str:
    """The published name of one of our keys (inverse of :func:`published_to_native_key`)."""
    corner = _NATIVE_CORNER.match(key)
    if corner:
        short = "tl" if corner.group(1) == "top_left" else "br"
        return f"corner_head.conv{int(corner.group(2)) + 1}_{short}." + key[corner.end() :]
    for published, native in _PREFIXES:
        if key.startswith(native):
            return published + key[len(native) :]
    raise KeyError(f"not a key of an Alpha-Refine network: {key!r}")


def published_to_native(state_dict: Mapping[str, _Value]) -> dict[str, _Value]:
    """Rename a published state dict to our names, dropping ``layer4`` and ``fc``.

    Raises ``KeyError`` listing keys that belong to neither layout, and ``ValueError`` if two keys
    map to the same name.
    """
    mapped: dict[str, _Value] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        try:
            native = published_to_native_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if native is None:
            continue
        if native in mapped:
            raise ValueError(f"two published keys map to {native!r}")
        mapped[native] = value
    if unknown:
        raise KeyError(f"keys not in the published Alpha-Refine layout: {unknown}")
    return mapped

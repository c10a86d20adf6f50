"""Weights: our safetensors format, the Hugging Face hub, and the published checkpoint.

=============================  ==================================================================
module                         job
=============================  ==================================================================
:mod:`~.store`                 our format (``model.safetensors`` + ``config.json``): save, load,
                               resolve a folder, file or hub id, push to the hub
:mod:`~.published`             the published checkpoint: safe reading, key mapping, conversion
=============================  ==================================================================

Their public names are importable from here, ``alpha_refine.weights``.
"""

from alpha_refine.weights.published import PUBLISHED_LICENSE_NOTE, convert_published
from alpha_refine.weights.store import (
    CONFIG_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    STORAGE_DTYPES,
    WEIGHTS_NAME,
    WeightsError,
    WeightsInfo,
    load_pretrained,
    load_state_dict_strict,
    load_state_file,
    load_weights_file,
    push_to_hub,
    resolve_weights,
    save_state_file,
    save_weights,
    weights_fingerprint,
)

__all__ = [
    "CONFIG_NAME",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PUBLISHED_LICENSE_NOTE",
    "STORAGE_DTYPES",
    "WEIGHTS_NAME",
    "WeightsError",
    "WeightsInfo",
    "convert_published",
    "load_pretrained",
    "load_state_dict_strict",
    "load_state_file",
    "load_weights_file",
    "push_to_hub",
    "resolve_weights",
    "save_state_file",
    "save_weights",
    "weights_fingerprint",
]

"""Our weights format (safetensors plus ``config.json``), read from folders, files and the hub.

Our format is a folder (or hub repo) holding

* ``model.safetensors``: the state dict of :class:`~alpha_refine.model.AlphaRefineNet`, float32 or
  float16, with ``config.json``'s content also stored in the file's metadata so that a lone
  ``.safetensors`` file is self-describing;
* ``config.json``: ``format`` (``"alpha-refine"``), ``format_version``, ``model`` (the
  :class:`~alpha_refine.config.ModelConfig`), ``dtype``, ``inference`` (refiner defaults the weights
  were made for, e.g. the crop geometry) and ``provenance`` (source, training data, licence).

Nothing in this format is ever unpickled. The published checkpoint, a pickle, is converted to it
by :mod:`alpha_refine.weights.published`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from alpha_refine._atomic import write_atomic, write_files_atomic
from alpha_refine.config import ModelConfig
from alpha_refine.model.network import AlphaRefineNet

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_NAME = "alpha-refine"
FORMAT_VERSION = 1
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
_METADATA_KEY = "alpha_refine_config"
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_DEFAULT_MODEL_DIR = Path(__file__).parent.parent / "default_model"


class WeightsError(ValueError):
    """A weight file or its config is missing, corrupt, or does not fit the network."""


@dataclass(frozen=True)
class WeightsInfo:
    """Everything stored beside the tensors.

    Attributes:
        model: the architecture.
        dtype: storage dtype of the floating-point tensors (``"float32"`` or ``"float16"``).
        inference: refiner options the weights were made for (e.g. ``{"geometry": "published"}``
            for the converted published model); explicit arguments override them.
        provenance: free-form facts: ``source``, ``training_data``, ``license``, ``notes``...
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    dtype: str = "float32"
    inference: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": self.model.to_dict(),
            "dtype": self.dtype,
            "inference": dict(self.inference),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> WeightsInfo:
        if not isinstance(data, dict):
            raise WeightsError(f"{source}: config must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT_NAME:
            raise WeightsError(
                f"{source}: not an alpha-refine config (format={data.get('format')!r}, "
                f"expected {FORMAT_NAME!r})"
            )
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise WeightsError(
                f"{source}: unknown config format_version {version!r}; this alpha-refine "
                f"reads version {FORMAT_VERSION} (upgrade alpha-refine for newer files)"
            )
        dtype = data.get("dtype", "float32")
        if dtype not in STORAGE_DTYPES:
            raise WeightsError(
                f"{source}: dtype must be one of {sorted(STORAGE_DTYPES)}, got {dtype!r}"
            )
        try:
            model = ModelConfig.from_dict(data.get("model", {}))
        except (TypeError, ValueError) as error:
            raise WeightsError(f"{source}: bad model config: {error}") from error
        inference = data.get("inference", {})
        provenance = data.get("provenance", {})
        if not isinstance(inference, dict) or not isinstance(provenance, dict):
            raise WeightsError(f"{source}: 'inference' and 'provenance' must be JSON objects")
        return cls(model=model, dtype=dtype, inference=inference, provenance=provenance)


# --- saving ---------------------------------------------------------------------------------


def save_weights(
    network: AlphaRefineNet,
    directory: str | os.PathLike[str],
    *,
    dtype: str = "float32",
    inference: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` for ``network`` into ``directory``.

    ``dtype="float16"`` halves the file; floating-point tensors are loaded back as float32.
    Returns the directory. The files are replaced atomically: if writing fails (e.g. a full
    disk: :class:`~alpha_refine._atomic.WriteError`), the earlier files are left intact.
    """
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(STORAGE_DTYPES)}, got {dtype!r}")
    info = WeightsInfo(
        model=network.config,
        dtype=dtype,
        inference=dict(inference or {}),
        provenance=dict(provenance or {}),
    )
    storage = STORAGE_DTYPES[dtype]
    tensors = {
        key: (value.to(storage) if value.is_floating_point() else value).detach().cpu().contiguous()
        for key, value in network.state_dict().items()
    }
    config_text = json.dumps(info.to_dict(), indent=2, sort_keys=True)
    blob = save_safetensors_bytes(tensors, metadata={_METADATA_KEY: config_text})
    out = Path(directory)
    # Both written before either is renamed: a failure (a full disk) leaves the old pair.
    write_files_atomic({out / WEIGHTS_NAME: blob, out / CONFIG_NAME: (config_text + "\n").encode()})
    return out


def weights_fingerprint(network: torch.nn.Module) -> str:
    """16 hex digits of a SHA-256 over a network's (or one module's) weights: equal
    fingerprints, same weights."""
    digest = hashlib.sha256()
    for key, value in sorted(network.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# --- refiner state (template kernels) -------------------------------------------------------

_STATE_FORMAT = "alpha-refine-state"


def save_state_file(
    path: str | os.PathLike[str],
    kernels: torch.Tensor | None,
    ids: Any,
    next_id: int,
    metadata: Mapping[str, str],
) -> Path:
    """Write a refiner's targets (``kernels``, ``ids``) to a ``.safetensors`` file atomically."""
    tensors = {"ids": torch.as_tensor(ids, dtype=torch.int64).reshape(-1).contiguous()}
    if kernels is not None:
        tensors["kernels"] = kernels.detach().cpu().float().contiguous()
    header = {**metadata, "format": _STATE_FORMAT, "next_id": str(int(next_id))}
    return write_atomic(path, save_safetensors_bytes(tensors, metadata=header))


def load_state_file(
    path: str | os.PathLike[str],
) -> tuple[torch.Tensor | None, Any, int, dict[str, str]]:
    """``(kernels, ids, next_id, metadata)`` from :func:`save_state_file`'s file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"state file not found: {source}")
    tensors, metadata = _read_safetensors(source)
    if metadata.get("format") != _STATE_FORMAT or "ids" not in tensors:
        raise WeightsError(f"{source}: not a refiner state file (RefinerState.save writes them)")
    return tensors.get("kernels"), tensors["ids"].numpy(), int(metadata["next_id"]), metadata


# --- loading --------------------------------------------------------------------------------


def _read_config(path: Path) -> WeightsInfo:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path}: cannot read the config as JSON: {error}") from error
    return WeightsInfo.from_dict(data, str(path))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        blob = path.read_bytes()
    except OSError as error:
        raise WeightsError(f"{path}: cannot read the weight file: {error}") from error
    try:
        tensors = load_safetensors_bytes(blob)
        metadata = _safetensors_metadata(blob)
    except (SafetensorError, ValueError, RuntimeError, OSError, json.JSONDecodeError) as error:
        raise WeightsError(
            f"{path}: corrupt or truncated safetensors file ({len(blob)} bytes): {error}"
        ) from error
    return tensors, metadata


def _safetensors_metadata(blob: bytes) -> dict[str, str]:
    # The header is an 8-byte little-endian length followed by that much JSON.
    header_length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_length])
    metadata = header.get("__metadata__", {})
    return metadata if isinstance(metadata, dict) else {}


def load_weights_file(
    weights_path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None
) -> tuple[AlphaRefineNet, WeightsInfo]:
    """Build a network from a ``.safetensors`` file and its config.

    The config is read from ``config_path`` when given, else from ``config.json`` beside the
    file, else from the file's own metadata. Loading is strict: missing or unexpected keys and
    wrong shapes are a :class:`WeightsError` listing them.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    tensors, metadata = _read_safetensors(path)
    if config_path is None and (path.parent / CONFIG_NAME).is_file():
        config_path = path.parent / CONFIG_NAME
    if config_path is not None:
        info = _read_config(Path(config_path))
    elif _METADATA_KEY in metadata:
        try:
            info = WeightsInfo.from_dict(json.loads(metadata[_METADATA_KEY]), str(path))
        except json.JSONDecodeError as error:
            raise WeightsError(f"{path}: the config in the file's metadata is not JSON") from error
    else:
        raise WeightsError(f"{path}: no {CONFIG_NAME} beside it and no config in its metadata")
    network = AlphaRefineNet(info.model)
    load_state_dict_strict(network, tensors, source=str(path))
    return network.eval(), info


def load_state_dict_strict(
    network: AlphaRefineNet, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Copy ``state_dict`` into ``network`` (converting dtype), or list every mismatch."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(
        f"{key}: file {tuple(state_dict[key].shape)} vs network {tuple(expected[key].shape)}"
        for key in set(expected) & set(state_dict)
        if state_dict[key].shape != expected[key].shape
    )
    if missing or unexpected or wrong_shape:
        problems = []
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", wrong_shape),
        ):
            if keys:
                shown = ", ".join(keys[:12]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > 12 else ""
                )
                problems.append(f"{label}: {shown}")
        raise WeightsError(
            f"{source} does not fit a {network.config.backbone} network "
            f"(mask_head={network.config.mask_head}): " + "; ".join(problems)
        )
    converted = {key: state_dict[key].to(expected[key].dtype) for key in expected}
    network.load_state_dict(converted, strict=True)


def _split_revision(name: str, revision: str | None) -> tuple[str, str | None]:
    if "@" in name:
        name, _, pinned = name.partition("@")
        if revision is not None and revision != pinned:
            raise ValueError(f"revision given twice: {pinned!r} in the name and {revision!r}")
        revision = pinned
    return name, revision


def resolve_weights(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> tuple[Path, Path | None]:
    """Find ``(weights file, config file or None)`` for a name.

    ``None`` is the model embedded in the package; an existing path is a local folder or
    ``.safetensors`` file; otherwise ``"org/name"`` or ``"org/name@revision"`` is a Hugging Face
    hub repo, fetched (or found in the cache) with ``huggingface_hub.hf_hub_download``, which
    honours ``HF_HUB_OFFLINE``, ``HF_HOME``/``HF_HUB_CACHE`` and the usual token locations.
    """
    if name_or_path is None:
        weights = _DEFAULT_MODEL_DIR / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(
                "the embedded default model is missing from this install (reinstall "
                "alpha-refine); pass a folder, a .safetensors file or a hub repo id"
            )
        return weights, _DEFAULT_MODEL_DIR / CONFIG_NAME
    path = Path(name_or_path)
    if path.is_dir():
        weights = path / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{path} has no {WEIGHTS_NAME}")
        config = path / CONFIG_NAME
        return weights, config if config.is_file() else None
    if path.is_file():
        if path.suffix != ".safetensors":
            raise WeightsError(
                f"{path} is not a .safetensors file; for the published .pth.tar checkpoint run "
                "`alpha-refine convert` first"
            )
        return path, None
    name, revision = _split_revision(str(name_or_path), revision)
    if not _REPO_ID.match(name):
        raise FileNotFoundError(
            f"{name_or_path!s} is neither an existing file or folder nor a hub repo id 'org/name'"
        )
    return _download(name, revision, cache_dir, local_files_only, token)


def _download(
    repo_id: str,
    revision: str | None,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    token: str | bool | None,
) -> tuple[Path, Path | None]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    def fetch(filename: str) -> Path:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=None if cache_dir is None else Path(cache_dir),
                local_files_only=local_files_only,
                token=token,
            )
        )

    where = f"hub repo {repo_id}" + (f"@{revision}" if revision else "")
    try:
        weights = fetch(WEIGHTS_NAME)
    except LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"{WEIGHTS_NAME} of {where} is not in the local cache and downloading is off or "
            f"failed (HF_HUB_OFFLINE / local_files_only, or no network): {error}"
        ) from error
    except (EntryNotFoundError, HfHubHTTPError) as error:
        raise FileNotFoundError(f"cannot get {WEIGHTS_NAME} from {where}: {error}") from error
    try:
        config: Path | None = fetch(CONFIG_NAME)
    except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError):
        config = None  # the safetensors metadata carries the config too
    return weights, config


def load_pretrained(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> tuple[AlphaRefineNet, WeightsInfo]:
    """Resolve a name (see :func:`resolve_weights`) and load the network strictly."""
    weights, config = resolve_weights(
        name_or_path,
        revision=revision,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        token=token,
    )
    return load_weights_file(weights, config)


def push_to_hub(
    network: AlphaRefineNet,
    repo_id: str,
    *,
    dtype: str = "float32",
    inference: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload alpha-refine weights",
    model_card: str | None = None,
) -> str:
    """Upload weights (and an optional ``README.md`` model card) to a hub repo; returns the commit.

    Pin users to the returned commit with ``from_pretrained("org/name@<commit>")``.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        save_weights(network, folder, dtype=dtype, inference=inference, provenance=provenance)
        if model_card is not None:
            Path(folder, "README.md").write_text(model_card, encoding="utf-8")
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=folder, commit_message=commit_message
        )
    return str(getattr(commit, "oid", commit))

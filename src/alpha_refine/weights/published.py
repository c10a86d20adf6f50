"""The published Alpha-Refine checkpoint, converted to our format: reading, key mapping, writing.

**Reading.** The published checkpoints were written by the authors' training code (PyTorch 1.2)
and hold objects of their private ``ltr`` package next to the weights. A plain ``torch.load``
would import ``ltr`` and trust the file completely; ``torch.load(weights_only=True)`` refuses
any class it does not know. So :func:`read_torch_checkpoint` scans the file's pickles for the
globals they name (nothing is built), gives each a generated, inert :class:`Placeholder` class,
and reads the file with ``torch.load(weights_only=True)`` with those stand-ins allowlisted.
Nothing named in the file is imported or called; torch still refuses ``os``, ``sys``, ``posix``
and ``nt`` outright.

**Key mapping.** The published AR34 checkpoint (``SEcmnet_ep0040-c.pth.tar``) names its modules
differently. The mapping is one-to-one for every parameter and buffer except the unused ResNet
``layer4`` and ``fc``, which are dropped:

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

**Writing.** :func:`convert_published` loads the renamed state dict strictly into a ResNet-34
network with mask head and saves it in our format with its provenance.
"""

from __future__ import annotations

import _compat_pickle
import errno
import hashlib
import os
import pickletools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

import torch

from alpha_refine.config import ModelConfig
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.weights.store import WeightsError, load_state_dict_strict, save_weights

__all__ = [
    "PUBLISHED_LICENSE_NOTE",
    "Placeholder",
    "convert_published",
    "extract_state_dict",
    "native_to_published_key",
    "published_to_native",
    "published_to_native_key",
    "read_torch_checkpoint",
]


# --- reading ---------------------------------------------------------------------------------


class Placeholder:
    """Inert stand-in for an object (or callable) of a class the reader does not trust.

    Constructor or call arguments land in ``args``/``kwargs`` and the ``__setstate__`` payload in
    ``state``. The class attribute ``qualified_name`` is the ``module.name`` the file referred to.
    """

    qualified_name: ClassVar[str] = "<unknown>"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ recorded the arguments; a pickle REDUCE passes the same ones here

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self) -> tuple[Any, ...]:
        # The generated class cannot be found by name: rebuild it from the recorded name
        # (copy.deepcopy, pickling a loaded checkpoint again).
        return (_placeholder, (self.qualified_name, self.args, self.kwargs), self.state)

    def __repr__(self) -> str:
        return f"<Placeholder {self.qualified_name}>"


_CLASSES: dict[str, type[Placeholder]] = {}


def _placeholder_class(name: str) -> type[Placeholder]:
    if name not in _CLASSES:
        namespace = {"qualified_name": name, "__module__": __name__}
        _CLASSES[name] = type(f"Placeholder[{name}]", (Placeholder,), namespace)
    return _CLASSES[name]


def _placeholder(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Placeholder:
    return _placeholder_class(name)(*args, **kwargs)


def _legacy_globals(file: IO[bytes]) -> set[str]:
    """Globals named by the five pickles of a pre-1.6 file (magic number, protocol, system
    info, the checkpoint, storage keys). torch ignores the system info's byte order, so a
    big-endian file would load as garbage: it is refused here."""
    names: set[str] = set()
    previous = None
    for _ in range(5):
        for opcode, arg, _position in pickletools.genops(file):
            if opcode.name == "GLOBAL":
                module, name = str(arg).split(" ", 1)
                # Protocol-2 files may use Python 2 names, which torch translates (with a
                # subset of pickle's table): stand-ins under both names.
                new_module = _compat_pickle.IMPORT_MAPPING.get(module, module)
                new = _compat_pickle.NAME_MAPPING.get((module, name), (new_module, name))
                names.update((f"{module}.{name}", ".".join(new)))
            elif opcode.name == "NEWFALSE" and previous == "little_endian":
                raise ValueError("big-endian checkpoints are not supported")
            if isinstance(arg, str):  # the last dict key seen (memo opcodes come in between)
                previous = arg
    return names


def read_torch_checkpoint(path: str | os.PathLike[str]) -> dict[str, object]:
    """Load a ``torch.save`` checkpoint (legacy or zip format) without executing its code.

    Tensors come back as CPU :class:`torch.Tensor` objects (whatever device they were saved
    from); objects of any other class are :class:`Placeholder` instances.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, truncated, corrupt, not a PyTorch checkpoint, names a
            module torch refuses, or its top-level object is not a dict. The message names
            the path.
    """
    file_path = Path(os.fspath(path))
    if not file_path.exists():
        raise FileNotFoundError(errno.ENOENT, "checkpoint file not found", str(file_path))
    try:
        with open(file_path, "rb") as file:
            head = file.read(4)
            if not head:
                raise ValueError("file is empty, not a PyTorch checkpoint")
            file.seek(0)
            # Decided on the leading bytes, as torch.load does.
            zipped = head == b"PK\x03\x04"
            get_zip_globals = torch.serialization.get_unsafe_globals_in_checkpoint
            names = get_zip_globals(file_path) if zipped else _legacy_globals(file)
        stand_ins: list[Any] = [(_placeholder_class(name), name) for name in sorted(names)]
        with torch.serialization.safe_globals(stand_ins):
            result = torch.load(file_path, map_location="cpu", weights_only=True)
    except Exception as error:  # whatever a corrupt or hostile file provokes
        # Bad offsets in a zip archive give EINVAL; other OSErrors are the file system's.
        if isinstance(error, OSError) and error.errno != errno.EINVAL:
            raise
        raise ValueError(
            f"{file_path}: file is truncated/corrupt or not a PyTorch checkpoint "
            f"({type(error).__name__}: {error})"
        ) from error
    if not isinstance(result, dict):
        raise ValueError(
            f"{file_path}: expected a checkpoint dict at the top level, got {_describe(result)}"
        )
    return result


# --- state dict extraction ------------------------------------------------------------------

_STATE_DICT_KEYS = ("net", "state_dict", "model")


def _as_state_dict(value: object) -> dict[str, torch.Tensor] | None:
    if not isinstance(value, Mapping) or not value:
        return None
    items = list(value.items())
    if all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in items):
        return {k: v for k, v in items}
    return None


def _describe(value: object) -> str:
    if isinstance(value, Placeholder):
        return repr(value)
    if isinstance(value, type) and issubclass(value, Placeholder):
        return f"class placeholder {value.qualified_name}"
    if isinstance(value, Mapping):
        keys = [repr(key) for key in list(value)[:12]]
        more = ", ..." if len(value) > 12 else ""
        return f"{type(value).__name__} with keys [{', '.join(keys)}{more}]"
    return type(value).__name__


def extract_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """Return the model state dict held by a checkpoint object.

    Accepts the top-level checkpoint dict (state dict under ``net``, ``state_dict`` or
    ``model``) or an already flat ``str -> Tensor`` mapping. A ``module.`` prefix that every key
    carries (left by ``nn.DataParallel``) is removed.

    Raises:
        ValueError: no state dict was found; the message says what was found instead.
    """
    state = _as_state_dict(obj)
    if state is None and isinstance(obj, Mapping):
        for key in _STATE_DICT_KEYS:
            if key in obj:
                state = _as_state_dict(obj[key])
                if state is not None:
                    break
    if state is None:
        found = _describe(obj)
        if isinstance(obj, Mapping):
            inner = [f"{key!r} is {_describe(obj[key])}" for key in _STATE_DICT_KEYS if key in obj]
            if inner:
                found += "; " + "; ".join(inner)
        raise ValueError(
            "no state dict (a non-empty mapping of str to Tensor) found in the checkpoint "
            f"under {list(_STATE_DICT_KEYS)} or at the top level; found {found}"
        )
    prefix = "module."
    if all(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


# --- key mapping -----------------------------------------------------------------------------

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


# --- writing ---------------------------------------------------------------------------------

PUBLISHED_LICENSE_NOTE = (
    "Weights converted from the Alpha-Refine authors' published checkpoint, released with their "
    "code under GPL-3.0. Whether trained weights are covered by the code's licence is not settled; "
    "treat these weights as GPL-3.0 and do not redistribute them under other terms."
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_published(
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    out_dir: str | os.PathLike[str],
    *,
    dtype: str = "float32",
) -> Path:
    """Convert the published AR34 checkpoint (``SEcmnet_ep0040-c.pth.tar``) to our format.

    ``source`` is the checkpoint file (legacy or zip ``torch.save`` format, read without the
    authors' code and without running anything from the pickle), a file holding an
    already-extracted state dict, or such a state dict itself. Keeps the ``net`` state dict,
    drops ``layer4``/``fc``, renames the keys, loads them strictly into a ResNet-34 network with
    mask head, and writes ``out_dir`` with a provenance note (source hash, the authors' licence).
    """
    if isinstance(source, Mapping):
        state = extract_state_dict(dict(source))
        origin: dict[str, Any] = {"source": "in-memory published state dict"}
    else:
        path = Path(source)
        state = extract_state_dict(read_torch_checkpoint(path))
        origin = {"source": f"published checkpoint {path.name}", "source_sha256": _sha256(path)}
    try:
        native = published_to_native(state)
    except KeyError as error:
        raise WeightsError(f"not the published Alpha-Refine layout: {error}") from error
    native = {key: value for key, value in native.items() if isinstance(value, torch.Tensor)}
    network = AlphaRefineNet(ModelConfig(backbone="resnet34", mask_head=True))
    load_state_dict_strict(network, native, source=str(origin["source"]))
    provenance = {
        **origin,
        "authors": "Yan et al., Alpha-Refine (CVPR 2021)",
        "training_data": "LaSOT, GOT-10k, COCO, ImageNet-VID, ImageNet-DET, YouTube-VOS, "
        "saliency datasets (as published)",
        "license": "GPL-3.0 (the authors' licence)",
        "license_note": PUBLISHED_LICENSE_NOTE,
    }
    # The published numbers were made with the published crop-to-frame mapping.
    return save_weights(
        network, out_dir, dtype=dtype, inference={"geometry": "published"}, provenance=provenance
    )

"""Read ``torch.save`` checkpoints without running any code stored in them.

The published Alpha-Refine checkpoints were written by the authors' training code (PyTorch 1.2)
and hold objects of their private ``ltr`` package next to the weights. A plain ``torch.load``
would import ``ltr`` and trust the file completely; ``torch.load(weights_only=True)`` refuses
any class it does not know. So the file's pickles are scanned for the globals they name (nothing
is built), each gets a generated, inert :class:`Placeholder` class, and the file is read by
``torch.load(weights_only=True)`` with those stand-ins allowlisted. Nothing named in the file is
imported or called; torch still refuses ``os``, ``sys``, ``posix`` and ``nt`` outright.
"""

from __future__ import annotations

import _compat_pickle
import errno
import os
import pickletools
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import torch

__all__ = ["Placeholder", "extract_state_dict", "read_torch_checkpoint"]

_STATE_DICT_KEYS = ("net", "state_dict", "model")


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

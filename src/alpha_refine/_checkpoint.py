"""Read ``torch.save`` checkpoints without running any code stored in them.

``torch.load`` is a thin layer over :mod:`pickle`, and unpickling imports and calls whatever
the file names. The published Alpha-Refine checkpoints were written by the authors' training
code (PyTorch 1.2) and hold objects of their private ``ltr`` package next to the weights, so
``torch.load(weights_only=True)`` refuses them and a plain ``torch.load`` needs ``ltr`` installed
and trusts the file completely. A downloaded checkpoint must never be able to run code.

This module implements just enough of both ``torch.save`` formats (the legacy stream format and
the zip format of PyTorch >= 1.6) to rebuild tensors and plain containers. Every other object
becomes an inert :class:`Placeholder` that only remembers what the file said about it; no module
named in the file is imported and nothing named in the file is called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import errno
import io
import mmap
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch

__all__ = ["Placeholder", "extract_state_dict", "read_torch_checkpoint"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_ZIP_MAGIC = b"PK\x03\x04"
_STATE_DICT_KEYS = ("net", "state_dict", "model")


class _FormatError(ValueError):
    """The file was read but is not a checkpoint this module can rebuild."""


# --------------------------------------------------------------------------------------------
# Placeholders for everything that is not a tensor or a plain container
# --------------------------------------------------------------------------------------------


class Placeholder:
    """Inert stand-in for an object (or callable) of a class that is not allowlisted.

    Every pickle operation that would run code on the real class is recorded instead:
    constructor or call arguments in ``args``/``kwargs``, the ``__setstate__`` payload in
    ``state``, and items a list or dict subclass would receive in ``list_items``/``dict_items``.
    The class attribute ``qualified_name`` is the ``module.name`` the file referred to.
    """

    qualified_name: ClassVar[str] = "<unknown>"

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    list_items: list[Any]
    dict_items: list[tuple[Any, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = super().__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.list_items = []
        obj.dict_items = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # __new__ already recorded the arguments; pickle's REDUCE passes the same ones here.
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        # Pickled dict subclasses are refilled item by item after construction.
        self.dict_items.append((key, value))

    def append(self, item: Any) -> None:
        self.list_items.append(item)

    def extend(self, items: Iterable[Any]) -> None:
        # Pickled list subclasses are refilled with ``extend`` when the object has one.
        self.list_items.extend(items)

    def __reduce__(self) -> tuple[Any, ...]:
        # The dynamic subclass cannot be found by name, so rebuild it from the recorded name
        # (needed by copy.deepcopy and by pickling a loaded checkpoint again).
        return (
            _placeholder_from_reduce,
            (self.qualified_name, self.args, self.kwargs),
            self.state,
            iter(self.list_items),
            iter(self.dict_items),
        )

    def __repr__(self) -> str:
        return f"<Placeholder {self.qualified_name}>"


_PLACEHOLDER_CLASSES: dict[str, type[Placeholder]] = {}


def _placeholder_class(qualified_name: str) -> type[Placeholder]:
    """Return the (cached) placeholder class standing for ``qualified_name``."""
    cls = _PLACEHOLDER_CLASSES.get(qualified_name)
    if cls is None:
        namespace = {"qualified_name": qualified_name, "__module__": __name__}
        cls = cast(
            type[Placeholder], type(f"Placeholder[{qualified_name}]", (Placeholder,), namespace)
        )
        _PLACEHOLDER_CLASSES[qualified_name] = cls
    return cls


def _placeholder_from_reduce(
    qualified_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Placeholder:
    return _placeholder_class(qualified_name)(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Storages and safe re-implementations of torch's tensor rebuild functions
# --------------------------------------------------------------------------------------------

# Pickles name storage classes rather than dtypes; CUDA storages are read onto the CPU.
_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
_STORAGE_MODULES = frozenset({"torch", "torch.cuda", "torch.storage"})


class _StorageType:
    """What ``find_class`` returns for a storage class: only its dtype matters."""

    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


class _Storage:
    """The bytes of one serialized storage, viewed as ``dtype``.

    Tensors are views into ``raw``; in the legacy format the bytes arrive only after the main
    pickle, so ``raw`` is filled in place once all tensors referring to it exist.
    """

    def __init__(self, raw: torch.Tensor, dtype: torch.dtype) -> None:
        self.raw = raw
        self.dtype = dtype

    def typed(self) -> torch.Tensor:
        return self.raw.view(self.dtype)


def _as_int(value: Any, what: str) -> int:
    # bool is an int subclass but never a valid size, offset or count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise pickle.UnpicklingError(f"{what} must be an int, got {type(value).__name__}")
    return value


def _as_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise pickle.UnpicklingError(f"{what} must be a tuple, got {type(value).__name__}")
    return tuple(_as_int(item, what) for item in value)


def _as_str(value: Any, what: str) -> str:
    # Files written by Python 2 may carry internal keys as bytes.
    if isinstance(value, bytes):
        return value.decode("ascii")
    if not isinstance(value, str):
        raise pickle.UnpicklingError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"tensor refers to {storage!r} instead of a storage")
    offset = _as_int(storage_offset, "storage offset")
    shape = _as_int_tuple(size, "tensor size")
    strides = _as_int_tuple(stride, "tensor stride")
    if len(shape) != len(strides) or offset < 0 or min((*shape, *strides), default=0) < 0:
        raise pickle.UnpicklingError(f"invalid tensor geometry {shape}, {strides}, {offset}")
    flat = storage.typed()
    # Bounds are checked here so a corrupt file gives a clear error rather than a torch one.
    if all(dim > 0 for dim in shape):
        last = offset + sum((dim - 1) * step for dim, step in zip(shape, strides, strict=True))
        if last >= flat.numel():
            raise pickle.UnpicklingError("tensor extends past the end of its storage")
    # detach() makes each result an ordinary leaf that still shares the storage's memory.
    return torch.as_strided(flat, shape, strides, flat.storage_offset() + offset).detach()


def _apply_tensor_metadata(tensor: torch.Tensor, metadata: Any) -> torch.Tensor:
    # Newer files flag lazily negated/conjugated tensors; the stored bytes are the raw buffer.
    if not metadata:
        return tensor
    if not isinstance(metadata, Mapping):
        raise pickle.UnpicklingError(f"tensor metadata must be a dict, got {metadata!r}")
    if metadata.get("neg"):
        tensor = torch.neg(tensor)
    if metadata.get("conj"):
        tensor = torch.conj_physical(tensor)
    return tensor


def _set_requires_grad(tensor: torch.Tensor, requires_grad: Any) -> torch.Tensor:
    if requires_grad is True and (tensor.is_floating_point() or tensor.is_complex()):
        tensor.requires_grad_(True)
    return tensor


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    metadata: Any = None,
) -> torch.Tensor:
    # backward_hooks are ignored on purpose: hooks from a file would be code to call later.
    tensor = _rebuild_tensor(storage, storage_offset, size, stride)
    tensor = _apply_tensor_metadata(tensor, metadata)
    return _set_requires_grad(tensor, requires_grad)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter data must be a tensor, got {data!r}")
    grad = requires_grad is True and (data.is_floating_point() or data.is_complex())
    return torch.nn.Parameter(data, requires_grad=grad)


def _rebuild_parameter_with_state(
    data: Any, requires_grad: Any, backward_hooks: Any, state: Any
) -> torch.Tensor:
    # Python attributes stored on a Parameter are dropped: only the values are of interest.
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    # Used for tensor subclasses and tensors with Python attributes. Only our own rebuild
    # functions may be called; the result stays a plain tensor (the subclass is not imported).
    if func not in _TENSOR_REBUILDERS or not isinstance(args, tuple):
        return _placeholder_class("torch._tensor._rebuild_from_type_v2")(
            func, new_type, args, state
        )
    return func(*args)


_TENSOR_REBUILDERS: frozenset[Callable[..., Any]] = frozenset(
    {_rebuild_tensor, _rebuild_tensor_v2, _rebuild_parameter, _rebuild_parameter_with_state}
)


def _make_device(*args: Any) -> torch.device:
    if not args or len(args) > 2 or not isinstance(args[0], str):
        raise pickle.UnpicklingError(f"invalid torch.device arguments {args!r}")
    if len(args) == 2:
        return torch.device(args[0], _as_int(args[1], "device index"))
    return torch.device(args[0])


def _make_size(dims: Any) -> torch.Size:
    return torch.Size(_as_int_tuple(dims, "torch.Size"))


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unsupported _codecs.encode call")
    return text.encode("latin1")


def _reconstructor(cls: Any, base: Any, state: Any) -> Placeholder:
    # copyreg._reconstructor (protocols 0 and 1): only placeholder classes may be instantiated.
    if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls() if state is None else cls(state)


_DTYPES = (
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
)

_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "device"): _make_device,
    ("torch", "Size"): _make_size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _reconstructor,
    **{("torch", str(dtype).removeprefix("torch.")): dtype for dtype in _DTYPES},
}

# An old torch module path, mapped as torch itself does; used only to look up the allowlist.
_MODULE_ALIASES = {"torch.tensor": "torch._tensor"}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals are the allowlist above or placeholders, never imports."""

    def __init__(self, file: Any, load_storage: Callable[[Any], Any] | None = None) -> None:
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles use Python 2 names (``__builtin__``, ``copy_reg``); translate them
        # the way pickle's own fix_imports does, so placeholders carry today's names.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        lookup = _MODULE_ALIASES.get(module, module)
        if lookup in _STORAGE_MODULES and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        safe = _SAFE_GLOBALS.get((lookup, name))
        if safe is not None:
            return safe
        return _placeholder_class(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if self._load_storage is None:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return self._load_storage(pid)


def _load_pickle(stream: Any, load_storage: Callable[[Any], Any] | None = None) -> Any:
    """Unpickle the next pickle in ``stream`` after checking its opcodes.

    The C unpickler trusts length fields and memo indices: a damaged or hostile file can make
    it allocate gigabytes before noticing the data is missing. ``pickletools.genops`` walks the
    same opcodes without building anything and reads lengths against the real data, so a bad
    stream fails here, cheaply, with a ValueError.
    """
    start = stream.tell()
    for count, (opcode, arg, _position) in enumerate(pickletools.genops(stream), start=1):
        # Picklers number memo entries consecutively, so an index can never exceed the count.
        if opcode.name in _MEMO_OPCODES and (not isinstance(arg, int) or not 0 <= arg <= count):
            raise pickle.UnpicklingError(f"memo index {arg!r} out of range")
    stream.seek(start)
    return _RestrictedUnpickler(stream, load_storage).load()


_MEMO_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _split_pid(pid: Any) -> tuple[str, tuple[Any, ...]]:
    if not isinstance(pid, tuple) or not pid:
        raise pickle.UnpicklingError(f"invalid persistent id {pid!r}")
    return _as_str(pid[0], "persistent id type"), pid[1:]


def _storage_dtype(storage_type: Any) -> torch.dtype:
    if not isinstance(storage_type, _StorageType):
        name = getattr(storage_type, "qualified_name", repr(storage_type))
        raise _FormatError(f"unsupported storage type {name}")
    return storage_type.dtype


# --------------------------------------------------------------------------------------------
# The two file formats
# --------------------------------------------------------------------------------------------


def _load_legacy(stream: Any, buffer: Any) -> Any:
    """Read the pre-1.6 stream format from ``stream``; ``buffer`` is the same bytes, mapped."""
    magic = _load_pickle(stream)
    if not isinstance(magic, int) or magic != _LEGACY_MAGIC:
        raise _FormatError("not a PyTorch checkpoint (bad magic number)")
    protocol = _load_pickle(stream)
    if not isinstance(protocol, int) or protocol != _LEGACY_PROTOCOL:
        raise _FormatError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _load_pickle(stream)
    if isinstance(sys_info, Mapping) and sys_info.get("little_endian") is False:
        raise _FormatError("big-endian checkpoints are not supported")

    roots: dict[str, _Storage] = {}
    views: dict[str, _Storage] = {}

    def load_storage(pid: Any) -> Any:
        kind, data = _split_pid(pid)
        if kind == "module":
            # A pickled nn.Module class (with its source); data[0] is already a placeholder.
            return data[0] if data else None
        if kind != "storage" or len(data) != 5:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        storage_type, root_key, _location, numel, view_metadata = data
        dtype = _storage_dtype(storage_type)
        key = _as_str(root_key, "storage key")
        root = roots.get(key)
        if root is None:
            nbytes = _as_int(numel, "storage size") * dtype.itemsize
            if nbytes < 0:
                raise pickle.UnpicklingError("negative storage size")
            # The bytes must be in the file; checking first avoids huge bogus allocations.
            if nbytes > len(buffer):
                raise _FormatError(f"file is truncated (storage {key!r} is larger than the file)")
            root = roots[key] = _Storage(torch.empty(nbytes, dtype=torch.uint8), dtype)
        if view_metadata is None:
            return root if root.dtype == dtype else _Storage(root.raw, dtype)
        # Files from before PyTorch 1.0-ish could reference a slice of a storage.
        view_key, view_offset, view_numel = _as_tuple3(view_metadata)
        view_name = _as_str(view_key, "storage view key")
        view = views.get(view_name)
        if view is None:
            start = _as_int(view_offset, "storage view offset") * dtype.itemsize
            stop = start + _as_int(view_numel, "storage view size") * dtype.itemsize
            if start < 0 or stop < start or stop > root.raw.numel():
                raise pickle.UnpicklingError("storage view outside its storage")
            view = views[view_name] = _Storage(root.raw[start:stop], dtype)
        return view

    result = _load_pickle(stream, load_storage)
    keys = _load_pickle(stream)
    if not isinstance(keys, list):
        raise _FormatError("storage key list is missing")

    # Each storage follows as <int64 element count, little endian> + raw bytes, in key order.
    position = stream.tell()
    total = len(buffer)
    for raw_key in keys:
        key = _as_str(raw_key, "storage key")
        storage = roots.get(key)
        if storage is None:
            raise _FormatError(f"storage {key!r} is listed but no tensor uses it")
        (numel,) = struct.unpack_from("<q", buffer, position)
        position += 8
        nbytes = storage.raw.numel()
        if numel * storage.dtype.itemsize != nbytes:
            raise _FormatError(f"storage {key!r} has {numel} elements, expected a different size")
        if position + nbytes > total:
            raise _FormatError(f"file is truncated (storage {key!r} ends past the end of file)")
        storage.raw.numpy()[:] = np.frombuffer(
            buffer, dtype=np.uint8, count=nbytes, offset=position
        )
        position += nbytes
    return result


def _as_tuple3(value: Any) -> tuple[Any, Any, Any]:
    if not isinstance(value, tuple) or len(value) != 3:
        raise pickle.UnpicklingError(f"invalid storage view metadata {value!r}")
    return value[0], value[1], value[2]


def _read_legacy_file(path: Path) -> Any:
    with open(path, "rb") as file:
        try:
            # Mapping avoids holding the whole file in memory next to the tensors built from it.
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return _load_legacy(io.BytesIO(data := file.read()), data)
    try:
        return _load_legacy(mapped, mapped)
    finally:
        mapped.close()


def _read_zip_file(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        prefixes = {
            name.rsplit("/", 1)[0]
            for name in names
            if name.endswith("/data.pkl") and name.count("/") == 1
        }
        if len(prefixes) != 1:
            raise _FormatError("zip archive without a single '<name>/data.pkl': not a checkpoint")
        prefix = prefixes.pop()
        byteorder_name = f"{prefix}/byteorder"
        if byteorder_name in names:
            byteorder = archive.read(byteorder_name).strip()
            if byteorder != b"little":
                raise _FormatError(f"unsupported byte order {byteorder!r} (only little endian)")

        raws: dict[str, torch.Tensor] = {}

        def load_storage(pid: Any) -> Any:
            kind, data = _split_pid(pid)
            if kind != "storage" or len(data) != 4:
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
            storage_type, raw_key, _location, numel = data
            dtype = _storage_dtype(storage_type)
            key = _as_str(raw_key, "storage key")
            raw = raws.get(key)
            if raw is None:
                nbytes = _as_int(numel, "storage size") * dtype.itemsize
                # Read only when referenced; a missing member raises KeyError. The size check
                # comes first so a bogus element count cannot trigger a huge allocation.
                member = archive.getinfo(f"{prefix}/data/{key}")
                if nbytes < 0 or member.file_size < nbytes:
                    raise _FormatError(f"file is truncated (storage {key!r} is too short)")
                payload = archive.read(member)
                if len(payload) < nbytes:
                    raise _FormatError(f"file is truncated (storage {key!r} is too short)")
                raw = torch.empty(nbytes, dtype=torch.uint8)
                raw.numpy()[:] = np.frombuffer(payload, dtype=np.uint8, count=nbytes)
                raws[key] = raw
            return _Storage(raw, dtype)

        pickled = archive.read(f"{prefix}/data.pkl")
        return _load_pickle(io.BytesIO(pickled), load_storage)


# Failures that a truncated, corrupt or foreign file can provoke deep inside pickle or zipfile
# (OSError only as EINVAL, see read_torch_checkpoint).
_CORRUPT_FILE_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    RuntimeError,
    OSError,
)


def read_torch_checkpoint(path: str | os.PathLike[str]) -> dict[str, object]:
    """Load a ``torch.save`` checkpoint (legacy or zip format) without executing its code.

    Tensors come back as CPU :class:`torch.Tensor` objects (whatever device they were saved
    from); objects of any other class are :class:`Placeholder` instances.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, truncated, corrupt, not a PyTorch checkpoint, or its
            top-level object is not a dict. The message names the path.
    """
    file_path = Path(os.fspath(path))
    if not file_path.exists():
        raise FileNotFoundError(errno.ENOENT, "checkpoint file not found", str(file_path))
    try:
        with open(file_path, "rb") as file:
            head = file.read(len(_ZIP_MAGIC))
        if not head:
            raise _FormatError("file is empty, not a PyTorch checkpoint")
        # Like torch, decide on the leading bytes: zipfile.is_zipfile would accept a file that
        # merely contains a zip signature somewhere.
        result = _read_zip_file(file_path) if head == _ZIP_MAGIC else _read_legacy_file(file_path)
    except _FormatError as error:
        raise ValueError(f"{file_path}: {error}") from error
    except _CORRUPT_FILE_ERRORS as error:
        # zipfile turns offsets that point outside the file into seek() EINVAL errors; any
        # other OSError (permissions, I/O) is about the file system, not the content.
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


# --------------------------------------------------------------------------------------------
# State dict extraction
# --------------------------------------------------------------------------------------------


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

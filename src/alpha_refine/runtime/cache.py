"""The on-disk cache of exported (and quantized) ONNX graphs, so a refiner is ready at once.

Exporting a network takes seconds and quantizing it tens of seconds; both are done once per
weights and versions, then read back. An entry is one ZIP file (stored, not compressed)
holding the graphs and a ``manifest.json`` with the full key:

* the weights' fingerprint (:func:`alpha_refine.weights.store.weights_fingerprint`),
* the precision (and the quantization settings),
* :data:`GRAPH_VERSION` (bumped whenever export or quantization changes the graphs),
* the versions of torch (the exporter), onnx and onnxruntime.

The manifest may also carry ``info``, small JSON stored with the graphs: int8 entries hold the
verdict of the int8 check (:mod:`alpha_refine.runtime.guard`), readable without the graphs
(:func:`load_info`).

The file name carries a hash of the key, so entries of other versions never collide; an entry
is trusted only when its manifest's key equals the wanted one and every member passes the ZIP's
CRC-32 check. Anything else (truncated, garbage, another key) is rebuilt and overwritten.

Location: ``$ALPHA_REFINE_CACHE`` if set, else ``$XDG_CACHE_HOME/alpha-refine``, else
``~/.cache/alpha-refine``; ``ALPHA_REFINE_CACHE=off`` turns the cache off. Writes are atomic;
a folder that cannot be written costs one :class:`CacheWarning` per process and the graphs stay
in memory.

Size: entries are tens of megabytes, and every new weights file or library version adds one.
Reading an entry marks it used (its modification time); writing one deletes the entries of that
folder unused for :data:`MAX_IDLE_DAYS` days, and temporaries that interrupted writes left behind
for a day, so the folder holds what is in use, not every version ever installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from alpha_refine._atomic import write_atomic

CACHE_ENV = "ALPHA_REFINE_CACHE"
OFF_VALUES = frozenset({"off", "0", "false", "no", "none"})
GRAPH_VERSION = 2  # bump when export or quantization changes the graphs
_MANIFEST = "manifest.json"
MAX_IDLE_DAYS = 30  # an entry not read for this long is deleted when another one is written
_DAY = 24 * 60 * 60.0
_warned_unwritable: set[Path] = set()


class CacheWarning(UserWarning):
    """The graph cache could not be read or written; the refiner works, just starts slower."""


def cache_dir() -> Path | None:
    """Where the cache lives, or ``None`` when ``ALPHA_REFINE_CACHE=off``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in OFF_VALUES:
        return None
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "alpha-refine"


def graph_key(fingerprint: str, precision: str, **settings: Any) -> dict[str, Any]:
    """Everything the cached graphs depend on; ``settings`` are extra export options."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        # From the installed metadata: importing onnx just for its version costs time.
        try:
            return version(name)
        except PackageNotFoundError:  # e.g. a source build without metadata
            return "unknown"

    return {
        "fingerprint": fingerprint,
        "precision": precision,
        "graph_version": GRAPH_VERSION,
        **{name: installed(name) for name in ("torch", "onnx", "onnxscript", "onnxruntime")},
        **settings,
    }


def entry_path(key: Mapping[str, Any], folder: Path) -> Path:
    """The file of ``key``'s entry in ``folder``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return folder / "onnx" / f"{key['fingerprint']}-{key['precision']}-{digest}.zip"


def _read(key: Mapping[str, Any], graphs: bool) -> tuple[dict[str, bytes], Any] | None:
    """The entry of ``key``: its graphs (only when ``graphs``) and its ``info``; ``None`` when
    absent, off, stale or corrupt (then with one :class:`CacheWarning`)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = entry_path(key, folder)
    if not path.is_file():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(_MANIFEST))
            if manifest.get("key") != dict(key):
                return None  # another key with the same hash: rebuild
            # read() checks each member's CRC-32: a damaged graph raises BadZipFile.
            blobs = (
                {name: archive.read(f"{name}.onnx") for name in manifest["graphs"]}
                if graphs
                else {}
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        warnings.warn(
            f"graph cache entry {path} is unreadable ({error}); rebuilding it",
            CacheWarning,
            stacklevel=4,
        )
        return None
    if graphs:
        with contextlib.suppress(OSError):  # a read-only cache: the entry just ages
            os.utime(path)
    return blobs, manifest.get("info")


def load_graphs(key: Mapping[str, Any]) -> dict[str, bytes] | None:
    """The cached graphs of ``key``, or ``None`` when absent, off, stale or corrupt."""
    entry = _read(key, graphs=True)
    return None if entry is None else entry[0]


def load_info(key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``info`` stored with ``key``'s graphs (its manifest only, the graphs are not read),
    or ``None`` when there is no such entry or it has none."""
    entry = _read(key, graphs=False)
    info = None if entry is None else entry[1]
    return info if isinstance(info, dict) else None


def prune(folder: Path, keep: Path, now: float | None = None) -> list[Path]:
    """Delete the entries in ``folder`` unused for :data:`MAX_IDLE_DAYS` days, except ``keep``,
    and write temporaries older than a day; returns what was deleted. Errors are ignored: another
    process may be reading or deleting the same files."""
    now = time.time() if now is None else now
    deleted = []
    for path in folder.iterdir():
        if path == keep:
            continue
        is_entry = path.suffix == ".zip" and not path.name.startswith(".")
        is_leftover = path.name.startswith(".") and path.suffix == ".tmp"
        limit = MAX_IDLE_DAYS * _DAY if is_entry else _DAY if is_leftover else None
        try:
            if limit is not None and now - path.stat().st_mtime > limit:
                path.unlink()
                deleted.append(path)
        except OSError:
            continue
    return deleted


def store_graphs(
    key: Mapping[str, Any],
    graphs: Mapping[str, bytes],
    info: Mapping[str, Any] | None = None,
) -> Path | None:
    """Write ``graphs`` (and ``info``, JSON) under ``key`` atomically; ``None`` when off or not
    writable."""
    folder = cache_dir()
    if folder is None:
        return None
    path = entry_path(key, folder)

    def write(stream: BinaryIO) -> None:
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
            manifest: dict[str, Any] = {"key": dict(key), "graphs": list(graphs)}
            if info is not None:
                manifest["info"] = dict(info)
            archive.writestr(_MANIFEST, json.dumps(manifest, sort_keys=True))
            for name, blob in graphs.items():
                archive.writestr(f"{name}.onnx", blob)

    try:
        written = write_atomic(path, write)
    except OSError as error:
        if folder not in _warned_unwritable:
            _warned_unwritable.add(folder)
            warnings.warn(
                f"cannot write the graph cache in {folder} ({error.strerror or error}); the "
                f"graphs are rebuilt in every process. Set {CACHE_ENV} to a writable folder "
                f"(or {CACHE_ENV}=off to silence this)",
                CacheWarning,
                stacklevel=3,
            )
        return None
    prune(path.parent, keep=path)
    return written

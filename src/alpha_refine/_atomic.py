"""Atomic file writes: a temporary file in the same folder, flushed to disk, then renamed.

An interrupted or failed write (a full disk, a killed process) never leaves half a file under
the final name: the earlier file, if any, stays as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], object]


class WriteError(OSError):
    """A file could not be written; the earlier file under that name is left intact."""


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; outputs are meant to be read
    return Path(name)


def _fill(temporary: Path, content: bytes | Writer) -> None:
    with temporary.open("wb") as stream:
        if isinstance(content, bytes):
            stream.write(content)
        else:
            content(stream)
        stream.flush()
        os.fsync(stream.fileno())


def write_files_atomic(files: Mapping[Path, bytes | Writer]) -> None:
    """Write every file to a temporary first, then rename them all.

    ``files`` maps each path to its bytes or to a function writing into a binary stream. If
    any write fails, nothing is renamed and the temporaries are removed: the earlier files stay
    intact and :class:`WriteError` names the file and the cause (e.g. no space left).
    """
    written: dict[Path, Path] = {}
    try:
        for path, content in files.items():
            path = Path(path)
            written[path] = _temporary(path)
            try:
                _fill(written[path], content)
            except OSError as error:
                reason = error.strerror or str(error)
                raise WriteError(
                    error.errno,
                    f"cannot write {path}: {reason}; the earlier file (if any) is left intact",
                ) from error
        for path, temporary in written.items():
            os.replace(temporary, path)
    except BaseException:
        for temporary in written.values():
            temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], content: bytes | Writer) -> Path:
    """Write one file atomically (see :func:`write_files_atomic`); returns its path."""
    target = Path(path)
    write_files_atomic({target: content})
    return target

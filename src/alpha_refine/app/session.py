"""The app's limits, its temporary folder (one subfolder per browser session) and cancel flags."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")


class AppError(ValueError):
    """Bad input, said in words for the page; the server goes on serving."""


class Cancelled(Exception):
    """The user pressed Cancel during a run."""


@dataclass(frozen=True)
class Limits:
    """What one uploaded video may be: at most ``max_frames`` frames and ``max_megabytes`` MB
    (``alpha-refine app --max-frames``, ``--max-megabytes``)."""

    max_frames: int = 300
    max_megabytes: float = 100.0

    def __post_init__(self) -> None:
        if self.max_frames < 2:
            raise ValueError(f"max_frames must be at least 2, got {self.max_frames}")
        if not self.max_megabytes > 0:
            raise ValueError(f"max_megabytes must be positive, got {self.max_megabytes}")

    @property
    def max_bytes(self) -> int:
        return int(self.max_megabytes * 1e6)


class Workspace:
    """The app's temporary folder: a subfolder per browser session, deleted when that session
    ends (:meth:`end_session`), and the whole folder when the app stops (:meth:`close`).

    Gradio's upload cache is pointed here too (``GRADIO_TEMP_DIR``), so uploads, previews and
    results are all under :attr:`root` and nothing else is served.
    """

    def __init__(self, parent: str | Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alpha-refine-app-", dir=parent)).resolve()
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}

    def session_dir(self, session: str) -> Path:
        """The folder of browser session ``session`` (Gradio's session hash), created."""
        if not _SESSION.fullmatch(session):
            raise AppError(f"bad session id {session!r}")
        folder = self.root / "sessions" / session
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def adopt(self, upload: str | Path, session: str) -> Path:
        """Move an uploaded file from Gradio's upload cache into the session's folder."""
        source = Path(upload).resolve()
        if not source.is_relative_to(self.root) or not source.is_file():
            raise AppError(f"{source.name}: not an upload of this app")
        folder = self.session_dir(session) / "upload"
        shutil.rmtree(folder, ignore_errors=True)  # one video per session
        folder.mkdir()
        target = folder / source.name
        shutil.move(source, target)
        if source.parent != self.root:
            shutil.rmtree(source.parent, ignore_errors=True)  # Gradio's per-upload folder
        return target

    def cancel_flag(self, session: str) -> threading.Event:
        """The flag that Cancel sets for ``session``'s run."""
        with self._lock:
            return self._cancel.setdefault(session, threading.Event())

    def end_session(self, session: str) -> None:
        """Delete the session's folder (the browser tab was closed)."""
        with self._lock:
            self._cancel.pop(session, None)
        if _SESSION.fullmatch(session):
            shutil.rmtree(self.root / "sessions" / session, ignore_errors=True)

    def close(self) -> None:
        """Delete the whole folder (the app stops)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

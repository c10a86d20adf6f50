"""The model files of OpenCV's deep trackers: where they come from, where they are found, download.

OpenCV's deep trackers (``cv2.TrackerNano``, ``cv2.TrackerVit``, ``cv2.TrackerDaSiamRPN``) are in
``opencv-python-headless`` itself but need ONNX networks that OpenCV does not ship. Those files
are never part of this package or its repository; :data:`MODEL_FILES` says where each one is
published, pinned to a commit and a hash.

A tracker's files are found from (first match wins):

1. explicit arguments: a path per file (``files={"backbone": ...}``) or a folder (``model_dir``);
   an explicit path or folder that lacks the file is an error, never skipped;
2. the folder in ``$ALPHA_REFINE_TRACKER_MODELS``;
3. the cache folder, ``<cache>/opencv-trackers/``, where ``<cache>`` is the graph cache's folder
   (``$ALPHA_REFINE_CACHE``, else ``$XDG_CACHE_HOME/alpha-refine``, else
   ``~/.cache/alpha-refine``; none with ``ALPHA_REFINE_CACHE=off``).

The files not given one by one come from a single folder, the first holding all of them, so a
tracker never mixes files of two folders (a NanoTrack backbone of one version with the head of
another).

A missing file raises :class:`TrackerModelsMissingError`, which says which file, where it was
looked for, where to get it and the download command (:func:`download_models`, the
``alpha-refine download-trackers`` command), before OpenCV ever sees the path.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from alpha_refine._atomic import write_atomic
from alpha_refine.runtime.cache import cache_dir
from alpha_refine.trackers.base import TrackerUnavailableError

MODELS_ENV = "ALPHA_REFINE_TRACKER_MODELS"
CACHE_SUBFOLDER = "opencv-trackers"
DOWNLOAD_COMMAND = "alpha-refine download-trackers"
_CHUNK = 1 << 20

PathLike = str | os.PathLike[str]


class TrackerModelsMissingError(TrackerUnavailableError):
    """A deep tracker's model file was not found; the message says where to get it."""


class ModelHashError(ValueError):
    """A downloaded (or present) model file does not have the pinned hash."""


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file of a deep tracker.

    Attributes:
        param: the attribute of the OpenCV ``Tracker*_Params`` that takes its path.
        filename: the name it is looked for under and downloaded as.
        url: its public URL, at a pinned commit where the host has commits.
        sha256: the SHA-256 of the pinned file, or ``None`` where none could be computed here.
        sha1: the SHA-1 published by OpenCV's own test-data downloader, used only where there is
            no ``sha256`` (DaSiamRPN).
        source: where the file is published, and its licence where known.
        also_accepted: other file names accepted in a folder (a newer export of the same
            network, found when ``filename`` is not there).
    """

    param: str
    filename: str
    url: str
    sha256: str | None
    sha1: str | None
    source: str
    also_accepted: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every accepted file name, ``filename`` first."""
        return (self.filename, *self.also_accepted)

    @property
    def digest(self) -> tuple[str, str]:
        """``(algorithm, hex digest)`` a download is checked against."""
        if self.sha256 is not None:
            return "sha256", self.sha256
        if self.sha1 is not None:
            return "sha1", self.sha1
        raise ValueError(f"{self.filename}: no pinned hash")  # every entry has one


_NANO = (
    "https://raw.githubusercontent.com/HonglinChu/SiamTrackers/"
    "8fe6791fecf13b95e6f19770af8963a9fc98759b/NanoTrack/models/nanotrackv2"
)
_NANO_SOURCE = (
    "HonglinChu/SiamTrackers at commit 8fe6791fecf13b95e6f19770af8963a9fc98759b, "
    "NanoTrack/models/nanotrackv2/ (Apache-2.0); the files OpenCV's own tests use"
)
_VIT = (
    "https://raw.githubusercontent.com/opencv/opencv_zoo/"
    "bae1b126c3e93a265eab32a1ff8157e9831772e7/models/object_tracking_vittrack"
)
_DASIAMRPN_SOURCE = (
    "OpenCV's DaSiamRPN sample (samples/dnn/dasiamrpn_tracker.cpp) links these Dropbox files; "
    "their SHA-1 is the one pinned in opencv/opencv_extra testdata/dnn/download_models.py"
)

MODEL_FILES: dict[str, tuple[ModelFile, ...]] = {
    "nano": (
        ModelFile(
            "backbone",
            "nanotrack_backbone_sim.onnx",
            f"{_NANO}/nanotrack_backbone_sim.onnx",
            "530bdd0cd00f19afab79a863e71ba71e3312395a5dc9151af675082bdaaa2fc4",
            "6e773a364457b78574f9f63a23b0659ee8646f8f",
            _NANO_SOURCE,
        ),
        ModelFile(
            "neckhead",
            "nanotrack_head_sim.onnx",
            f"{_NANO}/nanotrack_head_sim.onnx",
            "0d8c0637be849f092cc7236cae02e55c8b9455ebe37ba50601d6115db4247cd9",
            "39f168489671700cf739e402dfc67d41ce648aef",
            _NANO_SOURCE,
        ),
    ),
    "vit": (
        ModelFile(
            "net",
            "vitTracker.onnx",
            f"{_VIT}/vitTracker.onnx",
            "ac1418b43519a5118dba03e1db181b5ca83f3a61b76582841ce8a725d8bfa249",
            None,
            "opencv/opencv_zoo at commit bae1b126c3e93a265eab32a1ff8157e9831772e7, "
            "models/object_tracking_vittrack/ (Apache-2.0); the newer "
            "object_tracking_vittrack_2023sep.onnx of the same folder (a Git LFS file) is "
            "accepted too",
            also_accepted=("object_tracking_vittrack_2023sep.onnx",),
        ),
    ),
    "dasiamrpn": (
        ModelFile(
            "model",
            "dasiamrpn_model.onnx",
            "https://www.dropbox.com/s/rr1lk9355vzolqv/dasiamrpn_model.onnx?dl=1",
            None,
            "91b774fce7df4c0e4918469f0f482d9a27d0e2d4",
            _DASIAMRPN_SOURCE,
        ),
        ModelFile(
            "kernel_cls1",
            "dasiamrpn_kernel_cls1.onnx",
            "https://www.dropbox.com/s/qvmtszx5h339a0w/dasiamrpn_kernel_cls1.onnx?dl=1",
            None,
            "e9ccd270ce8059bdf7ed0d1845c03ef4a951ee0f",
            _DASIAMRPN_SOURCE,
        ),
        ModelFile(
            "kernel_r1",
            "dasiamrpn_kernel_r1.onnx",
            "https://www.dropbox.com/s/999cqx5zrfi7w4p/dasiamrpn_kernel_r1.onnx?dl=1",
            None,
            "bb64620a54348657133eb28be2d3a2a8c76b84b3",
            _DASIAMRPN_SOURCE,
        ),
    ),
}
# What `alpha-refine download-trackers` fetches when no tracker is named (about 2.5 MB; the
# DaSiamRPN files are about 160 MB and are fetched only when asked for).
DEFAULT_DOWNLOADS = ("nano", "vit")


def model_files(tracker: str) -> tuple[ModelFile, ...]:
    """The model files of ``tracker`` (``nano``, ``vit``, ``dasiamrpn``)."""
    try:
        return MODEL_FILES[tracker]
    except KeyError:
        raise ValueError(
            f"tracker {tracker!r} has no model files; deep trackers: {', '.join(MODEL_FILES)}"
        ) from None


def search_folders() -> list[tuple[Path, str]]:
    """The folders searched when no explicit path or folder is given, in order, each with how
    it was chosen: ``$ALPHA_REFINE_TRACKER_MODELS``, then ``<cache>/opencv-trackers``."""
    folders = []
    value = os.environ.get(MODELS_ENV, "").strip()
    if value:
        folders.append((Path(value).expanduser(), f"${MODELS_ENV}"))
    cache = cache_dir()
    if cache is not None:
        folders.append((cache / CACHE_SUBFOLDER, "the cache folder"))
    return folders


def default_download_folder() -> Path:
    """Where :func:`download_models` writes by default: ``$ALPHA_REFINE_TRACKER_MODELS`` if set,
    else ``<cache>/opencv-trackers``; ``ValueError`` when neither exists (cache off)."""
    folders = search_folders()
    if not folders:
        raise ValueError(
            f"no folder for the tracker models: the cache is off (ALPHA_REFINE_CACHE=off) and "
            f"{MODELS_ENV} is not set; pass --dir (or set {MODELS_ENV})"
        )
    return folders[0][0]


def _how_to_get(
    tracker: str, missing: Sequence[ModelFile], folder: Path | None, explicit: bool
) -> str:
    size = " (about 160 MB in all)" if tracker == "dasiamrpn" else ""
    command = f"{DOWNLOAD_COMMAND} {tracker}" + (f" --dir {folder}" if explicit else "")
    place = f"into {folder}" if folder is not None else f"and set {MODELS_ENV} to their folder"
    urls = ", ".join(m.url for m in missing)
    them = "them" if len(missing) > 1 else "it"
    return (
        f"Get {them} with `{command}`{size}, or download {urls} by hand {place} "
        f"(source: {missing[0].source})"
    )


def _find_in(folder: Path, entry: ModelFile) -> Path | None:
    return next((folder / n for n in entry.names if (folder / n).is_file()), None)


def find_model_files(
    tracker: str,
    *,
    model_dir: PathLike | None = None,
    files: Mapping[str, PathLike] | None = None,
) -> dict[str, Path]:
    """The path of each of ``tracker``'s model files, keyed by its ``Params`` attribute.

    Files given in ``files`` are taken as they are; the others come from one folder, the first
    that holds all of them (so a tracker never mixes files of two folders): ``model_dir`` if
    given (then only it), else ``$ALPHA_REFINE_TRACKER_MODELS``, then
    ``<cache>/opencv-trackers``.

    Args:
        tracker: ``nano``, ``vit`` or ``dasiamrpn``.
        model_dir: a folder holding the files under their usual names.
        files: explicit paths, keyed by the ``Params`` attribute (``backbone``/``neckhead``,
            ``net``, ``model``/``kernel_cls1``/``kernel_r1``); any file name is accepted.

    Raises:
        TrackerModelsMissingError: a file is missing; the message names the files, the places
            looked at, the URLs and the download command.
        ValueError: ``files`` names an attribute the tracker does not have.
    """
    wanted = model_files(tracker)
    given = dict(files or {})
    unknown = sorted(set(given) - {m.param for m in wanted})
    if unknown:
        raise ValueError(
            f"files: {tracker} has no model file {', '.join(map(repr, unknown))}; its files are "
            f"{', '.join(m.param for m in wanted)}"
        )
    found: dict[str, Path] = {}
    for entry in wanted:
        if entry.param in given:
            path = Path(given[entry.param]).expanduser()
            if not path.is_file():
                raise TrackerModelsMissingError(
                    f"{tracker}: the {entry.param} file {path} given in files= does not "
                    f"exist. Get it with `{DOWNLOAD_COMMAND} {tracker}` or from {entry.url} "
                    f"(source: {entry.source})"
                )
            found[entry.param] = path
    rest = [entry for entry in wanted if entry.param not in given]
    if not rest:
        return found
    folders = (
        [(Path(model_dir).expanduser(), "model_dir")] if model_dir is not None else search_folders()
    )
    for folder, _ in folders:
        hits = {entry.param: _find_in(folder, entry) for entry in rest}
        if all(hit is not None for hit in hits.values()):
            found.update({param: hit for param, hit in hits.items() if hit is not None})
            return found
    first = folders[0][0] if folders else None
    missing = [entry for entry in rest if first is None or _find_in(first, entry) is None]
    looked = "; ".join(f"{folder} ({how})" for folder, how in folders) or (
        f"nowhere: no model_dir, {MODELS_ENV} unset and the cache off"
    )
    names = ", ".join(f"{' or '.join(m.names)} ({m.param})" for m in missing)
    where = " (all of them in one folder)" if len(rest) > 1 else ""
    raise TrackerModelsMissingError(
        f"{tracker}: model file{'s' if len(missing) > 1 else ''} {names} not found{where}. "
        f"Looked in: {looked}. " + _how_to_get(tracker, missing, first, model_dir is not None)
    )


def file_digest(path: PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of the file at ``path``."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Downloaded:
    """What :func:`download_models` did for one file: ``downloaded`` or ``present``."""

    tracker: str
    path: Path
    status: str


class _DownloadFailed(Exception):
    """The network side of a download failed (kept apart from write errors)."""


def _read(response: BinaryIO) -> bytes:
    try:
        return response.read(_CHUNK)
    except (OSError, http.client.HTTPException) as error:
        raise _DownloadFailed(error) from error


def _fetch(url: str, expected: tuple[str, str], target: Path, timeout: float) -> None:
    algorithm, digest = expected

    def write(stream: BinaryIO) -> None:
        hasher = hashlib.new(algorithm)
        try:
            response = urllib.request.urlopen(url, timeout=timeout)
        except (OSError, http.client.HTTPException) as error:
            raise _DownloadFailed(error) from error
        with response:
            while chunk := _read(response):
                hasher.update(chunk)
                stream.write(chunk)
        if hasher.hexdigest() != digest:
            raise ModelHashError(
                f"{url}: {algorithm.upper()} {hasher.hexdigest()}, expected {digest}; nothing "
                f"was written to {target} (a changed or damaged file, or a proxy's error page)"
            )

    try:
        write_atomic(target, write)
    except _DownloadFailed as failure:
        error = failure.__cause__
        reason = getattr(error, "reason", None) or error
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        raise OSError(
            f"cannot download {url} ({reason}); without internet, copy the file by hand into "
            f"{target.parent}"
        ) from error


def download_models(
    trackers: Sequence[str] = DEFAULT_DOWNLOADS,
    folder: PathLike | None = None,
    *,
    base_url: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> list[Downloaded]:
    """Download the model files of ``trackers`` into ``folder`` and check their hashes.

    Files already there with the pinned hash are kept. Every file is written to a temporary
    name and renamed only once its hash matched, so a failed or interrupted download leaves
    nothing under the final name.

    Args:
        trackers: deep tracker names (default ``nano`` and ``vit``).
        folder: where to write (default :func:`default_download_folder`, where the adapters
            look).
        base_url: fetch every file from ``<base_url>/<filename>`` instead of its public URL (a
            mirror); the pinned hashes still apply.
        force: replace a file that is there with another hash (otherwise an error).
        timeout: seconds without data before a download fails.
        log: called with one line per file.

    Raises:
        ModelHashError: a download (or, without ``force``, a file already there) does not
            have the pinned hash.
        OSError: a download failed (no network, HTTP error) or the folder is not writable.
    """
    target_folder = Path(folder).expanduser() if folder is not None else default_download_folder()
    done: list[Downloaded] = []
    for tracker in trackers:
        for entry in model_files(tracker):
            target = target_folder / entry.filename
            algorithm, digest = entry.digest
            if target.is_file():
                actual = file_digest(target, algorithm)
                if actual == digest:
                    done.append(Downloaded(tracker, target, "present"))
                    if log is not None:
                        log(f"{target}: present, {algorithm.upper()} checked")
                    continue
                if not force:
                    raise ModelHashError(
                        f"{target} is there with {algorithm.upper()} {actual}, not the pinned "
                        f"{digest}; pass --force (force=True) to replace it"
                    )
            url = entry.url if base_url is None else f"{base_url.rstrip('/')}/{entry.filename}"
            _fetch(url, (algorithm, digest), target, timeout)
            done.append(Downloaded(tracker, target, "downloaded"))
            if log is not None:
                log(f"{target}: downloaded from {url}, {algorithm.upper()} checked")
    return done

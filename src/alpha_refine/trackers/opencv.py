"""Adapters for OpenCV's trackers, classic and deep, discovered at run time.

``opencv-python-headless`` (a dependency) has MIL and the deep trackers NanoTrack (``nano``),
VitTrack (``vit``) and DaSiamRPN (``dasiamrpn``); CSRT, KCF, MOSSE, MedianFlow, TLD and Boosting
come with ``opencv-contrib-python-headless`` (the ``opencv-contrib`` extra), which replaces the
main package: install the same version as the ``opencv-python-headless`` you have. Which
factories exist depends on the OpenCV version (OpenCV >= 4.5.1 moved MOSSE, MedianFlow, TLD and
Boosting to ``cv2.legacy``), so every adapter tries its known factory names in order.

The deep trackers need ONNX model files that OpenCV does not ship; :mod:`.models` finds them
(explicit paths or folder, ``$ALPHA_REFINE_TRACKER_MODELS``, the cache folder) and downloads
them. Their ``update`` also reports a confidence, kept in :attr:`OpenCVTracker.last_score`.

Box conversion: the current API (``cv2.TrackerMIL``, ``TrackerCSRT``, ``TrackerKCF``) takes an
integer ``cv::Rect``, so boxes are clipped to the frame and their corners rounded to the nearest
pixel (see :func:`~alpha_refine.trackers.base.round_box`); the legacy API takes a ``cv::Rect2d``,
so boxes are only clipped to the frame. Boxes partly outside the frame are clipped because the
OpenCV trackers assert (MIL) or misbehave on them. The deep trackers take ``cv::Rect`` too.

No OpenCV tracker object is safe to call from two threads at once; each adapter holds a lock, so
calls on one adapter from several threads run one after another (give every thread its own
adapter to run them side by side).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.trackers.base import (
    Box,
    as_box,
    check_frame,
    clip_box_to_frame,
    is_valid_box,
    round_box,
)
from alpha_refine.trackers.base import TrackerUnavailableError as TrackerUnavailableError
from alpha_refine.trackers.models import (
    DOWNLOAD_COMMAND,
    PathLike,
    TrackerModelsMissingError,
    find_model_files,
)

MAIN_PACKAGE = "opencv-python-headless"
CONTRIB_PACKAGE = "opencv-contrib-python-headless"
CONTRIB_EXTRA = "opencv-contrib"


class TrackerInitError(RuntimeError):
    """OpenCV refused to start on a box (MIL, for one, asserts on a box as wide as the frame)."""


class TrackerModelError(ValueError):
    """OpenCV could not load a deep tracker's model files (not the files that tracker needs)."""


@dataclass(frozen=True)
class OpenCVTrackerInfo:
    """One OpenCV tracker: its factory names (tried in order) and the package that has it.

    ``params`` is the name of the ``Params`` class of a deep tracker (whose model files are
    listed in :data:`~alpha_refine.trackers.models.MODEL_FILES`), ``None`` for the classic ones.
    """

    name: str
    label: str
    factories: tuple[str, ...]
    package: str
    summary: str
    params: str | None = None


OPENCV_TRACKERS: dict[str, OpenCVTrackerInfo] = {
    info.name: info
    for info in (
        OpenCVTrackerInfo(
            "mil",
            "MIL",
            ("TrackerMIL_create", "legacy.TrackerMIL_create"),
            MAIN_PACKAGE,
            "multiple-instance learning on Haar features (Babenko et al. 2009)",
        ),
        OpenCVTrackerInfo(
            "csrt",
            "CSRT",
            ("TrackerCSRT_create", "legacy.TrackerCSRT_create"),
            CONTRIB_PACKAGE,
            "discriminative correlation filter with channel and spatial reliability",
        ),
        OpenCVTrackerInfo(
            "kcf",
            "KCF",
            ("TrackerKCF_create", "legacy.TrackerKCF_create"),
            CONTRIB_PACKAGE,
            "kernelized correlation filter (fixed box size)",
        ),
        OpenCVTrackerInfo(
            "mosse",
            "MOSSE",
            ("legacy.TrackerMOSSE_create", "TrackerMOSSE_create"),
            CONTRIB_PACKAGE,
            "minimum output sum of squared error filter on grey values (fixed box size)",
        ),
        OpenCVTrackerInfo(
            "medianflow",
            "MedianFlow",
            ("legacy.TrackerMedianFlow_create", "TrackerMedianFlow_create"),
            CONTRIB_PACKAGE,
            "forward-backward optical flow of a point grid",
        ),
        OpenCVTrackerInfo(
            "tld",
            "TLD",
            ("legacy.TrackerTLD_create", "TrackerTLD_create"),
            CONTRIB_PACKAGE,
            "tracking-learning-detection",
        ),
        OpenCVTrackerInfo(
            "boosting",
            "Boosting",
            ("legacy.TrackerBoosting_create", "TrackerBoosting_create"),
            CONTRIB_PACKAGE,
            "online AdaBoost on Haar features (fixed box size)",
        ),
        OpenCVTrackerInfo(
            "nano",
            "NanoTrack",
            ("TrackerNano_create",),
            MAIN_PACKAGE,
            "NanoTrack v2, a small Siamese tracker (ONNX backbone and head, about 1.8 MB)",
            params="TrackerNano_Params",
        ),
        OpenCVTrackerInfo(
            "vit",
            "VitTrack",
            ("TrackerVit_create",),
            MAIN_PACKAGE,
            "VitTrack, a small vision-transformer tracker (one ONNX file, about 0.8 MB)",
            params="TrackerVit_Params",
        ),
        OpenCVTrackerInfo(
            "dasiamrpn",
            "DaSiamRPN",
            ("TrackerDaSiamRPN_create",),
            MAIN_PACKAGE,
            "distractor-aware Siamese region proposal network (three ONNX files, about 160 MB)",
            params="TrackerDaSiamRPN_Params",
        ),
    )
}


def _lookup(path: str) -> Callable[..., Any] | None:
    obj: Any = cv2
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) else None


def _resolve(info: OpenCVTrackerInfo) -> tuple[Callable[..., Any], str] | None:
    for path in info.factories:
        factory = _lookup(path)
        if factory is not None:
            return factory, path
    return None


def _models_found(info: OpenCVTrackerInfo, model_dir: PathLike | None) -> bool:
    if info.params is None:
        return True
    try:
        find_model_files(info.name, model_dir=model_dir)
    except TrackerModelsMissingError:
        return False
    return True


def available_trackers(model_dir: PathLike | None = None) -> list[str]:
    """Names of the OpenCV trackers that can run here, in registry order: the installed ``cv2``
    has them and, for the deep trackers, their model files are found (in ``model_dir`` if given,
    else ``$ALPHA_REFINE_TRACKER_MODELS`` or the cache folder)."""
    return [
        name
        for name, info in OPENCV_TRACKERS.items()
        if _resolve(info) is not None and _models_found(info, model_dir)
    ]


def _unavailable_message(info: OpenCVTrackerInfo) -> str:
    have = ", ".join(available_trackers()) or "none"
    if info.package == MAIN_PACKAGE:
        return (
            f"OpenCV tracker {info.name!r} ({info.label}) is not in the installed OpenCV "
            f"{cv2.__version__} (available here: {have}); it needs a newer {MAIN_PACKAGE}: "
            f"pip install -U {MAIN_PACKAGE}"
        )
    return (
        f"OpenCV tracker {info.name!r} ({info.label}) is not in the installed OpenCV "
        f"{cv2.__version__} (available here: {have}). It comes with {info.package}: install "
        f"the {CONTRIB_EXTRA!r} extra, pip install 'alpha-refine[{CONTRIB_EXTRA}]', choosing "
        f"the same version as your {MAIN_PACKAGE} (both provide the cv2 module; see "
        "docs/trackers.md)"
    )


def tracker_info(name: str) -> OpenCVTrackerInfo:
    """The registry entry for ``name`` (case-insensitive); :class:`TrackerUnavailableError`
    naming the known trackers if there is none."""
    info = OPENCV_TRACKERS.get(name.strip().lower())
    if info is None:
        raise TrackerUnavailableError(
            f"unknown tracker {name!r}; known OpenCV trackers: {', '.join(OPENCV_TRACKERS)} "
            f"(available here: {', '.join(available_trackers()) or 'none'})"
        )
    return info


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's log level raised to errors only for the block: OpenCV 5 warns on stderr each time
    a deep tracker's network is built ("Targets are not supported by the new graph engine")."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None or not hasattr(logging, "getLogLevel"):
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


class OpenCVTracker:
    """An OpenCV tracker behind the :class:`~alpha_refine.trackers.Tracker` protocol.

    Frames are BGR ``uint8`` ``H x W x 3``; boxes ``x, y, w, h`` pixels (float64 out). Every
    :meth:`init` builds a new OpenCV object, so re-initialising forgets everything the tracker
    learnt (OpenCV offers no way to set the state of a running tracker). When OpenCV reports a
    failure (or raises) on a frame, :meth:`update` returns the last good box and sets
    :attr:`lost`; :attr:`failures` counts such frames since :meth:`init`.

    The deep trackers (``nano``, ``vit``, ``dasiamrpn``) find their model files when the adapter
    is made (see :func:`~alpha_refine.trackers.models.find_model_files`) and load them once, so
    a missing or wrong file fails here with a message that names it, not inside OpenCV later.

    Calls are serialised by a lock per adapter: OpenCV's tracker objects are not thread-safe.

    Args:
        name: a key of :data:`OPENCV_TRACKERS` (``"mil"``, ``"csrt"``, ``"nano"``...).
        model_dir: a folder with a deep tracker's model files (only that folder is searched);
            ignored by the classic trackers, which have none.
        files: a deep tracker's model files by ``Params`` attribute (``{"net": path}`` for
            ``vit``, ``backbone``/``neckhead`` for ``nano``, ``model``/``kernel_cls1``/
            ``kernel_r1`` for ``dasiamrpn``); any VitTrack or NanoTrack v2 export is accepted.

    Attributes:
        last_score: the deep tracker's confidence on the last frame (OpenCV's
            ``getTrackingScore()``, in ``[0, 1]``; VitTrack reports a failure below its
            threshold of 0.2); ``None`` after :meth:`init` and for the classic trackers.
        model_files: the deep tracker's model files by ``Params`` attribute (``{}`` for the
            classic trackers).

    Raises:
        TrackerUnavailableError: unknown name, or the installed OpenCV lacks the tracker (the
            message names the package and extra that provide it).
        TrackerModelsMissingError: a deep tracker's model file is not found (a
            ``TrackerUnavailableError`` too); the message says where it was looked for and how
            to get it.
        TrackerModelError: OpenCV could not load the model files found.
    """

    def __init__(
        self,
        name: str,
        *,
        model_dir: PathLike | None = None,
        files: Mapping[str, PathLike] | None = None,
    ) -> None:
        self.info = tracker_info(name)
        resolved = _resolve(self.info)
        if resolved is None:
            raise TrackerUnavailableError(_unavailable_message(self.info))
        self._factory, self.factory = resolved
        self.name = self.info.name
        # The legacy API takes cv::Rect2d (floats); the current one only integer cv::Rect.
        self.float_boxes = self.factory.startswith("legacy.")
        self.model_files: dict[str, Path] = {}
        if self.info.params is not None:
            self.model_files = find_model_files(self.name, model_dir=model_dir, files=files)
        elif files:
            raise ValueError(f"files: OpenCV {self.info.label} has no model files")
        self._lock = threading.Lock()
        self._tracker: Any = None
        self._box: Box | None = None
        self.lost = False
        self.failures = 0
        self.last_score: float | None = None
        # Load a deep tracker's networks now, so that bad files fail here; the first init uses it.
        self._spare: Any = self._new_tracker() if self.model_files else None

    def _new_tracker(self) -> Any:
        if not self.model_files:
            return self._factory()
        params = getattr(cv2, str(self.info.params))()
        for attribute, path in self.model_files.items():
            setattr(params, attribute, str(path))
        try:
            with _quiet_opencv():
                return self._factory(params)
        except cv2.error as error:
            raise TrackerModelError(
                f"OpenCV {self.info.label} could not load its model files "
                f"({self._describe_files()}): {str(error).strip()}. Are they {self.info.label} "
                f"files? `{DOWNLOAD_COMMAND} {self.name}` gets the ones this package was tested "
                "with"
            ) from error

    def _describe_files(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.model_files.items())

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Start on ``frame`` with ``box`` (xywh pixels), clipped to the frame (and rounded for
        the integer API); a new OpenCV object each time.

        Raises:
            TrackerInitError: OpenCV refused the box; the adapter keeps its previous tracker.
        """
        image = _check_frame(frame)
        start = as_box(box)
        if not is_valid_box(start):
            raise ValueError(f"{self.name}: cannot start on box {start.tolist()}")
        rect: tuple[float, ...] = (
            tuple(float(v) for v in clip_box_to_frame(start, image.shape))
            if self.float_boxes
            else round_box(start, image.shape)
        )
        with self._lock:
            tracker = self._spare if self._spare is not None else self._new_tracker()
            self._spare = None
            try:
                started = tracker.init(image, rect)
            except cv2.error as error:
                files = (
                    f" (model files {self._describe_files()}: {self.info.label} files?)"
                    if self.model_files
                    else ""
                )
                raise TrackerInitError(
                    f"OpenCV {self.info.label} could not start on box {rect} in a "
                    f"{image.shape[1]}x{image.shape[0]} frame{files}: {str(error).strip()}"
                ) from error
            if started is False:  # the legacy API reports failure, the current one raises
                raise TrackerInitError(f"OpenCV {self.info.label} could not start on box {rect}")
            # Only now replace the running tracker: a failed init leaves the adapter as it was.
            self._tracker = tracker
            self._box = start.copy()
            self.lost = False
            self.failures = 0
            self.last_score = None

    def update(self, frame: NDArray[Any]) -> Box:
        """The box (xywh pixels, float64) on the next frame; the last good box on failure."""
        if self._tracker is None or self._box is None:
            raise RuntimeError(f"{self.name}: update() called before init(frame, box)")
        image = _check_frame(frame)
        with self._lock:
            try:
                ok, rect = self._tracker.update(image)
            except cv2.error:
                ok, rect = False, None
            if self.model_files:
                self.last_score = float(self._tracker.getTrackingScore())
            box = np.asarray(rect, dtype=np.float64) if ok else None
            if box is not None and box.shape == (4,) and is_valid_box(box):
                self._box = box
                self.lost = False
            else:
                self.lost = True
                self.failures += 1
            result: Box = self._box.copy()
        return result

    def __repr__(self) -> str:
        files = f", {self._describe_files()}" if self.model_files else ""
        return f"OpenCVTracker({self.name!r}, factory='cv2.{self.factory}'{files})"


def _check_frame(frame: NDArray[Any]) -> NDArray[np.uint8]:
    return check_frame(frame, "OpenCV trackers (BGR)")


def create_tracker(
    name: str,
    *,
    model_dir: PathLike | None = None,
    files: Mapping[str, PathLike] | None = None,
) -> OpenCVTracker:
    """The OpenCV tracker called ``name``; see :class:`OpenCVTracker` (``model_dir`` and
    ``files`` locate a deep tracker's model files)."""
    return OpenCVTracker(name, model_dir=model_dir, files=files)

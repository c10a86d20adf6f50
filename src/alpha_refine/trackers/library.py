"""``LibraryTracker``: the part every adapter around a tracking library's object shares.

A library tracker (pysot's ``SiamRPNTracker``, pytracking's ``DiMP``...) is an object with a start
method, a per-frame method returning a ``dict``, and a target state held in attributes. The
adapters subclass :class:`LibraryTracker` and say only what differs between libraries: the colour
order the library wants, how to start it, which output key holds the box, and which attributes
hold the state. The result follows :class:`~alpha_refine.trackers.StatefulTracker`, so
:class:`~alpha_refine.trackers.RefinedTracker` feeds the refined box back through
:meth:`LibraryTracker.set_state` (its default ``feedback="auto"`` is ``"state"``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.trackers.base import Box, as_box, check_frame, is_valid_box


class LibraryTracker(ABC):
    """A tracking library's tracker object behind the package's tracker protocol.

    Frames given to :meth:`init`, :meth:`update` and :meth:`set_state` are **BGR** ``uint8``
    ``H x W x 3`` arrays (the package-wide convention, what ``cv2.imread`` gives); each adapter
    converts them to the order its library wants (:attr:`library_color`). Boxes are
    ``x, y, w, h`` pixels (top-left corner, width, height); returned boxes are ``(4,)``
    ``float64``.

    Attributes:
        tracker: the wrapped library object; use it for anything the adapter does not cover.
        name: short name for result folders and tables.
        last_output: the ``dict`` the library returned on the last frame (``{}`` after ``init``).
        last_score: the library's confidence on the last frame, when its output has one
            (:attr:`score_keys`), else ``None``.
    """

    library: ClassVar[str]
    library_color: ClassVar[Literal["bgr", "rgb"]]
    box_key: ClassVar[str]
    score_keys: ClassVar[tuple[str, ...]] = ()
    start_method: ClassVar[str] = "init"
    track_method: ClassVar[str] = "track"

    def __init__(self, tracker: Any, name: str | None = None) -> None:
        missing = [m for m in self.required_methods() if not callable(getattr(tracker, m, None))]
        if missing:
            raise TypeError(
                f"tracker must be a {self.library} tracker object with "
                f"{' and '.join(f'{m}()' for m in self.required_methods())}; "
                f"{type(tracker).__name__} has no {', '.join(missing)}"
            )
        self.tracker = tracker
        self.name = name if name is not None else type(tracker).__name__.lower()
        self.last_output: dict[str, Any] = {}
        self.last_score: float | None = None

    @classmethod
    def required_methods(cls) -> tuple[str, ...]:
        """Names of the methods the wrapped object must have."""
        return (cls.start_method, cls.track_method)

    def library_frame(self, frame: NDArray[Any], argument: str = "frame") -> NDArray[np.uint8]:
        """``frame`` (BGR) checked and converted to the library's colour order (a copy for RGB)."""
        image = check_frame(frame, f"{type(self).__name__} (BGR in)", argument)
        if self.library_color == "rgb":
            return np.ascontiguousarray(image[..., ::-1])
        return image

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Start the library's tracker on ``frame`` (BGR) with ``box`` (xywh pixels)."""
        start = _checked_box(box, "box")
        self._start(self.library_frame(frame), start)
        self.last_output = {}
        self.last_score = None

    def update(self, frame: NDArray[Any]) -> Box:
        """The library's box on ``frame`` (BGR), as a ``(4,)`` float64 ``x, y, w, h`` array.

        The whole output ``dict`` is kept in :attr:`last_output`. A box that is not finite or
        has no area (e.g. pytracking's ``[-1, -1, -1, -1]`` for "not found") is returned as
        it is; :class:`~alpha_refine.trackers.RefinedTracker` passes it through unrefined.
        """
        output = getattr(self.tracker, self.track_method)(self.library_frame(frame))
        if not isinstance(output, Mapping) or self.box_key not in output:
            raise TypeError(
                f"{self.library} {self.track_method}() must return a dict with "
                f"{self.box_key!r}; got {type(output).__name__}"
                + (f" with keys {sorted(output)}" if isinstance(output, Mapping) else "")
            )
        self.last_output = dict(output)
        self.last_score = next(
            (float(output[k]) for k in self.score_keys if output.get(k) is not None), None
        )
        return as_box(np.asarray(output[self.box_key], dtype=np.float64).reshape(-1))

    def set_state(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Make ``box`` (xywh pixels, e.g. the refined box) the tracker's current target state,
        keeping its learnt model, so the next search region is centred on it.

        Raises:
            ValueError: ``box`` is not 4 finite numbers with a positive width and height.
        """
        self._write_state(_checked_box(box, "box"))

    @abstractmethod
    def _start(self, image: NDArray[np.uint8], box: Box) -> None:
        """Call the library's start method on ``image`` (library colour order)."""

    @abstractmethod
    def _write_state(self, box: Box) -> None:
        """Write the (valid) ``box`` into the library tracker's state attributes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.tracker).__name__}, name={self.name!r})"


def _checked_box(box: ArrayLike, argument: str) -> Box:
    try:
        array = as_box(box)
    except ValueError as error:
        raise ValueError(f"{argument}: {error}") from None
    if not is_valid_box(array):
        raise ValueError(
            f"{argument} must be finite x, y, w, h with w > 0 and h > 0, got {array.tolist()}"
        )
    return array

"""``RefinedTracker``: a base tracker whose every box goes through Alpha-Refine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.refiner import Refiner
from alpha_refine.trackers.base import Box, StatefulTracker, Tracker, as_box, is_valid_box

Feedback = Literal["auto", "none", "state", "reinit"]
FEEDBACK_MODES: tuple[str, ...] = ("auto", "none", "state", "reinit")


@dataclass(frozen=True)
class FrameTiming:
    """Seconds spent on one frame: the base tracker, the refiner and the feedback step."""

    base: float
    refine: float
    feedback: float

    @property
    def total(self) -> float:
        return self.base + self.refine + self.feedback


def resolve_feedback(tracker: Tracker, feedback: str) -> Feedback:
    """The concrete mode (``none``, ``state`` or ``reinit``) for ``tracker``.

    ``auto`` is ``state`` for trackers with ``set_state`` and ``none`` for the others (the
    OpenCV adapters): a re-initialisation throws away the tracker's model, so it is never
    chosen silently.
    """
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
    stateful = isinstance(tracker, StatefulTracker)
    if feedback == "auto":
        return "state" if stateful else "none"
    if feedback == "state" and not stateful:
        raise ValueError(
            f"tracker {tracker.name!r} has no set_state(): its state can only be replaced by "
            "re-initialising it (feedback='reinit') or left alone (feedback='none')"
        )
    return cast(Feedback, feedback)


class RefinedTracker:
    """A base tracker followed by a refiner, on every frame.

    ``init`` starts both on the first frame's box; ``update`` asks the base tracker for its box,
    refines it and returns the refined box. ``feedback`` says what the base tracker learns of
    the refined box:

    * ``"none"``: nothing; the refined box is only reported (the base trajectory is exactly
      that of the base tracker alone).
    * ``"state"``: ``base.set_state(frame, refined)``, for trackers that can take a new state
      without losing their model (:class:`~alpha_refine.trackers.StatefulTracker`).
    * ``"reinit"``: ``base.init(frame, refined)`` every frame: any tracker, but it restarts the
      tracker, whose model then only knows the current frame (costs an init per frame). When
      that ``init`` raises ``RuntimeError`` (the OpenCV adapters' ``TrackerInitError``), the
      base tracker goes on unchanged and :attr:`feedback_failures` counts the frame.
    * ``"auto"`` (default): ``"state"`` where supported, else ``"none"``.

    Frames are BGR ``uint8``, boxes ``x, y, w, h`` pixels. A base box that is not a finite box
    with a positive size (pytracking reports ``[-1, -1, -1, -1]`` when it lost the target) is
    passed through unrefined and nothing is fed back on that frame. With ``return_mask=True``
    the refiner's mask decoder runs too and :attr:`last_mask` holds the frame's mask.

    Attributes:
        last_base_box: the base tracker's box on the last frame (before refinement).
        last_timing: :class:`FrameTiming` of the last ``update`` (``init`` sets it too, with
            the base tracker's and the refiner's init times).
        feedback_failures: frames since ``init`` whose feedback the base tracker refused.
        last_mask: with ``return_mask``, the last frame's ``H x W`` ``float32`` foreground
            probabilities (``None`` otherwise, after ``init`` and for unrefined frames).
    """

    def __init__(
        self,
        base: Tracker,
        refiner: Refiner,
        feedback: Feedback = "auto",
        *,
        return_mask: bool = False,
    ) -> None:
        if refiner.color != "bgr" or refiner.box_format != "xywh":
            raise ValueError("RefinedTracker needs a refiner with color='bgr', box_format='xywh'")
        if return_mask and refiner.network.mask_head is None:
            raise ValueError("return_mask=True needs a refiner whose network has a mask head")
        self.base = base
        self.refiner = refiner
        self.return_mask = return_mask
        self.last_mask: NDArray[np.float32] | None = None
        self.feedback: Feedback = resolve_feedback(base, feedback)
        self.name = f"{base.name}+AR"
        self.last_base_box: Box | None = None
        self.last_timing = FrameTiming(0.0, 0.0, 0.0)
        self.feedback_failures = 0

    def init(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Start the base tracker and the refiner on ``frame`` with ``box`` (xywh pixels)."""
        start = as_box(box)
        t0 = time.perf_counter()
        self.base.init(frame, start)
        t1 = time.perf_counter()
        self.refiner.initialize(frame, start)
        t2 = time.perf_counter()
        self.last_base_box = start.copy()
        self.last_mask = None
        self.last_timing = FrameTiming(t1 - t0, t2 - t1, 0.0)
        self.feedback_failures = 0

    def update(self, frame: NDArray[Any]) -> Box:
        """The refined box (xywh pixels, float64) on the next frame."""
        t0 = time.perf_counter()
        base_box = as_box(self.base.update(frame))
        t1 = time.perf_counter()
        mask = None
        valid = is_valid_box(base_box)
        if valid:
            result = self.refiner.refine(frame, base_box, return_mask=self.return_mask)
            refined = np.asarray(result.box, dtype=np.float64)
            mask = result.mask
        else:
            refined = base_box.copy()
        t2 = time.perf_counter()
        if not valid:
            pass  # nothing was refined, so there is nothing to feed back
        elif self.feedback == "state" and isinstance(self.base, StatefulTracker):
            self.base.set_state(frame, refined)
        elif self.feedback == "reinit":
            try:
                self.base.init(frame, refined)
            except RuntimeError:
                # e.g. OpenCV MIL cannot start on a box as wide as the frame; the adapters keep
                # their running tracker then, so tracking goes on without this frame's feedback.
                self.feedback_failures += 1
        t3 = time.perf_counter()
        self.last_base_box = base_box
        self.last_mask = mask
        self.last_timing = FrameTiming(t1 - t0, t2 - t1, t3 - t2)
        return refined

    def __repr__(self) -> str:
        return f"RefinedTracker({self.base!r}, feedback={self.feedback!r})"

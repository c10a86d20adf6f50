"""The safe-refine gate: keep the base tracker's box where the refined one is implausible."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alpha_refine.geometry import iou


@dataclass(frozen=True)
class GateConfig:
    """When :meth:`alpha_refine.Refiner.refine` returns the input box instead of the refined one.

    A target is *gated* (its input box, clipped to the frame like a refined box, is returned and
    ``RefineResult.gated`` is true) when any check that is not ``None`` fails. The defaults are
    a loose safety net (docs/reliability.md has the measurement): correcting the scale and
    aspect of trackers with a fixed-size box is the refiner's job, and the confidence's scale
    depends on the weights.

    Attributes:
        min_iou: the IoU of the refined box with the input box is below this.
        max_scale_change: the refined box's size (square root of its area) is more than this
            factor larger or smaller than the input box's.
        max_aspect_change: its width / height ratio is more than this factor larger or smaller.
        min_confidence: ``RefineResult.confidence`` (corner-map sharpness) is below this.
        min_mask_iou: only when a mask is returned: the IoU of the mask's box (pixels with
            probability >= 0.5) with the refined box is below this; an empty mask fails.
    """

    min_iou: float | None = 0.3
    max_scale_change: float | None = 2.0
    max_aspect_change: float | None = 2.0
    min_confidence: float | None = None
    min_mask_iou: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"gate {item.name} must be a number or None, got {value!r}")
            if item.name.startswith("max_"):
                if not (math.isfinite(value) and value >= 1.0):
                    raise ValueError(f"gate {item.name} must be a factor >= 1, got {value}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"gate {item.name} must be in [0, 1], got {value}")

    def to_dict(self) -> dict[str, float | None]:
        """The thresholds as plain values (the ``"gate"`` entry of a weights config)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateConfig:
        """Thresholds from a mapping; unknown keys are an error naming them."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown gate setting(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def describe(self) -> str:
        """A one-line summary of the active checks, for reports."""
        active = [f"{key}={value:g}" for key, value in self.to_dict().items() if value is not None]
        return ", ".join(active) or "no checks"


def as_gate(value: GateConfig | Mapping[str, Any] | bool | None) -> GateConfig | None:
    """A refiner's ``gate`` option: ``None``/``False`` (off), ``True`` (the default
    :class:`GateConfig`), a :class:`GateConfig`, or a mapping of its fields."""
    if value is None or value is False:
        return None
    if value is True:
        return GateConfig()
    if isinstance(value, GateConfig):
        return value
    if isinstance(value, Mapping):
        return GateConfig.from_dict(value)
    raise TypeError(f"gate must be a GateConfig, a mapping, a bool or None, got {value!r}")


def _beyond(ratio: NDArray[np.float64], factor: float) -> NDArray[np.bool_]:
    beyond: NDArray[np.bool_] = (ratio > factor) | (ratio < 1.0 / factor)
    return beyond


def gate_targets(
    gate: GateConfig,
    base: NDArray[np.float64],
    refined: NDArray[np.float64],
    confidence: NDArray[np.float64],
    mask_boxes: NDArray[np.float64] | None = None,
) -> NDArray[np.bool_]:
    """Which targets to gate: ``N`` booleans for ``N x 4`` xywh boxes (frame pixels).

    ``base`` are the input boxes and ``refined`` the refined ones, both clipped to the frame
    (positive sizes); ``mask_boxes`` the masks' boxes (NaN rows for empty masks), or ``None``
    when no mask was computed (the mask check is then skipped).
    """
    gated = np.zeros(len(refined), dtype=bool)
    if gate.min_iou is not None:
        gated |= iou(refined, base) < gate.min_iou
    if gate.max_scale_change is not None:
        scale = np.sqrt(refined[:, 2] * refined[:, 3] / (base[:, 2] * base[:, 3]))
        gated |= _beyond(scale, gate.max_scale_change)
    if gate.max_aspect_change is not None:
        aspect = (refined[:, 2] / refined[:, 3]) / (base[:, 2] / base[:, 3])
        gated |= _beyond(aspect, gate.max_aspect_change)
    if gate.min_confidence is not None:
        gated |= confidence < gate.min_confidence
    if gate.min_mask_iou is not None and mask_boxes is not None:
        overlap = iou(mask_boxes, refined)
        gated |= ~(overlap >= gate.min_mask_iou)  # NaN (an empty mask) fails too
    return gated


def crop_mask_boxes(probabilities: NDArray[np.float32]) -> NDArray[np.float64]:
    """Tight xywh boxes (crop pixels) of ``probabilities >= 0.5`` in ``N x S x S`` crop masks;
    NaN rows for empty masks."""
    foreground = probabilities >= 0.5
    boxes = np.full((len(foreground), 4), np.nan)
    rows, cols = np.asarray(foreground.any(axis=2)), np.asarray(foreground.any(axis=1))
    for index in range(len(foreground)):
        ys, xs = np.flatnonzero(rows[index]), np.flatnonzero(cols[index])
        if len(xs):
            boxes[index] = (xs[0], ys[0], xs[-1] + 1 - xs[0], ys[-1] + 1 - ys[0])
    return boxes

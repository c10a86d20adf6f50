"""Box jitter and photometric augmentation, as in the published training recipe."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def jitter_box(
    box_xywh: NDArray[np.float64],
    rng: np.random.Generator,
    scale_factor: float = 0.25,
    centre_factor: float = 0.25,
) -> NDArray[np.float64]:
    """Randomly move and resize an ``x, y, w, h`` box (the paper's eq. 2-4).

    Per dimension: ``size' = size * exp(N(0, 1) * scale_factor)`` and
    ``centre' = centre + sqrt(w' h') * centre_factor * (U(0, 1) - 0.5)``.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    size = np.array([w, h]) * np.exp(rng.standard_normal(2) * scale_factor)
    offset = np.sqrt(size.prod()) * centre_factor * (rng.random(2) - 0.5)
    centre = np.array([x + w / 2, y + h / 2]) + offset
    return np.array([*(centre - size / 2), *size])


def adjust_brightness(image: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    """Scale all pixels by ``factor`` and clamp to 0..255."""
    scaled: NDArray[np.uint8] = np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    return scaled


def to_grayscale(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Luma of an RGB image, replicated to three channels."""
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gray: NDArray[np.uint8] = np.clip(luma, 0, 255).astype(np.uint8)
    rgb: NDArray[np.uint8] = np.repeat(gray[..., None], 3, axis=2)
    return rgb

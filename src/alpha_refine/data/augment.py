"""Box jitter, photometric augmentation and still-image views for training pairs."""

from __future__ import annotations

import cv2
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


def jitter_colour(
    image: NDArray[np.uint8], rng: np.random.Generator, strength: float
) -> NDArray[np.uint8]:
    """Scale each channel by ``U(1 - strength, 1 + strength)`` and the contrast about the mean
    by another such factor, then clamp to 0..255."""
    pixels = image.astype(np.float32)
    gains = rng.uniform(1.0 - strength, 1.0 + strength, size=3).astype(np.float32)
    contrast = np.float32(rng.uniform(1.0 - strength, 1.0 + strength))
    mean = pixels.mean()
    out = (pixels * gains - mean) * contrast + mean
    jittered: NDArray[np.uint8] = np.clip(out, 0, 255).astype(np.uint8)
    return jittered


def blur(image: NDArray[np.uint8], sigma: float) -> NDArray[np.uint8]:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    blurred: NDArray[np.uint8] = np.asarray(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma), np.uint8)
    return blurred


def warp_view(
    frame: NDArray[np.uint8],
    mask: NDArray[np.bool_] | None,
    box_xywh: NDArray[np.float64],
    angle: float,
    scale: float,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_] | None, NDArray[np.float64]]:
    """Rotate ``frame`` by ``angle`` degrees about the box centre and resize it by ``scale``.

    Returns the warped frame, mask and ``x, y, w, h`` box. With a mask the box is the warped
    mask's tight box; without one only ``angle == 0`` is exact, so rotating needs a mask.
    """
    if mask is None and angle != 0.0:
        raise ValueError("rotating a view needs a mask to take the box from")
    x, y, w, h = (float(v) for v in box_xywh)
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    matrix = np.asarray(cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, scale), np.float64)
    # Move the box centre to where plain resizing puts it, so the object stays in the frame.
    matrix[:, 2] += np.array([x + w / 2, y + h / 2]) * (scale - 1.0)
    warped = np.asarray(cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR), np.uint8)
    if mask is None:
        centre = matrix @ np.array([x + w / 2, y + h / 2, 1.0])
        size_xy = scale * np.array([w, h])
        return warped, None, np.array([*(centre - size_xy / 2), *size_xy])
    mask_pixels = mask.astype(np.uint8) * 255
    warped_mask = cv2.warpAffine(mask_pixels, matrix, size, flags=cv2.INTER_LINEAR) >= 128
    ys, xs = np.nonzero(warped_mask)
    if len(xs) == 0:  # the object left the frame: keep the unwarped view
        return frame, mask, np.asarray(box_xywh, np.float64)
    box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
    return warped, warped_mask, box


def shrink_view(
    frame: NDArray[np.uint8],
    mask: NDArray[np.bool_] | None,
    box_xywh: NDArray[np.float64],
    scale: float,
) -> tuple[NDArray[np.uint8], NDArray[np.bool_] | None, NDArray[np.float64]]:
    """``frame`` (and ``mask``) resized by ``scale`` < 1 with area averaging, as a camera
    farther away would see it, and the ``x, y, w, h`` box scaled with it (pixel edges)."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8)
    exact = np.array([size[0] / width, size[1] / height] * 2)
    box = np.asarray(box_xywh, np.float64) * exact
    if mask is None:
        return small, None, box
    small_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    return small, np.asarray(small_mask, bool), box


def degrade(
    image: NDArray[np.uint8],
    rng: np.random.Generator,
    noise: float,
    quality: tuple[int, int],
) -> NDArray[np.uint8]:
    """Sensor noise (Gaussian, sigma ``U(0, noise)`` grey levels) and JPEG compression at a
    quality drawn from ``quality``: what small targets in surveillance and UAV footage carry."""
    sigma = float(rng.uniform(0.0, noise))
    if sigma > 0:
        noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        image = np.clip(noisy, 0, 255).astype(np.uint8)
    level = int(rng.integers(quality[0], quality[1] + 1))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, level])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        return image
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), np.uint8).reshape(image.shape)

"""Synthetic tracking sequences with exact masks, so training and tests need no downloaded data.

Each sequence composites one textured object over a background and moves it: translation with
momentum, scale and aspect change, rotation, partial occlusion by a passing occluder, motion
blur, sensor noise and a lighting drift. The object's visible pixels are the exact mask, and the
ground-truth box is the tight box of that mask (as trackers annotate visible extent).

Frames are rendered on demand from a per-sequence seed: a sequence costs nothing until a frame
is asked for, and the same seed always gives the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from alpha_refine.data.sequence import Sequence

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class SyntheticConfig:
    """Ranges of the generator; sizes in pixels, speeds in pixels per frame."""

    frame_size: tuple[int, int] = (240, 320)  # height, width
    length: int = 60
    object_size: tuple[float, float] = (0.12, 0.45)  # fraction of the frame's shorter side
    aspect: tuple[float, float] = (0.4, 2.5)  # width / height
    speed: float = 4.0
    scale_drift: float = 0.02  # std of the per-frame log-scale change
    aspect_drift: float = 0.015
    rotation_drift: float = 1.5  # degrees, std per frame
    occlusion_probability: float = 0.4
    blur_probability: float = 0.15
    noise_std: float = 4.0
    lighting_drift: float = 0.25  # total relative gain change over the sequence


def _random_texture(rng: np.random.Generator, height: int, width: int) -> Image:
    """A coloured texture: smooth noise at a random scale, stripes or checks, and a gradient."""
    base = rng.integers(0, 256, size=3)
    cells = int(rng.integers(2, 24))
    noise = rng.random((cells, max(2, cells * width // max(height, 1)), 3)).astype(np.float32)
    noise = np.asarray(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC))
    texture = base[None, None, :] * 0.55 + noise * 255 * 0.45
    pattern = rng.integers(0, 3)
    if pattern == 1:
        period = rng.uniform(4, 20)
        angle = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
        texture = texture * (0.8 + 0.2 * stripes[..., None])
    elif pattern == 2:
        size = int(rng.integers(3, 16))
        yy, xx = np.mgrid[0:height, 0:width]
        checks = ((yy // size + xx // size) % 2).astype(np.float32)
        texture = texture * (0.8 + 0.3 * checks[..., None])
    gradient = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.3), width, dtype=np.float32)
    texture = texture * gradient[None, :, None]
    out: Image = np.clip(texture, 0, 255).astype(np.uint8)
    return out


def random_background(rng: np.random.Generator, height: int, width: int) -> Image:
    """A cluttered background: texture plus random shapes, lines and a few distractor blobs."""
    image = _random_texture(rng, height, width)
    for _ in range(int(rng.integers(3, 12))):
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        kind = rng.integers(0, 3)
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if kind == 0:
            axes = (int(rng.integers(5, width // 4)), int(rng.integers(5, height // 4)))
            cv2.ellipse(image, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        elif kind == 1:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(image, center, end, color, int(rng.integers(1, 6)))
        else:
            size = int(rng.integers(5, min(height, width) // 4))
            cv2.rectangle(image, center, (center[0] + size, center[1] + size), color, -1)
    return image


def random_shape_mask(rng: np.random.Generator, size: int) -> NDArray[np.bool_]:
    """A ``size x size`` mask of a random shape: ellipse, polygon, star or blobby union."""
    mask = np.zeros((size, size), dtype=np.uint8)
    centre = size / 2
    kind = rng.integers(0, 4)
    if kind == 0:
        cv2.ellipse(mask, (size // 2, size // 2), (size // 2 - 1, size // 2 - 1), 0, 0, 360, 1, -1)
    elif kind in (1, 2):
        points = int(rng.integers(3, 9)) * (2 if kind == 2 else 1)
        angles = np.sort(rng.uniform(0, 2 * math.pi, points))
        radii = rng.uniform(0.35, 1.0, points) * (centre - 1)
        if kind == 2:
            radii[::2] *= 0.45
        polygon = np.stack(
            (centre + radii * np.cos(angles), centre + radii * np.sin(angles)), axis=1
        )
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    else:
        for _ in range(int(rng.integers(2, 6))):
            radius = int(rng.uniform(0.15, 0.35) * size)
            cx = int(rng.uniform(radius, size - radius))
            cy = int(rng.uniform(radius, size - radius))
            cv2.circle(mask, (cx, cy), radius, 1, -1)
    if mask.sum() == 0:
        mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return mask.astype(bool)


@dataclass(frozen=True)
class _Sprite:
    """An object or occluder: texture and mask at a canonical size."""

    texture: Image
    mask: NDArray[np.bool_]


def _sprite_from_cutout(image: Image, mask: NDArray[np.bool_]) -> _Sprite:
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return _Sprite(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy())


def _warp_matrix(
    sprite: _Sprite, centre: NDArray[np.float64], size: NDArray[np.float64], angle: float
) -> NDArray[np.float64]:
    """Affine map from sprite pixels to the frame: scale to ``size`` (w, h), rotate, centre."""
    sh, sw = sprite.mask.shape
    scale_x, scale_y = size[0] / sw, size[1] / sh
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    matrix = np.array([[cos * scale_x, -sin * scale_y, 0.0], [sin * scale_x, cos * scale_y, 0.0]])
    matrix[:, 2] = centre - matrix[:, :2] @ np.array([sw / 2, sh / 2])
    return matrix


def _warp(
    image: NDArray[np.generic], matrix: NDArray[np.float64], shape: tuple[int, int]
) -> NDArray[np.float32]:
    """Warp a sprite into an ``H x W`` frame, touching only the sprite's bounding region."""
    height, width = shape
    out = np.zeros((height, width, *image.shape[2:]), np.float32)
    sh, sw = image.shape[:2]
    corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], dtype=np.float64)
    projected = corners @ matrix.T
    x0 = max(0, int(np.floor(projected[:, 0].min())) - 1)
    y0 = max(0, int(np.floor(projected[:, 1].min())) - 1)
    x1 = min(width, int(np.ceil(projected[:, 0].max())) + 2)
    y1 = min(height, int(np.ceil(projected[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return out
    shifted = matrix.copy()
    shifted[:, 2] -= (x0, y0)
    region = cv2.warpAffine(
        np.asarray(image, dtype=np.float32), shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR
    )
    out[y0:y1, x0:x1] = region.reshape(out[y0:y1, x0:x1].shape)
    return out


@dataclass(frozen=True)
class _Trajectory:
    centres: NDArray[np.float64]  # T x 2
    sizes: NDArray[np.float64]  # T x 2 (w, h)
    angles: NDArray[np.float64]  # T
    occluder_centres: NDArray[np.float64] | None  # T x 2
    occluder_size: tuple[float, float]
    blur: NDArray[np.float64]  # T, motion-blur length in px (0 = none)
    gain: NDArray[np.float64]  # T


def _trajectory(rng: np.random.Generator, config: SyntheticConfig) -> _Trajectory:
    height, width = config.frame_size
    steps = config.length
    short = min(height, width)
    area_side = rng.uniform(*config.object_size) * short
    aspect = math.exp(rng.uniform(math.log(config.aspect[0]), math.log(config.aspect[1])))
    size0 = np.array([area_side * math.sqrt(aspect), area_side / math.sqrt(aspect)])
    log_scale = np.cumsum(rng.normal(0, config.scale_drift, steps))
    log_aspect = np.cumsum(rng.normal(0, config.aspect_drift, steps))
    sizes = size0[None, :] * np.exp(log_scale)[:, None]
    sizes[:, 0] *= np.exp(log_aspect / 2)
    sizes[:, 1] *= np.exp(-log_aspect / 2)
    sizes = np.clip(sizes, 8, 0.9 * np.array([width, height]))

    centres = np.empty((steps, 2))
    centres[0] = [rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height]
    velocity = rng.normal(0, config.speed, 2)
    for t in range(1, steps):
        velocity = 0.9 * velocity + rng.normal(0, config.speed * 0.3, 2)
        centres[t] = centres[t - 1] + velocity
        # Bounce off the borders so the object stays mostly in view.
        for axis, limit in ((0, width), (1, height)):
            low, high = 0.1 * limit, 0.9 * limit
            if not low <= centres[t, axis] <= high:
                velocity[axis] = -velocity[axis]
                centres[t, axis] = np.clip(centres[t, axis], low, high)
    angles = np.cumsum(rng.normal(0, config.rotation_drift, steps))

    occluder = None
    occluder_size = (0.0, 0.0)
    if rng.random() < config.occlusion_probability:
        start = int(rng.integers(0, steps))
        side = rng.uniform(0.3, 0.8) * size0.mean()
        occluder_size = (side * rng.uniform(0.5, 2.0), side * rng.uniform(0.5, 2.0))
        direction = rng.normal(0, 1, 2)
        direction /= np.linalg.norm(direction) + 1e-9
        speed = rng.uniform(2, 6)
        offsets = np.arange(steps) - start
        # The occluder crosses the object's path around frame `start`.
        occluder = centres[start][None, :] + offsets[:, None] * direction[None, :] * speed
    blur = np.where(rng.random(steps) < config.blur_probability, rng.uniform(3, 12, steps), 0.0)
    gain = 1.0 + np.linspace(0, rng.uniform(-1, 1) * config.lighting_drift, steps)
    return _Trajectory(centres, sizes, angles, occluder, occluder_size, blur, gain)


def _motion_blur(image: NDArray[np.float32], length: float, angle: float) -> NDArray[np.float32]:
    size = max(3, int(length) | 1)
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rotation, (size, size)), dtype=np.float32)
    kernel /= max(float(kernel.sum()), 1e-6)
    return np.asarray(cv2.filter2D(image, -1, kernel))


class SyntheticSequences:
    """A deterministic family of synthetic sequences: ``generator[i]`` is sequence ``i``.

    Args:
        count: number of sequences.
        config: generator ranges.
        seed: base seed; sequence ``i`` uses ``(seed, i)``.
        backgrounds: optional BGR images to crop backgrounds from (random ones otherwise).
        cutouts: optional ``(BGR image, bool mask)`` object cutouts (random shapes otherwise).
    """

    def __init__(
        self,
        count: int,
        config: SyntheticConfig | None = None,
        seed: int = 0,
        backgrounds: SequenceOf[Image] = (),
        cutouts: SequenceOf[tuple[Image, NDArray[np.bool_]]] = (),
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.count = count
        self.config = config or SyntheticConfig()
        self.seed = seed
        self.backgrounds = list(backgrounds)
        self.sprites = [_sprite_from_cutout(image, mask) for image, mask in cutouts if mask.any()]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> Sequence:
        if not 0 <= index < self.count:
            raise IndexError(f"synthetic sequence {index} out of range (0..{self.count - 1})")
        return self._sequence(index)

    def sequences(self) -> list[Sequence]:
        return [self[i] for i in range(self.count)]

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, stream])

    def _background(self, rng: np.random.Generator) -> Image:
        height, width = self.config.frame_size
        if self.backgrounds and rng.random() < 0.8:
            source = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            scale = max(height / source.shape[0], width / source.shape[1]) * rng.uniform(1.0, 1.6)
            resized = cv2.resize(source, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            y = int(rng.integers(0, resized.shape[0] - height + 1))
            x = int(rng.integers(0, resized.shape[1] - width + 1))
            return np.ascontiguousarray(resized[y : y + height, x : x + width])
        return random_background(rng, height, width)

    def _object(self, rng: np.random.Generator) -> _Sprite:
        if self.sprites and rng.random() < 0.5:
            return self.sprites[int(rng.integers(len(self.sprites)))]
        size = 96
        return _Sprite(_random_texture(rng, size, size), random_shape_mask(rng, size))

    def _sequence(self, index: int) -> Sequence:
        rng = self._rng(index, 0)
        background = self._background(rng)
        target = self._object(rng)
        occluder = _Sprite(_random_texture(rng, 64, 64), random_shape_mask(rng, 64))
        path = _trajectory(rng, self.config)
        noise_seed = int(rng.integers(2**31))
        shape = self.config.frame_size

        def alphas(t: int) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
            """Soft coverage of the target and of the occluder at frame ``t``."""
            matrix = _warp_matrix(target, path.centres[t], path.sizes[t], path.angles[t])
            target_alpha = _warp(target.mask.astype(np.float32), matrix, shape)
            if path.occluder_centres is None:
                return target_alpha, None
            occluder_matrix = _warp_matrix(
                occluder, path.occluder_centres[t], np.array(path.occluder_size), 0.0
            )
            return target_alpha, _warp(occluder.mask.astype(np.float32), occluder_matrix, shape)

        def visible_mask(t: int) -> NDArray[np.bool_]:
            target_alpha, occluder_alpha = alphas(t)
            mask = target_alpha > 0.5
            if occluder_alpha is not None:
                mask &= occluder_alpha <= 0.5
            return np.asarray(mask)

        def render(t: int) -> Image:
            canvas = background.astype(np.float32)
            for sprite, centre, size, angle in [
                (target, path.centres[t], path.sizes[t], path.angles[t]),
                (occluder, None, np.array(path.occluder_size), 0.0),
            ]:
                if centre is None:
                    if path.occluder_centres is None:
                        continue
                    centre = path.occluder_centres[t]
                matrix = _warp_matrix(sprite, centre, size, angle)
                alpha = _warp(sprite.mask.astype(np.float32), matrix, shape)[..., None]
                canvas = canvas * (1.0 - alpha) + _warp(sprite.texture, matrix, shape) * alpha
            if path.blur[t] > 0:
                velocity = path.centres[min(t + 1, len(path.centres) - 1)] - path.centres[t]
                angle = math.degrees(math.atan2(velocity[1], velocity[0]))
                canvas = _motion_blur(canvas, path.blur[t], angle)
            noise = np.random.default_rng([noise_seed, t]).normal(
                0, self.config.noise_std, canvas.shape
            )
            frame: Image = np.clip(canvas * path.gain[t] + noise, 0, 255).astype(np.uint8)
            return frame

        boxes = np.stack([mask_box(visible_mask(t)) for t in range(self.config.length)])
        return Sequence(
            f"synthetic-{self.seed}-{index:05d}",
            boxes,
            render,
            mask_loader=visible_mask,
            attributes={"synthetic": True},
        )


def mask_box(mask: NDArray[np.bool_], min_pixels: int = 16) -> NDArray[np.float64]:
    """Tight ``x, y, w, h`` box of a mask's pixels (NaN if fewer than ``min_pixels``)."""
    ys, xs = np.nonzero(mask)
    if len(xs) < min_pixels:
        return np.full(4, np.nan)
    return np.array(
        [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], dtype=np.float64
    )

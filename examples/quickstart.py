"""Three-line usage of alpha-refine on a synthetic clip (no data, no network needed).

Until trained weights ship with the package, this example builds the refiner with **random
weights**: it shows the API, the shapes and the speed, not refinement quality. With weights, replace
the ``Refiner(...)`` line with ``Refiner.from_pretrained(...)``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from alpha_refine import RandomWeightsWarning, Refiner, mask_to_box


def synthetic_clip(num_frames: int = 8, height: int = 360, width: int = 480) -> list[np.ndarray]:
    """A bright square drifting over a textured background (BGR uint8 frames)."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 90, size=(height, width, 3), dtype=np.uint8)
    frames = []
    for t in range(num_frames):
        frame = background.copy()
        x, y = 120 + 12 * t, 100 + 6 * t
        frame[y : y + 80, x : x + 100] = (30, 180, 250)
        frames.append(frame)
    return frames


def main() -> None:
    frames = synthetic_clip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        refiner = Refiner(device="auto")  # random weights: API demo only, see the module docstring
    print(refiner)

    refiner.initialize(frames[0], (120, 100, 100, 80))  # x, y, w, h in pixels; BGR frame
    for t, frame in enumerate(frames[1:], start=1):
        base_box = (115 + 12 * t, 104 + 6 * t, 110, 72)  # a slightly wrong base-tracker box
        start = time.perf_counter()
        box, mask = refiner.refine(frame, base_box, return_mask=True)
        elapsed_ms = 1000 * (time.perf_counter() - start)
        assert mask is not None
        print(
            f"frame {t}: base {np.round(base_box, 1)} -> refined {np.round(box, 1)}  "
            f"mask {mask.shape} max {mask.max():.2f}, mask box {mask_to_box(mask)}  "
            f"({elapsed_ms:.0f} ms)"
        )
    print("Random weights: the refined boxes above are not meaningful; the API and shapes are.")


if __name__ == "__main__":
    main()

"""CI: the default refiner with a read-only graph cache folder, warm and cold.

    python .ci/read_only_cache.py fill CACHE    # fills CACHE/warm (writable)
    python .ci/read_only_cache.py check CACHE   # CACHE must be read-only by now

``check`` refuses to run when CACHE can be written (the check would prove nothing). With the
warm entry the refiner must start from the cache with no warning; with an empty folder it must
build its graphs in memory with exactly one ``CacheWarning``; both must refine a frame to the same
box.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

from alpha_refine import Refiner
from alpha_refine.runtime.cache import CACHE_ENV, CacheWarning


def refine_once(cache: Path) -> tuple[np.ndarray, list[str]]:
    os.environ[CACHE_ENV] = str(cache)
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    frame[80:160, 120:200] = (40, 200, 90)  # a green object where the box is
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refiner = Refiner.from_pretrained()
        refiner.initialize(frame, (120, 80, 80, 80))
        box = refiner.refine(frame, (110, 85, 90, 70)).box
    if refiner.backend != "onnxruntime":
        sys.exit(f"expected the ONNX Runtime default on this CPU, got {refiner!r}")
    if not np.isfinite(box).all():
        sys.exit(f"non-finite box {box}")
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    return box, messages


def main(mode: str, root: Path) -> None:
    if mode == "fill":
        _, messages = refine_once(root / "warm")
        if messages or not any((root / "warm").rglob("*.zip")):
            sys.exit(f"the cache was not filled: {messages}")
        return
    try:
        (root / "probe").touch()
    except OSError:
        pass
    else:
        sys.exit(f"{root} is writable: a read-only cache check would prove nothing")
    warm_box, warm_messages = refine_once(root / "warm")
    if warm_messages:
        sys.exit(f"a warm read-only cache warned: {warm_messages}")
    cold_box, cold_messages = refine_once(root / "cold")
    if len(cold_messages) != 1 or "cannot write" not in cold_messages[0]:
        sys.exit(f"a cold read-only cache should warn once that it cannot write: {cold_messages}")
    if not np.array_equal(warm_box, cold_box):
        sys.exit(f"cached and rebuilt graphs disagree: {warm_box} vs {cold_box}")
    box = np.round(warm_box, 2)
    print(f"read-only cache: warm start silent, cold start warned once, box {box}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

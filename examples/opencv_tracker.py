"""An OpenCV tracker with and without Alpha-Refine, on a clip the package generates.

Runs offline in seconds on a CPU, with nothing to download:

    python examples/opencv_tracker.py                    # MIL, 60 frames, embedded default model
    python examples/opencv_tracker.py --tracker csrt     # needs opencv-contrib-python-headless
    python examples/opencv_tracker.py --own              # your own object with init/update

Where things come from:

* the base tracker: OpenCV. ``opencv-python-headless`` (installed with alpha-refine) has MIL;
  CSRT, KCF, MOSSE, MedianFlow, TLD and Boosting need ``opencv-contrib-python-headless`` of the
  same version (``pip install 'alpha-refine[opencv-contrib]'``, see docs/trackers.md). They need
  no weights.
* the refiner's weights: ``Refiner.from_pretrained()`` loads the model embedded in the package
  (no network); pass ``--refiner FOLDER`` for other weights.

Colour order: OpenCV frames are **BGR** ``uint8`` ``H x W x 3``; OpenCV trackers, the package's
tracker adapters and ``Refiner`` (by default) all take BGR, so nothing is converted. Boxes are
``x, y, w, h`` pixels.

Feedback: OpenCV trackers cannot take a new state without restarting, so by default the refined
box is only reported (``feedback="auto"`` is ``"none"`` for them); ``--feedback reinit``
restarts the tracker on the refined box every frame (see docs/integrations/opencv.md).
"""

from __future__ import annotations

import argparse
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine import Refiner
from alpha_refine.demo import demo_sequence
from alpha_refine.trackers import RefinedTracker, Tracker, create_tracker


class OwnTracker:
    """Any object with ``name``, ``init(frame, box)`` and ``update(frame) -> box`` is a tracker.

    This one drives an OpenCV tracker object you built yourself (with your own parameters),
    whose ``update`` returns ``(ok, box)``: the package's adapters want only the box.
    """

    name = "own-mil"

    def __init__(self) -> None:
        self.tracker: Any = None
        self.box: NDArray[np.float64] = np.zeros(4)

    def init(self, frame: NDArray[np.uint8], box: ArrayLike) -> None:
        x, y, w, h = (round(float(v)) for v in np.asarray(box))
        params = cv2.TrackerMIL.Params()
        params.samplerSearchWinSize = 30.0  # a wider search than OpenCV's default 25 px
        self.tracker = cv2.TrackerMIL.create(params)
        self.tracker.init(frame, (x, y, w, h))
        self.box = np.array([x, y, w, h], dtype=np.float64)

    def update(self, frame: NDArray[np.uint8]) -> NDArray[np.float64]:
        ok, box = self.tracker.update(frame)
        if ok:
            self.box = np.asarray(box, dtype=np.float64)
        result: NDArray[np.float64] = self.box.copy()
        return result  # the last good box when OpenCV loses the target


def iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Intersection over union of two ``x, y, w, h`` boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracker", default="mil", help="OpenCV tracker name (default: mil)")
    parser.add_argument("--own", action="store_true", help="use OwnTracker instead")
    parser.add_argument("--frames", type=int, default=60, help="length of the generated clip")
    parser.add_argument("--feedback", default="auto", choices=("auto", "none", "reinit"))
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    sequence = demo_sequence(length=args.frames)  # BGR frames and exact ground truth
    refiner = Refiner.from_pretrained(args.refiner, device=args.device)  # BGR, xywh

    def base_tracker() -> Tracker:
        return OwnTracker() if args.own else create_tracker(args.tracker)

    alone = base_tracker()
    refined = RefinedTracker(base_tracker(), refiner, feedback=args.feedback)
    first, start = sequence.frame(0), sequence.boxes[0]
    alone.init(first, start)
    refined.init(first, start)

    ious: dict[str, list[float]] = {"base": [], "refined": []}
    for index in range(1, len(sequence)):
        frame, truth = sequence.frame(index), sequence.boxes[index]
        ious["base"].append(iou(alone.update(frame), truth))
        ious["refined"].append(iou(refined.update(frame), truth))
    means = {name: float(np.mean(values)) for name, values in ious.items()}
    print(
        f"{alone.name} on {len(sequence)} generated frames (feedback {refined.feedback}): "
        f"mean IoU {100 * means['base']:.1f} % alone, {100 * means['refined']:.1f} % refined"
    )
    return means


if __name__ == "__main__":
    main()

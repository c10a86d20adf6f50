"""Run a got10k toolkit experiment with a base tracker, with and without Alpha-Refine.

    pip install 'alpha-refine[got10k]'
    python examples/got10k_experiment.py                       # generated GOT-10k-style data
    python examples/got10k_experiment.py --root data/GOT-10k   # the real GOT-10k val set

Without ``--root`` the script writes a few generated sequences in the GOT-10k layout (``val/
list.txt``, ``val/<name>/00000001.jpg...``, ``groundtruth.txt``, ``meta_info.ini`` and the
``cover``/``absence``/``cut_by_image`` labels) to a temporary folder, so it runs offline. Any
other toolkit experiment takes the same tracker objects, e.g. ``ExperimentOTB("data/OTB",
version=2015).run(tracker)`` or ``ExperimentLaSOT("data/LaSOT").run(tracker)``.

Where things come from:

* the toolkit: ``got10k`` on PyPI (the ``got10k`` extra installs it with ``six``, which it
  imports without declaring); datasets from their own sites (the toolkit can download some).
* the base tracker: an OpenCV tracker (MIL is in ``opencv-python-headless``; the others need
  ``opencv-contrib-python-headless``). Any tracker of the package works: a ``PysotTracker`` or
  ``PytrackingTracker`` around a pysot or pytracking tracker too.
* the refiner's weights: ``Refiner.from_pretrained()`` loads the embedded default model.

Colour order: the toolkit opens frames with PIL and gives **RGB** images; ``Got10kTracker``
converts them to the **BGR** ``uint8`` arrays the package's trackers and refiner take. Boxes are
``x, y, w, h`` pixels, as in the toolkit.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from alpha_refine import Refiner
from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences
from alpha_refine.trackers import Got10kTracker, create_tracker


def write_got10k_val(root: Path, count: int, length: int, seed: int = 0) -> Path:
    """Generated sequences in the GOT-10k ``val`` layout under ``root``; returns ``root``."""
    height, width = 240, 320
    config = SyntheticConfig(frame_size=(height, width), length=length, occlusion_probability=0)
    names = []
    sequences = SyntheticSequences(count, config, seed=seed)
    for index in range(count):
        sequence = sequences[index]
        name = f"GOT-10k_Val_{index + 1:06d}"
        folder = root / "val" / name
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(len(sequence)):
            cv2.imwrite(str(folder / f"{frame + 1:08d}.jpg"), sequence.frame(frame))
        np.savetxt(folder / "groundtruth.txt", sequence.boxes, fmt="%.4f", delimiter=",")
        (folder / "meta_info.ini").write_text(
            f"[METAINFO]\nobject_class: synthetic\nresolution: ({width}, {height})\n"
        )
        for label, value in (("cover", 8), ("absence", 0), ("cut_by_image", 0)):
            np.savetxt(folder / f"{label}.label", np.full(len(sequence), value), fmt="%d")
        names.append(name)
    (root / "val" / "list.txt").write_text("\n".join(names) + "\n")
    return root


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="GOT-10k root (default: generated data)")
    parser.add_argument("--sequences", type=int, default=3, help="generated sequences")
    parser.add_argument("--frames", type=int, default=40, help="frames per generated sequence")
    parser.add_argument("--tracker", default="mil", help="OpenCV base tracker (default: mil)")
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="results and reports (default: temporary)")
    args = parser.parse_args(argv)

    from got10k.experiments import ExperimentGOT10k

    with tempfile.TemporaryDirectory() as scratch:
        root = (
            Path(args.root)
            if args.root
            else write_got10k_val(Path(scratch) / "GOT-10k", args.sequences, args.frames)
        )
        out = Path(args.out) if args.out else Path(scratch) / "out"
        results, reports = str(out / "results"), str(out / "reports")
        experiment = ExperimentGOT10k(str(root), "val", result_dir=results, report_dir=reports)
        experiment.repetitions = 1  # one run each (the toolkit's default: 3 for MIL-like trackers)
        refiner = Refiner.from_pretrained(args.refiner, device=args.device)  # BGR, xywh
        trackers = [
            Got10kTracker(create_tracker(args.tracker)),  # the base tracker alone
            Got10kTracker(create_tracker(args.tracker), refiner),  # + Alpha-Refine
        ]
        for tracker in trackers:
            experiment.run(tracker)
        performance: dict[str, Any] = experiment.report([t.name for t in trackers])
    for name, scores in performance.items():
        overall = scores["overall"]
        print(f"{name:>12s}: AO {100 * overall['ao']:.1f} %, SR0.5 {100 * overall['sr']:.1f} %")
    return performance


if __name__ == "__main__":
    main()

"""DiMP, ATOM or ToMP (pytracking) with Alpha-Refine, the refined box fed back into the tracker.

    python examples/pytracking_dimp.py --tracker dimp --param super_dimp --video video.mp4 \
        --box 120,80,60,90

Where the base tracker and its weights come from (pytracking is not on PyPI):

1. ``git clone --recursive https://github.com/visionml/pytracking`` and install it as its
   ``INSTALL.md`` says (its dependencies; DiMP and ATOM compile the PreciseRoIPooling extension
   from the submodule on first use, which needs ``ninja`` and a CUDA toolkit); put the clone on
   ``PYTHONPATH``.
2. Create its ``pytracking/evaluation/local.py`` (``create_default_local_file()`` in
   ``pytracking.evaluation.environment``) and set ``network_path``.
3. Download the network of the tracker into ``network_path``, from pytracking's model zoo
   (``MODEL_ZOO.md``): e.g. ``super_dimp.pth.tar`` for ``--tracker dimp --param super_dimp``
   (the base tracker of the paper's best results), ``dimp50.pth`` for ``dimp dimp50``,
   ``atom_default.pth`` for ``atom default``, ``tomp50.pth.tar`` for ``tomp tomp50``.
   pytracking's code and models have their own licences.
4. The refiner's weights: ``Refiner.from_pretrained()`` (the embedded default model), or
   ``--refiner FOLDER`` (e.g. the authors' checkpoint converted with ``alpha-refine convert``).

Colour order: pytracking works on **RGB** frames. This script reads BGR frames with OpenCV and
gives them to ``RefinedTracker``, whose ``PytrackingTracker`` converts them to RGB for pytracking;
the refiner takes BGR. (With RGB frames of your own, pass ``frame[..., ::-1]``.) Boxes are
``x, y, w, h`` pixels. Feedback: ``PytrackingTracker.set_state`` writes the refined box into the
tracker's ``pos`` (``[y, x]`` centre), ``target_sz`` (``[h, w]``) and ``target_scale``
(``sqrt(prod(target_sz) / prod(base_target_sz))``) after every frame, as the published
Alpha-Refine wrappers of DiMP and ATOM do (``--feedback none`` to compare).
"""

from __future__ import annotations

import argparse
from typing import Any

import cv2
import numpy as np

from alpha_refine import Refiner
from alpha_refine.trackers import PytrackingTracker, RefinedTracker


def build_pytracking_tracker(name: str, parameter_name: str) -> Any:
    """The pytracking tracker ``name`` with parameter file ``parameter_name``, built as
    pytracking's own ``Tracker.run_video`` builds it (names may differ between versions)."""
    from pytracking.evaluation import Tracker

    spec = Tracker(name, parameter_name)
    params = spec.get_parameters()
    params.tracker_name = name
    params.param_name = parameter_name
    params.debug = 0
    params.visualization = False
    return spec.create_tracker(params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracker", default="dimp", help="pytracking tracker (dimp, atom, tomp)")
    parser.add_argument("--param", default="super_dimp", help="its parameter file")
    parser.add_argument("--video", required=True, help="video file (or an image pattern)")
    parser.add_argument("--box", required=True, help="x,y,w,h of the target in the first frame")
    parser.add_argument("--feedback", default="state", choices=("state", "none"))
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    args = parser.parse_args(argv)

    base = PytrackingTracker(build_pytracking_tracker(args.tracker, args.param), name=args.param)
    refiner = Refiner.from_pretrained(args.refiner)  # BGR frames, xywh boxes; CUDA if present
    tracker = RefinedTracker(base, refiner, feedback=args.feedback)

    capture = cv2.VideoCapture(args.video)
    ok, frame = capture.read()  # BGR uint8; PytrackingTracker hands pytracking RGB
    if not ok:
        raise SystemExit(f"cannot read {args.video}")
    tracker.init(frame, np.array([float(v) for v in args.box.split(",")]))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        refined = tracker.update(frame)
        score = "" if base.last_score is None else f" score {base.last_score:.2f}"
        print(
            f"{index}: {base.name} {np.round(np.asarray(tracker.last_base_box), 1)}{score} "
            f"-> refined {np.round(refined, 1)}; target_scale "
            f"{float(base.tracker.target_scale):.3f}"
        )


if __name__ == "__main__":
    main()

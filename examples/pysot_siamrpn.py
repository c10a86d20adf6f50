"""SiamRPN++ or SiamMask (pysot) with Alpha-Refine, the refined box fed back into the tracker.

    python examples/pysot_siamrpn.py \
        --config pysot/experiments/siamrpn_r50_l234_dwxcorr/config.yaml \
        --snapshot siamrpn_r50_l234_dwxcorr.pth --video video.mp4 --box 120,80,60,90 --out out.mp4

Where the base tracker and its weights come from (pysot is not on PyPI):

1. ``git clone https://github.com/STVIR/pysot``; install its requirements as its ``INSTALL.md``
   says and build its extensions in place (``python setup.py build_ext --inplace``); put the
   clone on ``PYTHONPATH``.
2. Download a model from pysot's ``MODEL_ZOO.md`` into the matching ``experiments/<model>/``
   folder: ``siamrpn_r50_l234_dwxcorr`` (SiamRPN++ ResNet-50, the base tracker of the paper's
   pysot experiments), ``siamrpn_alex_dwxcorr``, ``siamrpn_mobilev2_l234_dwxcorr`` or
   ``siammask_r50_l3`` (SiamMask); ``--config`` is that folder's ``config.yaml`` and
   ``--snapshot`` the downloaded ``model.pth``. pysot's code and models have their own licences.
3. The refiner's weights: ``Refiner.from_pretrained()`` (the embedded default model), or
   ``--refiner FOLDER`` (e.g. the authors' checkpoint converted with ``alpha-refine convert``).

Colour order: pysot works on **BGR** frames (``cv2.imread`` and ``cv2.VideoCapture`` order), as
do the package's trackers and ``Refiner`` by default, so frames are passed as they are read.
Boxes are ``x, y, w, h`` pixels. Feedback: ``PysotTracker.set_state`` writes the refined box into
``tracker.center_pos`` (``[x + w/2, y + h/2]``) and ``tracker.size`` (``[w, h]``) after every
frame, as the published Alpha-Refine wrapper of SiamRPN++ does (``--feedback none`` to compare).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from alpha_refine import Refiner
from alpha_refine.trackers import PysotTracker, RefinedTracker


def build_pysot_tracker(config: str, snapshot: str, device: torch.device) -> object:
    """The pysot tracker for ``config`` with the ``snapshot`` weights (pysot's own builders)."""
    from pysot.core.config import cfg
    from pysot.models.model_builder import ModelBuilder
    from pysot.tracker.tracker_builder import build_tracker

    cfg.merge_from_file(config)
    cfg.CUDA = device.type == "cuda"
    model = ModelBuilder()
    model.load_state_dict(torch.load(snapshot, map_location="cpu"))
    model.eval().to(device)
    return build_tracker(model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="pysot experiments/<model>/config.yaml")
    parser.add_argument("--snapshot", required=True, help="the model's .pth weights")
    parser.add_argument("--video", required=True, help="video file (or an image pattern)")
    parser.add_argument("--box", required=True, help="x,y,w,h of the target in the first frame")
    parser.add_argument("--feedback", default="state", choices=("state", "none"))
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--out", default=None, help="write an annotated video here")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = PysotTracker(build_pysot_tracker(args.config, args.snapshot, device))
    refiner = Refiner.from_pretrained(args.refiner, device=device)  # BGR frames, xywh boxes
    tracker = RefinedTracker(base, refiner, feedback=args.feedback, return_mask=True)

    capture = cv2.VideoCapture(args.video)
    ok, frame = capture.read()  # BGR uint8
    if not ok:
        raise SystemExit(f"cannot read {args.video}")
    box = np.array([float(v) for v in args.box.split(",")])
    tracker.init(frame, box)
    writer = None
    if args.out:
        height, width = frame.shape[:2]
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        writer = cv2.VideoWriter(args.out, fourcc, 25.0, (width, height))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        refined = tracker.update(frame)  # pysot's box refined; pysot's state updated
        pysot_box = np.asarray(tracker.last_base_box)
        print(
            f"{index}: pysot {np.round(pysot_box, 1)} "
            f"score {base.last_score} -> refined {np.round(refined, 1)}"
        )
        if writer is not None:
            for color, shown in (((0, 0, 255), pysot_box), ((0, 255, 0), refined)):
                x, y, w, h = (round(float(v)) for v in shown)
                cv2.rectangle(frame, (x, y), (x + w, y + h), color, 2)
            if tracker.last_mask is not None:  # Alpha-Refine's mask (SiamMask's: base.last_mask)
                frame[tracker.last_mask > 0.5, 1] = 255
            writer.write(frame)
    if writer is not None:
        writer.release()


if __name__ == "__main__":
    main()

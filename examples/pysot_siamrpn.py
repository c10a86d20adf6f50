r"""SiamRPN++ or SiamMask (pysot) with Alpha-Refine, the refined box fed back into the tracker.

    python examples/pysot_siamrpn.py \
        --config pysot/experiments/siamrpn_r50_l234_dwxcorr/config.yaml \
        --snapshot pysot/experiments/siamrpn_r50_l234_dwxcorr/model.pth \
        --video 'img/*.jpg' --box 120,80,60,90 --out out.mp4

--video is a video file, a folder of images, a glob ('img/*.jpg', quoted) or a printf
pattern ('img/%08d.jpg'). Runs on a CPU; on a GPU when torch sees one.

Where the base tracker and its weights come from (pysot is not on PyPI):

1. git clone https://github.com/STVIR/pysot; install its requirements as its INSTALL.md
   says and build its extensions in place (python setup.py build_ext --inplace); put the
   clone on PYTHONPATH.
2. SiamMask only, on numpy >= 1.24 or OpenCV 4.10+ and 5.x: two lines of pysot's
   pysot/tracker/siammask_tracker.py fail there (np.float was removed from numpy; the
   cv2.__version__[-5] == '4' test picks OpenCV 3's findContours signature). Fix them:
       sed -i 's/astype(np.float)/astype(np.float64)/' pysot/tracker/siammask_tracker.py
       sed -i "s/if cv2.__version__\[-5] == '4':/if int(cv2.__version__.split('.')[0]) >= 4:/" \
           pysot/tracker/siammask_tracker.py
3. Download a model from pysot's MODEL_ZOO.md into the matching experiments/<model>/
   folder: siamrpn_r50_l234_dwxcorr (SiamRPN++ ResNet-50, the base tracker of the paper's
   pysot experiments), siamrpn_alex_dwxcorr, siamrpn_mobilev2_l234_dwxcorr or
   siammask_r50_l3 (SiamMask); --config is that folder's config.yaml and --snapshot the
   downloaded model.pth. One model per process: pysot keeps one global config, and a second
   cfg.merge_from_file() in the same process fails with "Type mismatch".
   pysot's code and models have their own licences.
4. The refiner's weights: Refiner.from_pretrained() (the embedded default model), or
   --refiner FOLDER (e.g. the authors' checkpoint converted with alpha-refine convert).

Colour order: pysot works on BGR frames (cv2.imread and cv2.VideoCapture order), as do the
package's trackers and Refiner by default, so frames are passed as they are read. Boxes are
x, y, w, h pixels. Feedback: PysotTracker.set_state writes the refined box into
tracker.center_pos ([x + w/2, y + h/2]) and tracker.size ([w, h]) after every frame, as the
published Alpha-Refine wrapper of SiamRPN++ does (--feedback none to compare). The --out video
shows pysot's box in red, the refined box in green (frame 0: the given box).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from alpha_refine import Refiner
from alpha_refine.data import iter_frames
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="pysot experiments/<model>/config.yaml")
    parser.add_argument("--snapshot", required=True, help="the model's .pth weights")
    parser.add_argument(
        "--video", required=True, help="video file, image folder, glob or printf pattern"
    )
    parser.add_argument("--box", required=True, help="x,y,w,h of the target in the first frame")
    parser.add_argument("--feedback", default="state", choices=("state", "none"))
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    parser.add_argument("--out", default=None, help="write an annotated video here")
    args = parser.parse_args(argv)

    frames = iter_frames(args.video)  # BGR uint8, as pysot wants them
    frame = next(frames, None)
    if frame is None:
        raise SystemExit(f"no frames in {args.video}")
    box = np.array([float(v) for v in args.box.split(",")])

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = PysotTracker(build_pysot_tracker(args.config, args.snapshot, device))
    refiner = Refiner.from_pretrained(args.refiner, device=device)  # BGR frames, xywh boxes
    tracker = RefinedTracker(base, refiner, feedback=args.feedback, return_mask=True)
    tracker.init(frame, box)
    writer = None
    if args.out:
        height, width = frame.shape[:2]
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        writer = cv2.VideoWriter(args.out, fourcc, 25.0, (width, height))
        writer.write(draw_boxes(frame, ((0, 255, 0), box)))
    for index, frame in enumerate(frames, start=1):
        refined = tracker.update(frame)  # pysot's box refined; pysot's state updated
        pysot_box = np.asarray(tracker.last_base_box)
        print(
            f"{index}: pysot {np.round(pysot_box, 1)} "
            f"score {base.last_score} -> refined {np.round(refined, 1)}"
        )
        if writer is not None:
            if tracker.last_mask is not None:  # Alpha-Refine's mask (SiamMask's: base.last_mask)
                frame[tracker.last_mask > 0.5, 1] = 255
            writer.write(draw_boxes(frame, ((0, 0, 255), pysot_box), ((0, 255, 0), refined)))
    if writer is not None:
        writer.release()


def draw_boxes(frame: np.ndarray, *boxes: tuple[tuple[int, int, int], np.ndarray]) -> np.ndarray:
    """``frame`` with each ``(colour, x/y/w/h box)`` drawn on it (in place)."""
    for color, shown in boxes:
        x, y, w, h = (round(float(v)) for v in shown)
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, 2)
    return frame


if __name__ == "__main__":
    main()

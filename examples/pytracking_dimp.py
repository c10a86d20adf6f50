r"""DiMP, ATOM or ToMP (pytracking) with Alpha-Refine, the refined box fed back into the tracker.

    python examples/pytracking_dimp.py --tracker tomp --param tomp50 --device cpu \
        --video 'img/*.jpg' --box 120,80,60,90
    python examples/pytracking_dimp.py --tracker dimp --param super_dimp --device cuda \
        --video video.mp4 --box 120,80,60,90

--video is a video file, a folder of images, a glob ('img/*.jpg', quoted) or a printf
pattern ('img/%08d.jpg'). On a CPU, use ToMP: DiMP, ATOM, KYS and KeepTrack need
PreciseRoIPooling, which has only a CUDA implementation. --device sets pytracking's
params.use_gpu, params.device and params.net.use_gpu (the parameter files hard-code the GPU).

Where the base tracker and its weights come from (pytracking is not on PyPI):

1. git clone --recursive https://github.com/visionml/pytracking, install its dependencies
   as its INSTALL.md says, including timm (pip install timm: ltr.models.backbone imports
   swin_transformer_flex, which imports timm, for every network), and put the clone on
   PYTHONPATH. DiMP and ATOM compile the PreciseRoIPooling extension from the submodule on
   first use (ninja and a CUDA toolkit).
2. Create both local.py files pytracking reads, and set network_path in the second:
       python -c "from ltr.admin.environment import create_default_local_file as c; c()"
       python -c "from pytracking.evaluation.environment import create_default_local_file as c; c()"
3. On torchvision >= 0.13, ltr/models/backbone/resnet.py line 5 imports model_urls, which
   torchvision removed; tracking never downloads ImageNet weights, so replace the line:
       sed -i 's/^from torchvision.models.resnet import model_urls$/model_urls = {}/' \
           ltr/models/backbone/resnet.py
4. On torch >= 2.6, torch.load refuses pytracking's network files (they pickle
   ltr...NetConstructor): run with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, which allows
   pickled objects, so only for network files you trust.
5. Download the tracker's network into network_path, from pytracking's MODEL_ZOO.md:
   tomp50.pth.tar for --tracker tomp --param tomp50, super_dimp.pth.tar for dimp super_dimp
   (the base tracker of the paper's best results), dimp50.pth for dimp dimp50,
   atom_default.pth for atom default. pytracking's code and models have their own licences.
6. The refiner's weights: Refiner.from_pretrained() (the embedded default model), or
   --refiner FOLDER (e.g. the authors' checkpoint converted with alpha-refine convert).

Colour order: pytracking works on RGB frames. This script reads BGR frames with OpenCV and
gives them to RefinedTracker, whose PytrackingTracker converts them to RGB for pytracking;
the refiner takes BGR. Boxes are x, y, w, h pixels. Feedback: PytrackingTracker.set_state
writes the refined box into the tracker's pos ([y, x] centre), target_sz ([h, w]),
target_scale (sqrt(prod(target_sz) / prod(base_target_sz))) and, for a tracker that has
pos_iounet (DiMP, ATOM and KYS), pos_iounet, after every frame (--feedback none to compare).
"""

from __future__ import annotations

import argparse
import pickle
from typing import Any

import numpy as np
import torch

from alpha_refine import Refiner
from alpha_refine.data import iter_frames
from alpha_refine.trackers import PytrackingTracker, RefinedTracker

# Their box networks pool with PreciseRoIPooling, whose extension has only a CUDA kernel.
CUDA_ONLY = ("atom", "dimp", "keep_track", "kys")


def build_pytracking_tracker(name: str, parameter_name: str, device: str) -> Any:
    """The pytracking tracker ``name`` with parameter file ``parameter_name`` on ``device``,
    built as pytracking's own ``Tracker.run_video`` builds it (names may differ between
    versions)."""
    from pytracking.evaluation import Tracker

    spec = Tracker(name, parameter_name)
    params = spec.get_parameters()
    params.tracker_name = name
    params.param_name = parameter_name
    params.debug = 0
    params.visualization = False
    # The parameter files set use_gpu=True, and pass it on to the network wrapper.
    params.use_gpu = device == "cuda"
    params.device = device
    if hasattr(params, "net"):
        params.net.use_gpu = params.use_gpu
    return spec.create_tracker(params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracker", default="dimp", help="pytracking tracker (dimp, atom, tomp)")
    parser.add_argument("--param", default="super_dimp", help="its parameter file")
    parser.add_argument(
        "--device",
        default=None,
        choices=("cpu", "cuda"),
        help="default: cuda when torch sees a CUDA GPU, else cpu",
    )
    parser.add_argument(
        "--video", required=True, help="video file, image folder, glob or printf pattern"
    )
    parser.add_argument("--box", required=True, help="x,y,w,h of the target in the first frame")
    parser.add_argument("--feedback", default="state", choices=("state", "none"))
    parser.add_argument("--refiner", default=None, help="weights folder (default: embedded)")
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" and args.tracker in CUDA_ONLY:
        raise SystemExit(
            f"{args.tracker} needs CUDA (PreciseRoIPooling has no CPU kernel); "
            "on a CPU use --tracker tomp --param tomp50"
        )
    frames = iter_frames(args.video)  # BGR uint8; PytrackingTracker hands pytracking RGB
    frame = next(frames, None)
    if frame is None:
        raise SystemExit(f"no frames in {args.video}")

    library = build_pytracking_tracker(args.tracker, args.param, device)
    base = PytrackingTracker(library, name=args.param)
    refiner = Refiner.from_pretrained(args.refiner, device=device)  # BGR frames, xywh boxes
    tracker = RefinedTracker(base, refiner, feedback=args.feedback)
    try:
        tracker.init(frame, np.array([float(v) for v in args.box.split(",")]))
    except pickle.UnpicklingError as error:  # pytracking loads its network here
        raise SystemExit(
            f"torch.load refused the network ({error.__class__.__name__}); on torch >= 2.6 "
            "run with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for a network file you trust"
        ) from error
    for index, frame in enumerate(frames, start=1):
        refined = tracker.update(frame)
        score = "" if base.last_score is None else f" score {base.last_score:.2f}"
        print(
            f"{index}: {base.name} {np.round(np.asarray(tracker.last_base_box), 1)}{score} "
            f"-> refined {np.round(refined, 1)}; target_scale "
            f"{float(library.target_scale):.3f}"
        )


if __name__ == "__main__":
    main()

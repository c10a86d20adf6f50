"""alpha-refine: plug-and-play Alpha-Refine box and mask refinement for any tracker.

>>> from alpha_refine import Refiner
>>> refiner.initialize(first_frame_bgr, (x, y, w, h))          # doctest: +SKIP
>>> box, mask = refiner.refine(frame_bgr, base_tracker_box)    # doctest: +SKIP

Frames are OpenCV BGR ``uint8`` by default and boxes ``x, y, w, h`` in pixels.
"""

from alpha_refine.config import ModelConfig
from alpha_refine.gate import GateConfig
from alpha_refine.geometry import (
    convert_boxes,
    mask_to_box,
    mask_to_rotated_box,
    threshold_mask,
)
from alpha_refine.model import AlphaRefineNet
from alpha_refine.refiner import RandomWeightsWarning, Refiner
from alpha_refine.state import RefineResult, RefinerState

__version__ = "0.1.0.dev0"

__all__ = [
    "AlphaRefineNet",
    "GateConfig",
    "ModelConfig",
    "RandomWeightsWarning",
    "RefineResult",
    "Refiner",
    "RefinerState",
    "__version__",
    "convert_boxes",
    "mask_to_box",
    "mask_to_rotated_box",
    "threshold_mask",
]

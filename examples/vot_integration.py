"""A VOT toolkit tracker: an OpenCV tracker refined by Alpha-Refine, rectangle or mask output.

The VOT toolkit starts this module once per sequence with the ``traxpython`` protocol (it
*imports* the module, so the loop runs on import). Register it in the workspace's
``trackers.ini``::

    [CSRT_AR]
    label = CSRT_AR
    protocol = traxpython
    command = vot_integration
    paths = /path/to/alpha-refine/examples;/path/to/folder/with/vot.py
    env_ALPHA_REFINE_VOT_FORMAT = mask

then ``vot evaluate --workspace WORKSPACE CSRT_AR``. Settings come from environment variables
(set with ``env_...`` lines as above, or edit the defaults below):

* ``ALPHA_REFINE_VOT_TRACKER``: the OpenCV base tracker (default ``csrt`` if the installed OpenCV
  has it, else ``mil``);
* ``ALPHA_REFINE_VOT_FORMAT``: ``rectangle`` (default; VOT-ST2019-2020 style boxes) or ``mask``
  (VOT2020+ segmentation: Alpha-Refine's mask thresholded at 0.65);
* ``ALPHA_REFINE_VOT_REFINER``: a weights folder (default: the embedded model), or ``none`` for
  the base tracker alone.

Where things come from:

* the VOT toolkit: ``pip install vot-toolkit``. The ``vot.py`` module that tracker scripts
  import is in the toolkit's Python integration examples (https://github.com/votchallenge/
  integration, folder ``python``): copy it into a folder listed in ``paths``. It needs TraX
  (``pip install vot-trax``).
* the base tracker: OpenCV (MIL in ``opencv-python-headless``; CSRT and the others in
  ``opencv-contrib-python-headless``). For a pysot or pytracking tracker, build it here and pass
  ``PysotTracker(...)`` or ``PytrackingTracker(...)`` to ``run_vot`` instead.
* the refiner's weights: ``Refiner.from_pretrained()``, the embedded default model.

Colour order: the toolkit sends image paths; ``run_vot`` reads them with OpenCV as **BGR**
``uint8``, the order of the package's trackers and refiner. Boxes are ``x, y, w, h`` pixels.
"""

from __future__ import annotations

import os
from typing import Literal

from alpha_refine import Refiner
from alpha_refine.trackers import available_trackers, create_tracker, run_vot


def main() -> int:
    """Track the sequence the toolkit serves; returns the number of frames tracked."""
    default_tracker = "csrt" if "csrt" in available_trackers() else "mil"
    tracker = os.environ.get("ALPHA_REFINE_VOT_TRACKER", default_tracker)
    region_format = os.environ.get("ALPHA_REFINE_VOT_FORMAT", "rectangle")
    weights = os.environ.get("ALPHA_REFINE_VOT_REFINER", "default")
    refiner = (
        None
        if weights == "none"
        else Refiner.from_pretrained(None if weights == "default" else weights)
    )
    if region_format not in ("rectangle", "mask"):
        raise ValueError(f"ALPHA_REFINE_VOT_FORMAT must be rectangle or mask, not {region_format}")
    output: Literal["rectangle", "mask"] = "mask" if region_format == "mask" else "rectangle"
    # Build the tracker and load the weights before the handshake (run_vot creates vot.VOT).
    return run_vot(create_tracker(tracker), refiner, output)


main()

"""Adapter for pytracking trackers (DiMP, PrDiMP, SuperDiMP, ATOM, KYS, ToMP).

pytracking is not on PyPI: clone https://github.com/visionml/pytracking (with submodules), set its
``local.py`` paths, download the network weights into its ``networks`` folder, and build a tracker
from a tracker name and parameter file (see ``docs/integrations/pytracking.md`` and
``examples/pytracking_dimp.py``).

pytracking works on **RGB** frames (its ``imread`` converts), so this adapter converts the BGR
frames it is given. Its boxes are ``x, y, w, h`` pixels; its state is ``pos`` (centre
``[y, x]``), ``target_sz`` (``[h, w]``), ``target_scale`` and ``base_target_sz``, all ``torch``
tensors, and its output box is ``[x_c - (w - 1) / 2, y_c - (h - 1) / 2, w, h]``. DiMP, ATOM and KYS
also keep ``pos_iounet``, the centre their IoU-Net found, and copy it into ``pos`` at the end of
``track()``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from alpha_refine.trackers.base import Box
from alpha_refine.trackers.library import LibraryTracker


class PytrackingTracker(LibraryTracker):
    """A pytracking tracker object as a :class:`~alpha_refine.trackers.StatefulTracker`.

    Wraps any object with ``initialize(image, info)`` and ``track(image) -> {'target_bbox':
    [x, y, w, h], ...}``: :meth:`init` calls ``initialize(rgb, {'init_bbox': [x, y, w, h]})``.
    Frames given to the adapter are **BGR** ``uint8`` ``H x W x 3`` (the package convention) and
    are handed to pytracking as RGB; boxes are ``x, y, w, h`` pixels.

    :meth:`set_state` writes the refined box into the tracker as the published Alpha-Refine
    wrappers of DiMP and ATOM do: ``pos = [y_c, x_c]``, ``target_sz = [h, w]`` and
    ``target_scale = sqrt(prod(target_sz) / prod(base_target_sz))``; ``base_target_sz`` (the
    target size at scale 1, fixed at initialisation) is kept, so the three stay consistent
    (``target_sz == base_target_sz * target_scale`` up to aspect-ratio change). The tensors keep
    the dtype and device of the tracker's ``pos``. The centre is pytracking's own,
    ``x_c = x + (w - 1) / 2``, the exact inverse of its output box, so feeding pytracking's box
    back changes nothing (the published wrapper uses ``x + w / 2``, half a pixel off).
    ``target_scale`` is not clamped to the tracker's ``min_scale_factor``/``max_scale_factor``
    (the published wrapper does not either); a tracker without ``base_target_sz`` gets only
    ``pos`` and ``target_sz``. A tracker with ``pos_iounet`` (DiMP, ATOM, KYS) gets it set to the
    new ``pos`` as well: those trackers end ``track()`` with ``pos = pos_iounet``, and on a frame
    where their IoU-Net keeps no box ``pos_iounet`` would still be the previous frame's
    unrefined centre (the published wrapper leaves it stale).

    Args:
        tracker: the pytracking tracker object (e.g. ``pytracking.tracker.dimp.DiMP(params)``).
        name: name for results (default: the class name in lower case, e.g. ``dimp``).

    Attributes:
        last_score: ``object_presence_score`` of the last frame, when the tracker reports it.
    """

    library: ClassVar[str] = "pytracking"
    library_color: ClassVar[Literal["bgr", "rgb"]] = "rgb"
    box_key: ClassVar[str] = "target_bbox"
    score_keys: ClassVar[tuple[str, ...]] = ("object_presence_score",)
    start_method: ClassVar[str] = "initialize"

    def _start(self, image: NDArray[np.uint8], box: Box) -> None:
        self.tracker.initialize(image, {"init_bbox": [float(v) for v in box]})

    def _write_state(self, box: Box) -> None:
        x, y, w, h = (float(v) for v in box)
        reference = getattr(self.tracker, "pos", None)
        like: dict[str, Any] = (
            {"dtype": reference.dtype, "device": reference.device}
            if isinstance(reference, torch.Tensor) and reference.is_floating_point()
            else {"dtype": torch.float32}
        )
        self.tracker.pos = torch.tensor([y + (h - 1) / 2, x + (w - 1) / 2], **like)
        self.tracker.target_sz = torch.tensor([h, w], **like)
        base_size = getattr(self.tracker, "base_target_sz", None)
        if base_size is not None:
            base = torch.as_tensor(base_size, **like)
            self.tracker.target_scale = torch.sqrt(self.tracker.target_sz.prod() / base.prod())
        # DiMP, ATOM and KYS end track() with pos = pos_iounet.clone(), and keep the old
        # pos_iounet on a frame whose IoU-Net keeps no box: a stale one would replace the
        # refined centre that frame's search crop was taken around.
        if hasattr(self.tracker, "pos_iounet"):
            self.tracker.pos_iounet = self.tracker.pos.clone()

"""The groups that evaluations split their scores by: how the ground truth was drawn, target size.

Shared by the oracle experiment (:mod:`alpha_refine.eval.oracle`) and the tracker reports
(:mod:`alpha_refine.eval.report`), so both split alike:

* **Ground-truth kind** (:func:`ground_truth_kind`): ``"masks"`` when a sequence has ground-truth
  masks (its boxes are the masks' boxes), ``"hand"`` otherwise (boxes drawn by hand), unless a
  mapping of sequence names to kinds says otherwise (``--ground-truth NAME=KIND,...``, parsed by
  :func:`parse_ground_truth_kinds`).
* **Target size** (:func:`size_bin`): the square root of the ground-truth box area in pixels,
  in the :data:`SIZE_BINS` under 32, 32-64, 64-128, 128 and over.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alpha_refine.data.sequence import Sequence

GROUND_TRUTH_KINDS = ("masks", "hand")
# An IoU change larger than this makes a frame worse (or better), in the oracle and the reports.
CHANGE_MARGIN = 0.05
GROUND_TRUTH_LABELS = {"masks": "boxes from masks", "hand": "boxes drawn by hand"}  # for tables
# Target size bins: (lower bound, upper bound, label), sqrt of the ground-truth box area in px.
SIZE_BINS = (
    (0.0, 32.0, "under 32"),
    (32.0, 64.0, "32-64"),
    (64.0, 128.0, "64-128"),
    (128.0, math.inf, "128 and over"),
)


def size_bin(size: float) -> str:
    """The label of the :data:`SIZE_BINS` bin holding a target of ``size`` px (sqrt of area)."""
    for low, high, label in SIZE_BINS:
        if low <= size < high:
            return label
    raise ValueError(f"target size {size} is not a positive number")


def size_bin_bounds() -> dict[str, list[float | None]]:
    """``{label: [low, high]}`` of the :data:`SIZE_BINS` for JSON (``None``: no upper bound)."""
    return {label: [low, None if math.isinf(high) else high] for low, high, label in SIZE_BINS}


def ground_truth_kind(sequence: Sequence, kinds: Mapping[str, str] | None = None) -> str:
    """How ``sequence``'s boxes were drawn: ``kinds[name]`` if given, else ``"masks"`` when the
    sequence has ground-truth masks (its boxes are the masks' boxes) and ``"hand"`` otherwise."""
    kind = (kinds or {}).get(sequence.name, "masks" if sequence.has_masks else "hand")
    if kind not in GROUND_TRUTH_KINDS:
        raise ValueError(
            f"{sequence.name}: unknown ground-truth kind {kind!r}; use one of {GROUND_TRUTH_KINDS}"
        )
    return kind


def parse_ground_truth_kinds(text: str) -> dict[str, str]:
    """``"NAME=KIND,NAME=KIND"`` (``KIND`` one of :data:`GROUND_TRUTH_KINDS`) as a mapping of
    sequence names to kinds, for :func:`ground_truth_kind`; ``ValueError`` on a bad item."""
    kinds = {}
    for item in (part.strip() for part in text.split(",")):
        name, _, kind = item.partition("=")
        if not item or not name.strip() or kind.strip() not in GROUND_TRUTH_KINDS:
            expected = " or ".join(f"NAME={k}" for k in GROUND_TRUTH_KINDS)
            raise ValueError(f"expected {expected}, got {item!r}")
        kinds[name.strip()] = kind.strip()
    return kinds

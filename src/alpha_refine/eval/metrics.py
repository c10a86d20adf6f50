"""Tracking metrics under the conventions of the toolkits people compare with.

Boxes are ``x, y, w, h`` in pixels (top-left corner, width, height), arrays of shape ``(N, 4)``
for a sequence of ``N`` frames. Every result names its convention:

* ``"got10k"``: the ``got10k`` Python toolkit (``ExperimentOTB``/``UAV123``/``LaSOT`` curves,
  ``ExperimentGOT10k`` AO and SR).
* ``"pysot"``: the pysot-toolkit ``OPEBenchmark``.
* ``"pytracking"``: pytracking's analysis (``extract_results``) for a generic dataset.
* ``"lasot"``: pytracking's analysis as it treats LaSOT (centre errors of frames where the target
  is not visible are misses), the convention of the Alpha-Refine paper's LaSOT numbers.

See ``docs/evaluation.md`` for the table of differences and the deliberate choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Sequence as SequenceOf
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alpha_refine.geometry import IouGeometry, iou

if TYPE_CHECKING:
    from alpha_refine.data.sequence import Sequence

__all__ = [
    "CONVENTIONS",
    "Convention",
    "DatasetScores",
    "SequenceScores",
    "center_error",
    "evaluate_dataset",
    "evaluate_sequence",
    "get_convention",
    "iou",
    "normalized_center_error",
    "pooled_success_curve",
    "summarize",
]

Geometry = IouGeometry  # the name conventions have always used
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class Convention:
    """What a convention's curves are made of (the per-frame rules live in the code per name).

    Attributes:
        name: ``got10k``, ``pysot``, ``pytracking`` or ``lasot``.
        iou_geometry: ``continuous`` (``x2 = x + w``) or ``pixel`` (inclusive: ``x2 = x + w - 1``
            and intersection sizes ``+ 1``).
        success_thresholds: IoU thresholds of the success curve (a frame succeeds if ``IoU > t``).
        precision_thresholds: centre-error thresholds in pixels (``error <= t``), 0..50.
        norm_precision_thresholds: normalized centre-error thresholds, 0..0.5.
        norm_precision_score: ``mean`` of the curve (got10k) or its value ``at_0.20``.
        first_frame: ``ground_truth`` (the prediction is replaced by the GT box) or ``as_given``.
        invalid_prediction: ``previous`` (NaN/non-positive size -> previous box) or ``as_given``.
        description: one line for reports.
    """

    name: str
    iou_geometry: Geometry
    success_thresholds: FloatArray
    precision_thresholds: FloatArray
    norm_precision_thresholds: FloatArray
    norm_precision_score: Literal["mean", "at_0.20"]
    first_frame: Literal["ground_truth", "as_given"]
    invalid_prediction: Literal["previous", "as_given"]
    description: str


_PIXELS = np.arange(0, 51, dtype=np.float64)
_HUNDREDTHS = np.arange(0, 51, dtype=np.float64) / 100.0

CONVENTIONS: dict[str, Convention] = {
    "got10k": Convention(
        name="got10k",
        iou_geometry="continuous",
        success_thresholds=np.linspace(0, 1, 21),
        precision_thresholds=_PIXELS,
        norm_precision_thresholds=np.linspace(0, 0.5, 51),
        norm_precision_score="mean",
        first_frame="ground_truth",
        invalid_prediction="as_given",
        description="got10k toolkit: continuous IoU, NaN ground-truth rows dropped",
    ),
    "pysot": Convention(
        name="pysot",
        iou_geometry="continuous",
        success_thresholds=np.arange(0, 1.05, 0.05),
        precision_thresholds=_PIXELS,
        norm_precision_thresholds=_HUNDREDTHS,
        norm_precision_score="at_0.20",
        first_frame="as_given",
        invalid_prediction="as_given",
        description="pysot-toolkit OPE: continuous IoU, invalid ground truth is a miss",
    ),
    "pytracking": Convention(
        name="pytracking",
        iou_geometry="pixel",
        # pytracking's torch.arange(0, 1.05, 0.05): i * 0.05 (its vectorised kernel may differ
        # in the last bit at 0.65/0.75 with the CPU; only an IoU equal to that double could tell).
        success_thresholds=np.arange(21, dtype=np.float64) * 0.05,
        precision_thresholds=_PIXELS,
        norm_precision_thresholds=_HUNDREDTHS,
        norm_precision_score="at_0.20",
        first_frame="ground_truth",
        invalid_prediction="previous",
        description="pytracking analysis: pixel-inclusive IoU, first frame = ground truth",
    ),
    "lasot": Convention(
        name="lasot",
        iou_geometry="pixel",
        success_thresholds=np.arange(21, dtype=np.float64) * 0.05,
        precision_thresholds=_PIXELS,
        norm_precision_thresholds=_HUNDREDTHS,
        norm_precision_score="at_0.20",
        first_frame="ground_truth",
        invalid_prediction="previous",
        description="pytracking analysis of LaSOT: invisible frames are misses",
    ),
}


def get_convention(name: str | Convention) -> Convention:
    """The convention called ``name`` (``ValueError`` listing the known names otherwise)."""
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown evaluation convention {name!r}; known: {sorted(CONVENTIONS)}"
        ) from None


# ----------------------------------------------------------------------- per-frame measures


def _centres(boxes: FloatArray) -> FloatArray:
    # The pixel centre of the MATLAB-era toolkits: x + (w - 1) / 2.
    result: FloatArray = boxes[..., :2] + (boxes[..., 2:] - 1.0) / 2.0
    return result


def center_error(pred: ArrayLike, gt: ArrayLike) -> FloatArray:
    """Euclidean distance in pixels between box centres ``x + (w - 1) / 2``, ``(..., 4)`` ->
    ``(...)``."""
    diff = _centres(_as_boxes(pred)) - _centres(_as_boxes(gt))
    result: FloatArray = np.sqrt(np.sum(np.power(diff, 2), axis=-1))
    return result


def normalized_center_error(pred: ArrayLike, gt: ArrayLike) -> FloatArray:
    """Centre error with the offset divided per axis by the ground-truth width and height.

    This is the plain definition; each convention's curve uses its toolkit's exact arithmetic
    (got10k divides by ``max(1, w)``, pysot adds ``1e-16``).
    """
    pred_boxes, gt_boxes = _as_boxes(pred), _as_boxes(gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (_centres(pred_boxes) - _centres(gt_boxes)) / gt_boxes[..., 2:]
    result: FloatArray = np.sqrt(np.sum(np.power(diff, 2), axis=-1))
    return result


def _as_boxes(boxes: ArrayLike) -> FloatArray:
    array = np.asarray(boxes, dtype=np.float64)
    if array.shape[-1:] != (4,):
        raise ValueError(f"boxes must have shape (..., 4) as x, y, w, h; got {array.shape}")
    return array


def _box_is_valid(boxes: FloatArray) -> NDArray[np.bool_]:
    valid: NDArray[np.bool_] = np.all(np.isfinite(boxes), axis=-1) & np.all(
        boxes[..., 2:] > 0, axis=-1
    )
    return valid


def _previous_box_for_invalid(pred: FloatArray, gt: FloatArray) -> FloatArray:
    """NaN/infinite/non-positive-size predictions replaced by the previous (replaced) box.

    pytracking only handles zero sizes (it refuses NaN and negative ones), the LaSOT MATLAB
    toolkit all of them; like both, frame 0 is left alone and so are frames whose ground truth
    has a NaN.
    """
    out: FloatArray = pred.copy()
    invalid = ~_box_is_valid(pred)
    gt_has_nan = np.any(np.isnan(gt), axis=1)
    for i in np.flatnonzero(invalid & ~gt_has_nan):
        if i > 0:
            out[i] = out[i - 1]
    return out


def _clip_to_frame(boxes: FloatArray, size: tuple[int, int]) -> FloatArray:
    """Boxes bounded by the frame as the GOT-10k toolkit does before its AO (x first, then w)."""
    width, height = size
    out: FloatArray = boxes.copy()
    out[:, 0] = np.clip(out[:, 0], 0, width)
    out[:, 1] = np.clip(out[:, 1], 0, height)
    out[:, 2] = np.clip(out[:, 2], 0, width - out[:, 0])
    out[:, 3] = np.clip(out[:, 3], 0, height - out[:, 1])
    return out


# ------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class _FrameErrors:
    """What a convention's curves count: per evaluated frame, and the denominator."""

    iou: FloatArray  # a frame succeeds at t if iou > t
    center: FloatArray  # ... and is precise at t if center <= t
    normalized: FloatArray
    denominator: int
    mean_iou_frames: NDArray[np.bool_]  # frames (of the full sequence) averaged by mean_iou


def _errors_got10k(pred: FloatArray, gt: FloatArray) -> _FrameErrors:
    keep = ~np.any(np.isnan(gt), axis=1)
    p, g = pred[keep], gt[keep]
    offset = _centres(p) - _centres(g)
    normalized = np.sqrt(np.sum(np.power(offset / np.maximum(1.0, g[:, 2:]), 2), axis=-1))
    return _FrameErrors(
        iou=iou(p, g, "continuous", eps=float(np.finfo(float).eps)),
        center=np.sqrt(np.sum(np.power(offset, 2), axis=-1)),
        normalized=normalized,
        denominator=int(keep.sum()),
        mean_iou_frames=keep,
    )


def _errors_pysot(pred: FloatArray, gt: FloatArray, visible: NDArray[np.bool_]) -> _FrameErrors:
    # Frames where the target is absent are removed, but the denominator stays the full length.
    p, g = pred[visible], gt[visible]
    with np.errstate(invalid="ignore", divide="ignore"):
        gt_ok = np.all(g[:, 2:] > 0, axis=1)
        overlap = np.full(len(g), -1.0)
        overlap[gt_ok] = iou(p[gt_ok], g[gt_ok], "continuous")
        # pysot's quirk, kept for parity: a ground-truth centre with a coordinate <= 0 (or
        # NaN) gives distance -1, which counts as a hit at every threshold.
        centre_gt, centre_pred = _centres(g), _centres(p)
        distance = _pysot_distance(centre_gt, centre_pred)
        scale = g[:, 2:] + 1e-16
        normalized = _pysot_distance(centre_gt / scale, centre_pred / scale)
    mean_frames = np.zeros(len(gt), dtype=bool)
    mean_frames[np.flatnonzero(visible)[gt_ok]] = True
    return _FrameErrors(overlap, distance, normalized, len(gt), mean_frames)


def _pysot_distance(centre_gt: FloatArray, centre_pred: FloatArray) -> FloatArray:
    distance = np.full(len(centre_gt), -1.0)
    ok = np.all(centre_gt > 0, axis=1)
    distance[ok] = np.sqrt(np.sum(np.power(centre_gt[ok] - centre_pred[ok], 2), axis=1))
    return distance


def _errors_pytracking(
    pred: FloatArray, gt: FloatArray, visible: NDArray[np.bool_] | None, lasot: bool
) -> _FrameErrors:
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = np.all(gt[:, 2:] > 0, axis=1)
        if visible is not None:
            valid &= visible
        overlap = iou(pred, gt, "pixel")
        centre_pred, centre_gt = _centres(pred), _centres(gt)
        center = np.sqrt(np.sum(np.power(centre_pred - centre_gt, 2), axis=1))
        # pytracking divides each centre by the GT size before subtracting.
        normalized = np.sqrt(
            np.sum(np.power(centre_pred / gt[:, 2:] - centre_gt / gt[:, 2:], 2), axis=1)
        )
    # A prediction still invalid after replacement (only possible from frame 0's) is a miss.
    overlap[np.isnan(overlap)] = 0.0
    center[np.isnan(center)] = np.inf
    normalized[np.isnan(normalized)] = np.inf
    overlap[~valid] = -1.0
    center[~valid] = np.inf
    # pytracking's quirk, kept for parity: invalid frames get normalized error -1, a hit.
    normalized[~valid] = -1.0
    if lasot and visible is not None:
        center[~visible] = np.inf
        normalized[~visible] = np.inf
    return _FrameErrors(overlap, center, normalized, len(gt), valid)


def _curve(values: FloatArray, thresholds: FloatArray, denominator: int, above: bool) -> FloatArray:
    if denominator <= 0:
        return np.full(len(thresholds), np.nan)
    hits = values[:, None] > thresholds[None, :] if above else values[:, None] <= thresholds
    result: FloatArray = hits.sum(axis=0) / float(denominator)
    return result


def pooled_success_curve(ious: ArrayLike, convention: str | Convention) -> FloatArray:
    """The success curve of frames pooled from any sequences, every frame weighing the same: the
    share of ``ious`` (per-frame IoUs, such as :attr:`SequenceScores.iou`) above each of the
    convention's success thresholds; NaN (a missing box) is a miss. NaN with no frames. Its mean
    is the frames' success AUC."""
    values = np.nan_to_num(np.asarray(ious, dtype=np.float64).reshape(-1), nan=0.0)
    return _curve(values, get_convention(convention).success_thresholds, len(values), above=True)


@dataclass(frozen=True, eq=False)
class SequenceScores:
    """Scores of one sequence under one convention; curves are indexed like the convention's
    thresholds (``success_thresholds`` etc.).

    Attributes:
        convention: the convention's name.
        name: the sequence name ("" if not given).
        num_frames: ``N``.
        predictions: ``N x 4`` boxes evaluated, after the convention's first-frame and
            invalid-prediction handling.
        iou: ``N`` per-frame IoU (convention geometry) of ``predictions``; NaN where the ground
            truth is not a finite box.
        center_error: ``N`` per-frame centre error in pixels; NaN where the ground truth is not
            a finite box.
        success_curve, precision_curve, norm_precision_curve: the convention's curves.
        auc: success score, the mean of the success curve.
        precision: precision at 20 px.
        norm_precision: normalized precision (mean of the curve or its value at 0.20).
        mean_iou: mean IoU over the frames the convention counts as valid (pytracking's
            ``avg_overlap``); NaN IoUs count as 0.
        ao, sr50, sr75: GOT-10k average overlap and success rates (IoU > 0.5, > 0.75) of this
            sequence: frame 0 excluded, visible frames with a finite ground truth only.
        ao_ious: the IoUs behind ``ao`` (pooled over sequences by :func:`summarize`).
    """

    convention: str
    name: str
    num_frames: int
    predictions: FloatArray
    iou: FloatArray
    center_error: FloatArray
    success_curve: FloatArray
    precision_curve: FloatArray
    norm_precision_curve: FloatArray
    auc: float
    precision: float
    norm_precision: float
    mean_iou: float
    ao: float
    sr50: float
    sr75: float
    ao_ious: FloatArray = field(repr=False)

    @property
    def success_thresholds(self) -> FloatArray:
        return get_convention(self.convention).success_thresholds

    @property
    def precision_thresholds(self) -> FloatArray:
        return get_convention(self.convention).precision_thresholds

    @property
    def norm_precision_thresholds(self) -> FloatArray:
        return get_convention(self.convention).norm_precision_thresholds


def _prepare(pred: ArrayLike, gt: ArrayLike) -> tuple[FloatArray, FloatArray]:
    p = np.array(pred, dtype=np.float64).reshape(-1, 4)
    g = np.array(gt, dtype=np.float64).reshape(-1, 4)
    if len(p) != len(g):
        raise ValueError(f"{len(p)} predicted boxes for {len(g)} ground-truth boxes")
    if len(g) == 0:
        raise ValueError("empty sequence: no ground-truth boxes")
    return p, g


def _score_at_020(curve: FloatArray) -> float:
    return float(curve[20])


def evaluate_sequence(
    pred: ArrayLike,
    gt: ArrayLike,
    visible: ArrayLike | None = None,
    convention: str | Convention = "got10k",
    *,
    image_size: tuple[int, int] | None = None,
    name: str = "",
) -> SequenceScores:
    """Score one sequence's predictions against its ground truth.

    Args:
        pred: ``N x 4`` predicted ``x, y, w, h`` boxes in pixels (NaN rows allowed).
        gt: ``N x 4`` ground-truth boxes; NaN rows where the dataset has none.
        visible: ``N`` bool, the dataset's own visibility flags (LaSOT occlusion/out-of-view,
            GOT-10k absence/cover); ``None`` means "no flags", which matters: pysot and
            pytracking treat invalid ground truth differently from invisible frames. ``got10k``
            uses them for AO/SR only (its one-pass experiments ignore visibility).
        convention: ``got10k``, ``pysot``, ``pytracking`` or ``lasot``.
        image_size: ``(W, H)``; under ``got10k`` the AO/SR boxes are bounded by the frame as the
            GOT-10k toolkit does. Ignored by the other conventions.
        name: the sequence name, carried into the result.
    """
    conv = get_convention(convention)
    p, g = _prepare(pred, gt)
    vis = None if visible is None else np.asarray(visible, dtype=bool).reshape(-1)
    if vis is not None and len(vis) != len(g):
        raise ValueError(f"{len(vis)} visibility flags for {len(g)} ground-truth boxes")

    if conv.invalid_prediction == "previous":
        p = _previous_box_for_invalid(p, g)
    if conv.first_frame == "ground_truth":
        p[0] = g[0]

    if conv.name == "got10k":
        errors = _errors_got10k(p, g)
    elif conv.name == "pysot":
        errors = _errors_pysot(p, g, np.ones(len(g), bool) if vis is None else vis)
    else:
        errors = _errors_pytracking(p, g, vis, lasot=conv.name == "lasot")

    success = _curve(errors.iou, conv.success_thresholds, errors.denominator, above=True)
    precision = _curve(errors.center, conv.precision_thresholds, errors.denominator, False)
    norm_curve = _curve(
        errors.normalized, conv.norm_precision_thresholds, errors.denominator, False
    )

    frame_iou = iou(p, g, conv.iou_geometry)
    frame_iou[~np.all(np.isfinite(g), axis=1)] = np.nan
    frame_error = center_error(p, g)
    frame_error[~np.all(np.isfinite(g), axis=1)] = np.nan
    mean_frames = errors.mean_iou_frames
    mean_iou = (
        float(np.mean(np.nan_to_num(frame_iou[mean_frames]))) if mean_frames.any() else np.nan
    )

    ao_ious = _ao_ious(p, g, vis, conv, image_size)
    has_ao = len(ao_ious) > 0
    return SequenceScores(
        convention=conv.name,
        name=name,
        num_frames=len(g),
        predictions=p,
        iou=frame_iou,
        center_error=frame_error,
        success_curve=success,
        precision_curve=precision,
        norm_precision_curve=norm_curve,
        auc=float(np.mean(success)),
        precision=_score_at_020(precision),
        norm_precision=float(np.mean(norm_curve))
        if conv.norm_precision_score == "mean"
        else _score_at_020(norm_curve),
        mean_iou=mean_iou,
        ao=float(np.mean(ao_ious)) if has_ao else np.nan,
        sr50=float(np.mean(ao_ious > 0.5)) if has_ao else np.nan,
        sr75=float(np.mean(ao_ious > 0.75)) if has_ao else np.nan,
        ao_ious=ao_ious,
    )


def _ao_ious(
    pred: FloatArray,
    gt: FloatArray,
    visible: NDArray[np.bool_] | None,
    conv: Convention,
    image_size: tuple[int, int] | None,
) -> FloatArray:
    """GOT-10k's frame selection: frame 0 out, visible frames with a finite ground truth."""
    frames = np.all(np.isfinite(gt), axis=1)
    if visible is not None:
        frames &= visible
    frames[0] = False
    p, g = pred[frames], gt[frames]
    if conv.name == "got10k":
        if image_size is not None:
            p, g = _clip_to_frame(p, image_size), _clip_to_frame(g, image_size)
        values = iou(p, g, "continuous", eps=float(np.finfo(float).eps))
    else:
        values = iou(p, g, conv.iou_geometry)
    # A NaN prediction overlaps nothing (the GOT-10k toolkit would make the whole AO NaN).
    return np.nan_to_num(values, nan=0.0)


# ---------------------------------------------------------------------------- dataset level


@dataclass(frozen=True, eq=False)
class DatasetScores:
    """Dataset-level scores under one convention.

    OPE scores follow the toolkits: curves are averaged over sequences (each sequence weighs
    the same), ``auc`` is the mean of the averaged success curve, ``precision`` and a
    ``at_0.20`` ``norm_precision`` are read off the averaged curves. ``ao``/``sr50``/``sr75``
    pool the frames of all sequences (frame-weighted), as GOT-10k does. ``mean_iou`` is the
    mean over sequences of their ``mean_iou``.
    """

    convention: str
    num_sequences: int
    sequences: tuple[str, ...]
    success_curve: FloatArray
    precision_curve: FloatArray
    norm_precision_curve: FloatArray
    auc: float
    precision: float
    norm_precision: float
    mean_iou: float
    ao: float
    sr50: float
    sr75: float

    @property
    def success_thresholds(self) -> FloatArray:
        return get_convention(self.convention).success_thresholds

    @property
    def precision_thresholds(self) -> FloatArray:
        return get_convention(self.convention).precision_thresholds

    @property
    def norm_precision_thresholds(self) -> FloatArray:
        return get_convention(self.convention).norm_precision_thresholds

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists for curves), for JSON reports."""
        result = asdict(self)
        for key, value in result.items():
            if isinstance(value, np.ndarray):
                result[key] = value.tolist()
            elif isinstance(value, tuple):
                result[key] = list(value)
        return result


def summarize(scores: SequenceOf[SequenceScores]) -> DatasetScores:
    """Dataset-level scores of several sequences (all under the same convention)."""
    if not scores:
        raise ValueError("summarize() needs at least one SequenceScores")
    conventions = {s.convention for s in scores}
    if len(conventions) > 1:
        raise ValueError(f"cannot summarize scores of several conventions: {sorted(conventions)}")
    conv = get_convention(scores[0].convention)
    success = np.mean([s.success_curve for s in scores], axis=0)
    precision = np.mean([s.precision_curve for s in scores], axis=0)
    norm_curve = np.mean([s.norm_precision_curve for s in scores], axis=0)
    pooled = np.concatenate([s.ao_ious for s in scores])
    has_ao = len(pooled) > 0
    return DatasetScores(
        convention=conv.name,
        num_sequences=len(scores),
        sequences=tuple(s.name for s in scores),
        success_curve=success,
        precision_curve=precision,
        norm_precision_curve=norm_curve,
        auc=float(np.mean(success)),
        precision=_score_at_020(precision),
        norm_precision=float(np.mean(norm_curve))
        if conv.norm_precision_score == "mean"
        else _score_at_020(norm_curve),
        mean_iou=float(np.mean([s.mean_iou for s in scores])),
        ao=float(np.mean(pooled)) if has_ao else np.nan,
        sr50=float(np.mean(pooled > 0.5)) if has_ao else np.nan,
        sr75=float(np.mean(pooled > 0.75)) if has_ao else np.nan,
    )


def evaluate_dataset(
    predictions: Mapping[str, ArrayLike],
    sequences: Iterable[Sequence],
    convention: str | Convention = "got10k",
) -> tuple[DatasetScores, list[SequenceScores]]:
    """Score predictions (by sequence name, ``N x 4`` each) on dataset sequences.

    Visibility comes from the dataset's own flags (``attributes["target_visible"]``, set by the
    LaSOT and GOT-10k readers), not from ``Sequence.visible``, which also marks frames without
    a box: the toolkits treat those two cases differently. ``attributes["image_size"]`` feeds
    the GOT-10k frame bound. A sequence without a prediction raises ``KeyError``.
    """
    results = []
    for seq in sequences:
        if seq.name not in predictions:
            raise KeyError(f"no prediction for sequence {seq.name!r}")
        results.append(
            evaluate_sequence(
                predictions[seq.name],
                seq.boxes,
                seq.attributes.get("target_visible"),
                convention,
                image_size=seq.attributes.get("image_size"),
                name=seq.name,
            )
        )
    return summarize(results), results

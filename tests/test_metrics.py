"""Tracking metrics: exact parity with the got10k toolkit, hand-computed pysot/pytracking cases."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from alpha_refine.data import Sequence
from alpha_refine.eval import (
    CONVENTIONS,
    center_error,
    evaluate_dataset,
    evaluate_sequence,
    get_convention,
    iou,
    normalized_center_error,
    summarize,
)
from alpha_refine.eval.metrics import pooled_success_curve

NAN = float("nan")


def _random_sequence(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and predictions whose IoUs cover the whole 0..1 range."""
    gt = np.c_[rng.uniform(0, 300, (n, 2)), rng.uniform(5, 100, (n, 2))]
    noise = rng.normal(0, 1, (n, 4)) * rng.uniform(0, 20, (n, 1))
    pred = gt + noise
    pred[:, 2:] = np.maximum(pred[:, 2:], 1.0)
    return pred, gt


@pytest.fixture(scope="module")
def got10k_toolkit() -> types.SimpleNamespace:
    pytest.importorskip("got10k")
    pytest.importorskip("matplotlib")
    if "six" not in sys.modules:
        try:
            import six  # noqa: F401
        except ImportError:
            # got10k 0.1.3 imports `six` without declaring it, only for its dataset classes'
            # __getitem__, which these tests never call.
            stub = types.ModuleType("six")
            stub.string_types = (str,)  # type: ignore[attr-defined]
            sys.modules["six"] = stub
    from got10k.experiments.got10k import ExperimentGOT10k
    from got10k.experiments.otb import ExperimentOTB
    from got10k.experiments.uav123 import ExperimentUAV123
    from got10k.utils import metrics

    # The experiments' constructors download datasets; the evaluation methods need only these.
    otb = ExperimentOTB.__new__(ExperimentOTB)
    otb.nbins_iou, otb.nbins_ce = 21, 51
    uav = ExperimentUAV123.__new__(ExperimentUAV123)
    uav.nbins_iou, uav.nbins_ce = 21, 51
    got = ExperimentGOT10k.__new__(ExperimentGOT10k)
    got.nbins_iou = 101
    return types.SimpleNamespace(metrics=metrics, otb=otb, uav=uav, got=got)


# ------------------------------------------------------------------------ got10k parity


def test_iou_and_center_error_match_got10k(got10k_toolkit: types.SimpleNamespace) -> None:
    rng = np.random.default_rng(1)
    pred, gt = _random_sequence(rng, 400)
    expected_iou = got10k_toolkit.metrics.rect_iou(pred.copy(), gt.copy())
    np.testing.assert_allclose(iou(pred, gt, "continuous"), expected_iou, rtol=0, atol=1e-12)
    expected_ce = got10k_toolkit.metrics.center_error(pred, gt)
    np.testing.assert_allclose(center_error(pred, gt), expected_ce, rtol=0, atol=1e-12)
    # The pixel-inclusive formula is algebraically the same (the -1 and +1 cancel).
    np.testing.assert_allclose(iou(pred, gt, "pixel"), expected_iou, rtol=0, atol=1e-12)


def test_ope_curves_match_got10k_experiment_otb(got10k_toolkit: types.SimpleNamespace) -> None:
    rng = np.random.default_rng(2)
    otb = got10k_toolkit.otb
    ours, theirs_succ, theirs_prec = [], [], []
    for n in (30, 57, 100):
        pred, gt = _random_sequence(rng, n)
        scores = evaluate_sequence(pred, gt, convention="got10k")
        boxes = pred.copy()
        boxes[0] = gt[0]  # as ExperimentOTB.report() does before _calc_metrics
        ious, errors = otb._calc_metrics(boxes, gt)
        succ, prec = otb._calc_curves(ious, errors)
        np.testing.assert_allclose(scores.success_curve, succ, rtol=0, atol=1e-12)
        np.testing.assert_allclose(scores.precision_curve, prec, rtol=0, atol=1e-12)
        assert scores.auc == pytest.approx(np.mean(succ), abs=1e-12)
        assert scores.precision == pytest.approx(prec[20], abs=1e-12)
        ours.append(scores)
        theirs_succ.append(succ)
        theirs_prec.append(prec)
    total = summarize(ours)
    # report(): curves averaged over sequences, success score = mean, precision = curve[20].
    np.testing.assert_allclose(total.success_curve, np.mean(theirs_succ, axis=0), atol=1e-12)
    assert total.auc == pytest.approx(np.mean(np.mean(theirs_succ, axis=0)), abs=1e-12)
    assert total.precision == pytest.approx(np.mean(theirs_prec, axis=0)[20], abs=1e-12)
    assert total.convention == "got10k"


def test_nan_ground_truth_rows_dropped_like_got10k_uav123(
    got10k_toolkit: types.SimpleNamespace,
) -> None:
    rng = np.random.default_rng(3)
    pred, gt = _random_sequence(rng, 60)
    gt[[5, 6, 30]] = NAN
    scores = evaluate_sequence(pred, gt, convention="got10k")
    boxes = pred.copy()
    boxes[0] = gt[0]
    ious, errors = got10k_toolkit.uav._calc_metrics(boxes, gt)
    succ, prec = got10k_toolkit.uav._calc_curves(ious, errors)
    np.testing.assert_allclose(scores.success_curve, succ, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores.precision_curve, prec, rtol=0, atol=1e-12)


def test_ao_sr_match_got10k_experiment(got10k_toolkit: types.SimpleNamespace) -> None:
    rng = np.random.default_rng(4)
    size = (320, 240)
    ours, pooled = [], []
    for n in (20, 45, 33):
        pred, gt = _random_sequence(rng, n)
        pred[3, 0] = -15.0  # partly outside the frame: the toolkit's bound matters
        cover = rng.integers(0, 9, n)
        visible = cover > 0
        ours.append(evaluate_sequence(pred, gt, visible, "got10k", image_size=size))
        seq_ious = got10k_toolkit.metrics.rect_iou(pred[1:].copy(), gt[1:].copy(), bound=size)
        seq_ious = seq_ious[cover[1:] > 0]
        ao, sr, _, _ = got10k_toolkit.got._evaluate(seq_ious, np.array([]))
        assert ours[-1].ao == pytest.approx(ao, abs=1e-12)
        assert ours[-1].sr50 == pytest.approx(sr, abs=1e-12)
        pooled.append(seq_ious)
    ao, sr, _, _ = got10k_toolkit.got._evaluate(np.concatenate(pooled), np.array([]))
    total = summarize(ours)
    assert total.ao == pytest.approx(ao, abs=1e-12)
    assert total.sr50 == pytest.approx(sr, abs=1e-12)
    everything = np.concatenate(pooled)
    assert total.sr75 == pytest.approx(np.mean(everything > 0.75), abs=1e-12)


# ------------------------------------------------------------- hand-computed fixtures

# Shared boxes: a 10 x 10 ground truth at (10, 10) has centre 10 + (10 - 1) / 2 = 14.5.
GT_BOX = [10.0, 10.0, 10.0, 10.0]
# Shifted 5 px right: intersection 5 x 10 = 50, union 100 + 100 - 50 = 150, IoU 1/3;
# centre error |19.5 - 14.5| = 5; normalized 19.5/10 - 14.5/10 = 0.5.
SHIFTED = [15.0, 10.0, 10.0, 10.0]


def test_pysot_hand_computed() -> None:
    gt = np.array([GT_BOX, GT_BOX, [0.0, 0.0, 0.0, 0.0]])
    pred = np.array([GT_BOX, SHIFTED, [5.0, 5.0, 10.0, 10.0]])
    scores = evaluate_sequence(pred, gt, convention="pysot")
    # IoUs 1, 1/3, -1 (zero-size GT is a miss), over n = 3 frames. Thresholds 0..0.30 (7 of
    # them) see 2 hits, 0.35..0.95 (13) see 1, 1.0 sees none:
    # AUC = (7 * 2/3 + 13 * 1/3 + 0) / 21 = 9/21 = 3/7.
    assert scores.auc == pytest.approx(3 / 7, abs=1e-12)
    assert scores.success_curve[0] == pytest.approx(2 / 3)
    assert scores.success_curve[-1] == 0.0
    # Centre errors 0, 5, and -1 for the third frame: its GT centre -0.5 is not > 0, which
    # pysot counts as a hit. Precision at 20 px = 3/3; at 0 px frames 1 and 3 = 2/3.
    assert scores.precision == pytest.approx(1.0)
    assert scores.precision_curve[0] == pytest.approx(2 / 3)
    # Normalized errors 0, 0.5 and -1 (the same quirk): at 0.20, 2 of 3.
    assert scores.norm_precision == pytest.approx(2 / 3)
    assert scores.convention == "pysot"

    # With the target marked absent in frame 3, the frame is dropped but the denominator
    # stays 3: precision at 20 px = 2/3, success unchanged.
    absent = evaluate_sequence(pred, gt, [True, True, False], "pysot")
    assert absent.precision == pytest.approx(2 / 3)
    assert absent.auc == pytest.approx(3 / 7, abs=1e-12)


def test_pysot_counts_the_first_frame_as_given() -> None:
    gt = np.array([GT_BOX, GT_BOX])
    pred = np.array([SHIFTED, GT_BOX])
    # Frame 1 has IoU 1/3 (not replaced by GT), frame 2 IoU 1.
    scores = evaluate_sequence(pred, gt, convention="pysot")
    assert scores.success_curve[10] == pytest.approx(1 / 2)  # t = 0.5
    replaced = evaluate_sequence(pred, gt, convention="pytracking")
    assert replaced.success_curve[10] == pytest.approx(1.0)


def _pytracking_case() -> tuple[np.ndarray, np.ndarray]:
    gt = np.array([GT_BOX, GT_BOX, GT_BOX, [0.0, 0.0, 0.0, 0.0]])
    pred = np.array(
        [
            [50.0, 50.0, 5.0, 5.0],  # replaced by the GT box
            SHIFTED,
            [30.0, 30.0, 0.0, 0.0],  # zero size -> previous box, SHIFTED
            [5.0, 5.0, 10.0, 10.0],  # GT invalid
        ]
    )
    return pred, gt


def test_pytracking_hand_computed() -> None:
    pred, gt = _pytracking_case()
    scores = evaluate_sequence(pred, gt, convention="pytracking")
    np.testing.assert_array_equal(scores.predictions[2], SHIFTED)
    np.testing.assert_array_equal(scores.predictions[0], GT_BOX)
    # IoUs 1, 1/3, 1/3, -1 over n = 4: 7 thresholds (0..0.30) with 3 hits, 13 with 1, 1 with 0:
    # AUC = (7 * 3/4 + 13 * 1/4) / 21 = 8.5 / 21.
    assert scores.auc == pytest.approx(8.5 / 21, abs=1e-12)
    # Centre errors 0, 5, 5, inf: precision at 20 px = 3/4, at 0 px = 1/4.
    assert scores.precision == pytest.approx(3 / 4)
    assert scores.precision_curve[0] == pytest.approx(1 / 4)
    # Normalized errors 0, 0.5, 0.5 and -1 for the invalid GT (a hit): at 0.20, 2/4.
    assert scores.norm_precision == pytest.approx(2 / 4)
    # Mean IoU over valid frames (pytracking's avg_overlap): (1 + 1/3 + 1/3) / 3 = 5/9.
    assert scores.mean_iou == pytest.approx(5 / 9)


def test_lasot_counts_invisible_frames_as_misses() -> None:
    pred, gt = _pytracking_case()
    # Frame 4 invisible: its normalized error becomes inf instead of -1; at 0.20: 1/4.
    scores = evaluate_sequence(pred, gt, [True, True, True, False], "lasot")
    assert scores.norm_precision == pytest.approx(1 / 4)
    assert scores.auc == pytest.approx(8.5 / 21, abs=1e-12)
    # Frame 3 invisible instead: IoU -1 there, so 7 thresholds with 2 hits, 13 with 1:
    # AUC = (7 * 2/4 + 13 * 1/4) / 21 = 6.75 / 21; normalized: frames 1 and 4 (GT invalid
    # but visible keeps pytracking's -1) = 2/4.
    other = evaluate_sequence(pred, gt, [True, True, False, True], "lasot")
    assert other.auc == pytest.approx(6.75 / 21, abs=1e-12)
    assert other.norm_precision == pytest.approx(2 / 4)
    assert other.precision == pytest.approx(2 / 4)
    # The generic pytracking convention gives the invisible frame -1 (a hit) instead.
    generic = evaluate_sequence(pred, gt, [True, True, True, False], "pytracking")
    assert generic.norm_precision == pytest.approx(2 / 4)


def test_got10k_normalized_precision_and_ao_hand_computed() -> None:
    gt = np.array([GT_BOX, [10.0, 10.0, 20.0, 10.0], [NAN] * 4, [10.0, 10.0, 0.5, 10.0]])
    pred = np.array(
        [[0.0, 0.0, 1.0, 1.0], [16.5, 10.0, 20.0, 10.0], [1.0, 2.0, 3.0, 4.0], [11, 10, 0.5, 10]]
    )
    scores = evaluate_sequence(pred, gt, convention="got10k")
    # Frame 1 -> GT (IoU 1); frame 2: intersection 13.5 x 10 = 135, union 400 - 135 = 265,
    # IoU 27/53 = 0.509; frame 3 dropped (NaN GT); frame 4: IoU 0. n = 3.
    # Thresholds 0..0.50 (11) see 2 hits, 0.55..0.95 (9) see 1, 1.0 none:
    # AUC = (11 * 2/3 + 9 * 1/3) / 21 = 31/63.
    assert scores.auc == pytest.approx(31 / 63, abs=1e-12)
    # Centre errors 0, 6.5 and 1.0 (9.75 -> 10.75): all within 20 px.
    assert scores.precision == pytest.approx(1.0)
    # Normalized: 0; 6.5 / max(1, 20) = 0.325 (hits 0.33..0.50, 18 thresholds); 1.0 / max(1,
    # 0.5) = 1.0 (never). Score = curve mean = (51 + 18 + 0) / (3 * 51) = 69/153.
    assert scores.norm_precision == pytest.approx(69 / 153, abs=1e-12)
    # Mean IoU over kept frames: (1 + 27/53 + 0) / 3 = 80/159.
    assert scores.mean_iou == pytest.approx(80 / 159)
    # AO: frame 1 excluded, frame 3 has no GT: (27/53 + 0) / 2; SR0.5 = 1/2; SR0.75 = 0.
    assert scores.ao == pytest.approx(27 / 106)
    assert scores.sr50 == pytest.approx(0.5)
    assert scores.sr75 == 0.0
    # Bounded by a 20 x 20 frame (as GOT-10k does): GT w 20 -> 10, prediction w 20 -> 3.5,
    # IoU 35 / 100 = 0.35 for frame 2.
    bounded = evaluate_sequence(pred, gt, convention="got10k", image_size=(20, 20))
    assert bounded.ao == pytest.approx(0.35 / 2)


# ------------------------------------------------------------------------- edge cases


def test_thresholds_per_convention() -> None:
    # torch's vectorised arange may differ in the last bit (0.65, 0.75) with the CPU.
    pytracking = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy()
    np.testing.assert_allclose(
        get_convention("pytracking").success_thresholds, pytracking, rtol=0, atol=2e-16
    )
    np.testing.assert_array_equal(
        get_convention("pysot").success_thresholds, np.arange(0, 1.05, 0.05)
    )
    np.testing.assert_array_equal(
        get_convention("got10k").success_thresholds, np.linspace(0, 1, 21)
    )
    for convention in CONVENTIONS.values():
        assert len(convention.success_thresholds) == 21
        assert convention.precision_thresholds[20] == 20.0
        assert convention.norm_precision_thresholds[-1] == pytest.approx(0.5)


def test_invalid_predictions() -> None:
    gt = np.array([GT_BOX] * 3)
    pred = np.array([GT_BOX, SHIFTED, [NAN] * 4])
    # pytracking/lasot: the NaN box becomes the previous one.
    scores = evaluate_sequence(pred, gt, convention="lasot")
    np.testing.assert_array_equal(scores.predictions[2], SHIFTED)
    assert scores.iou[2] == pytest.approx(1 / 3)
    # got10k and pysot keep it: a miss everywhere, and an IoU of 0 in AO.
    for name in ("got10k", "pysot"):
        kept = evaluate_sequence(pred, gt, convention=name)
        assert np.isnan(kept.iou[2])
        assert kept.success_curve[0] == pytest.approx(2 / 3)
        assert kept.precision == pytest.approx(2 / 3)
    assert evaluate_sequence(pred, gt, convention="got10k").ao == pytest.approx(1 / 6)
    # Zero-size predictions: IoU 0 where kept, previous box where replaced.
    pred[2] = [12.0, 12.0, 0.0, 0.0]
    assert evaluate_sequence(pred, gt, convention="pysot").iou[2] == 0.0
    assert evaluate_sequence(pred, gt, convention="pytracking").iou[2] == pytest.approx(1 / 3)


def test_all_ground_truth_missing_gives_nan_not_a_crash() -> None:
    gt = np.full((3, 4), NAN)
    scores = evaluate_sequence(np.ones((3, 4)), gt, convention="got10k")
    assert np.isnan(scores.auc) and np.isnan(scores.ao)


def test_plain_measures() -> None:
    assert iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    assert np.isnan(iou([0, 0, NAN, 10], [0, 0, 10, 10]))
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0
    # Centres 4.5 and 9.5 on x; 4.5 and 4.5 on y.
    assert center_error([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(5.0)
    assert normalized_center_error([0, 0, 10, 10], [5, 0, 10, 20]) == pytest.approx(
        np.hypot(5 / 10, (4.5 - 9.5) / 20)
    )
    with pytest.raises(ValueError, match="geometry"):
        iou([0, 0, 1, 1], [0, 0, 1, 1], "round")  # type: ignore[arg-type]


def test_pooled_success_curve_weighs_every_frame_the_same() -> None:
    curve = pooled_success_curve([1.0, 0.42, NAN, 0.0], "pytracking")  # NaN: a missing box
    # Thresholds 0, 0.05, ..., 1 (IoU > t): 1.0 passes 20 of them, 0.42 passes 9, the rest none.
    assert curve.shape == (21,) and curve[0] == 0.5 and curve[9] == 0.25 and curve[20] == 0.0
    assert np.mean(curve) == pytest.approx((20 + 9) / (4 * 21))
    assert np.all(np.isnan(pooled_success_curve([], "got10k")))


def test_errors_and_summaries() -> None:
    gt = np.array([GT_BOX] * 3)
    with pytest.raises(ValueError, match="unknown evaluation convention 'otb'"):
        evaluate_sequence(gt, gt, convention="otb")
    with pytest.raises(ValueError, match="2 predicted boxes for 3"):
        evaluate_sequence(gt[:2], gt)
    with pytest.raises(ValueError, match="visibility"):
        evaluate_sequence(gt, gt, [True])
    a = evaluate_sequence(gt, gt, convention="pysot", name="a")
    b = evaluate_sequence(gt, gt, convention="lasot", name="b")
    with pytest.raises(ValueError, match="several conventions"):
        summarize([a, b])
    with pytest.raises(ValueError, match="at least one"):
        summarize([])
    total = summarize([a, a])
    assert total.to_dict()["sequences"] == ["a", "a"]
    assert total.auc == pytest.approx(20 / 21)  # IoU 1 is not > 1.0
    assert len(a.success_thresholds) == len(a.success_curve)


def test_evaluate_dataset_uses_the_dataset_flags() -> None:
    pred, gt = _pytracking_case()
    frames = [np.zeros((4, 4, 3), np.uint8)] * 4
    flags = np.array([True, True, True, False])
    flagged = Sequence.from_arrays("a", frames, gt, attributes={"target_visible": flags})
    plain = Sequence.from_arrays("b", frames, gt)
    total, per_sequence = evaluate_dataset({"a": pred, "b": pred}, [flagged, plain], "lasot")
    # As in test_lasot_counts_invisible_frames_as_misses: 1/4 with the flag, 2/4 without.
    assert [s.norm_precision for s in per_sequence] == [pytest.approx(0.25), pytest.approx(0.5)]
    assert total.norm_precision == pytest.approx(0.375)
    assert total.sequences == ("a", "b")
    with pytest.raises(KeyError, match="'b'"):
        evaluate_dataset({"a": pred}, [flagged, plain], "lasot")

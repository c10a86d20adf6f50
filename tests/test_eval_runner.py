from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alpha_refine import Refiner
from alpha_refine.cli import main
from alpha_refine.data import load_dataset
from alpha_refine.data.sequence import Sequence
from alpha_refine.eval import runner, tracking
from alpha_refine.eval.groups import parse_ground_truth_kinds
from alpha_refine.eval.metrics import evaluate_sequence, summarize
from alpha_refine.eval.report import (
    EvalReport,
    Grouping,
    TrackerScores,
    compare,
    frame_changes,
    score_folder,
    write_report,
)
from alpha_refine.eval.results import (
    ResultsMismatchError,
    claim_folder,
    find_result_file,
    format_boxes,
    is_complete,
    read_result_boxes,
    read_times,
    write_boxes,
    write_times,
)
from alpha_refine.eval.runner import (
    evaluate_trackers,
    limit_sequence,
    parse_shard,
    refine_saved_results,
)
from alpha_refine.gate import GateConfig
from tracking_fixtures import random_weights, write_plain_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ["alpha", "bravo", "charlie"]
LENGTH = 6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = write_plain_dataset(tmp_path_factory.mktemp("plain"), NAMES, LENGTH)
    return f"plain:{root}"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(random_weights(tmp_path_factory.mktemp("weights") / "random-r18"))


def test_result_files_round_trip(tmp_path: Path) -> None:
    boxes = np.array([[1.0, 2.5, 30.25, 40.0], [np.nan] * 4, [1234.56789, 0.1, 5.0, 6.0]])
    path = write_boxes(tmp_path / "seq.txt", boxes)
    assert path.read_text().splitlines() == [
        "1,2.5,30.25,40",
        "nan,nan,nan,nan",
        "1234.568,0.1,5,6",
    ]
    np.testing.assert_allclose(read_result_boxes(path), np.round(boxes, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["seq.txt"]  # no temporary file left
    (tmp_path / "tabs.txt").write_text("1\t2\t3\t4\n5 6 7 8\n\n")
    np.testing.assert_array_equal(
        read_result_boxes(tmp_path / "tabs.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]]
    )
    write_times(tmp_path / "seq_time.txt", [0.5, 0.25, 0.125])
    np.testing.assert_allclose(read_times(tmp_path / "seq_time.txt"), [0.5, 0.25, 0.125])
    assert is_complete(tmp_path, "seq", 3) and not is_complete(tmp_path, "seq", 4)
    assert format_boxes([[1, 2, 3, 4]]) == "1,2,3,4\n"
    (tmp_path / "gt" / "gt").mkdir(parents=True)
    write_boxes(tmp_path / "gt" / "gt" / "gt_001.txt", boxes[:1])  # got10k toolkit layout
    assert find_result_file(tmp_path / "gt", "gt") == tmp_path / "gt" / "gt" / "gt_001.txt"


def test_claim_folder_refuses_results_of_another_run(tmp_path: Path) -> None:
    info = {"tracker": "mil", "refiner_fingerprint": "abc", "feedback": "none", "max_frames": None}
    claim_folder(tmp_path / "mil+AR", info)
    claim_folder(tmp_path / "mil+AR", {**info, "opencv": "other"})  # not a result-changing key
    with pytest.raises(ResultsMismatchError, match="refiner_fingerprint"):
        claim_folder(tmp_path / "mil+AR", {**info, "refiner_fingerprint": "def"})


def test_shards_cover_every_sequence_once(dataset: str) -> None:
    sequences = load_dataset(dataset)
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    picked = [s.name for i in range(2) for s in tracking.select_shard(sequences, (i, 2))]
    assert sorted(picked) == sorted(NAMES)
    short = limit_sequence(sequences[0], 4)
    assert len(short) == 4 and short.visible.shape == (4,)
    np.testing.assert_array_equal(short.frame(3), sequences[0].frame(3))


def test_eval_base_only_resumes_and_plots(
    dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    report = evaluate_trackers(dataset, ["mil"], out, progress=False)
    assert report is not None and report.convention == "pytracking"
    for name in NAMES:
        assert len(read_result_boxes(out / "mil" / f"{name}.txt")) == LENGTH
        assert len(read_times(out / "mil" / f"{name}_time.txt")) == LENGTH
    np.testing.assert_array_equal(
        read_result_boxes(out / "mil" / "alpha.txt")[0], load_dataset(dataset)[0].boxes[0]
    )
    assert 0.0 <= report.comparisons[0].base.scores.auc <= 1.0
    assert report.comparisons[0].base.fps > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trackers"]["mil"]["base"]["per_sequence"].keys() == set(NAMES)
    for plot in ("success.png", "precision.png", "norm_precision.png"):
        assert (out / plot).stat().st_size > 1000
    assert "mil" in report.table() and "AUC" in report.table()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a complete sequence was run again")

    monkeypatch.setattr(tracking, "track_sequence", fail)
    again = evaluate_trackers(dataset, ["mil"], out, progress=False, plots=False)
    assert again is not None and again.comparisons[0].base.scores.auc == pytest.approx(
        report.comparisons[0].base.scores.auc
    )


def test_eval_with_refiner_in_one_pass_and_with_reinit(
    dataset: str, weights: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # "alpha" has base results before the refiner runs (they are refined as saved), the
    # others get both in one pass.
    evaluate_trackers(dataset, ["mil"], out, max_frames=4, names=["alpha"], progress=False)
    report = evaluate_trackers(
        dataset, ["mil"], out, refiner=weights, device="cpu", max_frames=4, progress=False
    )
    assert report is not None
    comparison = report.comparisons[0]
    assert comparison.refined is not None and comparison.feedback == "none"
    for name in NAMES:
        # One pass: the refined run's base boxes are the base results.
        np.testing.assert_array_equal(
            read_result_boxes(out / "mil+AR" / f"{name}_base.txt"),
            read_result_boxes(out / "mil" / f"{name}.txt"),
        )
        assert read_times(out / "mil+AR" / f"{name}_timing.txt").shape == (12,)  # 4 x 3
        refined = read_result_boxes(out / "mil+AR" / f"{name}.txt")
        assert refined.shape == (4, 4) and np.all(np.isfinite(refined))
    assert (
        report.refiner_fingerprint
        == json.loads((out / "mil+AR" / "run.json").read_text())["refiner_fingerprint"]
    )
    table = report.table()
    assert "+AR" in table and "diff" in table and "feedback: none" in table
    assert "mean IoU (%)" in table and "worse better" in table
    changes = json.loads((out / "summary.json").read_text())["trackers"]["mil"]["frame_changes"]
    assert changes["margin"] == 0.05 and changes["frames"] == 3 * len(NAMES)  # 3 after the first
    assert set(changes["per_sequence"]) == set(NAMES)

    reinit = evaluate_trackers(
        dataset,
        ["mil"],
        out,
        refiner=weights,
        device="cpu",
        feedback="reinit",
        max_frames=4,
        names=["alpha"],
        progress=False,
        plots=False,
    )
    assert reinit is not None and reinit.comparisons[0].feedback == "reinit"
    assert is_complete(out / "mil+AR-reinit", "alpha", 4)

    with pytest.raises(ResultsMismatchError, match="max_frames"):
        evaluate_trackers(dataset, ["mil"], out, refiner=weights, device="cpu", progress=False)


def test_shards_then_summarize_only(dataset: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert evaluate_trackers(dataset, ["mil"], out, shard="0/2", progress=False) is None
    with pytest.raises(FileNotFoundError, match="run every shard first"):
        evaluate_trackers(dataset, ["mil"], out, summarize_only=True, progress=False)
    assert evaluate_trackers(dataset, ["mil"], out, shard=(1, 2), progress=False) is None
    report = evaluate_trackers(
        dataset, ["mil"], out, summarize_only=True, progress=False, plots=False
    )
    assert report is not None and report.sequences == NAMES


@pytest.mark.slow
def test_workers_run_in_separate_processes(dataset: str, weights: str, tmp_path: Path) -> None:
    report = evaluate_trackers(
        dataset,
        ["mil"],
        tmp_path / "out",
        refiner=weights,
        device="cpu",
        workers=2,
        max_frames=3,
        progress=False,
        plots=False,
    )
    assert report is not None
    assert all(is_complete(tmp_path / "out" / "mil+AR", n, 3) for n in NAMES)


def test_refine_saved_results(dataset: str, weights: str, tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    sequences = load_dataset(dataset)
    for sequence in sequences[:2]:  # the third sequence has no saved result
        jittered = sequence.boxes + np.array([2.0, -1.0, 4.0, 3.0])
        jittered[0] = sequence.boxes[0]
        saved.mkdir(exist_ok=True)
        lines = ["\t".join(f"{v:g}" for v in row) for row in jittered]  # tab-separated
        (saved / f"{sequence.name}.txt").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="no saved result for 1"):
        report = refine_saved_results(
            dataset, saved, tmp_path / "out", refiner=weights, device="cpu", progress=False
        )
    assert report is not None and report.sequences == NAMES[:2]
    comparison = report.comparisons[0]
    assert comparison.tracker == "saved" and comparison.refined is not None
    assert np.isnan(comparison.base.fps)  # no saved time files
    assert is_complete(tmp_path / "out" / "saved+AR", "alpha", LENGTH)
    np.testing.assert_array_equal(
        read_result_boxes(tmp_path / "out" / "saved+AR" / "alpha_base.txt"),
        read_result_boxes(saved / "alpha.txt"),
    )
    assert "no feedback" in report.table()


def test_frame_changes_count_frames_refinement_moved_by_more_than_the_margin() -> None:
    truth = np.tile([10.0, 10.0, 20.0, 20.0], (6, 1))
    truth[5] = np.nan  # no ground truth: not counted
    visible = np.ones(6, dtype=bool)
    visible[4] = False  # the dataset marks the target invisible: not counted
    sequence = Sequence(
        "seq", truth, lambda index: np.zeros((60, 60, 3), np.uint8), visible=visible
    )
    shifted = [20.0, 10.0, 20.0, 20.0]  # half the box off: IoU about 1/3
    nudged = [10.5, 10.0, 20.0, 20.0]  # IoU about 0.95: a change below 0.05
    base = np.array([truth[0], truth[0], truth[0], shifted, truth[0], truth[0]])
    refined = np.array([truth[0], nudged, shifted, truth[0], shifted, shifted])

    def scores(boxes: np.ndarray, name: str) -> TrackerScores:
        frames = evaluate_sequence(boxes, truth, None, "pytracking", name="seq")
        return TrackerScores(name, Path(name), summarize([frames]), [frames], float("nan"))

    changes = frame_changes(scores(base, "base"), scores(refined, "refined"), [sequence])
    # Counted: frames 1, 2, 3 (0 is the given box, 4 invisible, 5 without ground truth).
    assert changes.frames == 3
    assert changes.worse == pytest.approx(1 / 3) and changes.better == pytest.approx(1 / 3)
    assert changes.per_sequence == {"seq": (3, changes.worse, changes.better)}
    assert changes.to_dict()["per_sequence"]["seq"]["frames"] == 3


def _split_sequences() -> list[Sequence]:
    """Three 5-frame sequences for the splits: "big" has masks and a 150 px target; "small" is
    20 px for three frames, then 40 px; "mixed" is 100 px, without ground truth in frame 2."""
    frame = np.zeros((300, 300, 3), np.uint8)
    big = np.tile([10.0, 10.0, 150.0, 150.0], (5, 1))
    small = np.array([[5.0, 5.0, 20.0, 20.0]] * 3 + [[5.0, 5.0, 40.0, 40.0]] * 2)
    mixed = np.tile([0.0, 0.0, 100.0, 100.0], (5, 1))
    mixed[2] = np.nan
    masks = [np.ones((300, 300), bool)] * 5
    return [
        Sequence.from_arrays("big", [frame] * 5, big, masks=masks),
        Sequence.from_arrays("small", [frame] * 5, small),
        Sequence.from_arrays("mixed", [frame] * 5, mixed),
    ]


def _saved_split_results(root: Path, sequences: list[Sequence]) -> tuple[Path, Path]:
    """Base results (the ground truth, but mixed's frame 3 far off) and refined ones (the
    ground truth, but small's frames 1 and 2 far off), as an eval run writes them."""
    far = [250.0, 250.0, 10.0, 10.0]  # IoU 0 with every ground-truth box
    for name, sequence in (("mil", "mixed"), ("mil+AR", "small")):
        (root / name).mkdir(parents=True)
        for seq in sequences:
            boxes = np.nan_to_num(seq.boxes, nan=1.0)
            if seq.name == sequence:
                boxes[[3] if name == "mil" else [1, 2]] = far
            write_boxes(root / name / f"{seq.name}.txt", boxes)
    return root / "mil", root / "mil+AR"


def test_splits_by_ground_truth_and_target_size(tmp_path: Path) -> None:
    sequences = _split_sequences()
    base_dir, refined_dir = _saved_split_results(tmp_path / "run", sequences)
    base = score_folder(base_dir, sequences, "pytracking")
    refined = score_folder(refined_dir, sequences, "pytracking", name="mil+AR")
    grouping = Grouping.of(sequences)
    assert grouping.kinds == {"big": "masks", "small": "hand", "mixed": "hand"}
    both = compare("mil", base, refined, sequences, grouping, "none")
    assert both.changes is not None and both.changes.frames == 4 + 4 + 3  # after the first
    assert both.changes.worse == pytest.approx(2 / 11) and both.changes.better == 1 / 11

    kinds, sizes = both.splits["ground_truth"], both.splits["target_size"]
    assert list(kinds) == ["masks", "hand"]
    assert [(g.sequences, g.frames) for g in kinds.values()] == [(1, 4), (2, 7)]
    assert list(sizes) == ["under 32", "32-64", "64-128", "128 and over"]
    assert [(g.sequences, g.frames) for g in sizes.values()] == [(1, 2), (1, 2), (1, 3), (1, 4)]
    # Every counted frame is in one group of each split.
    assert sum(g.frames for g in kinds.values()) == sum(g.frames for g in sizes.values()) == 11
    # By ground truth: the scores of the kind's sequences, as the table scores all of them.
    hand = [s for s in sequences if s.name != "big"]
    assert kinds["hand"].base.auc == score_folder(base_dir, hand, "pytracking").scores.auc
    assert kinds["hand"].changes is not None
    assert (kinds["hand"].changes.worse, kinds["hand"].changes.better) == (2 / 7, 1 / 7)
    # By size: the frames pooled; IoU 1 succeeds at 20 of the 21 thresholds, IoU 0 at none.
    tiny, medium = sizes["under 32"], sizes["64-128"]
    assert tiny.base.auc == pytest.approx(20 / 21) and tiny.refined is not None
    assert tiny.refined.auc == 0.0 and tiny.refined.mean_iou == 0.0
    assert tiny.changes is not None and (tiny.changes.worse, tiny.changes.better) == (1.0, 0.0)
    assert medium.base.auc == pytest.approx(40 / 63) and medium.base.mean_iou == 2 / 3
    assert medium.changes is not None and medium.changes.better == 1 / 3

    # The override: "big" counted as drawn by hand, and the shared parser of --ground-truth.
    kinds_given = parse_ground_truth_kinds("big=hand, small=hand")
    assert kinds_given == {"big": "hand", "small": "hand"}
    with pytest.raises(ValueError, match="NAME=masks or NAME=hand"):
        parse_ground_truth_kinds("big=drawn")
    moved = compare("mil", base, refined, sequences, Grouping.of(sequences, kinds_given))
    assert list(moved.splits["ground_truth"]) == ["hand"]
    assert moved.splits["ground_truth"]["hand"].frames == 11
    assert moved.splits["target_size"].keys() == sizes.keys()
    # --max-frames keeps the masks, so the kind does not change.
    assert Grouping.of([limit_sequence(sequences[0], 3)]).kinds == {"big": "masks"}

    report = EvalReport("pytracking", "generated", [s.name for s in sequences], [both])
    report.ground_truth = grouping.kinds
    write_report(report, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ground_truth"] == grouping.kinds
    assert summary["size_bins"]["128 and over"] == [128.0, None]
    splits = summary["trackers"]["mil"]["splits"]
    assert splits["ground_truth"]["hand"]["frame_changes"]["frames"] == 7
    assert splits["target_size"]["under 32"]["delta"]["auc"] == pytest.approx(-20 / 21)
    assert set(splits["target_size"]["under 32"]["base"]) == {"auc", "mean_iou"}
    assert set(splits["ground_truth"]["masks"]["refined"]) == {
        "auc",
        "norm_precision",
        "precision",
        "mean_iou",
    }
    table = (tmp_path / "out" / "table.txt").read_text()
    assert "By ground truth and by target size" in table
    assert "boxes drawn by hand" in table and "128 and over" in table
    tiny_row = next(line for line in table.splitlines() if "under 32" in line)
    cells = [cell for cell in tiny_row.split() if cell != "|"]
    assert cells[:5] == ["mil", "under", "32", "1", "2"]  # tracker, size, sequences, frames
    assert "-95.2" in tiny_row and "100.0" in tiny_row  # AUC diff, share of frames made worse

    # The benchmark that re-scores eval runs groups as the library does.
    spec = importlib.util.spec_from_file_location(
        "eval_by_ground_truth",
        Path(__file__).parent.parent / "benchmarks" / "eval_by_ground_truth.py",
    )
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    rows = benchmark.split_run(tmp_path / "run", sequences)["mil+AR"]
    assert list(rows)[:3] == ["dev-all", "dev-masks", "dev-hand"]
    assert rows["dev-hand"]["sequences"] == 2 and rows["dev-hand"]["worse"] == 2 / 7
    assert rows["dev-all"]["auc_base"] == base.scores.auc
    assert rows["size under 32"]["auc_refined"] == 0.0


def test_plots_are_skipped_without_matplotlib(
    dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.warns(UserWarning, match="matplotlib is not installed"):
        evaluate_trackers(dataset, ["mil"], tmp_path, max_frames=2, progress=False)
    assert not (tmp_path / "success.png").exists() and (tmp_path / "summary.json").exists()


def test_cli_eval_refine_results_and_oracle(
    dataset: str, weights: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "eval")
    common = ["--dataset", dataset, "--max-frames", "3", "--no-progress", "--threads", "1"]
    args = ["eval", *common, "--tracker", "mil", "--refiner", "none", "--out", out]
    assert main([*args, "--ground-truth", "bravo=masks"]) == 0
    printed = capsys.readouterr().out
    assert "Base vs Base + AR" in printed and "mil" in printed
    assert "By ground truth and by target size" in printed and "boxes from masks" in printed
    summary = json.loads((Path(out) / "summary.json").read_text())
    assert summary["ground_truth"] == {"alpha": "hand", "bravo": "masks", "charlie": "hand"}
    kinds = summary["trackers"]["mil"]["splits"]["ground_truth"]
    assert {kind: group["frames"] for kind, group in kinds.items()} == {"masks": 2, "hand": 4}
    assert summary["trackers"]["mil"]["splits"]["target_size"]["under 32"]["frames"] == 6
    with pytest.raises(SystemExit):
        main([*args, "--ground-truth", "bravo=drawn"])
    assert "NAME=masks or NAME=hand" in capsys.readouterr().err

    refined = str(tmp_path / "refined")
    args = ["refine-results", *common, "--results", f"{out}/mil", "--out", refined]
    args += ["--ground-truth", "alpha=masks,charlie=masks"]
    assert main([*args, "--refiner", weights, "--device", "cpu", "--no-plots"]) == 0
    summary = json.loads((Path(refined) / "summary.json").read_text())
    assert "mil+AR" in summary["trackers"]["mil"]["refined"]["folder"]
    kinds = summary["trackers"]["mil"]["splits"]["ground_truth"]
    assert kinds["masks"]["sequences"] == 2 and kinds["masks"]["frame_changes"]["frames"] == 4
    printed = capsys.readouterr().out
    assert "no feedback" in printed and "boxes drawn by hand" in printed

    oracle = tmp_path / "oracle.json"
    assert (
        main(
            [
                *("oracle", "--dataset", dataset, "--refiner", weights, "--device", "cpu"),
                *("--frames-per-sequence", "2", "--out", str(oracle), "--no-progress"),
                *("--scale-jitter", "0.5", "--centre-jitter", "0.5", "--threads", "1"),
            ]
        )
        == 0
    )
    summary = json.loads(oracle.read_text())
    assert summary["frames"] == 2 * len(NAMES) and summary["scale_jitter"] == 0.5
    assert 0.0 <= summary["mean_iou_before"] <= 1.0 and set(summary["per_sequence"]) == set(NAMES)
    assert "IoU before" in capsys.readouterr().out


def test_cli_errors_are_clear(
    dataset: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = Refiner.from_pretrained.__func__  # type: ignore[attr-defined]

    def no_embedded(cls: type[Refiner], name: Any = None, **kwargs: Any) -> Refiner:
        if name is None:
            raise FileNotFoundError("no embedded weights in this build")
        return original(cls, name, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Refiner, "from_pretrained", classmethod(no_embedded))
    args = ["eval", "--dataset", dataset, "--tracker", "mil", "--out", str(tmp_path)]
    assert main([*args, "--refiner", "default"]) == 2
    assert "runs/default-r18/latest" in capsys.readouterr().err
    assert main([*args, "--tracker", "mil,nope", "--refiner", "none"]) == 2
    assert "unknown tracker 'nope'" in capsys.readouterr().err
    assert main([*args, "--refiner", "none", "--shard", "2/2"]) == 2
    assert "0 <= i < n" in capsys.readouterr().err


def test_gate_option_names_its_own_results_folder(
    dataset: str, weights: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common: dict[str, Any] = {"refiner": weights, "device": "cpu", "max_frames": 3}
    off = evaluate_trackers(dataset, ["mil"], out, gate=False, progress=False, **common)
    on = evaluate_trackers(dataset, ["mil"], out, gate=True, progress=False, **common)
    assert off is not None and on is not None
    assert "safe-refine gate: off" in off.table() and "safe-refine gate: on" in on.table()
    assert json.loads((out / "mil+AR" / "run.json").read_text())["gate"] is None
    gate = json.loads((out / "mil+AR+gate" / "run.json").read_text())["gate"]
    assert gate == GateConfig().to_dict()
    assert all(is_complete(out / "mil+AR+gate", n, 3) for n in NAMES)
    # Both refined the same saved base trajectory.
    np.testing.assert_array_equal(
        read_result_boxes(out / "mil+AR+gate" / "alpha_base.txt"),
        read_result_boxes(out / "mil+AR" / "alpha_base.txt"),
    )
    with pytest.raises(ValueError, match="gate: set it on the Refiner"):
        evaluate_trackers(
            dataset, ["mil"], out, refiner=runner.load_refiner(weights, "cpu"), gate=True
        )

    refined = str(tmp_path / "refined")
    args = ["refine-results", "--dataset", dataset, "--results", str(out / "mil")]
    args += ["--out", refined, "--refiner", weights, "--device", "cpu", "--gate", "on"]
    assert main([*args, "--max-frames", "3", "--no-progress", "--no-plots"]) == 0
    assert "safe-refine gate: on" in capsys.readouterr().out
    assert is_complete(Path(refined) / "mil+AR+gate", "alpha", 3)


def test_blend_and_flip_options_name_their_own_results_folders(
    dataset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from alpha_refine import AlphaRefineNet, ModelConfig

    torch.manual_seed(0)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18", blend_head=True))
    weights = str(Refiner.from_network(network).save_pretrained(tmp_path / "blend-r18"))
    out = tmp_path / "out"
    common: dict[str, Any] = {"refiner": weights, "device": "cpu", "max_frames": 3}
    off = evaluate_trackers(dataset, ["mil"], out, progress=False, **common)
    on = evaluate_trackers(dataset, ["mil"], out, blend=True, progress=False, **common)
    assert off is not None and on is not None
    assert "blend head: off" in off.table() and "blend head: on" in on.table()
    assert json.loads((out / "mil+AR" / "run.json").read_text())["blend"] is False
    assert json.loads((out / "mil+AR+blend" / "run.json").read_text())["blend"] is True
    assert all(is_complete(out / "mil+AR+blend", n, 3) for n in NAMES)
    both = evaluate_trackers(dataset, ["mil"], out, blend=True, flip=True, progress=False, **common)
    assert both is not None and "mirrored views: on" in both.table()
    info = json.loads((out / "mil+AR+blend+flip" / "run.json").read_text())
    assert info["blend"] is True and info["flip"] is True
    assert all(is_complete(out / "mil+AR+blend+flip", n, 3) for n in NAMES)
    with pytest.raises(ValueError, match="blend: set it on the Refiner"):
        evaluate_trackers(
            dataset, ["mil"], out, refiner=runner.load_refiner(weights, "cpu"), blend=True
        )

    summary = tmp_path / "oracle.json"
    args = ["oracle", "--dataset", dataset, "--refiner", weights, "--device", "cpu"]
    args += ["--blend", "on", "--flip", "on", "--frames-per-sequence", "2", "--no-progress"]
    assert main([*args, "--out", str(summary)]) == 0
    capsys.readouterr()
    recorded = json.loads(summary.read_text())
    assert recorded["blend"] is True and recorded["flip"] is True


def test_interrupted_evaluation_resumes_where_it_stopped(
    dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    real = tracking.track_sequence
    runs: list[str] = []
    interrupt = {"at": 1}  # Ctrl-C when the second sequence starts

    def tracked(tracker: Any, sequence: Any, **kwargs: Any) -> Any:
        if len(runs) == interrupt["at"]:
            raise KeyboardInterrupt
        runs.append(sequence.name)
        return real(tracker, sequence, **kwargs)

    monkeypatch.setattr(tracking, "track_sequence", tracked)
    with pytest.raises(KeyboardInterrupt):
        evaluate_trackers(dataset, ["mil"], out, max_frames=3, progress=False, plots=False)
    # Nothing half written for the interrupted sequence.
    assert sorted(p.name for p in (out / "mil").iterdir()) == [
        "alpha.txt",
        "alpha_time.txt",
        "run.json",
    ]
    interrupt["at"] = -1
    report = evaluate_trackers(dataset, ["mil"], out, max_frames=3, progress=False, plots=False)
    assert report is not None and report.sequences == NAMES
    assert runs == ["alpha", "bravo", "charlie"]  # alpha was not run again

"""Dataset readers on tiny fake datasets of every supported layout (no shared data needed)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from alpha_refine.data import (
    DatasetWarning,
    MaskBoxSequence,
    Sequence,
    load_dataset,
    load_uav123,
    read_boxes,
)
from alpha_refine.data import segmentation as segmentation_module
from alpha_refine.data.annotations import list_images, natural_key, read_flags
from alpha_refine.data.segmentation import (
    BenchmarkSequenceError,
    load_davis_train,
    read_davis_split,
)
from alpha_refine.data.vot import decode_vot_rle, vot_rle_to_mask

W, H = 16, 12
NAN = float("nan")


def _frames(folder: Path, names: Iterable[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        cv2.imwrite(str(path), np.full((H, W, 3), 10 * i, np.uint8))
        paths.append(path)
    return paths


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _palette_png(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 9))
    image.save(path)


def _count_mask_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every annotation PNG the segmentation readers decode."""
    decoded: list[Path] = []
    read = segmentation_module.read_id_mask

    def counting(path: str | Path) -> np.ndarray:
        decoded.append(Path(path))
        return read(path)

    monkeypatch.setattr(segmentation_module, "read_id_mask", counting)
    return decoded


@pytest.fixture
def imread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every cv2.imread call: listing a dataset must make none."""
    calls: list[str] = []
    original = cv2.imread

    def counting(path: str, *args: int) -> np.ndarray | None:
        calls.append(path)
        return original(path, *args)

    monkeypatch.setattr(cv2, "imread", counting)
    return calls


# ---------------------------------------------------------------------------- box text


def test_read_boxes_is_robust(tmp_path: Path) -> None:
    path = _text(
        tmp_path / "gt.txt",
        "1,2,3,4\n5\t6\t7\t8\n9 10  11 12\nNaN,nan,NAN,nan\n1e1, 2.5E-1,3,4\n\n\n",
    )
    boxes = read_boxes(path)
    assert boxes.shape == (5, 4)
    np.testing.assert_array_equal(boxes[:3, 0], [1, 5, 9])
    assert np.isnan(boxes[3]).all()
    np.testing.assert_array_equal(boxes[4], [10, 0.25, 3, 4])
    assert read_boxes(_text(tmp_path / "empty.txt", "\n")).shape == (0, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3,4\n1,2,3\n", r"gt\.txt:2: expected 4 values, got 3"),
        ("1,2,3,4\n\n1,2,3,4\n", r"gt\.txt:2: blank line"),
        ("1,2,3,x\n", r"gt\.txt:1: not a list of numbers"),
    ],
)
def test_read_boxes_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_boxes(_text(tmp_path / "gt.txt", text))


def test_frame_order_is_natural(tmp_path: Path) -> None:
    _frames(tmp_path, [f"{i}.jpg" for i in (10, 2, 1, 0)])
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["0.jpg", "1.jpg", "2.jpg", "10.jpg"]
    assert natural_key("img0002.jpg") < natural_key("img0010.jpg")


def test_read_flags_checks_length(tmp_path: Path) -> None:
    np.testing.assert_array_equal(read_flags(_text(tmp_path / "f.txt", "0,1,0")), [0, 1, 0])
    with pytest.raises(ValueError, match="2 values for 3 frames"):
        read_flags(_text(tmp_path / "g.txt", "0\n1\n"), 3)


# ----------------------------------------------------------------------------- readers


def test_otb(tmp_path: Path, imread_calls: list[str]) -> None:
    root = tmp_path / "otb"
    _frames(root / "Basketball" / "img", ["0001.jpg", "0002.jpg"])
    _text(root / "Basketball" / "groundtruth_rect.txt", "1,2,3,4\n2,3,4,5\n")
    _frames(root / "Jogging" / "img", ["0001.jpg", "0002.jpg"])
    _text(root / "Jogging" / "groundtruth_rect.1.txt", "1\t2\t3\t4\n1\t2\t3\t4\n")
    _text(root / "Jogging" / "groundtruth_rect.2.txt", "5 6 7 8\n5 6 7 8\n")
    # David's annotation covers frames 300..770 (here the folder holds 298..302).
    _frames(root / "David" / "img", [f"{i:04d}.jpg" for i in range(298, 303)])
    _text(root / "David" / "groundtruth_rect.txt", "1,1,2,2\n" * 3)
    # Football1 covers frames 1..74: the first of the extra frames, not the last.
    _frames(root / "Football1" / "img", [f"{i:04d}.jpg" for i in range(73, 77)])
    _text(root / "Football1" / "groundtruth_rect.txt", "1,1,2,2\n" * 2)

    sequences = load_dataset(f"otb:{root}")
    assert [s.name for s in sequences] == [
        "Basketball",
        "David",
        "Football1",
        "Jogging-1",
        "Jogging-2",
    ]
    by_name = {s.name: s for s in sequences}
    np.testing.assert_array_equal(by_name["Jogging-2"].boxes[0], [5, 6, 7, 8])
    david = by_name["David"].attributes["frame_paths"]
    assert [p.name for p in david] == ["0300.jpg", "0301.jpg", "0302.jpg"]
    football = by_name["Football1"].attributes["frame_paths"]
    assert [p.name for p in football] == ["0073.jpg", "0074.jpg"]
    assert imread_calls == []
    assert by_name["Basketball"].frame(1).shape == (H, W, 3)
    assert len(imread_calls) == 1


def test_otb_unknown_extra_frames_take_the_last_with_a_warning(tmp_path: Path) -> None:
    _frames(tmp_path / "Tiger9" / "img", ["0001.jpg", "0002.jpg", "0003.jpg"])
    _text(tmp_path / "Tiger9" / "groundtruth_rect.txt", "1,1,2,2\n1,1,2,2\n")
    with pytest.warns(DatasetWarning, match="using the last 2 frames"):
        (sequence,) = load_dataset(f"otb:{tmp_path}")
    assert [p.name for p in sequence.attributes["frame_paths"]] == ["0002.jpg", "0003.jpg"]


def _lasot(root: Path) -> None:
    for name in ("airplane-1", "airplane-2"):
        seq = root / "airplane" / name
        _frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, 4)])
        _text(seq / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n0,0,0,0\n")
        _text(seq / "full_occlusion.txt", "0,1,0")
        _text(seq / "out_of_view.txt", "0,0,1")


def test_lasot(tmp_path: Path, imread_calls: list[str]) -> None:
    _lasot(tmp_path)
    sequences = load_dataset(f"lasot:{tmp_path}")
    assert [s.name for s in sequences] == ["airplane-1", "airplane-2"]
    first = sequences[0]
    np.testing.assert_array_equal(first.visible, [True, False, False])
    np.testing.assert_array_equal(first.attributes["target_visible"], [True, False, False])
    assert first.attributes["class"] == "airplane"
    list_file = _text(tmp_path / "test.txt", "airplane-2\n")
    listed = load_dataset(f"lasot:{tmp_path}:{list_file}")
    assert [s.name for s in listed] == ["airplane-2"]
    assert imread_calls == []
    with pytest.raises(FileNotFoundError, match="boat-3"):
        load_dataset(f"lasot:{tmp_path}:{_text(tmp_path / 'bad.txt', 'boat-3')}")


def test_got10k(tmp_path: Path, imread_calls: list[str]) -> None:
    val = tmp_path / "val"
    _text(val / "list.txt", "GOT-10k_Val_000002\nGOT-10k_Val_000001\n")
    for name in ("GOT-10k_Val_000001", "GOT-10k_Val_000002"):
        _frames(val / name, [f"{i:08d}.jpg" for i in range(1, 4)])
        _text(val / name / "groundtruth.txt", "1,2,3,4\n2,3,4,5\n3,4,5,6\n")
        _text(val / name / "absence.label", "0\n0\n1\n")
        _text(val / name / "cover.label", "8\n0\n0\n")
        _text(val / name / "meta_info.ini", "[METAINFO]\nresolution: (1280, 720)\n")
    test = tmp_path / "test" / "GOT-10k_Test_000001"
    _frames(test, [f"{i:08d}.jpg" for i in range(1, 4)])
    _text(test / "groundtruth.txt", "1,2,3,4\n")
    _text(tmp_path / "test" / "list.txt", "GOT-10k_Test_000001\n")

    sequences = load_dataset(f"got10k:{tmp_path}:val")
    assert [s.name for s in sequences] == ["GOT-10k_Val_000002", "GOT-10k_Val_000001"]
    np.testing.assert_array_equal(sequences[0].visible, [True, False, False])
    assert sequences[0].attributes["image_size"] == (1280, 720)
    (test_sequence,) = load_dataset(f"got10k:{tmp_path}:test")
    assert np.isnan(test_sequence.boxes[1:]).all()
    np.testing.assert_array_equal(test_sequence.visible, [True, False, False])
    assert imread_calls == []
    with pytest.raises(FileNotFoundError, match="no split 'train'"):
        load_dataset(f"got10k:{tmp_path}:train")
    with pytest.raises(ValueError, match="name a split"):
        load_dataset(f"got10k:{tmp_path}")


def test_trackingnet(tmp_path: Path) -> None:
    _frames(tmp_path / "TRAIN_0" / "frames" / "abc_1", [f"{i}.jpg" for i in range(11)])
    _text(tmp_path / "TRAIN_0" / "anno" / "abc_1.txt", "1,2,3,4\n" * 11)
    _frames(tmp_path / "TEST" / "frames" / "xyz", ["0.jpg", "1.jpg"])
    _text(tmp_path / "TEST" / "anno" / "xyz.txt", "1,2,3,4\n")
    (train,) = load_dataset(f"trackingnet:{tmp_path}:TRAIN")
    assert [p.name for p in train.attributes["frame_paths"]][-3:] == ["8.jpg", "9.jpg", "10.jpg"]
    (test,) = load_dataset(f"trackingnet:{tmp_path}:TEST")
    assert test.name == "xyz" and np.isnan(test.boxes[1]).all()
    assert len(load_dataset(f"trackingnet:{tmp_path}")) == 2


def _uav123(root: Path) -> None:
    _frames(root / "data_seq" / "UAV123" / "bike1", [f"{i:06d}.jpg" for i in range(1, 4)])
    _text(root / "anno" / "UAV123" / "bike1.txt", "1,2,3,4\nNaN,NaN,NaN,NaN\n1,2,3,4\n")
    _frames(root / "data_seq" / "UAV123" / "bird1", [f"{i:06d}.jpg" for i in range(1, 7)])
    _text(root / "anno" / "UAV123" / "bird1_1.txt", "1,1,2,2\n1,1,2,2\n")
    _text(root / "anno" / "UAV123" / "bird1_2.txt", "3,3,2,2\n3,3,2,2\n")


def test_uav123(tmp_path: Path) -> None:
    _uav123(tmp_path)
    with pytest.warns(DatasetWarning, match=r"2 split annotations skipped.*bird1_1"):
        (bike,) = load_dataset(f"uav123:{tmp_path}")
    assert bike.name == "bike1"
    np.testing.assert_array_equal(bike.visible, [True, False, True])
    ranges = _text(tmp_path / "ranges.json", json.dumps({"bird1_1": [1, 2], "bird1_2": [4, 5]}))
    sequences = load_dataset(f"uav123:{tmp_path}:{ranges}")
    assert [s.name for s in sequences] == ["bike1", "bird1_1", "bird1_2"]
    bird2 = sequences[2].attributes["frame_paths"]
    assert [p.name for p in bird2] == ["000004.jpg", "000005.jpg"]
    as_dict = load_uav123(tmp_path, ranges={"bird1_2": (5, 6)}, names=["bird1_2"])
    assert [p.name for p in as_dict[0].attributes["frame_paths"]] == ["000005.jpg", "000006.jpg"]


def test_vot_rle_decoding() -> None:
    # A 3 x 2 region at (5, 4): runs 1 zero, 3 ones, rest zeros -> row 0: 0 1 1, row 1: 1 0 0.
    x, y, region = decode_vot_rle("m5,4,3,2,1,3")
    assert (x, y) == (5, 4)
    np.testing.assert_array_equal(region, [[0, 1, 1], [1, 0, 0]])
    mask = vot_rle_to_mask("m5,4,3,2,1,3", (W, H))
    assert mask.shape == (H, W) and mask.sum() == 3 and mask[4, 6] and mask[5, 5]
    # A region reaching past the frame is cut.
    assert vot_rle_to_mask("m15,11,2,2,0,4", (W, H)).sum() == 1
    with pytest.raises(ValueError, match="do not fit"):
        decode_vot_rle("m0,0,2,2,1,9")


def test_vot(tmp_path: Path, imread_calls: list[str]) -> None:
    _text(tmp_path / "list.txt", "rect\npoly\nmask\n")
    _frames(tmp_path / "rect" / "color", ["00000001.jpg", "00000002.jpg"])
    _text(tmp_path / "rect" / "groundtruth.txt", "1,2,3,4\n2,3,4,5\n")
    _text(tmp_path / "rect" / "occlusion.tag", "0\n1\n")
    _text(tmp_path / "rect" / "camera_motion.tag", "1\n")  # stops early: padded with 0
    _frames(tmp_path / "poly", ["00000001.jpg", "00000002.jpg"])
    _text(tmp_path / "poly" / "groundtruth.txt", "6,193,6,166,49,166,49,193\n1,1,3,1,3,4,1,4\n")
    _frames(tmp_path / "mask" / "color", ["00000001.jpg", "00000002.jpg"])
    _text(tmp_path / "mask" / "groundtruth.txt", "m5,4,3,2,1,3\nm0,0,2,2,4\n")

    rect, poly, mask = load_dataset(f"vot:{tmp_path}")
    np.testing.assert_array_equal(rect.attributes["occlusion"], [False, True])
    np.testing.assert_array_equal(rect.attributes["camera_motion"], [True, False])
    # Polygon -> min/max box: x 6..49, y 166..193.
    np.testing.assert_array_equal(poly.boxes, [[6, 166, 43, 27], [1, 1, 2, 3]])
    assert not rect.has_masks and mask.has_masks
    # Mask box: pixels at columns 5..7, rows 4..5 -> x 5, y 4, w 3, h 2; frame 2 is empty.
    np.testing.assert_array_equal(mask.boxes[0], [5, 4, 3, 2])
    np.testing.assert_array_equal(mask.visible, [True, False])
    assert imread_calls == []
    full = mask.mask(0)
    assert full is not None and full.shape == (H, W) and full.sum() == 3
    assert imread_calls == []  # the frame size came from the image header


def test_vot_bad_line(tmp_path: Path) -> None:
    _frames(tmp_path / "a", ["1.jpg"])
    _text(tmp_path / "a" / "groundtruth.txt", "1,2,3,4,5\n")
    with pytest.raises(ValueError, match=r"groundtruth\.txt:1: expected 4"):
        load_dataset(f"vot:{tmp_path}")


def _davis(root: Path) -> None:
    ids = np.zeros((H, W), np.uint8)
    ids[2:5, 3:8] = 1  # object 1: columns 3..7, rows 2..4
    ids[8:10, 10:12] = 2
    for video in ("bear", "dogs"):
        _frames(root / "JPEGImages" / "480p" / video, ["00000.jpg", "00001.jpg", "00002.jpg"])
        _palette_png(root / "Annotations" / "480p" / video / "00000.png", ids)
        _palette_png(root / "Annotations" / "480p" / video / "00001.png", ids)
        _palette_png(
            root / "Annotations" / "480p" / video / "00002.png", np.where(ids == 2, 0, ids)
        )
    _text(root / "ImageSets" / "2017" / "val.txt", "dogs\n")


def test_davis(tmp_path: Path, imread_calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _davis(tmp_path)
    decoded = _count_mask_decodes(monkeypatch)
    sequences = load_dataset(f"davis:{tmp_path}:val")
    assert [s.name for s in sequences] == ["dogs_1", "dogs_2"]
    assert len(decoded) == 1  # the first annotation, for the object ids
    one, two = sequences
    assert isinstance(one, MaskBoxSequence) and isinstance(one, Sequence)
    assert len(one) == 3 and len(decoded) == 1
    np.testing.assert_array_equal(one.boxes[0], [3, 2, 5, 3])
    assert len(decoded) == 4  # the video's three annotations, once for both objects
    np.testing.assert_array_equal(two.boxes[1], [10, 8, 2, 2])
    np.testing.assert_array_equal(two.visible, [True, True, False])
    assert np.isnan(two.boxes[2]).all()
    assert len(decoded) == 4
    mask = two.mask(0)
    assert mask is not None and mask.dtype == bool and mask.sum() == 4
    assert imread_calls == []
    assert len(load_dataset(f"davis:{tmp_path}")) == 4


def test_davis_2016_binary_masks_are_object_1(tmp_path: Path) -> None:
    _frames(tmp_path / "JPEGImages" / "480p" / "cows", ["00000.jpg"])
    mask = np.zeros((H, W), np.uint8)
    mask[1:3, 1:3] = 255
    (tmp_path / "Annotations" / "480p" / "cows").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "Annotations" / "480p" / "cows" / "00000.png"), mask)
    (cows,) = load_dataset(f"davis:{tmp_path}")
    assert cows.name == "cows_1"
    np.testing.assert_array_equal(cows.boxes[0], [1, 1, 2, 2])


def test_youtubevos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = tmp_path / "train"
    _frames(train / "JPEGImages" / "vid1", ["00000.jpg", "00001.jpg", "00002.jpg"])
    ids = np.zeros((H, W), np.uint8)
    ids[0:2, 0:4] = 1
    ids[5:6, 5:6] = 2
    _palette_png(train / "Annotations" / "vid1" / "00000.png", ids)
    _palette_png(train / "Annotations" / "vid1" / "00002.png", ids)
    meta = {"videos": {"vid1": {"objects": {"1": {"category": "cat"}, "2": {"category": "dog"}}}}}
    _text(train / "meta.json", json.dumps(meta))
    decoded = _count_mask_decodes(monkeypatch)
    cat, dog = load_dataset(f"youtubevos:{tmp_path}:train")
    assert decoded == []
    assert (cat.name, cat.attributes["category"], dog.attributes["category"]) == (
        "vid1_1",
        "cat",
        "dog",
    )
    np.testing.assert_array_equal(cat.boxes[0], [0, 0, 4, 2])
    assert np.isnan(cat.boxes[1]).all() and cat.mask(1) is None  # frame not annotated
    np.testing.assert_array_equal(dog.visible, [True, False, True])
    with pytest.raises(FileNotFoundError, match="name a split"):
        load_dataset(f"youtubevos:{tmp_path}")


def _plain(root: Path) -> None:
    for name, n in (("alpha", 3), ("beta", 2)):
        _frames(root / name / "img", [f"{i:05d}.jpg" for i in range(n)])
        _text(root / name / "groundtruth.txt", "1,2,3,4\n" * n)
    mask = np.zeros((H, W), np.uint8)
    mask[2:4, 5:9] = 255
    (root / "alpha" / "masks").mkdir()
    for i in (0, 2):  # frame 1 has no mask file
        cv2.imwrite(str(root / "alpha" / "masks" / f"{i:05d}.png"), mask)
    _text(root / "alpha" / "meta" / "occlusion.label", "0\n1\n0\n")


def test_plain(tmp_path: Path, imread_calls: list[str]) -> None:
    _plain(tmp_path)
    alpha, beta = load_dataset(str(tmp_path))
    assert (alpha.name, len(alpha), beta.name, len(beta)) == ("alpha", 3, "beta", 2)
    assert alpha.has_masks and not beta.has_masks
    np.testing.assert_array_equal(alpha.attributes["occlusion"], [False, True, False])
    assert imread_calls == []
    mask = alpha.mask(2)
    assert mask is not None and mask.sum() == 8
    assert alpha.mask(1) is None
    (single,) = load_dataset(f"plain:{tmp_path / 'beta'}")
    assert single.name == "beta"
    assert [s.name for s in load_dataset(f"plain:{tmp_path}", names=["beta"])] == ["beta"]


def test_frames_with_one_box(tmp_path: Path) -> None:
    _frames(tmp_path / "clip", ["a.jpg", "b.jpg", "c.jpg"])
    boxes = _text(tmp_path / "init.txt", "4 5 6 7\n")
    (sequence,) = load_dataset(f"frames:{tmp_path / 'clip'}:{boxes}")
    assert sequence.name == "clip" and len(sequence) == 3
    assert np.isnan(sequence.boxes[1:]).all()
    np.testing.assert_array_equal(sequence.visible, [True, False, False])
    _text(tmp_path / "two.txt", "1,2,3,4\n1,2,3,4\n")
    with pytest.raises(ValueError, match="3 frames but 2 boxes"):
        load_dataset(f"frames:{tmp_path / 'clip'}:{tmp_path / 'two.txt'}")


def test_listing_survives_unreadable_frames(tmp_path: Path) -> None:
    _plain(tmp_path)
    (tmp_path / "beta" / "img" / "00001.jpg").write_bytes(b"not a jpeg")
    _, beta = load_dataset(str(tmp_path))
    assert beta.frame(0).shape == (H, W, 3)
    with pytest.raises(FileNotFoundError, match="cannot read image"):
        beta.frame(1)


# ----------------------------------------------------------------------------- specs


def test_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown dataset kind 'kitti'.*otb:/root"):
        load_dataset("kitti:/data")
    with pytest.raises(FileNotFoundError, match=r"'otb:/no/such/dir'.*known"):
        load_dataset("otb:/no/such/dir")
    with pytest.raises(FileNotFoundError, match="no such path"):
        load_dataset(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="takes no"):
        load_dataset(f"otb:{tmp_path}:extra")
    with pytest.raises(ValueError, match="give the box file"):
        load_dataset(f"frames:{tmp_path}")
    with pytest.raises(ValueError, match="no sequence folders"):
        load_dataset(str(tmp_path))
    _plain(tmp_path)
    with pytest.raises(ValueError, match=r"no sequences named \['gamma'\]"):
        load_dataset(str(tmp_path), names=["alpha", "gamma"])


def test_names_filter_keeps_dataset_order(tmp_path: Path) -> None:
    _lasot(tmp_path)
    names = ["airplane-2", "airplane-1"]
    assert [s.name for s in load_dataset(f"LaSOT:{tmp_path}", names=names)] == [
        "airplane-1",
        "airplane-2",
    ]


def _davis_2016(root: Path) -> None:
    """A DAVIS-2016 tree: 480p frame lists as split files, 0/255 masks."""
    mask = np.zeros((H, W), np.uint8)
    mask[2:5, 3:8] = 255
    lines = {"train": "", "val": ""}
    for video, split in (("bear", "train"), ("boat", "train"), ("blackswan", "val")):
        _frames(root / "JPEGImages" / "480p" / video, ["00000.jpg", "00001.jpg"])
        (root / "Annotations" / "480p" / video).mkdir(parents=True)
        for frame in ("00000", "00001"):
            cv2.imwrite(str(root / "Annotations" / "480p" / video / f"{frame}.png"), mask)
            lines[split] += (
                f"/JPEGImages/480p/{video}/{frame}.jpg /Annotations/480p/{video}/{frame}.png \n"
            )
    for split, text in lines.items():
        _text(root / "ImageSets" / "480p" / f"{split}.txt", text)


def test_davis_2016_frame_list_splits(tmp_path: Path) -> None:
    _davis_2016(tmp_path)
    assert read_davis_split(tmp_path / "ImageSets" / "480p" / "train.txt") == ["bear", "boat"]
    assert [s.name for s in load_dataset(f"davis:{tmp_path}:val")] == ["blackswan_1"]
    (bear,) = load_dataset(f"davis:{tmp_path}:train", names=["bear_1"])
    np.testing.assert_array_equal(bear.boxes[1], [3, 2, 5, 3])


def test_davis_training_source_reads_the_train_list_only(tmp_path: Path) -> None:
    _davis_2016(tmp_path)
    assert [s.name for s in load_davis_train(tmp_path)] == ["bear_1", "boat_1"]
    assert [s.name for s in load_davis_train(tmp_path, exclude=["bear"])] == ["boat_1"]
    assert [s.name for s in load_davis_train(tmp_path, names=["boat_1"])] == ["boat_1"]


@pytest.mark.parametrize("names", [["blackswan"], ["blackswan_1"], ["bear", "blackswan"]])
def test_davis_training_source_refuses_validation_videos(tmp_path: Path, names: list[str]) -> None:
    _davis_2016(tmp_path)
    with pytest.raises(BenchmarkSequenceError, match=r"blackswan.*validation videos: benchmarks"):
        load_davis_train(tmp_path, names=names)
    with pytest.raises(BenchmarkSequenceError, match="not in its train list"):
        load_davis_train(tmp_path, exclude=["no-such-video"])


def test_training_reads_davis_through_its_train_list_only(tmp_path: Path) -> None:
    from alpha_refine.train.config import TrainConfig
    from alpha_refine.train.loop import build_sources

    _davis_2016(tmp_path)
    config = TrainConfig.from_dict({"data": [{"kind": "davis", "spec": str(tmp_path)}]})
    (source,) = build_sources(config)
    assert [s.name for s in source.sequences] == ["bear_1", "boat_1"]
    unsafe = TrainConfig.from_dict({"data": [{"kind": "dataset", "spec": f"davis:{tmp_path}"}]})
    with pytest.raises(ValueError, match='kind = "davis"'):
        build_sources(unsafe)
    named = TrainConfig.from_dict(
        {"data": [{"kind": "davis", "spec": str(tmp_path), "names": ["blackswan"]}]}
    )
    with pytest.raises(BenchmarkSequenceError):
        build_sources(named)

"""``iter_frames``: a video file, a folder, a glob or a printf pattern, in frame order."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from alpha_refine.data import frame_files, iter_frames


def _frames(count: int) -> list[NDArray[np.uint8]]:
    # Flat grey levels survive JPEG and video compression almost unchanged.
    return [np.full((24, 32, 3), 20 * (i + 1), np.uint8) for i in range(count)]


def _levels(frames: list[NDArray[np.uint8]]) -> list[int]:
    return [round(float(frame.mean())) for frame in frames]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "img"
    folder.mkdir()
    # Unpadded numbers: natural order puts 2 before 10; a text file is not a frame.
    for index, frame in enumerate(_frames(11), start=1):
        cv2.imwrite(str(folder / f"{index}.png"), frame)
    (folder / "groundtruth.txt").write_text("1,2,3,4\n")
    return folder


def test_folder_glob_and_printf_pattern_give_the_frames_in_order(image_folder: Path) -> None:
    expected = [20 * i for i in range(1, 12)]
    for source in (image_folder, str(image_folder / "*.png"), str(image_folder / "%d.png")):
        frames = list(iter_frames(source))
        assert _levels(frames) == expected, source
        assert all(f.dtype == np.uint8 and f.shape == (24, 32, 3) for f in frames)
    files = frame_files(image_folder / "%d.png")
    assert files is not None
    assert [f.name for f in files[:3]] == ["1.png", "2.png", "3.png"]


def test_zero_padded_printf_pattern_matches_only_padded_names(tmp_path: Path) -> None:
    for index, frame in enumerate(_frames(3)):
        cv2.imwrite(str(tmp_path / f"{index:08d}.jpg"), frame)
    cv2.imwrite(str(tmp_path / "7.jpg"), _frames(1)[0])
    assert _levels(list(iter_frames(tmp_path / "%08d.jpg"))) == [20, 40, 60]


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (32, 24))
    for frame in _frames(4):
        writer.write(frame)
    writer.release()
    assert frame_files(path) is None
    levels = _levels(list(iter_frames(path)))
    assert len(levels) == 4
    np.testing.assert_allclose(levels, [20, 40, 60, 80], atol=3)


def test_nothing_to_read_is_a_clear_error_at_once(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        iter_frames(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no files match"):
        iter_frames(str(tmp_path / "*.jpg"))
    with pytest.raises(FileNotFoundError, match="printf pattern"):
        iter_frames(tmp_path / "%08d.jpg")
    with pytest.raises(FileNotFoundError, match="not a video file, a folder of images, a glob"):
        iter_frames(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(FileNotFoundError, match="cannot open video"):
        iter_frames(tmp_path / "notes.mp4")

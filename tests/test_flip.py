"""``Refiner(flip=True)``: the crop's view averaged with its mirror image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, Refiner
from alpha_refine.geometry import convert_boxes

TRAINED_RESNET = Path(__file__).parent / "data" / "trained-r18"
# Integer boxes with even sizes: the search window of the mirrored box is the mirror image of
# the box's window, so the mirrored frame's crop is the crop's mirror image.
BOX = np.array([70.0, 40.0, 60.0, 50.0])
TEMPLATE_BOX = np.array([66.0, 44.0, 56.0, 46.0])
SHIFT = np.array([30.0, 20.0, 0.0, 0.0])  # a second target


def _refiner(backend: str = "torch", **options: object) -> Refiner:
    """The trained ResNet-18 fixture (random weights give degenerate, clipped boxes) with a
    blend head in its initial state (weights near one, so blending moves the boxes little)."""
    trained = Refiner.from_pretrained(TRAINED_RESNET, backend="torch").network
    torch.manual_seed(0)
    network = AlphaRefineNet(replace(trained.config, blend_head=True)).eval()
    network.load_state_dict(trained.state_dict(), strict=False)
    return Refiner.from_network(network, device="cpu", backend=backend, **options)


def _frames(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(2, 180, 240, 3), dtype=np.uint8)
    frames[:, 50:90, 80:120] = (30, 200, 90)  # something to refine
    return frames[0], frames[1]


def _mirror(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[:, ::-1])


def _mirror_box(box: np.ndarray, width: int) -> np.ndarray:
    return np.array([width - box[0] - box[2], box[1], box[2], box[3]])


@pytest.mark.parametrize("blend", [False, True])
def test_flip_averages_the_view_and_the_mirrored_frames_view(blend: bool) -> None:
    template, frame = _frames()
    width = frame.shape[1]
    flipped = _refiner(flip=True, blend=blend, return_mask=True)
    flipped.initialize(template, TEMPLATE_BOX)
    box, mask = flipped.refine(frame, BOX)

    plain = _refiner(blend=blend, return_mask=True)
    plain.initialize(template, TEMPLATE_BOX)
    view = plain.refine(frame, BOX)
    plain.initialize(_mirror(template), _mirror_box(TEMPLATE_BOX, width))
    mirrored = plain.refine(_mirror(frame), _mirror_box(BOX, width))

    corners = convert_boxes(np.stack([view.box, _mirror_box(mirrored.box, width)]), "xywh", "xyxy")
    expected = convert_boxes(corners.mean(axis=0), "xyxy", "xywh")
    np.testing.assert_allclose(box, expected, atol=1e-3)
    assert mask is not None and view.mask is not None and mirrored.mask is not None
    np.testing.assert_allclose(mask, (view.mask + mirrored.mask[:, ::-1]) / 2, atol=1e-4)
    assert not np.allclose(view.box, expected, atol=0.5)  # the mirrored view did change it


def test_a_mirror_symmetric_scene_gives_a_box_centred_on_its_axis() -> None:
    template, frame = _frames()
    template = np.concatenate([template[:, :120], template[:, :120][:, ::-1]], axis=1)
    frame = np.concatenate([frame[:, :120], frame[:, :120][:, ::-1]], axis=1)
    box = np.array([90.0, 40.0, 60.0, 50.0])  # centred on the axis, x = 120
    flipped = _refiner(flip=True)
    flipped.initialize(template, box)
    refined = flipped.refine(frame, box).box
    assert refined[0] + refined[2] / 2 == pytest.approx(120.0, abs=1e-3)


def test_flip_on_onnxruntime_matches_torch() -> None:
    pytest.importorskip("onnxruntime")
    template, frame = _frames(1)
    boxes = np.stack([BOX, BOX + SHIFT])
    results = []
    for backend in ("torch", "onnxruntime"):
        refiner = _refiner(backend, flip=True, blend=True)
        refiner.initialize(template, np.stack([TEMPLATE_BOX, TEMPLATE_BOX + SHIFT]))
        results.append(refiner.refine(frame, boxes).box)
    np.testing.assert_allclose(results[0], results[1], atol=1e-2)


def test_flip_targets_can_be_added_removed_and_saved(tmp_path: object) -> None:
    template, frame = _frames()
    refiner = _refiner(flip=True)
    refiner.initialize(template, TEMPLATE_BOX)
    second = refiner.add_targets(template, TEMPLATE_BOX + SHIFT)
    both = refiner.refine(frame, np.stack([BOX, BOX + SHIFT])).box
    state = refiner.get_state()
    assert state.kernels is not None and state.kernels.shape[:2] == (2, 2)
    refiner.remove_targets(second)
    np.testing.assert_allclose(refiner.refine(frame, BOX).box, both[0], atol=1e-4)

    twin = _refiner(flip=True)
    twin.set_state(state)
    np.testing.assert_allclose(twin.refine(frame, np.stack([BOX, BOX + SHIFT])).box, both)
    with pytest.raises(ValueError, match="flip=True"):
        _refiner().set_state(state)


def test_flip_is_named_in_repr_and_must_be_a_bool() -> None:
    assert "flip=on" in repr(_refiner(flip=True))
    assert "flip=off" in repr(_refiner())
    with pytest.raises(TypeError, match="flip must be a bool"):
        _refiner(flip="yes")

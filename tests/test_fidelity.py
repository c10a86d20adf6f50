"""Converted weights reproduce the published module, checked against an independent reference.

``published_reference`` re-implements the published AR34 module from the project's model spec with
functional ops on the *published* key names; the package's modules, key mapping, crop and mapping
back must agree with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import published_reference as reference
from alpha_refine import Refiner
from alpha_refine.geometry import clip_boxes
from alpha_refine.weights import convert_published, load_pretrained


@pytest.fixture(scope="module")
def converted(
    published_state_dict: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return convert_published(published_state_dict, tmp_path_factory.mktemp("converted"))


@pytest.fixture(scope="module")
def rgb_frame() -> np.ndarray:
    rng = np.random.default_rng(7)
    frame = cv2.resize(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), (400, 300))
    frame[100:190, 150:260] = (220, 60, 40)
    return frame


def test_network_outputs_match_the_published_network(
    converted: Path, published_state_dict: dict[str, torch.Tensor], rgb_frame: np.ndarray
) -> None:
    net, _ = load_pretrained(converted)
    template = reference.to_tensor(reference.crop(rgb_frame, (150, 100, 110, 90)))
    boxes = [(140, 95, 120, 100), (160, 110, 80, 70), (120, 80, 160, 130)]
    search = torch.cat([reference.to_tensor(reference.crop(rgb_frame, b)) for b in boxes])
    with torch.no_grad():
        expected_box, expected_mask = reference.network(
            search, template.expand(len(boxes), -1, -1, -1), published_state_dict
        )
        kernel = net.template_kernel(template).expand(len(boxes), -1, -1, -1)
        out = net(search, kernel, with_mask=True)
    x1, y1, x2, y2 = out.corners.T
    ours = torch.stack((x1, y1, x2 - x1, y2 - y1), dim=1)
    assert float(expected_box.std(dim=0).max()) > 1.0  # the outputs really depend on the input
    torch.testing.assert_close(ours, expected_box, atol=1e-3, rtol=0)
    assert out.mask_logits is not None
    torch.testing.assert_close(out.mask_logits[:, 0].sigmoid(), expected_mask, atol=1e-4, rtol=0)


BOXES = [
    (150.0, 100.0, 110.0, 90.0),  # inside
    (143.7, 96.2, 121.3, 97.9),  # fractional
    (-20.5, 40.0, 90.0, 70.0),  # across the left edge
    (330.0, 240.0, 90.0, 75.0),  # across the bottom-right corner
    (290.0, 10.0, 55.0, 60.0),  # its window reaches the right edge exactly
    (5.0, 3.0, 12.0, 9.0),  # small, near the corner
]


@pytest.mark.parametrize("box", BOXES)
def test_refiner_reproduces_the_published_module(
    converted: Path,
    published_state_dict: dict[str, torch.Tensor],
    rgb_frame: np.ndarray,
    box: tuple[float, float, float, float],
) -> None:
    init_box = (150.0, 100.0, 110.0, 90.0)
    expected, _ = reference.refine(rgb_frame, init_box, box, published_state_dict)
    # The published callers clip to the frame with a 10 px minimum; ours does that inside refine.
    expected = clip_boxes(expected, rgb_frame.shape[:2], 10.0)

    refiner = Refiner.from_pretrained(converted, device="cpu", color="rgb")
    assert refiner.geometry == "published"  # the converted weights ask for it
    refiner.initialize(rgb_frame, init_box)
    np.testing.assert_allclose(refiner.refine(rgb_frame, box).box, expected, atol=0.5, rtol=0)
    # BGR input is the default colour order; the same frame as BGR gives the same box.
    bgr = Refiner.from_pretrained(converted, device="cpu")
    bgr.initialize(rgb_frame[..., ::-1].copy(), init_box)
    np.testing.assert_allclose(
        bgr.refine(rgb_frame[..., ::-1].copy(), box).box, expected, atol=0.5, rtol=0
    )

    # The exact inverse moves the box by less than one pixel (the published rounding offset).
    exact = Refiner.from_pretrained(converted, device="cpu", color="rgb", geometry="exact")
    exact.initialize(rgb_frame, init_box)
    np.testing.assert_allclose(exact.refine(rgb_frame, box).box, expected, atol=1.0, rtol=0)


@pytest.mark.parametrize("box", BOXES[:4])
def test_refiner_mask_matches_the_published_mask(
    converted: Path,
    published_state_dict: dict[str, torch.Tensor],
    rgb_frame: np.ndarray,
    box: tuple[float, float, float, float],
) -> None:
    init_box = (150.0, 100.0, 110.0, 90.0)
    _, crop_mask = reference.refine(rgb_frame, init_box, box, published_state_dict)
    # Published paste-back: resize to (ws, hs), paste at the rounded crop origin, cut to frame.
    x, y, w, h = box
    ws, hs = math.ceil(2 * w), math.ceil(2 * h)
    x0, y0 = round(x + 0.5 * w - ws / 2), round(y + 0.5 * h - hs / 2)
    big = np.zeros((rgb_frame.shape[0] + 2 * hs, rgb_frame.shape[1] + 2 * ws), np.float32)
    big[y0 + hs : y0 + 2 * hs, x0 + ws : x0 + 2 * ws] = cv2.resize(crop_mask, (ws, hs))
    expected = big[hs : hs + rgb_frame.shape[0], ws : ws + rgb_frame.shape[1]]

    refiner = Refiner.from_pretrained(converted, device="cpu", color="rgb")
    refiner.initialize(rgb_frame, init_box)
    mask = refiner.refine(rgb_frame, box, return_mask=True).mask
    assert mask is not None
    np.testing.assert_allclose(mask, expected, atol=1e-4, rtol=0)

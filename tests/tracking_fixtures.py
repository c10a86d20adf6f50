"""Small on-disk datasets and random-weight refiners for the tracker and runner tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner

FRAME_SHAPE = (96, 128)  # height, width


def moving_box_frames(length: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """BGR frames with a textured rectangle drifting right and down, and its xywh boxes."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_SHAPE
    noise = rng.integers(0, 60, size=(height // 8, width // 8, 3), dtype=np.uint8)
    background = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    # Bright halves of different colours and a dark bar: no periodic structure to confuse
    # the trackers' local search.
    target = np.zeros((30, 26, 3), dtype=np.uint8)
    target[:, :13] = (40, 60, 230)
    target[:, 13:] = (60, 220, 90)
    target[8:12, 4:22] = 0
    frames, boxes = [], []
    for index in range(length):
        x, y = 20 + 3 * index, 15 + 2 * index
        frame = background.copy()
        frame[y : y + 30, x : x + 26] = target
        frames.append(frame)
        boxes.append((x, y, 26, 30))
    return frames, np.asarray(boxes, dtype=np.float64)


def write_plain_dataset(root: Path, names: list[str], length: int = 6) -> Path:
    """A plain-layout dataset: ``<root>/<name>/img/*.png`` and ``groundtruth.txt``."""
    for seed, name in enumerate(names):
        frames, boxes = moving_box_frames(length, seed)
        (root / name / "img").mkdir(parents=True)
        for index, frame in enumerate(frames):
            cv2.imwrite(str(root / name / "img" / f"{index + 1:05d}.png"), frame)
        text = "".join(",".join(str(int(v)) for v in box) + "\n" for box in boxes)
        (root / name / "groundtruth.txt").write_text(text)
    return root


def random_refiner(seed: int = 0) -> Refiner:
    """A ResNet-18 refiner with random weights: a test fixture, its boxes mean nothing."""
    torch.manual_seed(seed)
    return Refiner.from_network(AlphaRefineNet(ModelConfig(backbone="resnet18")), device="cpu")


def random_weights(folder: Path, seed: int = 0) -> Path:
    """Random ResNet-18 weights saved as a weights folder (for ``--refiner PATH``)."""
    random_refiner(seed).save_pretrained(folder)
    return folder


def noise_calibrated_resnet18(mask_head: bool = True) -> AlphaRefineNet:
    """ResNet-18 with random weights (seed 7), BatchNorm statistics calibrated on crops of
    noise (with the mask head's, when it has one): a fixture for the int8 paths."""
    from alpha_refine.geometry import crop_and_resize
    from alpha_refine.model.preprocess import normalize_crops

    torch.manual_seed(7)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18", mask_head=mask_head))
    rng = np.random.default_rng(7)
    frame = cv2.resize(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), (320, 240))
    windows = [(x, y, 160, 120) for x in (0, 150) for y in (0, 110)]
    crops = normalize_crops(
        torch.from_numpy(np.stack([crop_and_resize(frame, w) for w in windows]))
    )
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    network.train()
    with torch.no_grad():
        network(crops, network.template_kernel(crops), with_mask=mask_head)
    return network.eval()

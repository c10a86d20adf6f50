from __future__ import annotations

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner


def _random_network(config: ModelConfig, seed: int = 0) -> AlphaRefineNet:
    torch.manual_seed(seed)
    return AlphaRefineNet(config).eval()


@pytest.fixture(scope="session")
def network() -> AlphaRefineNet:
    """A ResNet-34 network with random (seeded) weights: a fixture, never a result."""
    return _random_network(ModelConfig())


@pytest.fixture
def refiner(network: AlphaRefineNet) -> Refiner:
    return Refiner.from_network(network, device="cpu")


@pytest.fixture
def frame() -> np.ndarray:
    """A 240 x 320 BGR frame: a textured background with a bright rectangle."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 80, size=(240, 320, 3), dtype=np.uint8)
    image[80:160, 100:180] = (40, 200, 240)
    return image

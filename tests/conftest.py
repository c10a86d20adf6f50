from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner


def _random_network(config: ModelConfig, seed: int = 0) -> AlphaRefineNet:
    torch.manual_seed(seed)
    return AlphaRefineNet(config).eval()


@pytest.fixture(autouse=True)
def torch_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``backend="auto"`` means torch in tests, which compare against torch numerics and would
    otherwise export (and quantize) in every ``from_pretrained``; tests of the automatic choice
    delete the variable. The graph cache goes to a temporary folder, never the user's."""
    monkeypatch.setenv("ALPHA_REFINE_BACKEND", "torch")
    monkeypatch.setenv("ALPHA_REFINE_CACHE", str(tmp_path_factory.getbasetemp() / "graph-cache"))


@pytest.fixture(scope="session")
def network() -> AlphaRefineNet:
    """A ResNet-34 network with random (seeded) weights: a fixture, never a result."""
    return _random_network(ModelConfig())


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread during the test, restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


@pytest.fixture(scope="session")
def published_state_dict() -> dict[str, torch.Tensor]:
    """A state dict in the published layout (all 354 keys) with plausible random values.

    Batch-norm statistics are perturbed away from the identity and the corner logits scaled up,
    so that outputs depend on the input and a layout mistake cannot hide behind trivial values.
    """
    from alpha_refine.weights.published import native_to_published_key

    generator = torch.Generator().manual_seed(3)
    state: dict[str, torch.Tensor] = {}
    for key, value in _random_network(ModelConfig(), seed=3).state_dict().items():
        if key.endswith("running_var"):
            value = torch.rand(value.shape, generator=generator) + 0.5
        elif key.endswith(("running_mean", "bias")) and value.is_floating_point():
            value = 0.1 * torch.randn(value.shape, generator=generator)
        elif key.endswith("num_batches_tracked"):
            value = torch.tensor(20_000)
        elif key.startswith("corner_head.") and key.endswith(".4.weight"):
            value = value * 20
        state[native_to_published_key(key)] = value.clone()
    # The unused ResNet layer4 and fc, as in the real checkpoint.
    import torchvision

    resnet = torchvision.models.resnet34(weights=None)
    for key, value in resnet.state_dict().items():
        if key.startswith(("layer4.", "fc.")):
            state[f"feature_extractor.{key}"] = value
    return state

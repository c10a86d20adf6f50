"""``import alpha_refine`` stays light: no torchvision (it imports ``torch._dynamo``), no ONNX,
no hub client, no datasets, evaluation or training code until they are used. Checked by what a
fresh interpreter has imported, never by timing (docs/performance.md has the measured time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

HEAVY = (
    "torchvision",
    "torch._dynamo",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "huggingface_hub",
    "matplotlib",
    "alpha_refine.data",
    "alpha_refine.eval",
    "alpha_refine.train",
    "alpha_refine.runtime.export",
    "alpha_refine.runtime.quantize",
)


def _imported_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_import_alpha_refine_loads_nothing_heavy() -> None:
    loaded = _imported_after("import alpha_refine")
    assert "alpha_refine.refiner" in loaded
    assert sorted(loaded.intersection(HEAVY)) == []


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_the_resnet_copy_matches_torchvision(name: str) -> None:
    torchvision = pytest.importorskip("torchvision")
    from alpha_refine.model import resnet

    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(weights=None).eval()
    after_theirs = torch.rand(1)
    torch.manual_seed(0)
    ours = getattr(resnet, name)().eval()
    assert torch.equal(torch.rand(1), after_theirs)  # the same random draws, in the same order
    expected, got = theirs.state_dict(), ours.state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[key], expected[key]) for key in expected)
    images = torch.rand(2, 3, 64, 64)

    def trunk(model: torch.nn.Module) -> torch.Tensor:
        x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        return model.layer3(model.layer2(model.layer1(x)))

    with torch.inference_mode():
        assert torch.equal(trunk(ours), trunk(theirs))

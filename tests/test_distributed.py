"""Training under ``torchrun`` on the CPU (gloo over 127.0.0.1): two processes and two "nodes".

Every launch starts fresh Python processes that import torch and train ``configs/smoke.toml``,
shrunk to two epochs of two iterations, so the module takes about a minute on two cores:
``slow``, which CI still runs. Each process gets ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from alpha_refine import Refiner
from alpha_refine.train.loop import METRICS_NAME


def _gloo_available() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_gloo_available()


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not _gloo_available(), reason="needs torch.distributed with its gloo backend"
    ),
]

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.toml"
CLI = ("-m", "alpha_refine.cli")
STRIDE_WARNING = "Grad strides do not match"
TIMEOUT_S = 300
# What only the speaking rank prints: the final path and tqdm's progress bar.
WEIGHTS = re.compile(r"weights: (\S+)")
PROGRESS = "train: "


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _smoke_config(folder: Path) -> Path:
    """``configs/smoke.toml`` with two iterations an epoch (four in all)."""
    text, count = re.subn(
        r"(?m)^iterations_per_epoch = \d+$", "iterations_per_epoch = 2", SMOKE.read_text()
    )
    assert count == 1, "configs/smoke.toml has no iterations_per_epoch line to shrink"
    path = folder / "smoke.toml"
    path.write_text(text)
    return path


def _env() -> dict[str, str]:
    launcher = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    env = {key: value for key, value in os.environ.items() if key not in launcher}
    return env | {"OMP_NUM_THREADS": "1"}


def _launch(folder: Path, commands: list[list[str]]) -> list[tuple[int, str]]:
    """Run the commands at once (one per node); their exit codes and combined outputs."""
    logs = [folder / f"launch-{index}.log" for index in range(len(commands))]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        command, stdout=output, stderr=subprocess.STDOUT, env=_env(), cwd=folder
                    )
                )
        codes = [process.wait(timeout=TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [(code, log.read_text()) for code, log in zip(codes, logs, strict=True)]


def _torchrun(*options: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *options]


def _train(config: Path, out_dir: Path, *options: str) -> tuple[str, ...]:
    """``alpha-refine train`` as torchrun runs it."""
    return (*CLI, "train", "--config", str(config), "--out-dir", str(out_dir), *options)


def _on_two_processes(folder: Path, program: tuple[str, ...]) -> tuple[int, str]:
    port = str(_free_port())
    options = ("--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", port)
    [result] = _launch(folder, [_torchrun(*options, *program)])
    return result


def _on_two_nodes(folder: Path, program: tuple[str, ...]) -> list[tuple[int, str]]:
    """One process on each of two loopback "nodes", launched at once, as on two machines."""
    port = str(_free_port())
    options = ("--nnodes", "2", "--nproc_per_node", "1")
    rendezvous = ("--master_addr", "127.0.0.1", "--master_port", port)
    commands = [
        _torchrun(*options, "--node_rank", str(node), *rendezvous, *program) for node in (0, 1)
    ]
    return _launch(folder, commands)


def _weights(log: str) -> Path:
    """The one weights path the run printed."""
    printed = WEIGHTS.findall(log)
    assert len(printed) == 1, f"expected one 'weights:' line, got {printed}:\n{log}"
    return Path(printed[0])


def _state(weights: Path) -> dict[str, torch.Tensor]:
    return Refiner.from_pretrained(weights, device="cpu").network.state_dict()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The shrunk smoke config trained by two processes on one machine: (out_dir, log)."""
    folder = tmp_path_factory.mktemp("two-processes")
    out_dir = folder / "run"
    code, log = _on_two_processes(folder, _train(_smoke_config(folder), out_dir))
    assert code == 0, log
    return out_dir, log


def test_two_processes_train_without_ddp_warnings_and_with_one_voice(
    two_processes: tuple[Path, str],
) -> None:
    out_dir, log = two_processes
    assert STRIDE_WARNING not in log
    assert "Warning" not in log, log
    weights = _weights(log)
    assert weights == out_dir / "final"
    provenance = Refiner.from_pretrained(weights, device="cpu").weights_info.provenance
    assert provenance["source"] == "trained with alpha-refine"
    # Rank 0 alone logs: one row per iteration, not one per process.
    rows = (out_dir / METRICS_NAME).read_text().splitlines()
    assert [row.split(",")[:2] for row in rows[1:]] == [
        ["0", "1"],
        ["0", "2"],
        ["1", "1"],
        ["1", "2"],
    ]


def test_two_nodes_stop_resume_and_match_two_processes(
    two_processes: tuple[Path, str], tmp_path: Path
) -> None:
    config, out_dir = _smoke_config(tmp_path), tmp_path / "run"
    stopped = _on_two_nodes(tmp_path, _train(config, out_dir, "--max-iterations", "3"))
    resumed = _on_two_nodes(tmp_path, _train(config, out_dir, "--resume"))
    for (code_0, node_0), (code_1, node_1) in (stopped, resumed):
        assert code_0 == 0, node_0
        assert code_1 == 0, node_1
        assert STRIDE_WARNING not in node_0
        assert PROGRESS in node_0
        assert node_1 == ""  # rank 1 alone, on its own node: no progress, no path, nothing
    assert _weights(stopped[0][1]) == out_dir / "latest"
    final = _weights(resumed[0][1])
    assert final == out_dir / "final"
    # Same world size, same samples: stopping and resuming changes nothing.
    expected = _state(two_processes[0] / "final")
    for key, value in _state(final).items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=1e-6, msg=key)


def test_an_error_on_another_rank_is_shown(tmp_path: Path) -> None:
    script = tmp_path / "fail_on_rank_1.py"
    script.write_text(
        "import os, sys\n"
        "import alpha_refine.train.loop as loop\n"
        "from alpha_refine.cli import main\n"
        "def fail(*args, **kwargs):\n"
        "    raise RuntimeError('injected failure on rank 1')\n"
        "if os.environ['RANK'] == '1':\n"
        "    loop.training_step = fail\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    train = _train(_smoke_config(tmp_path), tmp_path / "run")
    code, log = _on_two_processes(tmp_path, (str(script), *train[len(CLI) :]))
    assert code != 0
    assert "RuntimeError: injected failure on rank 1" in log
    assert not WEIGHTS.search(log)

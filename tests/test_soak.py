"""Soak: many frames with targets added and removed, resets; RSS flat and no drift.

The default test is short; the 10,000-frame run is opt-in (it takes many minutes on a CPU):
``ALPHA_REFINE_SOAK=1 pytest tests/test_soak.py -m slow`` or ``python benchmarks/soak.py``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Allocator noise: the medians of RSS readings move by a few MiB at most without a leak.
RSS_TOLERANCE_MB = 8.0

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/statm").is_file(), reason="reads RSS from /proc (Linux)"
)


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", ROOT / "benchmarks" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(report: dict[str, Any], frames: int) -> None:
    assert report["frames"] == frames
    assert report["targets_added"] > 0 and report["targets_removed"] > 0 and report["resets"] > 0
    assert report["probe_identical"], "identical inputs gave other outputs after the run"
    assert report["rss_growth_mb"] < RSS_TOLERANCE_MB, report


def test_short_soak_keeps_memory_flat_and_results_identical(one_thread: None) -> None:
    report = _soak_module().soak(100, warmup=40, reset_every=30)
    _check(report, 100)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("ALPHA_REFINE_SOAK"), reason="10,000 frames: set ALPHA_REFINE_SOAK=1"
)
def test_soak_10000_frames(one_thread: None) -> None:
    report = _soak_module().soak(10_000, warmup=500)
    print(report)
    _check(report, 10_000)

"""Which backend and precision ``backend="auto"`` / ``precision="auto"`` mean on this machine.

The rule (docs/performance.md has the measurements behind it):

* CUDA (or any non-CPU device), ``compile=True``, or ``precision="float16"``/``"bfloat16"``:
  the torch backend.
* A CPU: ONNX Runtime when it is installed (the ``onnx`` dependencies), else torch with one
  :class:`BackendFallbackWarning`.
* ONNX Runtime's precision: ``int8`` is the candidate where the CPU has VNNI int8 dot products
  (:func:`cpu_has_vnni`), else ``float32``. Without VNNI, ONNX Runtime's x86 int8 kernels use
  ``VPMADDUBSW``, whose 16-bit sums can saturate (a documented accuracy hazard of ONNX
  Runtime's u8s8 quantization), so int8 is only considered where it is fast and can be safe.
* The candidate is then checked for the weights at hand: when their int8 graphs are built, the
  int8 check (:mod:`alpha_refine.runtime.guard`) compares them with float32 on held-out inputs,
  and where the boxes deviate by more than its bound the refiner takes float32
  (:class:`~alpha_refine.refiner.Refiner` does this; ``repr(refiner)`` shows the verdict). No
  trunk is trusted by name: on real frames int8 held for a trained ResNet-18 but not for the
  embedded EfficientNet-Lite0 model or random-weight ResNet-34 (docs/performance.md).

``ALPHA_REFINE_BACKEND=torch`` (or ``onnxruntime``) changes what ``"auto"`` picks, for a
deployment or a test suite that wants one backend everywhere; explicit arguments still win.
"""

from __future__ import annotations

import functools
import os
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path

BACKEND_ENV = "ALPHA_REFINE_BACKEND"
# CPU flags (Linux /proc/cpuinfo names) of int8 dot products that ONNX Runtime uses.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


class BackendFallbackWarning(UserWarning):
    """``backend="auto"`` wanted ONNX Runtime but fell back to torch (the reason is given)."""


@dataclass(frozen=True)
class BackendChoice:
    """A resolved backend and precision, and why (shown in ``repr(refiner)``)."""

    backend: str
    precision: str
    reason: str


def cpu_flags(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where there is no such file."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, ARM
            return frozenset(value.split())
    return frozenset()


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether this x86-64 CPU has VNNI (AVX512-VNNI, AVX-VNNI or AMX-INT8), from Linux's
    ``/proc/cpuinfo``. Elsewhere (macOS, Windows, ARM) ``False``: int8 has not been measured
    there, and float32 ONNX Runtime is the safe choice."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool(VNNI_FLAGS & cpu_flags())


def choose_backend(
    device_type: str,
    backend: str,
    precision: str,
    compile: bool,
    onnx_installed: bool,
) -> BackendChoice:
    """Resolve ``"auto"`` backend and precision (explicit values are kept) by the module's rule.

    An ``"int8"`` that comes from ``precision="auto"`` is a candidate: the refiner keeps it only
    when the int8 check passes for its weights (module docs). Warns with
    :class:`BackendFallbackWarning` when ONNX Runtime would have been chosen but is not installed.
    """
    if backend == "auto":
        forced = os.environ.get(BACKEND_ENV, "").strip().lower()
        if forced in ("torch", "onnxruntime"):
            backend, reason = forced, f"{BACKEND_ENV}={forced}"
        elif forced not in ("", "auto"):
            raise ValueError(
                f"{BACKEND_ENV} must be 'torch', 'onnxruntime' or 'auto', got {forced!r}"
            )
        elif device_type != "cpu":
            backend, reason = "torch", f"auto: {device_type}"
        elif compile or precision in ("float16", "bfloat16"):
            backend, reason = "torch", "auto: compile/float16/bfloat16 need torch"
        elif not onnx_installed:
            warnings.warn(
                "backend='auto' falls back to torch: ONNX Runtime is not installed, and it is "
                'about 1.5 to 3x faster on CPUs (pip install "alpha-refine[onnx]")',
                BackendFallbackWarning,
                stacklevel=4,
            )
            backend, reason = "torch", "auto: onnxruntime missing"
        else:
            backend, reason = "onnxruntime", "auto: CPU"
    else:
        reason = "explicit"
    if precision == "auto":
        if backend == "onnxruntime" and cpu_has_vnni():
            precision, reason = "int8", f"{reason}, int8: CPU has VNNI"
        else:
            precision = "float32"
    return BackendChoice(backend, precision, reason)

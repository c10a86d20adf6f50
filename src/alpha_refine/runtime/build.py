"""Choosing and building the engine a :class:`~alpha_refine.Refiner` runs its network on.

:func:`build_engine` turns the refiner's ``device``, ``backend``, ``precision`` and ``compile``
options into a ready :class:`~.engine.Engine`: ``"auto"`` is resolved by :mod:`.select`, ONNX
Runtime's constraints are checked, its int8 graphs come with the int8 check's verdict
(:mod:`.guard`), and an automatically chosen ONNX Runtime that fails to build falls back to
torch with one warning. The refiner keeps what this returns and holds only targets and the
per-frame path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from alpha_refine._inputs import check_choice, resolve_device
from alpha_refine.runtime import graphs as onnx_graphs
from alpha_refine.runtime.engine import PRECISIONS, Engine, TorchEngine
from alpha_refine.runtime.select import BackendFallbackWarning, choose_backend

if TYPE_CHECKING:
    from alpha_refine.model.network import AlphaRefineNet
    from alpha_refine.runtime.guard import Int8Check

Backend = Literal["auto", "torch", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime")
Precision = Literal["auto", "float32", "float16", "bfloat16", "int8"]
REFINER_PRECISIONS: tuple[str, ...] = ("auto", *PRECISIONS, "int8")  # int8: ONNX Runtime only


@dataclass(frozen=True)
class BuiltEngine:
    """An engine and the choices behind it (``repr(refiner)`` shows them).

    Attributes:
        engine: runs the network.
        device: where the network (and the engine's tensors) live.
        backend: ``"torch"`` or ``"onnxruntime"``, after ``"auto"`` and any fallback.
        precision: the precision the engine really runs (float32 where int8 failed its check).
        reason: why: ``"explicit"``, or the automatic rule's words and the int8 verdict.
        int8_check: the int8 check's verdict where int8 graphs were built, else ``None``.
    """

    engine: Engine
    device: torch.device
    backend: str
    precision: str
    reason: str
    int8_check: Int8Check | None = None


def build_engine(
    network: AlphaRefineNet,
    *,
    device: str | torch.device = "auto",
    backend: Backend = "torch",
    precision: Precision = "float32",
    compile: bool = False,
) -> BuiltEngine:
    """The engine for ``network`` with these refiner options (their meaning is documented on
    :class:`~alpha_refine.Refiner`). Moves ``network`` to the chosen device and into eval mode.

    Raises ``ValueError`` for a combination no engine supports (ONNX Runtime off the CPU, int8
    with torch, ...), naming the options.
    """
    check_choice("backend", backend, BACKENDS)
    check_choice("precision", precision, REFINER_PRECISIONS)
    int8_fallback = precision == "auto"  # int8 only if its check passes
    if backend == "auto" or precision == "auto":
        choice = choose_backend(
            resolve_device(device).type,
            backend,
            precision,
            compile,
            onnx_graphs.onnx_available(),
        )
        backend, precision = choice.backend, choice.precision  # type: ignore[assignment]
        reason = choice.reason
    else:
        reason = "explicit"
    if backend == "onnxruntime":
        if device != "auto" and resolve_device(device).type != "cpu":
            raise ValueError("backend='onnxruntime' runs on the CPU; use device='cpu'")
        if precision not in ("float32", "int8") or compile:
            raise ValueError(
                "backend='onnxruntime' supports only precision='float32' or 'int8' and "
                "compile=False"
            )
        device = "cpu"
    elif precision == "int8":
        raise ValueError("precision='int8' needs backend='onnxruntime' (CPU)")
    resolved = resolve_device(device)
    network.to(resolved).eval()
    if backend == "onnxruntime":
        return _onnx_engine(network, resolved, precision, reason, int8_fallback)
    assert precision in PRECISIONS  # int8 refused, auto resolved above
    engine = TorchEngine(network, resolved, precision=precision, compile=compile)  # type: ignore[arg-type]
    return BuiltEngine(engine, resolved, "torch", precision, reason)


def _onnx_engine(
    network: AlphaRefineNet,
    device: torch.device,
    precision: str,
    reason: str,
    int8_fallback: bool,
) -> BuiltEngine:
    """The ONNX Runtime engine; when it was chosen automatically, a failure to build it falls
    back to torch with one warning rather than failing the refiner.

    ``int8_fallback`` (int8 chosen by ``precision="auto"``) takes float32 when the int8 check
    failed; an explicit ``precision="int8"`` keeps int8 and warns. Either way the reason says so.
    """
    from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

    engine_precision: Literal["float32", "int8"] = "int8" if precision == "int8" else "float32"
    try:
        engine = OnnxRuntimeEngine.from_network(
            network, precision=engine_precision, int8_fallback=int8_fallback
        )
    except Exception as error:  # any exporter failure: the torch path still works
        if not reason.startswith("auto"):
            raise  # asked for explicitly: the caller should see why it failed
        warnings.warn(
            f"backend='auto' falls back to torch: building the ONNX Runtime engine failed "
            f"({type(error).__name__}: {error})",
            BackendFallbackWarning,
            stacklevel=5,  # the caller of Refiner.from_pretrained / from_network
        )
        return BuiltEngine(
            TorchEngine(network, device), device, "torch", "float32", "auto: onnxruntime failed"
        )
    check = engine.int8_check
    if check is not None:
        if engine.precision != "int8":
            reason += f", float32: {check.summary()}"
        else:
            reason += f", {check.summary()}"
            check.warn_if_failed(
                "precision='int8' for these weights (precision='auto' would use float32)",
                stacklevel=5,
            )
    return BuiltEngine(engine, device, "onnxruntime", engine.precision, reason, check)

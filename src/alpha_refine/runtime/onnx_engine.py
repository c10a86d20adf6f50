"""The ONNX Runtime engine: the exported graphs run on the CPU, behind the refiner's engine
protocol (:class:`alpha_refine.runtime.engine.Engine`).

:meth:`OnnxRuntimeEngine.from_network` reads the graphs from the on-disk cache
(:mod:`alpha_refine.runtime.cache`) when it can, and exports (and quantizes) only on a miss.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.runtime import cache
from alpha_refine.runtime.engine import SearchOutput
from alpha_refine.runtime.export import export_graphs, with_precision
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE, require_onnx
from alpha_refine.runtime.quantize import FLOAT_STEM


class OnnxRuntimeEngine:
    """Runs the exported graphs with ONNX Runtime on the CPU (an engine of the refiner).

    Args:
        graphs: serialised models as returned by :func:`~alpha_refine.runtime.export.export_graphs`.
        threads: intra-op threads; by default ``torch.get_num_threads()``, so the usual
            ``torch.set_num_threads`` / ``OMP_NUM_THREADS`` settings apply to both backends.
    """

    device = torch.device("cpu")

    def __init__(self, graphs: Mapping[str, bytes], threads: int | None = None) -> None:
        require_onnx()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._graphs = dict(graphs)
        self._options = options
        self._sessions: dict[str, Any] = {}
        # The mask graph's session is opened on first use: most users never ask for masks,
        # and opening a session costs a sizeable part of a cached start.
        for name in (TEMPLATE, REFINE):
            if name in graphs:
                self._session(name)

    def _session(self, name: str) -> Any:
        session = self._sessions.get(name)
        if session is None:
            import onnxruntime

            session = onnxruntime.InferenceSession(
                self._graphs[name], self._options, providers=["CPUExecutionProvider"]
            )
            if name != TEMPLATE and "confidence" not in {o.name for o in session.get_outputs()}:
                raise ValueError(
                    f"graphs: {name}.onnx has no 'confidence' output (exported by an older "
                    "alpha-refine); export the weights again with `alpha-refine export-onnx`"
                )
            self._sessions[name] = session
        return session

    @classmethod
    def from_network(
        cls,
        network: AlphaRefineNet,
        threads: int | None = None,
        precision: Literal["float32", "int8"] = "float32",
    ) -> OnnxRuntimeEngine:
        """Export ``network`` (seconds) and open the sessions, or read the graphs from the
        on-disk cache (:mod:`alpha_refine.runtime.cache`), keyed by the weights' fingerprint.

        ``precision="int8"`` quantizes the graphs first (:mod:`alpha_refine.runtime.quantize`),
        with the ranges shipped for the embedded model (:mod:`alpha_refine.runtime.ship`) or
        calibrated on synthetic sequences (tens of seconds).
        """
        if precision not in ("float32", "int8"):
            raise ValueError(f"precision must be 'float32' or 'int8', got {precision!r}")
        require_onnx()
        from alpha_refine.weights.store import weights_fingerprint

        fingerprint = weights_fingerprint(network)
        settings = {"float_stem": FLOAT_STEM} if precision == "int8" else {}
        key = cache.graph_key(fingerprint, precision, **settings)
        graphs = cache.load_graphs(key)
        if graphs is not None:
            try:
                return cls(graphs, threads)
            except Exception as error:  # a damaged graph that passed the CRC: never trusted
                warnings.warn(
                    f"cached graphs for weights {fingerprint} do not load ({error}); rebuilding",
                    cache.CacheWarning,
                    stacklevel=2,
                )
        graphs = build_graphs(network, precision, fingerprint)
        cache.store_graphs(key, graphs)
        return cls(graphs, threads)

    @staticmethod
    def _array(tensor: Tensor) -> np.ndarray[Any, Any]:
        return np.ascontiguousarray(tensor.detach().cpu().float().numpy())

    def kernels(self, crops: Tensor) -> Tensor:
        (kernels,) = self._session(TEMPLATE).run(None, {"crops": self._array(crops)})
        return torch.from_numpy(kernels)

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        feeds = {"crops": self._array(crops), "kernels": self._array(kernels)}
        if not with_mask:
            corners, confidence = self._session(REFINE).run(["corners", "confidence"], feeds)
            return SearchOutput(torch.from_numpy(corners), torch.from_numpy(confidence), None)
        if REFINE_MASK not in self._graphs:
            raise RuntimeError("this network has no mask head (config.mask_head is False)")
        corners, mask, confidence = self._session(REFINE_MASK).run(
            ["corners", "mask", "confidence"], feeds
        )
        return SearchOutput(
            torch.from_numpy(corners), torch.from_numpy(confidence), torch.from_numpy(mask)
        )


def build_graphs(
    network: AlphaRefineNet, precision: Literal["float32", "int8"], fingerprint: str
) -> dict[str, bytes]:
    """Export ``network`` and, for ``"int8"``, quantize it with the shipped ranges when they
    were made for these weights (:func:`alpha_refine.runtime.ship.shipped_ranges`)."""
    graphs = export_graphs(network)
    ranges = None
    if precision == "int8":
        from alpha_refine.runtime.ship import shipped_ranges

        ranges = shipped_ranges(fingerprint, graphs)
    return with_precision(graphs, precision, ranges=ranges)

"""The ONNX Runtime engine: the exported graphs run on the CPU, behind the refiner's engine
protocol (:class:`alpha_refine.runtime.engine.Engine`).

:meth:`OnnxRuntimeEngine.from_network` reads the graphs from the on-disk cache
(:mod:`alpha_refine.runtime.cache`) when it can, and exports (and quantizes, and checks the int8
graphs against float32, :mod:`alpha_refine.runtime.guard`) only on a miss.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.runtime import cache, select
from alpha_refine.runtime.engine import SearchOutput
from alpha_refine.runtime.export import export_graphs, with_precision
from alpha_refine.runtime.graphs import (
    BLEND_SUMMARY,
    REFINE,
    REFINE_MASK,
    TEMPLATE,
    require_onnx,
)
from alpha_refine.runtime.guard import CHECK_VERSION, Int8Check, check_int8
from alpha_refine.runtime.quantize import FLOAT_STEM


class OnnxRuntimeEngine:
    """Runs the exported graphs with ONNX Runtime on the CPU (an engine of the refiner).

    Args:
        graphs: serialised models as returned by :func:`~alpha_refine.runtime.export.export_graphs`.
        threads: intra-op threads; by default ``torch.get_num_threads()``, so the usual
            ``torch.set_num_threads`` / ``OMP_NUM_THREADS`` settings apply to both backends.

    Attributes:
        precision: ``"float32"`` or ``"int8"``, as the graphs' metadata says.
        int8_check: the int8 check's verdict when :meth:`from_network` was asked for int8
            (also when it fell back to float32), else ``None``.
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
        self._outputs: dict[str, set[str]] = {}
        # The mask graph's session is opened on first use: most users never ask for masks,
        # and opening a session costs a sizeable part of a cached start.
        for name in (TEMPLATE, REFINE):
            if name in graphs:
                self._session(name)
        self.precision = "float32"
        if TEMPLATE in graphs:
            metadata = self._session(TEMPLATE).get_modelmeta().custom_metadata_map
            self.precision = json.loads(metadata.get("alpha_refine", "{}")).get(
                "precision", "float32"
            )
        self.int8_check: Int8Check | None = None

    def _session(self, name: str) -> Any:
        session = self._sessions.get(name)
        if session is None:
            import onnxruntime

            session = onnxruntime.InferenceSession(
                self._graphs[name], self._options, providers=["CPUExecutionProvider"]
            )
            outputs = {output.name for output in session.get_outputs()}
            if name != TEMPLATE and "confidence" not in outputs:
                raise ValueError(
                    f"graphs: {name}.onnx has no 'confidence' output (exported by an older "
                    "alpha-refine); export the weights again with `alpha-refine export-onnx`"
                )
            self._sessions[name] = session
            self._outputs[name] = outputs
        return session

    @classmethod
    def from_network(
        cls,
        network: AlphaRefineNet,
        threads: int | None = None,
        precision: Literal["float32", "int8"] = "float32",
        *,
        int8_fallback: bool = False,
    ) -> OnnxRuntimeEngine:
        """Export ``network`` (seconds) and open the sessions, or read the graphs from the
        on-disk cache (:mod:`alpha_refine.runtime.cache`), keyed by the weights' fingerprint.

        ``precision="int8"`` quantizes the graphs first (:mod:`alpha_refine.runtime.quantize`),
        with the ranges shipped for the embedded model (:mod:`alpha_refine.runtime.ship`) or
        calibrated on synthetic sequences (tens of seconds), and checks them against float32
        (:func:`alpha_refine.runtime.guard.check_int8`, seconds); the verdict is cached with the
        int8 graphs and set as :attr:`int8_check`. ``int8_fallback``: when the check fails,
        return the float32 engine instead (its :attr:`precision` says which one it is).
        """
        if precision not in ("float32", "int8"):
            raise ValueError(f"precision must be 'float32' or 'int8', got {precision!r}")
        require_onnx()
        from alpha_refine.weights.store import weights_fingerprint

        fingerprint = weights_fingerprint(network)
        if precision == "float32":
            engine = cls._cached(graph_key(fingerprint, "float32"), threads)
            return engine if engine is not None else cls(_exported(network, fingerprint), threads)
        key = graph_key(fingerprint, "int8")
        check = _cached_check(key)
        engine = None
        if check is not None and not check.passed and int8_fallback:
            engine = cls.from_network(network, threads)
        elif check is not None:
            engine = cls._cached(key, threads)
        if engine is None:
            graphs = _float32_graphs(network, fingerprint)
            from alpha_refine.runtime.ship import shipped_ranges

            int8 = with_precision(graphs, "int8", ranges=shipped_ranges(fingerprint, graphs))
            check = check_int8(graphs, int8, threads=threads or torch.get_num_threads())
            cache.store_graphs(key, int8, info={"int8_check": check.to_dict()})
            engine = cls(graphs if int8_fallback and not check.passed else int8, threads)
        engine.int8_check = check
        return engine

    @classmethod
    def _cached(cls, key: Mapping[str, Any], threads: int | None) -> OnnxRuntimeEngine | None:
        """The engine of ``key``'s cached graphs, or ``None`` when there are none or they do not
        load (a damaged graph that passed the CRC: never trusted)."""
        graphs = cache.load_graphs(key)
        if graphs is None:
            return None
        try:
            return cls(graphs, threads)
        except Exception as error:
            warnings.warn(
                f"cached graphs for weights {key['fingerprint']} do not load ({error}); rebuilding",
                cache.CacheWarning,
                stacklevel=3,
            )
            return None

    @staticmethod
    def _array(tensor: Tensor) -> np.ndarray[Any, Any]:
        return np.ascontiguousarray(tensor.detach().cpu().float().numpy())

    def kernels(self, crops: Tensor) -> Tensor:
        (kernels,) = self._session(TEMPLATE).run(None, {"crops": self._array(crops)})
        return torch.from_numpy(kernels)

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        feeds = {"crops": self._array(crops), "kernels": self._array(kernels)}
        if with_mask and REFINE_MASK not in self._graphs:
            raise RuntimeError("this network has no mask head (config.mask_head is False)")
        graph = REFINE_MASK if with_mask else REFINE
        session = self._session(graph)
        names = ["corners", "confidence", *(["mask"] if with_mask else [])]
        if BLEND_SUMMARY in self._outputs[graph]:
            names.append(BLEND_SUMMARY)
        found = dict(zip(names, session.run(names, feeds), strict=True))
        return SearchOutput(
            torch.from_numpy(found["corners"]),
            torch.from_numpy(found["confidence"]),
            torch.from_numpy(found["mask"]) if with_mask else None,
            torch.from_numpy(found[BLEND_SUMMARY]) if BLEND_SUMMARY in found else None,
        )


def graph_key(fingerprint: str, precision: Literal["float32", "int8"]) -> dict[str, Any]:
    """The cache key of the graphs of these weights and precision. The int8 key also holds the
    quantization settings, the int8 check's version and whether this CPU has VNNI: ONNX
    Runtime's int8 kernels differ with and without it, and so may the verdict."""
    if precision == "float32":
        return cache.graph_key(fingerprint, precision)
    return cache.graph_key(
        fingerprint,
        precision,
        float_stem=FLOAT_STEM,
        int8_check=CHECK_VERSION,
        vnni=select.cpu_has_vnni(),
    )


def _exported(network: AlphaRefineNet, fingerprint: str) -> dict[str, bytes]:
    """The float32 graphs of ``network``, exported and stored in the cache."""
    graphs = export_graphs(network)
    cache.store_graphs(graph_key(fingerprint, "float32"), graphs)
    return graphs


def _float32_graphs(network: AlphaRefineNet, fingerprint: str) -> dict[str, bytes]:
    """The float32 graphs from the cache, or exported (and cached)."""
    graphs = cache.load_graphs(graph_key(fingerprint, "float32"))
    return graphs if graphs is not None else _exported(network, fingerprint)


def _cached_check(key: Mapping[str, Any]) -> Int8Check | None:
    """The int8 check's verdict stored with ``key``'s graphs, or ``None``."""
    info = cache.load_info(key)
    try:
        return None if info is None else Int8Check.from_dict(info["int8_check"])
    except (KeyError, TypeError, ValueError):
        return None

"""The ONNX Runtime engine: the exported graphs run on the CPU, behind the refiner's engine
protocol (:class:`alpha_refine.runtime.engine.Engine`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.runtime.engine import SearchOutput
from alpha_refine.runtime.export import export_graphs, with_precision
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE, require_onnx


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
        self._sessions = {
            name: onnxruntime.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
            for name, blob in graphs.items()
        }
        for name in (REFINE, REFINE_MASK):
            session = self._sessions.get(name)
            if session is not None and "confidence" not in {o.name for o in session.get_outputs()}:
                raise ValueError(
                    f"graphs: {name}.onnx has no 'confidence' output (exported by an older "
                    "alpha-refine); export the weights again with `alpha-refine export-onnx`"
                )

    @classmethod
    def from_network(
        cls,
        network: AlphaRefineNet,
        threads: int | None = None,
        precision: Literal["float32", "int8"] = "float32",
    ) -> OnnxRuntimeEngine:
        """Export ``network`` in memory (a few seconds per graph) and open the sessions.

        ``precision="int8"`` quantizes the graphs first (:mod:`alpha_refine.runtime.quantize`,
        calibrated on synthetic sequences; tens of seconds).
        """
        return cls(with_precision(export_graphs(network), precision), threads)

    @staticmethod
    def _array(tensor: Tensor) -> np.ndarray[Any, Any]:
        return np.ascontiguousarray(tensor.detach().cpu().float().numpy())

    def kernels(self, crops: Tensor) -> Tensor:
        (kernels,) = self._sessions[TEMPLATE].run(None, {"crops": self._array(crops)})
        return torch.from_numpy(kernels)

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        feeds = {"crops": self._array(crops), "kernels": self._array(kernels)}
        if not with_mask:
            corners, confidence = self._sessions[REFINE].run(["corners", "confidence"], feeds)
            return SearchOutput(torch.from_numpy(corners), torch.from_numpy(confidence), None)
        if REFINE_MASK not in self._sessions:
            raise RuntimeError("this network has no mask head (config.mask_head is False)")
        corners, mask, confidence = self._sessions[REFINE_MASK].run(
            ["corners", "mask", "confidence"], feeds
        )
        return SearchOutput(
            torch.from_numpy(corners), torch.from_numpy(confidence), torch.from_numpy(mask)
        )

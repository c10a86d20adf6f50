"""ONNX export of the network and an ONNX Runtime backend for CPUs: the public entry point.

Needs ``onnx``, ``onnxscript`` and ``onnxruntime`` (core dependencies). The graphs' names,
inputs and outputs are described in :mod:`alpha_refine.runtime.graphs`; the code lives in
:mod:`alpha_refine.runtime` (``export``, ``quantize``, ``onnx_engine``).
"""

from alpha_refine.runtime.export import export_graphs, export_onnx
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE, onnx_available
from alpha_refine.runtime.onnx_engine import OnnxRuntimeEngine

__all__ = [
    "REFINE",
    "REFINE_MASK",
    "TEMPLATE",
    "OnnxRuntimeEngine",
    "export_graphs",
    "export_onnx",
    "onnx_available",
]

"""The exported ONNX graphs' contract: their names, inputs and outputs, and the optional extra.

Export (:mod:`alpha_refine.runtime.export`), int8 quantization
(:mod:`alpha_refine.runtime.quantize`) and the ONNX Runtime engine
(:mod:`alpha_refine.runtime.onnx_engine`) all name the graphs from here, so none of them imports
another for a name.

Needs ``onnx``, ``onnxscript`` (the exporter) and ``onnxruntime``: core dependencies (the
``onnx`` extra, ``pip install "alpha-refine[onnx]"``, names the same three).

:func:`~alpha_refine.runtime.export.export_onnx` writes three self-contained graphs with a dynamic
number of targets ``N``:

=====================  ======================  ===================================
file                   inputs                  outputs
=====================  ======================  ===================================
``template.onnx``      ``crops``               ``kernels``
``refine.onnx``        ``crops``, ``kernels``  ``corners``, ``confidence``
``refine_mask.onnx``   ``crops``, ``kernels``  ``corners``, ``mask``, ``confidence``
=====================  ======================  ===================================

Networks with a blend head (:mod:`alpha_refine.model.blend`) add a last output,
``blend_summary``, to both refine graphs.

* ``crops``: ``N x 256 x 256 x 3`` ``float32``, **RGB**, values ``0..255`` (the search or
  template crops, cut as described in docs/concepts.md; normalisation happens in the graph).
* ``kernels``: ``N x C x 8 x 8`` ``float32`` template kernels (``C`` = 256 for ResNet-18/34).
* ``corners``: ``N x 4`` ``x1, y1, x2, y2`` in crop pixels.
* ``mask``: ``N x 256 x 256`` foreground probabilities (only with a mask head).
* ``confidence``: ``N`` sharpness of the corner maps in ``[0, 1]``
  (:func:`alpha_refine.model.heads.corner_confidence`). Graphs exported before it existed lack
  this output; :class:`~alpha_refine.runtime.onnx_engine.OnnxRuntimeEngine` refuses them with a
  clear error (export them again).
* ``blend_summary``: ``N x 72`` ``float32``, the blend head's summary of each crop
  (:meth:`alpha_refine.model.blend.BlendHead.summarise`); the refiner blends the input and
  refined boxes from it outside the graph, since the input box is not a graph input.

Each graph's metadata (``alpha_refine``) holds the weights' config as JSON.
"""

from __future__ import annotations

TEMPLATE = "template"
REFINE = "refine"
REFINE_MASK = "refine_mask"
BLEND_SUMMARY = "blend_summary"


def onnx_available() -> bool:
    """Whether the ``onnx`` dependencies (exporter and ONNX Runtime) are installed.

    Looks the packages up without importing them: importing the exporter takes about a second,
    and a refiner whose graphs come from the cache never needs it.
    """
    import importlib.util

    return all(
        importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime", "onnxscript")
    )


def require_onnx() -> None:
    """Raise an ``ImportError`` naming the extra when it is missing."""
    if not onnx_available():
        raise ImportError(
            "ONNX export and the ONNX Runtime backend need the 'onnx' extra: "
            'pip install "alpha-refine[onnx]" (onnx, onnxscript, onnxruntime)'
        )

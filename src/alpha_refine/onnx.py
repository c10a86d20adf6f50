"""ONNX export of the network and an ONNX Runtime backend for CPUs.

Needs the optional extra: ``pip install "alpha-refine[onnx]"`` (``onnx``, ``onnxscript`` for the
exporter, ``onnxruntime``).

:func:`export_onnx` writes three self-contained graphs with a dynamic number of targets ``N``:

=====================  ======================  ===================================
file                   inputs                  outputs
=====================  ======================  ===================================
``template.onnx``      ``crops``               ``kernels``
``refine.onnx``        ``crops``, ``kernels``  ``corners``, ``confidence``
``refine_mask.onnx``   ``crops``, ``kernels``  ``corners``, ``mask``, ``confidence``
=====================  ======================  ===================================

* ``crops``: ``N x 256 x 256 x 3`` ``float32``, **RGB**, values ``0..255`` (the search or
  template crops, cut as described in docs/concepts.md; normalisation happens in the graph).
* ``kernels``: ``N x C x 8 x 8`` ``float32`` template kernels (``C`` = 256 for ResNet-18/34).
* ``corners``: ``N x 4`` ``x1, y1, x2, y2`` in crop pixels.
* ``mask``: ``N x 256 x 256`` foreground probabilities (only with a mask head).
* ``confidence``: ``N`` sharpness of the corner maps in ``[0, 1]``
  (:func:`alpha_refine.model.heads.corner_confidence`). Graphs exported before it existed lack
  this output; :class:`OnnxRuntimeEngine` refuses them with a clear error (export them again).

Each graph's metadata (``alpha_refine``) holds the weights' config as JSON.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from alpha_refine._fast import SearchOutput, fold_batchnorm
from alpha_refine.geometry import CROP_SIZE
from alpha_refine.model.heads import corner_confidence
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops, normalize_crops_for_export

if TYPE_CHECKING:
    from alpha_refine._quantize import CalibrationCrops

TEMPLATE = "template"
REFINE = "refine"
REFINE_MASK = "refine_mask"


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (exporter and ONNX Runtime) is installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def _require_onnx() -> None:
    if not onnx_available():
        raise ImportError(
            "ONNX export and the ONNX Runtime backend need the 'onnx' extra: "
            'pip install "alpha-refine[onnx]" (onnx, onnxscript, onnxruntime)'
        )


class _ExportGraph(nn.Module):
    """Every output at once; the three graphs are cut out of it (one export, not three)."""

    def __init__(self, network: AlphaRefineNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, crops: Tensor, kernels: Tensor) -> tuple[Tensor, ...]:
        search = normalize_crops_for_export(crops)
        with_mask = self.network.mask_head is not None
        output = self.network(search, kernels, with_mask=with_mask)
        # The template graph: the same crops through template_kernel (cut out on its own).
        outputs: tuple[Tensor, ...] = (self.network.template_kernel(search), output.corners)
        if output.mask_logits is not None:
            outputs = (*outputs, output.mask_logits[:, 0].sigmoid())
        return (*outputs, corner_confidence(output.corner_scores))


def _rename_output(model: Any, old: str, new: str) -> None:
    for node in model.graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
    for output in model.graph.output:
        if output.name == old:
            output.name = new


def export_graphs(network: AlphaRefineNet, opset: int | None = None) -> dict[str, bytes]:
    """Serialised ONNX models ``{"template": ..., "refine": ..., "refine_mask": ...}``.

    The network is copied and its BatchNorm folded first; ``refine_mask`` only exists for a
    network with a mask head. Takes several seconds.
    """
    _require_onnx()
    import onnx.utils

    prepared = fold_batchnorm(copy.deepcopy(network).cpu().float().eval().requires_grad_(False))
    targets = torch.export.Dim("targets", min=1, max=65536)
    # Two examples: a batch of one would be specialised to a fixed size by the exporter.
    generator = torch.Generator().manual_seed(0)  # leave the global RNG alone
    crops = torch.rand(2, CROP_SIZE, CROP_SIZE, 3, generator=generator) * 255
    with torch.inference_mode():
        kernels = prepared.template_kernel(normalize_crops(crops))
    outputs = ["crop_kernels", "corners"]
    if prepared.mask_head is not None:
        outputs.append("mask")
    outputs.append("confidence")
    # The exporter reports progress on stdout and warns about its internals; keep it quiet.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _ExportGraph(prepared),
            (crops, kernels),
            dynamo=True,
            input_names=["crops", "kernels"],
            output_names=outputs,
            dynamic_shapes={"crops": {0: targets}, "kernels": {0: targets}},
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    assert program is not None
    extractor = onnx.utils.Extractor(program.model_proto)
    models = {
        TEMPLATE: extractor.extract_model(["crops"], ["crop_kernels"]),
        REFINE: extractor.extract_model(["crops", "kernels"], ["corners", "confidence"]),
    }
    if "mask" in outputs:
        models[REFINE_MASK] = extractor.extract_model(
            ["crops", "kernels"], ["corners", "mask", "confidence"]
        )
    _rename_output(models[TEMPLATE], "crop_kernels", "kernels")
    metadata = json.dumps({"model": network.config.to_dict(), "crop_size": CROP_SIZE})
    serialised = {}
    for name, model in models.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = "alpha_refine", metadata
        serialised[name] = model.SerializeToString()
    return serialised


def _with_precision(
    graphs: dict[str, bytes], precision: str, calibration: CalibrationCrops | None = None
) -> dict[str, bytes]:
    if precision == "float32":
        return graphs
    if precision != "int8":
        raise ValueError(f"ONNX precision must be 'float32' or 'int8', got {precision!r}")
    from alpha_refine._quantize import quantize_graphs

    return quantize_graphs(graphs, calibration)


def export_onnx(
    network: AlphaRefineNet,
    directory: str | os.PathLike[str],
    *,
    opset: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    precision: Literal["float32", "int8"] = "float32",
    calibration: CalibrationCrops | None = None,
) -> list[Path]:
    """Write ``template.onnx``, ``refine.onnx`` and ``refine_mask.onnx`` into ``directory``.

    See the module docs for their inputs and outputs. ``metadata`` (JSON-serialisable, e.g. the
    weights' ``WeightsInfo.to_dict()``) is added to each graph's ``alpha_refine`` metadata.
    ``precision="int8"`` writes int8 graphs (same inputs and outputs), calibrated on
    ``calibration`` (default: synthetic sequences); see :mod:`alpha_refine._quantize`.
    Returns the written paths.
    """
    import onnx

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    graphs = _with_precision(export_graphs(network, opset), precision, calibration)
    for name, blob in graphs.items():
        if metadata is not None:
            proto = onnx.load_from_string(blob)
            for entry in proto.metadata_props:
                if entry.key == "alpha_refine":
                    entry.value = json.dumps({**json.loads(entry.value), **metadata})
            blob = proto.SerializeToString()
        path = out / f"{name}.onnx"
        path.write_bytes(blob)
        paths.append(path)
    return paths


class OnnxRuntimeEngine:
    """Runs the exported graphs with ONNX Runtime on the CPU (an engine of the refiner).

    Args:
        graphs: serialised models as returned by :func:`export_graphs`.
        threads: intra-op threads; by default ``torch.get_num_threads()``, so the usual
            ``torch.set_num_threads`` / ``OMP_NUM_THREADS`` settings apply to both backends.
    """

    device = torch.device("cpu")

    def __init__(self, graphs: Mapping[str, bytes], threads: int | None = None) -> None:
        _require_onnx()
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

        ``precision="int8"`` quantizes the graphs first (:mod:`alpha_refine._quantize`,
        calibrated on synthetic sequences; tens of seconds).
        """
        return cls(_with_precision(export_graphs(network), precision), threads)

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

"""ONNX export of the network: one ``torch.onnx`` export, cut into the three graphs.

The graphs' names, inputs and outputs are described in :mod:`alpha_refine.runtime.graphs`.
``precision="int8"`` hands them to :mod:`alpha_refine.runtime.quantize`.
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
from typing import Any, Literal

import torch
from torch import Tensor, nn

from alpha_refine.geometry import CROP_SIZE
from alpha_refine.model.heads import corner_confidence
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops, normalize_crops_for_export
from alpha_refine.runtime.engine import fold_batchnorm
from alpha_refine.runtime.graphs import (
    BLEND_SUMMARY,
    REFINE,
    REFINE_MASK,
    TEMPLATE,
    require_onnx,
)
from alpha_refine.runtime.guard import check_int8
from alpha_refine.runtime.quantize import CalibrationCrops, Ranges, quantize_graphs


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
        outputs = (*outputs, corner_confidence(output.corner_scores))
        if output.blend_summary is not None:
            outputs = (*outputs, output.blend_summary)
        return outputs


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
    require_onnx()
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
    blend = [BLEND_SUMMARY] if prepared.blend_head is not None else []
    outputs.extend(blend)
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
        REFINE: extractor.extract_model(["crops", "kernels"], ["corners", "confidence", *blend]),
    }
    if "mask" in outputs:
        models[REFINE_MASK] = extractor.extract_model(
            ["crops", "kernels"], ["corners", "mask", "confidence", *blend]
        )
    _rename_output(models[TEMPLATE], "crop_kernels", "kernels")
    metadata = json.dumps({"model": network.config.to_dict(), "crop_size": CROP_SIZE})
    serialised = {}
    for name, model in models.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = "alpha_refine", metadata
        serialised[name] = model.SerializeToString()
    return serialised


def with_precision(
    graphs: dict[str, bytes],
    precision: str,
    calibration: CalibrationCrops | None = None,
    ranges: Ranges | None = None,
) -> dict[str, bytes]:
    """``graphs`` as they are (``"float32"``) or quantized to int8 (``"int8"``), calibrated on
    ``calibration`` or, when given, with the activation ``ranges`` (no calibration)."""
    if precision == "float32":
        return graphs
    if precision != "int8":
        raise ValueError(f"ONNX precision must be 'float32' or 'int8', got {precision!r}")
    return quantize_graphs(graphs, calibration, ranges=ranges)


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
    ``calibration`` (default: synthetic sequences); see :mod:`alpha_refine.runtime.quantize`.
    They are checked against float32 as the refiner checks them
    (:func:`alpha_refine.runtime.guard.check_int8`): the verdict is in each graph's metadata
    (``int8_check``), and a failed check warns
    (:class:`~alpha_refine.runtime.guard.Int8AccuracyWarning`).
    Returns the written paths.
    """
    import onnx

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    float32 = export_graphs(network, opset)
    graphs = with_precision(float32, precision, calibration)
    extra = dict(metadata or {})
    if precision == "int8":
        check = check_int8(float32, graphs, threads=torch.get_num_threads())
        extra["int8_check"] = {
            **check.to_dict(),
            "passed": check.passed,
            "summary": check.summary(),
        }
        check.warn_if_failed("the exported int8 graphs", stacklevel=2)
    for name, blob in graphs.items():
        if extra:
            proto = onnx.load_from_string(blob)
            for entry in proto.metadata_props:
                if entry.key == "alpha_refine":
                    entry.value = json.dumps({**json.loads(entry.value), **extra})
            blob = proto.SerializeToString()
        path = out / f"{name}.onnx"
        path.write_bytes(blob)
        paths.append(path)
    return paths

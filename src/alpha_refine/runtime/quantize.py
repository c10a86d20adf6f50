"""Int8 quantization of the exported ONNX graphs for ONNX Runtime on CPUs (``precision="int8"``).

Static QDQ quantization with ``onnxruntime.quantization.quantize_static``: int8 weights per
output channel, uint8 activations whose ranges are calibrated on crops of the package's
synthetic sequences (offline, no data needed) or of sequences you give: the mean over batches
of 8 crops of each batch's min and max (less swayed by one extreme crop than the global
min/max; on real frames neither the global min/max nor percentile calibration was closer to
float32 for every trunk, docs/performance.md). The embedded model's ranges ship with the
package (:mod:`alpha_refine.runtime.ship`), calibrated on real training images.

Only the **trunk** is quantized (ResNet or EfficientNet-Lite0), with the mask head's adjust
layers and lateral convolutions, which read only trunk features: every node that does not
depend on the template ``kernels`` input (convolutions, residual additions, the max-pool, ReLUs
and the ReLU6 clips), so ONNX Runtime runs the trunk in int8 from the first convolution to its
last block (VNNI instructions where the CPU has them). The activation after a convolution is
quantized with the range of the ReLU or ReLU6 that follows it (ONNX Runtime folds them): for
EfficientNet-Lite0, whose ReLU6 were left out before, that alone cut the median box deviation
on real frames from 4.8 to 1.0 px (docs/performance.md). The correlation, its 1x1 convolutions,
the corner towers, the soft-argmax and the mask decoder's top-down path stay float32:
quantizing them as well saved only about a tenth more time here and tripled the trained model's
median box deviation (docs/performance.md).

Boxes then differ from float32 ones, far beyond the 1e-3 px fidelity tolerance of the float32
paths, by an amount that depends on the weights: :mod:`alpha_refine.runtime.guard` measures it
for the weights at hand, and docs/performance.md gives what was measured on real frames.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alpha_refine._inputs import as_rgb_frame
from alpha_refine.data.augment import jitter_box
from alpha_refine.data.sequence import Sequence
from alpha_refine.geometry import (
    CROP_SIZE,
    boxes_to_crop,
    crop_and_resize,
    search_windows,
    xywh_to_xyxy,
)
from alpha_refine.runtime.graphs import REFINE_MASK, TEMPLATE

Ranges = dict[str, Any]
"""Activation ranges of a calibration: ``{"template": ..., "search": ...}``, each the JSON
calibration cache ONNX Runtime's ``quantize_static`` reads and writes."""

QUANTIZED_OPS = ("Conv", "Add", "MaxPool", "Relu", "Clip")
"""Operator types quantized, in the part of each graph that does not read ``kernels``
(``Clip``: EfficientNet's ReLU6)."""

FLOAT_STEM = False
"""Keep the stem convolution in float32? Not by default: measured side by side (ResNet-34, one
thread, AVX2 CPU) it was about 10 % slower than the int8 stem, though 4x closer to float32 on
random weights (docs/performance.md)."""

CALIBRATION_SEQUENCES = 16
CALIBRATION_SEED = 20_240_607  # not the demo clip's seed, so the demo is held out
_BATCH = 8  # crops per calibration run


@dataclass(frozen=True)
class CalibrationCrops:
    """Crops the activation ranges are calibrated on (``float32`` RGB, ``0..255``).

    Attributes:
        templates: ``T x 256 x 256 x 3`` template crops.
        searches: ``S x 256 x 256 x 3`` search crops.
        template_index: ``S`` index of each search crop's template.
        truth: ``S x 4`` ground-truth boxes in crop pixels, ``x1, y1, x2, y2`` (what the int8
            check measures boxes against).
        box_size: ``S`` size ``sqrt(w * h)`` of each input (jittered) box in crop pixels.
    """

    templates: NDArray[np.float32]
    searches: NDArray[np.float32]
    template_index: NDArray[np.int64]
    truth: NDArray[np.float64]
    box_size: NDArray[np.float64]


def synthetic_calibration_sequences(count: int | None = None) -> list[Sequence]:
    """The default calibration data: ``count`` (default :data:`CALIBRATION_SEQUENCES`) of the
    package's synthetic sequences, 320 x 240, 12 frames each."""
    from alpha_refine.data.synthetic import SyntheticConfig, SyntheticSequences

    generator = SyntheticSequences(
        count or CALIBRATION_SEQUENCES, SyntheticConfig(length=12), seed=CALIBRATION_SEED
    )
    return generator.sequences()


def calibration_crops(
    sequences: Iterable[Sequence] | None = None,
    *,
    searches_per_sequence: int = 3,
    jitter: float = 0.25,
    seed: int = 0,
) -> CalibrationCrops:
    """Template and search crops cut from ``sequences`` as the refiner cuts them.

    Each sequence gives its first visible box as a template and ``searches_per_sequence``
    evenly spaced later frames with the ground truth jittered in centre and scale by
    ``jitter`` (as in the oracle experiment), standing in for a base tracker's boxes. A still
    image (a sequence of one visible frame) gives one search crop of the same frame, as
    training pairs a still image with itself. ``None``: :func:`synthetic_calibration_sequences`.
    """
    if searches_per_sequence < 1:
        raise ValueError(f"searches_per_sequence must be >= 1, got {searches_per_sequence}")
    rng = np.random.default_rng(seed)
    templates: list[NDArray[Any]] = []
    searches: list[NDArray[Any]] = []
    index: list[int] = []
    truth: list[NDArray[np.float64]] = []
    size: list[float] = []

    def crop(frame: NDArray[Any], window: NDArray[np.int64]) -> NDArray[Any]:
        return crop_and_resize(as_rgb_frame(frame, "bgr"), window, CROP_SIZE)

    for sequence in synthetic_calibration_sequences() if sequences is None else sequences:
        visible = np.flatnonzero(sequence.visible)
        if len(visible) == 0:
            continue
        first, rest = int(visible[0]), visible[1:]
        if len(rest) == 0 and len(sequence) == 1:
            rest = visible  # a still image
        elif len(rest) == 0:
            continue
        picks = np.linspace(0, len(rest) - 1, min(searches_per_sequence, len(rest)))
        templates.append(crop(sequence.frame(first), search_windows(sequence.boxes[first])))
        for frame_index in rest[picks.round().astype(int)]:
            true_box = sequence.boxes[frame_index]
            box = jitter_box(true_box, rng, jitter, jitter)
            window = search_windows(box)
            searches.append(crop(sequence.frame(int(frame_index)), window))
            index.append(len(templates) - 1)
            truth.append(xywh_to_xyxy(boxes_to_crop(true_box, window)))
            _, _, width, height = boxes_to_crop(box, window)
            size.append(float(np.sqrt(width * height)))
    if not searches:
        raise ValueError(
            "calibration needs a sequence with two or more visible frames, or a still image"
        )
    return CalibrationCrops(
        np.stack(templates).astype(np.float32),
        np.stack(searches).astype(np.float32),
        np.asarray(index, dtype=np.int64),
        np.asarray(truth, dtype=np.float64),
        np.asarray(size, dtype=np.float64),
    )


def trunk_nodes(model: Any, float_stem: bool = False) -> list[str]:
    """Names of the nodes of an ONNX ``model`` that do not depend on its ``kernels`` input.

    ``float_stem``: leave out the convolutions up to the trunk's first dense one (the input
    normalisation, a depthwise 1 x 1, and the 7 x 7 stem): with 3 input channels they fill
    int8 dot products poorly, so quantizing them costs time instead of saving it.
    """
    tainted = {"kernels"}
    names = []
    in_stem = float_stem
    for node in model.graph.node:  # topologically sorted, as ONNX requires
        if tainted.intersection(node.input):
            tainted.update(node.output)
        elif in_stem and node.op_type == "Conv":
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            in_stem = groups != 1  # the depthwise normalisation comes before the stem
        else:
            names.append(node.name)
    return names


class _Feeds:
    """A calibration data reader (duck-typed, as ONNX Runtime allows) over input dicts."""

    def __init__(self, feeds: list[dict[str, NDArray[np.float32]]]) -> None:
        self._feeds: Iterator[dict[str, NDArray[np.float32]]] = iter(feeds)

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantizer's advice and progress (root-logger warnings, prints)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def quantize_graph(
    blob: bytes,
    feeds: list[dict[str, NDArray[np.float32]]] | None,
    cache: Path | None = None,
    float_stem: bool = FLOAT_STEM,
) -> bytes:
    """Int8 copy of one serialised graph, activation ranges calibrated on ``feeds``.

    ``cache``: a JSON file of activation ranges; read if it exists (``feeds`` unused, may be
    ``None``), else written, so graphs cut from one export (``refine``, ``refine_mask``) are
    calibrated once. ``float_stem``: keep the first convolution in float32 (:func:`trunk_nodes`).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load_from_string(blob)
    with tempfile.TemporaryDirectory() as folder, _quiet():
        path = Path(folder) / "int8.onnx"
        quantize_static(
            model,
            path,
            None if feeds is None else _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_quantize=trunk_nodes(model, float_stem),
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=cache,
            extra_options={"CalibMovingAverage": True},
        )
        quantized = onnx.load(path)
    for entry in quantized.metadata_props:
        if entry.key == "alpha_refine":
            entry.value = json.dumps({**json.loads(entry.value), "precision": "int8"})
    serialised: bytes = quantized.SerializeToString()
    return serialised


def quantize_graphs(
    graphs: Mapping[str, bytes],
    calibration: CalibrationCrops | None = None,
    *,
    ranges: Ranges | None = None,
    float_stem: bool = FLOAT_STEM,
) -> dict[str, bytes]:
    """Int8 copies of :func:`alpha_refine.runtime.export.export_graphs`' float32 graphs.

    ``calibration``: crops to calibrate on (default: :func:`calibration_crops` of the synthetic
    sequences). The search graphs are calibrated with the float32 template graph's kernels.
    Takes several seconds per graph. ``ranges`` (see :func:`quantize_and_calibrate`) skips the
    calibration.
    """
    return quantize_and_calibrate(graphs, calibration, ranges=ranges, float_stem=float_stem)[0]


def quantize_and_calibrate(
    graphs: Mapping[str, bytes],
    calibration: CalibrationCrops | None = None,
    *,
    ranges: Ranges | None = None,
    float_stem: bool = FLOAT_STEM,
) -> tuple[dict[str, bytes], Ranges]:
    """:func:`quantize_graphs`, also returning the activation ranges used (calibrated unless
    ``ranges`` are given): small JSON, enough to quantize the same graphs again without data."""
    with tempfile.TemporaryDirectory() as folder:
        caches = {part: Path(folder) / f"{part}.json" for part in ("template", "search")}
        feeds: dict[str, list[dict[str, NDArray[np.float32]]]] = {}
        if ranges is not None:
            for part, cache in caches.items():
                cache.write_text(json.dumps(ranges[part]))
        else:
            feeds = _calibration_feeds(graphs, calibration)
        quantized = {}
        # The template first; then the mask graph, whose ranges cover every tensor of the
        # box-only graph, so the search graphs are calibrated once.
        for name in sorted(graphs, key=lambda n: (n != TEMPLATE, n != REFINE_MASK)):
            part = "template" if name == TEMPLATE else "search"
            reader = None if caches[part].exists() else feeds[part]
            quantized[name] = quantize_graph(graphs[name], reader, caches[part], float_stem)
        used: Ranges = {part: json.loads(cache.read_text()) for part, cache in caches.items()}
    return {name: quantized[name] for name in graphs}, used


def _calibration_feeds(
    graphs: Mapping[str, bytes], calibration: CalibrationCrops | None
) -> dict[str, list[dict[str, NDArray[np.float32]]]]:
    """Batches of calibration inputs for the template and the search graphs."""
    import onnxruntime

    crops = calibration_crops() if calibration is None else calibration
    session = onnxruntime.InferenceSession(graphs[TEMPLATE], providers=["CPUExecutionProvider"])
    (kernels,) = session.run(None, {"crops": crops.templates})
    return {
        "template": [
            {"crops": crops.templates[i : i + _BATCH]}
            for i in range(0, len(crops.templates), _BATCH)
        ],
        "search": [
            {
                "crops": crops.searches[i : i + _BATCH],
                "kernels": kernels[crops.template_index[i : i + _BATCH]],
            }
            for i in range(0, len(crops.searches), _BATCH)
        ],
    }

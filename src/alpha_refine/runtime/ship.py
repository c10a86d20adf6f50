"""Int8 calibration ranges shipped with the package, so the embedded model never calibrates.

Calibration is the slow part of ``precision="int8"`` (tens of seconds). For the model embedded
in the package its result, the activation ranges (a small JSON), ships as
``runtime/int8_ranges.json``, stamped with the weights' fingerprint and a signature of the
exported graphs' tensor names. Ranges whose fingerprint or signature do not match (new default
weights, another exporter) are ignored, and the graphs are calibrated as usual.

The shipped ranges are calibrated on real training images (numbers only; no image ships): still
images of DUTS-TR and frames of the DAVIS-2016 training videos, never the development sequences
the int8 deviation is measured on. On real frames of those, such ranges moved a trained
ResNet-18's int8 boxes less than ranges from the synthetic sequences (0.26 against 0.37 px
median) and the embedded EfficientNet-Lite0 model's about as much (0.96 against 0.98 px median,
2.9 against 2.8 px at the 90th percentile; docs/performance.md). Regenerate after changing the
embedded weights (or the exporter), from the repository's root with the training data in
``data/``::

    python -m alpha_refine.runtime.ship --stills data/duts-tr \
        --calibration davis:data/davis2016-train/DAVIS:train

Without data, ``python -m alpha_refine.runtime.ship`` calibrates on the synthetic sequences.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alpha_refine._atomic import write_atomic
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE
from alpha_refine.runtime.quantize import CalibrationCrops, Ranges, calibration_crops

STILLS = 48
"""Still images calibrated on (evenly spaced over the folder's usable ones)."""
VIDEOS = 16
"""Video sequences calibrated on (evenly spaced over the datasets' sequences), 3 crops each."""

SHIPPED_RANGES = Path(__file__).with_name("int8_ranges.json")


def graph_signature(graphs: Mapping[str, bytes]) -> str:
    """16 hex digits over the tensor names the ranges refer to (the template and search graph):
    an exporter that names tensors differently gets another signature."""
    import onnx

    digest = hashlib.sha256()
    for name in (TEMPLATE, REFINE_MASK if REFINE_MASK in graphs else REFINE):
        model = onnx.load_from_string(graphs[name])
        for node in model.graph.node:
            digest.update(" ".join(node.output).encode())
    return digest.hexdigest()[:16]


def shipped_ranges(
    fingerprint: str, graphs: Mapping[str, bytes], path: Path | None = None
) -> Ranges | None:
    """The shipped ranges (``path``, default :data:`SHIPPED_RANGES`) if they were made for these
    weights and graphs, else ``None``."""
    try:
        text = (SHIPPED_RANGES if path is None else path).read_text(encoding="utf-8")
        shipped: dict[str, Any] = json.loads(text)
    except (OSError, ValueError):
        return None
    if shipped.get("fingerprint") != fingerprint:
        return None
    if shipped.get("signature") != graph_signature(graphs):
        return None
    ranges = shipped.get("ranges")
    return ranges if isinstance(ranges, dict) and {"template", "search"} <= set(ranges) else None


def real_calibration(
    datasets: Sequence[str] = (), stills: Path | None = None
) -> tuple[CalibrationCrops, str]:
    """Calibration crops of :data:`VIDEOS` sequences of ``datasets`` (specs as for
    ``alpha-refine eval --dataset``) and :data:`STILLS` images of the saliency folder ``stills``
    (:func:`alpha_refine.data.images.load_saliency`), evenly spaced; and a description."""
    from alpha_refine.data import load_dataset
    from alpha_refine.data.images import load_saliency

    sequences = []
    described = []
    if stills is not None:
        images = load_saliency(stills)
        picks = np.linspace(0, len(images) - 1, min(STILLS, len(images))).round().astype(int)
        sequences += [images[i] for i in picks]
        described.append(f"{len(picks)} still images of {stills}")
    videos = [sequence for spec in datasets for sequence in load_dataset(spec)]
    if videos:
        picks = np.linspace(0, len(videos) - 1, min(VIDEOS, len(videos))).round().astype(int)
        sequences += [videos[i] for i in picks]
        described.append(f"{len(picks)} sequences of {', '.join(datasets)}")
    return calibration_crops(sequences), " and ".join(described)


def write_shipped_ranges(
    path: Path = SHIPPED_RANGES,
    calibration: CalibrationCrops | None = None,
    description: str = "the package's synthetic sequences",
) -> dict[str, Any]:
    """Calibrate the embedded model's graphs on ``calibration`` (default: the synthetic
    sequences) and write their ranges to ``path``, with ``description`` of the data."""
    from alpha_refine.runtime.export import export_graphs
    from alpha_refine.runtime.quantize import quantize_and_calibrate
    from alpha_refine.weights.store import load_pretrained, weights_fingerprint

    network, _ = load_pretrained(None)
    graphs = export_graphs(network)
    _, ranges = quantize_and_calibrate(graphs, calibration)
    shipped = {
        "fingerprint": weights_fingerprint(network),
        "signature": graph_signature(graphs),
        "calibration": description,
        "ranges": ranges,
    }
    write_atomic(path, json.dumps(shipped, sort_keys=True).encode())
    return shipped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alpha_refine.runtime.ship",
        description="Regenerate the int8 calibration ranges shipped for the embedded model.",
    )
    parser.add_argument("--out", type=Path, default=SHIPPED_RANGES, help="file to write")
    parser.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="DATASET",
        help="video dataset spec to calibrate on, e.g. davis:data/davis2016-train/DAVIS:train "
        "(training splits only; repeatable)",
    )
    parser.add_argument(
        "--stills", type=Path, help="saliency folder of still images (e.g. data/duts-tr)"
    )
    args = parser.parse_args(argv)
    if args.calibration or args.stills:
        crops, description = real_calibration(args.calibration, args.stills)
        shipped = write_shipped_ranges(args.out, crops, description)
    else:
        shipped = write_shipped_ranges(args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size} bytes) for weights {shipped['fingerprint']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

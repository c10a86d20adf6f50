"""Int8 calibration ranges shipped with the package, so the embedded model never calibrates.

Calibration is the slow part of ``precision="int8"`` (tens of seconds). For the model embedded
in the package its result, the activation ranges (a small JSON), ships as
``runtime/int8_ranges.json``, stamped with the weights' fingerprint and a signature of the
exported graphs' tensor names. Ranges whose fingerprint or signature do not match (new default
weights, another exporter) are ignored, and the graphs are calibrated as usual.

Regenerate after changing the embedded weights (or the exporter)::

    python -m alpha_refine.runtime.ship
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alpha_refine._atomic import write_atomic
from alpha_refine.runtime.graphs import REFINE, REFINE_MASK, TEMPLATE
from alpha_refine.runtime.quantize import Ranges

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


def write_shipped_ranges(path: Path = SHIPPED_RANGES) -> dict[str, Any]:
    """Calibrate the embedded model's graphs and write their ranges to ``path``."""
    from alpha_refine.runtime.export import export_graphs
    from alpha_refine.runtime.quantize import quantize_and_calibrate
    from alpha_refine.weights.store import load_pretrained, weights_fingerprint

    network, _ = load_pretrained(None)
    graphs = export_graphs(network)
    _, ranges = quantize_and_calibrate(graphs)
    shipped = {
        "fingerprint": weights_fingerprint(network),
        "signature": graph_signature(graphs),
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
    args = parser.parse_args(argv)
    shipped = write_shipped_ranges(args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size} bytes) for weights {shipped['fingerprint']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

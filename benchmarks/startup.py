"""Start-up cost, each in a fresh process: ``import torch``, then ``import alpha_refine`` on top,
then ``Refiner.from_pretrained()`` with an empty graph cache (the first start for these weights)
and again with the cache filled (every later start), for the automatic choice (which on a VNNI
CPU also quantizes and checks int8), float32 ONNX Runtime, int8 and torch.

    python benchmarks/startup.py [--weights DIR] [--repeats 3]

Uses a temporary cache folder (``ALPHA_REFINE_CACHE``), never the user's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

CHILD = """
import json, sys, time
start = time.perf_counter()
import torch
after_torch = time.perf_counter()
from alpha_refine import Refiner
after_import = time.perf_counter()
options = json.loads(sys.argv[1])
refiner = Refiner.from_pretrained(*options.pop("weights", []), device="cpu", **options)
done = time.perf_counter()
print(json.dumps({"torch_s": after_torch - start, "alpha_refine_s": after_import - after_torch,
                  "from_pretrained_s": done - after_import, "chosen": repr(refiner)}))
"""


def _run(options: dict[str, object], cache: str) -> dict[str, object]:
    env = {**os.environ, "ALPHA_REFINE_CACHE": cache}
    env.pop("ALPHA_REFINE_BACKEND", None)
    output = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(options)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, object] = json.loads(output.splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="weights (default: the embedded model)")
    parser.add_argument("--repeats", type=int, default=3, help="warm starts per configuration")
    args = parser.parse_args(argv)
    weights = {} if args.weights is None else {"weights": [args.weights]}
    for label, options in (
        ("auto", {}),
        ("auto float32", {"precision": "float32"}),
        ("auto int8", {"precision": "int8"}),
        ("torch", {"backend": "torch"}),
    ):
        with tempfile.TemporaryDirectory() as cache:
            runs = [_run({**weights, **options}, cache) for _ in range(1 + args.repeats)]
        cold, warm = runs[0], runs[1:]
        print(f"{label}: {cold['chosen']}")
        print(f"  first start (empty cache): from_pretrained {cold['from_pretrained_s']:.2f} s")
        for run in warm:
            print(
                f"  later start: import torch {run['torch_s']:.2f} s, + alpha_refine "
                f"{run['alpha_refine_s']:.2f} s, from_pretrained {run['from_pretrained_s']:.2f} s"
            )
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

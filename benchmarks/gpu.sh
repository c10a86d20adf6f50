#!/usr/bin/env bash
# The GPU check: install the package, check every CUDA path against eager float32 (float32,
# float16/bfloat16 autocast, compile=True, the device crop), then time one target and batches of
# 1 to 256 targets (ResNet-34). Under 8 minutes on one GPU; results in benchmarks/results/ for
# docs/performance.md.
#
#   bash benchmarks/gpu.sh                 # on a machine with CUDA
#   bash benchmarks/gpu.sh --check         # CPU dry run (small, seconds; run by .ci/run)
#   bash benchmarks/gpu.sh --weights DIR   # trained weights instead of calibrated random ones
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

# Installed already (CI, a dev checkout)? Then leave it; else an editable install without
# dependencies (torch with CUDA is expected to be there; the GPU machine may be offline).
if ! "$PYTHON" -c "import alpha_refine" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet --no-deps --no-build-isolation -e .
fi

if [[ "${1:-}" == "--check" ]]; then
    exec "$PYTHON" benchmarks/gpu_check.py "$@"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
out="benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M%S).json"
timeout 480 "$PYTHON" benchmarks/gpu_check.py --out "$out" "$@"

#!/usr/bin/env bash
# GPU check, for a machine with one CUDA GPU: the CUDA-only tests (sync-free steady state, bf16 /
# 16-mixed, compiled models, the deferred divergence check), then benchmarks/gpu_throughput.py
# (ganbench vs a plain loop in images/s, peak memory, one 10k-sample Inception evaluation).
# Sized to finish in under 8 minutes; each stage has its own time limit and the benchmark skips
# the cases that would start after its budget (it says which).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      # results: OUT_DIR/gpu_tests.log, OUT_DIR/gpu_throughput.{json,log}
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-runs/gpu_check}}
PY=${PYTHON:-python}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)

$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible: nothing to check')" || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== CUDA-only tests (limit 150 s)"
timeout 150 $PY -m pytest -q -p no:cacheprovider -rs \
    tests/training/test_cuda.py \
    "tests/training/test_finite_check.py::test_cuda_deferred_check_catches_a_nan_and_keeps_the_last_good_checkpoint" \
    2>&1 | tee "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}

echo "== throughput benchmark (limit 300 s)"
timeout 300 $PY benchmarks/gpu_throughput.py --device cuda --iterations 120 --warmup 40 \
    --budget 200 --eval-samples 10000 --out "$OUT/gpu_throughput.json" 2>&1 | tee "$OUT/gpu_throughput.log"
bench_rc=${PIPESTATUS[0]}

echo "== done in $(( $(date +%s) - start )) s: tests rc=$tests_rc, benchmark rc=$bench_rc"
exit $(( tests_rc != 0 || bench_rc != 0 ))

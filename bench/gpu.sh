#!/usr/bin/env bash
# The GPU variant of `npm run bench`: flip and JAX on one NVIDIA GPU (written for an H200), both on the CUDA 13 PJRT
# plugin of JAX 0.11.2 (jax_plugins/xla_cuda13/xla_cuda_plugin.so, which flip loads from the same Python install).
# Uses a Python that already has jax 0.11.2 + jax-cuda13-pjrt ($FLIP_BENCH_PYTHON, bench/.venv, or python3), else
# makes bench/.venv from bench/requirements-gpu.txt with pip. Options go to bench/run.ts (e.g. --steps 10, --readme).
# Results: bench/results-gpu.json and bench/results-gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "bench/gpu.sh: no NVIDIA GPU on this machine (nvidia-smi finds none); the GPU bench needs one." >&2
  echo "Run \`npm run bench\` for the CPU figures; docs/performance.md lists the GPU results as still to be taken." >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# node --import tsx rather than npx: the GPU kit (docs/runtime.md) carries Node but no npm.
exec node --import tsx bench/run.ts --target gpu "$@"

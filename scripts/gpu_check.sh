#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU, from the repository root: bash scripts/gpu_check.sh
#
# Installs what is missing (the test extra; CuPy for the driver's CUDA major version), runs the
# CuPy tests (tests/test_gpu.py: every rule's gradient on the GPU against NumPy, both conv
# paths, each precision), then scripts/gpu_check.py: gradients of fp32 / tf32 / fp16 against
# fp64, step timings of the 9 algorithms per precision, one CIFAR-10-sized epoch per precision
# (CIFAR-10 if $EBL_DATA_DIR/cifar10 exists, else synthetic data of its shape) and the projected
# GPU-hours of the Table 1 grid. Results: gpu_check.json in $OUT (if set) or the current folder.
#
# Exit status: 0 checked; 3 NOTHING CHECKED (no GPU, or CuPy cannot be installed); else the
# failing step's. Knobs: GPU_CHECK_PARTS (default gradients,steps,epoch), GPU_CHECK_PRECISIONS
# (default fp64,fp32,tf32,fp16), GPU_CHECK_TRAIN_SUBSET (train examples of the timed epoch,
# default 0 = all 50,000), GPU_CHECK_REPEATS (default 3).
set -uo pipefail
cd "$(dirname "$0")/.."

nothing() { echo "NOTHING CHECKED: $1"; exit 3; }

command -v nvidia-smi >/dev/null 2>&1 || nothing "no nvidia-smi on this machine (no NVIDIA GPU or driver)"
nvidia-smi -L 2>/dev/null | grep -q "GPU" || nothing "nvidia-smi lists no GPU"
nvidia-smi -L
cuda_major=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -1)

python -c "import pytest, hypothesis" 2>/dev/null \
  || python -m pip install --quiet -e ".[test]" \
  || nothing "the test extra (pytest, hypothesis) is missing and could not be installed"
if ! python -c "import cupy" 2>/dev/null; then
  case "$cuda_major" in
    12) wheel=cupy-cuda12x ;;
    13) wheel=cupy-cuda13x ;;
    *) nothing "CuPy is not installed and the driver's CUDA version ('$cuda_major') has no wheel here" ;;
  esac
  python -m pip install --quiet "$wheel" || nothing "CuPy is not installed and pip could not install $wheel"
fi
python -c "import cupy; cupy.cuda.runtime.getDeviceCount(); print('CuPy', cupy.__version__)" \
  || nothing "CuPy is installed but cannot use the GPU"

echo "== CuPy tests"
python -m pytest -q tests/test_gpu.py || exit $?

echo "== measurements"
out_dir=${OUT:-.}
python scripts/gpu_check.py --device gpu \
  --parts "${GPU_CHECK_PARTS:-gradients,steps,epoch}" \
  --precisions "${GPU_CHECK_PRECISIONS:-fp64,fp32,tf32,fp16}" \
  --train-subset "${GPU_CHECK_TRAIN_SUBSET:-0}" --repeats "${GPU_CHECK_REPEATS:-3}" \
  --out "$out_dir/gpu_check.json"

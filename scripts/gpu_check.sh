#!/usr/bin/env bash
# GPU check: run on a machine with an NVIDIA GPU after `pip install -e ".[test,cuda12]"`
# (or cuda13: the extra matching the CUDA driver). Runs the CuPy tests, then the benchmark in
# float32 and float16, and prints a table. Installs nothing; takes a few minutes.
# Without a usable GPU it checks nothing, says so ("NOTHING CHECKED") and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! why=$(python -c "from ebl_ref.backend import get_backend; get_backend('gpu')" 2>&1); then
  echo "NOTHING CHECKED: no usable GPU here: ${why##*Error: }"
  exit 1
fi
python -m pytest -q tests/test_gpu.py
out=$(mktemp)
for args in "--dtype float32 --batch 16" "--dtype float32 --batch 128" "--dtype float16 --batch 128"; do
  # shellcheck disable=SC2086
  python -m ebl_ref.bench --device gpu $args --repeats 5 --json >> "$out"
done
python - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'dtype':8} {'batch':>5} {'free ex/s':>10} {'c-ep ex/s':>10} {'GFLOP/s':>9} {'GEMM GFLOP/s':>13}")
for r in rows:
    print(f"{r['dtype']:8} {r['batch']:5d} {r['free_phase']['examples_per_s']:10.1f} "
          f"{r['cep_step']['examples_per_s']:10.1f} {r['free_phase']['gflops']:9.0f} "
          f"{r['gemm_gflops']:13.0f}")
PY
echo "GPU check done: tests/test_gpu.py passed and the benchmark ran (table above)"

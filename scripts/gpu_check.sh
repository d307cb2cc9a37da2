#!/usr/bin/env bash
# GPU check: run on a machine with an NVIDIA GPU after `pip install -e ".[test,cuda12]"`
# (or cuda13). Runs the CuPy tests, then the benchmark in float32 and float16, and prints a
# table. Installs nothing; takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
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

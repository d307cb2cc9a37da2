"""``python run.py table RUN_DIR...``: Table-1 style test error (%) as mean ± std over seeds,
one row per algorithm, one column per dataset, from the runs' ``summary.json``.

With ``--val`` the test error at the epoch of best validation error is used (runs made with
``--val-size``); otherwise the final epoch's. ``--json`` prints the aggregated numbers."""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ORDER = ["tbp", "rbp", "cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl"]


def collect(run_dirs, use_val: bool = False) -> dict:
    """{(algo, dataset): [test errors in %]} over finished runs (folders with summary.json)."""
    cells = defaultdict(list)
    for run in run_dirs:
        path = Path(run) / "summary.json"
        if not path.is_file():
            print(f"skipping {run}: no summary.json (unfinished or not a run)", file=sys.stderr)
            continue
        s = json.loads(path.read_text())
        error = s.get("test_error_at_best_val") if use_val else s["test_error"]
        if error is None:
            print(f"skipping {run}: no validation split", file=sys.stderr)
            continue
        cells[(s["algo"], s["dataset"])].append(100 * error)
    return cells


def format_table(cells: dict) -> str:
    datasets = sorted({d for _, d in cells})
    algos = sorted({a for a, _ in cells}, key=lambda a: ORDER.index(a) if a in ORDER else 99)
    rows = [["algo"] + datasets]
    for a in algos:
        row = [a]
        for d in datasets:
            v = cells.get((a, d))
            row.append("" if not v else f"{np.mean(v):.2f} ± {np.std(v):.2f} (n={len(v)})")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python run.py table", description=__doc__)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--val", action="store_true", help="test error at the best validation epoch")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    cells = collect(args.runs, args.val)
    if not cells:
        print("error: no finished runs among the given folders", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{"algo": a, "dataset": d, "test_error_percent": v,
                           "mean": float(np.mean(v)), "std": float(np.std(v))}
                          for (a, d), v in sorted(cells.items())]))
    else:
        print(format_table(cells))
    return 0

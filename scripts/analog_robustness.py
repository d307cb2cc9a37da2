"""Test error against one analog non-ideality, a line per rule, from a study folder (or its
export): the figure and table of results/analog/.

    python scripts/analog_robustness.py STUDY_DIR --field analog_out_noise \\
        --png results/analog/robustness.png --json results/analog/robustness.json

Reads every cell's ``config.json`` and ``summary.json`` (``test_error``); cells without a summary
are listed as missing. Needs matplotlib for ``--png``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def collect(root: Path, field: str) -> dict:
    """``{algo: {value: test_error}}`` over the run folders under ``root``."""
    table: dict = {}
    for cfg_path in sorted(root.rglob("config.json")):
        summary = cfg_path.with_name("summary.json")
        config = json.loads(cfg_path.read_text())
        if field not in config:
            continue
        error = json.loads(summary.read_text())["test_error"] if summary.is_file() else None
        table.setdefault(config["algo"], {})[config[field]] = error
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study")
    p.add_argument("--field", default="analog_out_noise")
    p.add_argument("--png")
    p.add_argument("--json")
    args = p.parse_args(argv)
    table = collect(Path(args.study), args.field)
    if not table:
        print(f"no run folders with {args.field} under {args.study}", file=sys.stderr)
        return 2
    values = sorted({v for row in table.values() for v in row})
    print(f"{'rule':<7}" + "".join(f"{v:>10g}" for v in values) + f"   (test error, {args.field})")
    for algo, row in table.items():
        print(f"{algo:<7}" + "".join(f"{'—' if row.get(v) is None else f'{100 * row[v]:.1f}%':>10}"
                                     for v in values))
    if args.json:
        Path(args.json).write_text(json.dumps({"field": args.field, "values": values,
                                               "test_error": table}, indent=1) + "\n")
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4.2))
        xs = list(range(len(values)))
        for algo, row in table.items():
            ax.plot(xs, [100 * row[v] if row.get(v) is not None else float("nan")
                         for v in values], "o-", label=algo)
        ax.set_xticks(xs, [f"{v:g}" for v in values])
        ax.set_xlabel(args.field.replace("analog_", "") + " (σ of each state read, state units)")
        ax.set_ylabel("test error (%)")
        ax.set_title("test error vs read-out noise the rule sees")
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())

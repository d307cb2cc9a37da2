"""``python run.py plot RUN_DIR... [--out FILE.png]``: learning curves (train, val and test error
per epoch) of one or more run folders, from their ``metrics.jsonl``. Needs matplotlib
(``pip install 'ebl-ref[plot]'``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_metrics(run_dir: Path) -> list:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl: is it a run folder?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def label_of(run_dir: Path) -> str:
    config = Path(run_dir) / "config.json"
    if config.is_file():
        c = json.loads(config.read_text())
        return f"{c['algo']} {c['dataset']} seed {c['seed']}"
    return Path(run_dir).name


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python run.py plot", description=__doc__)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--out", default="curves.png", help="PNG file to write (default curves.png)")
    args = p.parse_args(argv)
    try:
        import matplotlib  # noqa: PLC0415
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("error: plotting needs matplotlib: pip install 'ebl-ref[plot]'", file=sys.stderr)
        return 2
    try:
        curves = [(label_of(r), read_metrics(r)) for r in args.runs]
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, metrics in curves:
        epochs = [m["epoch"] for m in metrics]
        line, = ax.plot(epochs, [100 * m["test_error"] for m in metrics], label=f"{label} test")
        ax.plot(epochs, [100 * m["train_error"] for m in metrics], "--", color=line.get_color(),
                alpha=0.6, label=f"{label} train")
        if metrics and "val_error" in metrics[0]:
            ax.plot(epochs, [100 * m["val_error"] for m in metrics], ":", color=line.get_color(),
                    label=f"{label} val")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0

"""``python run.py plot RUN_DIR... [--out FILE.png] [--train] [--val]``: learning curves from the
runs' ``metrics.jsonl``. Needs matplotlib (``pip install 'ebl-ref[plot]'``).

One panel per dataset; one line per algorithm and combination of the settings that differ
between the given runs (grouped as ``run.py table`` groups them, :mod:`ebl_ref.tables`), its
colour fixed by the algorithm, its line style by the settings. A line is the mean test error
over the group's seeds at each epoch, with a marker at every epoch (a one-epoch run is a
point) and a shaded band from the lowest to the highest seed; the legend gives n, the number
of seeds. ``--train`` adds the training error (dashed), ``--val`` the validation error (dotted).
Runs still in progress are drawn up to their last completed epoch.

The default output is ``curves.png`` in the folder that holds the run folders (their common
parent), never the current directory.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .flags import Parser
from .progname import program
from .tables import DATASET_ORDER, ORDER, RunsError, differing, group_runs, read_runs

STYLES = ["-", "--", "-.", ":"]


class PlotError(RuntimeError):
    """Nothing to plot, or an unreadable metrics file."""


def read_metrics(run_dir) -> list:
    """The per-epoch records of ``metrics.jsonl`` (empty if the run has finished no epoch)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise PlotError(f"{path} line {i} is not JSON: the file is damaged; resume "
                                "the run (it rewrites the file from its checkpoint)") from None
    return out


def colour_of(algo: str):
    """A fixed colour per algorithm (matplotlib's tab10, in Table 1's row order)."""
    import matplotlib  # noqa: PLC0415
    palette = matplotlib.colormaps["tab10"].colors
    return palette[ORDER.index(algo) % 10] if algo in ORDER else "0.3"


def mean_band(curves: list) -> tuple:
    """``(epochs, mean, low, high, n)`` over runs of the per-epoch values ``{epoch: v}``."""
    epochs = sorted({e for c in curves for e in c})
    mean, low, high, n = [], [], [], []
    for e in epochs:
        vals = [c[e] for c in curves if e in c and c[e] is not None]
        mean.append(sum(vals) / len(vals) if vals else float("nan"))
        low.append(min(vals) if vals else float("nan"))
        high.append(max(vals) if vals else float("nan"))
        n.append(len(vals))
    return epochs, mean, low, high, n


def _curve(metrics, key):
    return {m["epoch"]: (None if m.get(key) is None else 100 * m[key])
            for m in metrics if "epoch" in m and key in m}


def draw(groups: list, keys: list, out: Path, *, train=False, val=False, title=None) -> Path:
    """Draw ``groups`` (:func:`ebl_ref.tables.group_runs`) into the PNG ``out``."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    datasets = sorted({g.dataset for g in groups},
                      key=lambda d: (DATASET_ORDER.index(d) if d in DATASET_ORDER else 99, d))
    settings = sorted({g.settings for g in groups}, key=str)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2),
                             squeeze=False)
    drawn = 0
    for ax, dataset in zip(axes[0], datasets):
        for g in (g for g in groups if g.dataset == dataset):
            repeated = {d for d, _ in g.duplicates}
            metrics = [read_metrics(r.path) for r in g.runs if r.path not in repeated]
            metrics = [m for m in metrics if m]
            if not metrics:
                continue
            style = STYLES[settings.index(g.settings) % len(STYLES)]
            colour = colour_of(g.algo)
            epochs, mean, low, high, n = mean_band([_curve(m, "test_error") for m in metrics])
            label = g.algo + (f" [{_label(g.settings)}]" if keys else "") + f" (n={max(n)})"
            ax.plot(epochs, mean, style, color=colour, marker="o", markersize=3.5, label=label)
            if max(n) > 1:
                ax.fill_between(epochs, low, high, color=colour, alpha=0.15, linewidth=0)
            for key, ls in (("train_error", "--") if train else (None, None),
                            ("val_error", ":") if val else (None, None)):
                if key is None:
                    continue
                e2, m2, _, _, _ = mean_band([_curve(m, key) for m in metrics])
                if e2:
                    ax.plot(e2, m2, ls, color=colour, marker=".", markersize=2.5, alpha=0.6,
                            linewidth=1)
            drawn += 1
        ax.set_title(dataset)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%)" + (", train dashed" if train else "")
                      + (", val dotted" if val else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not drawn:
        plt.close(fig)
        raise PlotError("none of the runs has finished an epoch yet: nothing to plot")
    fig.suptitle(title or "mean test error over seeds; band: lowest to highest seed",
                 fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _label(settings) -> str:
    return ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                     for k, v in settings)


def default_out(run_dirs) -> Path:
    """``curves.png`` in the run folders' common parent."""
    parents = [str(Path(r).resolve().parent) for r in run_dirs]
    return Path(os.path.commonpath(parents)) / "curves.png"


def main(argv=None) -> int:
    p = Parser(prog=f"{program()} plot", description=__doc__)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--out", help="PNG file to write (default: curves.png beside the runs)")
    p.add_argument("--train", action="store_true", help="also draw the training error")
    p.add_argument("--val", action="store_true", help="also draw the validation error")
    args = p.parse_args(argv)
    try:
        import matplotlib  # noqa: PLC0415, F401
    except ImportError:
        print("error: plotting needs matplotlib: pip install 'ebl-ref[plot]'", file=sys.stderr)
        return 2
    runs, skipped = read_runs(args.runs)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not runs:
        print("error: none of the given folders is a run folder", file=sys.stderr)
        return 2
    keys = differing(runs)
    out = Path(args.out) if args.out else default_out([r.path for r in runs])
    try:
        draw(group_runs(runs, keys=keys), keys, out, train=args.train, val=args.val)
    except (PlotError, RunsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if keys:
        print(f"settings that differ between these runs (one line style each): "
              f"{', '.join(keys)}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main  # noqa: PLC0415
    sys.exit(cli_main(["plot", *sys.argv[1:]]))

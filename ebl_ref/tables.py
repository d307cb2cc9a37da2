"""``python run.py table RUN_DIR... [--val] [--json | --markdown]``: Table-1 style test error
(%) of finished runs — one row per algorithm, one column per dataset — as the mean ± sample
standard deviation (ddof = 1) over seeds, with n, the number of seeds.

Runs are grouped by **every setting that differs** between the given runs (``config.json``:
widths, epochs, β, …, except the seed and the settings that do not change results: preset
name, data folder, log interval, evaluation batch size); runs that differ in anything but the
seed are never pooled. The table says which settings differ and prints one block per
combination. Two runs with the same settings *and* the same seed are duplicates: only the first
(in path order) is counted, and the others are listed. n = 1 prints the value without ±.

With ``--val`` the test error at the epoch of best validation error is used (runs made with
``--val-size``); otherwise the final epoch's. Unfinished runs (no ``summary.json``) are skipped
and listed.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .flags import Parser
from .progname import program

ORDER = ["tbp", "rbp", "cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl"]  # Table 1 rows
DATASET_ORDER = ["mnist", "fashion-mnist", "svhn", "cifar10", "cifar100"]        # its columns
# Settings that do not change what a run computes (how it runs, logs, caches, checkpoints).
IGNORED = ("seed", "preset", "data_dir", "log_every", "eval_batch_size", "threads",
           "eval_every", "checkpoint_every", "cache_dir", "cache", "tensorboard")
STD_NOTE = ("mean ± sample standard deviation over seeds (ddof = 1; no ± when n = 1), "
            "n = number of seeds; test error in %")


class RunsError(ValueError):
    """A run folder that cannot be read, with the file and the fix in the message."""


@dataclass(frozen=True)
class Run:
    """A run folder's recorded settings and results. ``summary`` is None for unfinished runs."""

    path: str
    config: dict
    summary: dict | None

    @property
    def algo(self):
        return self.config.get("algo")

    @property
    def dataset(self):
        return self.config.get("dataset")

    @property
    def seed(self):
        return self.config.get("seed")


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise RunsError(f"{path} is not valid JSON ({exc}); restore it or leave the run "
                        "out") from None


def read_run(path) -> Run:
    """Read ``config.json`` (required) and ``summary.json`` (if the run finished)."""
    path = Path(path)
    config_path, summary_path = path / "config.json", path / "summary.json"
    summary = _load(summary_path) if summary_path.is_file() else None
    if config_path.is_file():
        config = _load(config_path)
    elif summary is not None:  # a summary alone still names algo, dataset and seed
        config = {k: summary.get(k) for k in ("algo", "dataset", "seed")}
    else:
        raise RunsError(f"{path} is not a run folder (no config.json)")
    if not isinstance(config, dict) or not {"algo", "dataset"} <= set(config):
        raise RunsError(f"{config_path} lacks 'algo' or 'dataset'; is it a run's config?")
    return Run(str(path), config, summary)


def metric(run: Run, use_val: bool = False):
    """The run's test error in % (at the best validation epoch with ``use_val``), or None."""
    if run.summary is None:
        return None
    value = run.summary.get("test_error_at_best_val" if use_val else "test_error")
    return None if value is None else 100 * float(value)


def stats(values) -> tuple:
    """``(mean, std, n)``: std is the sample standard deviation (ddof = 1), None for n < 2."""
    n = len(values)
    if n == 0:
        return None, None, 0
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, std, n


def format_stat(mean, std, n, digits: int = 2) -> str:
    """``"2.00 ± 1.00 (n=2)"``; ``"2.00 (n=1)"``; ``""`` for no value."""
    if n == 0 or mean is None:
        return ""
    spread = "" if std is None else f" ± {std:.{digits}f}"
    return f"{mean:.{digits}f}{spread} (n={n})"


@dataclass
class Group:
    """Runs of one algorithm on one dataset with the same ``settings`` (the differing ones)."""

    algo: str
    dataset: str
    settings: tuple                      # ((name, value), ...) of the differing settings
    runs: list = field(default_factory=list)
    values: list = field(default_factory=list)   # test errors in %, one per counted run
    seeds: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)  # (path, path it repeats)

    @property
    def stat(self) -> tuple:
        return stats(self.values)


def _hashable(v):
    return tuple(_hashable(u) for u in v) if isinstance(v, list) else v


def differing(runs) -> list:
    """The config keys (not algo, dataset or :data:`IGNORED`) whose values differ among runs."""
    keys = sorted({k for r in runs for k in r.config} - {"algo", "dataset", *IGNORED})
    return [k for k in keys if len({_hashable(r.config.get(k)) for r in runs}) > 1]


def group_runs(runs, use_val: bool = False, keys=None) -> list:
    """Groups of ``runs`` by (algo, dataset, differing settings), seeds aggregated.

    Runs without a value (unfinished, or no validation split with ``use_val``) are kept in
    ``runs`` but not in ``values``. Runs repeating a counted run's seed go to ``duplicates``.
    """
    keys = differing(runs) if keys is None else keys
    groups = {}
    for run in sorted(runs, key=lambda r: r.path):
        settings = tuple((k, _hashable(run.config.get(k))) for k in keys)
        g = groups.setdefault((run.algo, run.dataset, settings),
                              Group(run.algo, run.dataset, settings))
        g.runs.append(run)
        value = metric(run, use_val)
        if value is None:
            continue
        if run.seed in g.seeds:
            first = next(r for r in g.runs if r.seed == run.seed and metric(r, use_val) is not None)
            g.duplicates.append((run.path, first.path))
            continue
        g.values.append(value)
        g.seeds.append(run.seed)
    return sorted(groups.values(), key=_group_order)


def _group_order(g: Group):
    return (tuple(str(v) for _, v in g.settings), _rank(g.algo, ORDER),
            _rank(g.dataset, DATASET_ORDER))


def _rank(name, order):
    return (order.index(name), "") if name in order else (len(order), str(name))


def settings_text(settings) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in settings)


def _show(v) -> str:
    return ",".join(map(_show, v)) if isinstance(v, tuple) else str(v)


def grid(rows: list, markdown: bool = False) -> str:
    """Rows of cells as aligned text, or as a Markdown table (first row = header)."""
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_table(groups: list, keys: list, markdown: bool = False) -> str:
    """One block per combination of the differing settings ``keys``: algorithms × datasets."""
    blocks = []
    by_settings = {}
    for g in groups:
        by_settings.setdefault(g.settings, []).append(g)
    for settings, gs in by_settings.items():
        datasets = sorted({g.dataset for g in gs}, key=lambda d: _rank(d, DATASET_ORDER))
        algos = sorted({g.algo for g in gs}, key=lambda a: _rank(a, ORDER))
        cells = {(g.algo, g.dataset): g for g in gs}
        rows = [["algo"] + datasets]
        for a in algos:
            rows.append([a] + [format_stat(*cells[(a, d)].stat) if (a, d) in cells else ""
                               for d in datasets])
        title = f"{settings_text(settings)}:\n" if keys else ""
        blocks.append(title + grid(rows, markdown))
    return "\n\n".join(blocks)


def notes(groups: list, skipped: list, keys: list) -> list:
    """Lines saying what differs, what was skipped, and which runs were duplicates."""
    out = [STD_NOTE + "."]
    if keys:
        out.append(f"settings that differ between these runs (one block each): {', '.join(keys)}")
    for path, reason in skipped:
        out.append(f"skipped {path}: {reason}")
    for g in groups:
        for dup, first in g.duplicates:
            out.append(f"duplicate: {dup} repeats the settings and seed of {first}; counted once")
        for r in g.runs:
            if r.summary is None:
                out.append(f"skipped {r.path}: unfinished (no summary.json)")
    return out


def to_json(groups: list, keys: list) -> list:
    out = []
    for g in groups:
        mean, std, n = g.stat
        if n == 0:
            continue
        out.append({"algo": g.algo, "dataset": g.dataset,
                    "settings": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in g.settings},
                    "test_error_percent": g.values, "seeds": g.seeds, "n": n, "mean": mean,
                    "std": std, "std_ddof": 1, "runs": [r.path for r in g.runs
                                                        if r.summary is not None],
                    "duplicates": [d for d, _ in g.duplicates]})
    return out


def read_runs(paths) -> tuple:
    """``(runs, skipped)``: readable run folders, and ``(path, reason)`` for the others."""
    runs, skipped = [], []
    for p in paths:
        try:
            runs.append(read_run(p))
        except RunsError as exc:
            skipped.append((str(p), str(exc)))
        except OSError as exc:
            skipped.append((str(p), f"unreadable ({exc})"))
    return runs, skipped


def main(argv=None) -> int:
    p = Parser(prog=f"{program()} table", description=__doc__)
    p.add_argument("runs", nargs="+", help="run folders")
    p.add_argument("--val", action="store_true", help="test error at the best validation epoch")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = p.parse_args(argv)
    runs, skipped = read_runs(args.runs)
    keys = differing(runs)
    groups = group_runs(runs, args.val, keys)
    if not any(g.values for g in groups):
        for path, reason in skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
        why = " with a validation split (--val)" if args.val else ""
        print(f"error: no finished runs{why} among the given folders", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"note": STD_NOTE, "differing_settings": keys,
                          "groups": to_json(groups, keys)}, indent=1))
    else:
        print(format_table([g for g in groups if g.values], keys, args.markdown))
    for line in notes(groups, skipped, keys):
        print(line, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main  # noqa: PLC0415
    sys.exit(cli_main(["table", *sys.argv[1:]]))

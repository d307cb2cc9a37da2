"""The run folder: its files, how it is created, and reading them back with clear errors.

Run folder::

    config.json      fully resolved configuration (written first, before any data is read;
                     a resume that changes --epochs or another resumable setting rewrites it)
    env.json         versions, git revision, host, CPU, BLAS library, kernel and threads,
                     device, command line (and one record per resumed session)
    log.txt          the console output of every session, appended (a failure's last words)
    tensorboard/     TensorBoard event files (--tensorboard)
    status.json      state, progress, pid, last error (see ebl_ref.status)
    checkpoint.npz   parameters, momentum, RNG state, position in the epoch, history
    best.npz         parameters of the epoch with the lowest validation error (--val-size)
    metrics.jsonl    one strict-JSON object per evaluated epoch (the checkpoint's history)
    summary.json     written last, when the run is finished
    .lock            held (flock) by the process training the run (see ebl_ref.runlock)

Every file is written atomically and readable by others (0644 under umask 022); JSON files
are strict (non-finite numbers as null, see :mod:`ebl_ref.jsonfile`).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .jsonfile import BadFileError, read_json, read_jsonl, write_json, write_jsonl
from .runlock import LOCK

CONFIG, ENV, METRICS = "config.json", "env.json", "metrics.jsonl"
CHECKPOINT, BEST, SUMMARY = "checkpoint.npz", "best.npz", "summary.json"


def new_run_dir(out, dataset: str, algo: str, seed: int) -> Path:
    """Create a fresh run folder: ``out`` if given (it must be empty or absent), else
    ``runs/<dataset>-<algo>-seed<seed>-<time>`` (a suffix ``-1``, ``-2`` ... if taken).

    Raises ``FileExistsError`` (suggesting ``--resume``) if ``out`` holds anything.
    """
    if out:
        path = Path(out)
        if path.exists() and (not path.is_dir()
                              or any(p.name != LOCK for p in path.iterdir())):
            raise FileExistsError(f"--out {path} exists and is not empty: choose another folder, "
                                  f"or continue the run in it with --resume {path}")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{dataset}-{algo}-seed{seed}-{stamp}"
    for i in range(1000):
        path = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a fresh run folder next to {base}")


def is_run_dir(run_dir) -> bool:
    return (Path(run_dir) / CONFIG).is_file()


def read_config(run_dir) -> dict:
    """The stored settings (``config.json``) as a dict; :class:`BadFileError` naming the file if
    it is missing or damaged."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BadFileError(f"--resume {run_dir}: no such folder")
    if not (run_dir / CONFIG).exists():
        raise BadFileError(f"--resume {run_dir}: no {CONFIG} there; it is not a run folder made "
                           "by run.py (start a new run with --out)")
    return read_json(run_dir / CONFIG, "restore it from a copy, or start a new run")


def write_config(run_dir, settings: dict) -> None:
    write_json(Path(run_dir) / CONFIG, settings)


def write_env(run_dir, env: dict) -> None:
    write_json(Path(run_dir) / ENV, env)


def add_resumed_env(run_dir, record: dict) -> None:
    """Append a resumed session's record to ``env.json``'s ``resumed`` list (best effort: an
    unreadable env.json is left as it is, it holds provenance only)."""
    try:
        env = read_json(Path(run_dir) / ENV, "")
    except BadFileError:
        return
    env["resumed"] = [*env.get("resumed", []), record]
    write_env(run_dir, env)


def write_metrics(run_dir, history: list) -> None:
    """``metrics.jsonl`` = ``history``, one object per line (the whole file, atomically)."""
    write_jsonl(Path(run_dir) / METRICS, history)


def read_metrics(run_dir) -> list:
    """The per-epoch metrics of a run; :class:`BadFileError` naming the file and line if damaged
    (``--resume`` rewrites it from the checkpoint)."""
    return read_jsonl(Path(run_dir) / METRICS,
                      f"it is rewritten from the checkpoint by --resume {run_dir}")


def write_summary(run_dir, summary: dict) -> None:
    write_json(Path(run_dir) / SUMMARY, summary)


def read_summary(run_dir) -> dict:
    """A finished run's summary; :class:`BadFileError` naming the file if missing or damaged."""
    return read_json(Path(run_dir) / SUMMARY,
                     f"delete it and run --resume {run_dir} to write it again")


def remove_summary(run_dir) -> None:
    """Drop a finished run's summary when a resume trains it further (it would be stale)."""
    (Path(run_dir) / SUMMARY).unlink(missing_ok=True)

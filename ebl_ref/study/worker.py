"""Run one cell of a study: ``python -m ebl_ref.study.worker DIR KEY [run.py flags]``.

Every executor runs a cell through this worker, in a process of its own (so that the BLAS
thread count set in its environment takes effect, and a crash takes down one cell only):

1. take the cell's lock (:class:`~ebl_ref.study.cells.CellLock`); if another live process
   holds it, say so and exit with :data:`EXIT_BUSY`;
2. decide what to do from the run folder: nothing if ``summary.json`` exists; ``--resume`` if
   ``checkpoint.npz`` exists; otherwise a fresh run (``--out``) with the cell's flags — after
   removing what an attempt that died before its first checkpoint left behind;
3. run it in this process through ``ebl_ref.cli.main(argv)``; the flags after KEY (``--device``,
   ``--data-dir``, ``--log-every``: what a resume may change) are appended;
4. record the attempt (``DIR/logs/<KEY>.attempt.json``): state (done / interrupted / failed),
   exit code and the last error line, host, pid, start and end times.

Exit status: the run's (0 done, 130/143 interrupted and saved, 2 bad input, 1 other failures).
"""
from __future__ import annotations

import io
import os
import socket
import sys
import traceback
from datetime import datetime
from pathlib import Path

from .cells import INTERRUPT_CODES, CellLock, read_attempt
from .folder import load_plan, log_path, write_json
from .spec import StudyError

EXIT_BUSY = 75  # EX_TEMPFAIL: the cell is being run by another live process
# What a run writes before its first checkpoint (and the atomic writer's temporary files):
# removable when a fresh attempt restarts a cell that never reached a checkpoint.
_UNSTARTED = ("config.json", "env.json", "metrics.jsonl", "status.json", "best.npz", "log.txt")


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class _LastLine(io.TextIOBase):
    """A text stream that passes writes through and remembers the last non-empty line."""

    def __init__(self, stream):
        self.stream, self.last, self._partial = stream, None, ""

    def write(self, text):
        self.stream.write(text)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.last = line.strip()
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False

    def last_line(self):
        return self._partial.strip() or self.last


def decide(run_dir: Path, cell_argv, runtime_argv, log=print):
    """The ``run.py`` argv for this attempt, or None if the cell is done."""
    if (run_dir / "summary.json").is_file():
        return None
    if (run_dir / "checkpoint.npz").is_file():
        return ["--resume", str(run_dir), *runtime_argv]
    if run_dir.exists():
        clear_unstarted(run_dir, log)
    return ["--out", str(run_dir), *cell_argv, *runtime_argv]


def clear_unstarted(run_dir: Path, log=print) -> None:
    """Empty a run folder that holds no checkpoint, only what a run writes before it has one
    (and the atomic writer's temporary files); the run's own lock file ``.lock`` is kept.

    Raises :class:`StudyError` (and removes nothing) if anything else is in it.
    """
    entries = [p for p in run_dir.iterdir() if p.name != ".lock"]
    foreign = [p.name for p in entries
               if p.is_dir() or (p.name not in _UNSTARTED and not p.name.startswith("."))]
    if foreign:
        raise StudyError(f"run folder {run_dir} has no checkpoint but holds "
                         f"{', '.join(sorted(foreign))}, which no unstarted run leaves: move "
                         "them away, then re-run the study")
    if entries:
        log(f"restarting {run_dir} from scratch: its previous attempt stopped before the first "
            "checkpoint (nothing learnt is lost)")
    for p in entries:
        p.unlink()


def run_cell(study_dir: Path, key: str, runtime_argv=()) -> int:
    """Steps 1–4 of the module docstring; returns the exit status."""
    study_dir = Path(study_dir)
    _, cells = load_plan(study_dir)
    cell = next((c for c in cells if c.key == key), None)
    if cell is None:
        print(f"error: the study in {study_dir} has no cell {key}", file=sys.stderr)
        return 2
    lock = CellLock(study_dir, key)
    if not lock.acquire():
        print(f"cell {key} is being run by another process (its lock {lock.path} is held); "
              "nothing to do", file=sys.stderr)
        return EXIT_BUSY
    try:
        return _attempt(study_dir, cell, list(runtime_argv))
    finally:
        lock.release()


def _attempt(study_dir: Path, cell, runtime_argv) -> int:
    from .. import cli  # noqa: PLC0415 - imported late: BLAS threads are set by the environment

    run_dir = study_dir / cell.key
    previous = read_attempt(study_dir, cell.key) or {}
    record = {"key": cell.key, "state": "running", "attempt": previous.get("attempt", 0) + 1,
              "pid": os.getpid(), "parent_pid": os.getppid(), "host": socket.gethostname(),
              "started": now(), "ended": None, "exit_code": None, "last_error": None,
              "threads": os.environ.get("OMP_NUM_THREADS")}
    record_path = log_path(study_dir, cell.key, ".attempt.json")
    stderr = _LastLine(sys.stderr)
    sys.stderr = stderr
    try:
        argv = decide(run_dir, list(cell.argv), runtime_argv)
        if argv is None:
            print(f"cell {cell.key} is done already")
            record.update(state="done", exit_code=0, ended=now())
            write_json(record_path, record)
            return 0
        record["action"] = "resume" if argv[0] == "--resume" else "fresh"
        write_json(record_path, record)
        print(f"=== {now()} attempt {record['attempt']} at {cell.key} on {record['host']} "
              f"(pid {record['pid']}, BLAS threads {record['threads'] or 'default'}): "
              f"python -m ebl_ref.cli {' '.join(argv)}", flush=True)
        sys.argv = ["ebl_ref.cli", *argv]  # what env.json records and resume advice names
        code = _call(cli.main, argv)
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    finally:
        sys.stderr = stderr.stream
    done = code == 0 and (run_dir / "summary.json").is_file()
    interrupted = code in INTERRUPT_CODES or code < 0
    state = "done" if done else "interrupted" if interrupted else "failed"
    if code == 0 and not done:
        stderr.last = "the run exited 0 but wrote no summary.json"
    why = (None if done else f"interrupted (exit {code}); the next study run resumes it"
           if interrupted else stderr.last_line())
    record.update(state=state, exit_code=code, ended=now(), last_error=why)
    write_json(record_path, record)
    sys.stdout.flush()
    return code if not (code == 0 and not done) else 1


def _call(main, argv) -> int:
    """``main(argv)`` as an exit status: SystemExit's code, 130 for KeyboardInterrupt, 1 (with
    the traceback printed) for any other exception."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(f"error: {exc.code}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # noqa: BLE001 - recorded as the cell's failure
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    return int(code or 0)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        print("usage: python -m ebl_ref.study.worker STUDY_DIR CELL_KEY [run.py flags]",
              file=sys.stderr)
        return 2
    try:
        return run_cell(Path(argv[0]), argv[1], argv[2:])
    except StudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The local executor: a study's cells as worker processes on this machine.

``--workers N`` cells run at once, each in its own process (``python -m
ebl_ref.study.worker``, :mod:`ebl_ref.study.worker`), with its stdout and stderr appended to
``DIR/logs/<cell>.log``. The BLAS libraries of each worker get ``--threads`` threads
(default: the usable cores divided by N, at least 1) through ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``BLIS_NUM_THREADS`` and
``VECLIB_MAXIMUM_THREADS`` in the child's environment, so that N workers do not oversubscribe
the cores.

Workers run in sessions of their own, so a Ctrl-C at the terminal reaches only this process,
which then sends each worker one SIGTERM (the run saves and stops; before run.py handles
SIGTERM the worker just stops and resumes from its last epoch checkpoint, equally bit-exact),
waits for them and exits 130 (143 after a SIGTERM). On Linux a worker also receives SIGTERM if
this process dies without that chance (SIGKILL). A worker that is killed leaves its cell
interrupted: re-running the study resumes it.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .cells import INTERRUPT_CODES, read_attempt
from .folder import log_path, write_json
from .worker import EXIT_BUSY, now

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding ebl_ref/


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """BLAS threads per worker: the usable cores shared among ``workers``, at least 1."""
    return max(1, usable_cores() // max(1, workers))


def worker_env(threads: int | None) -> dict:
    """This environment, plus the BLAS thread count and a PYTHONPATH that finds this ebl_ref."""
    env = dict(os.environ)
    if threads:
        env.update({v: str(threads) for v in THREAD_VARS})
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + path if path else "")
    return env


@contextmanager
def package_on_path():
    """PYTHONPATH finds this ebl_ref while the block runs (for processes submitit starts)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = worker_env(None)["PYTHONPATH"]
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def worker_command(study_dir: Path, key: str, runtime_argv) -> list:
    return [sys.executable, "-m", "ebl_ref.study.worker", str(study_dir), key, *runtime_argv]


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to this child when its parent dies (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def finish_record(study_dir: Path, key: str, code: int) -> dict:
    """The attempt record after the worker exited with ``code``; completed here if the worker
    could not (it was killed before it could write it)."""
    record = read_attempt(study_dir, key) or {"key": key, "attempt": 1}
    if code == EXIT_BUSY:  # another live worker has the cell: its record is not ours
        return record
    if record.get("state") in (None, "running"):  # None: it died before writing a record
        name = signal.Signals(-code).name if code < 0 else f"exit {code}"
        interrupted = code < 0 or code in INTERRUPT_CODES
        why = (f"worker stopped by {name}" if record.get("state") else
               last_log_line(study_dir, key) or f"worker ended ({name}) before it started")
        record.update(state="interrupted" if interrupted else "failed", exit_code=code,
                      ended=now(), last_error=why)
        write_json(log_path(study_dir, key, ".attempt.json"), record)
    return record


def last_log_line(study_dir: Path, key: str) -> str | None:
    """The last non-empty line of the cell's log (e.g. an import error's last words)."""
    try:
        lines = log_path(study_dir, key, ".log").read_text(errors="replace").splitlines()
    except OSError:
        return None
    return next((line.strip() for line in reversed(lines) if line.strip()), None)


class _Stop(Exception):
    """SIGTERM received by the study process."""


def run_local(study_dir: Path, keys: list, runtime_argv, workers: int, threads: int,
              log=print) -> int:
    """Run the cells ``keys`` with ``workers`` processes; returns 0, or 130/143 if stopped.

    Each finished cell is reported in one line (state, time, test error or last error).
    """
    study_dir = Path(study_dir)  # as given: workers share this process's working directory
    queue, running, total, finished = list(keys), {}, len(keys), 0
    old = _on_sigterm()
    try:
        while queue or running:
            while queue and len(running) < workers:
                key = queue.pop(0)
                running[key] = _start(study_dir, key, runtime_argv, threads)
            for key in [k for k, (p, _, _) in running.items() if p.poll() is not None]:
                proc, logf, t0 = running.pop(key)
                logf.close()
                finished += 1
                _report(study_dir, key, proc.returncode, time.time() - t0,
                        f"[{finished}/{total}]", log)
            time.sleep(0.2)
        return 0
    except (KeyboardInterrupt, _Stop) as exc:
        code = 143 if isinstance(exc, _Stop) else 130
        log(f"stopping {len(running)} running cell(s): SIGTERM to each worker, waiting for "
            "them to save")
        for proc, _, _ in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for key, (proc, logf, t0) in running.items():
            try:
                proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            logf.close()
            _report(study_dir, key, proc.returncode, time.time() - t0, "[stopped]", log)
        log("study stopped; re-run the same command to continue it")
        return code
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _on_sigterm():
    """Turn SIGTERM into :class:`_Stop` (main thread only); returns the previous handler."""
    def stop(signum, frame):
        raise _Stop()
    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave SIGTERM alone
        return None


def _start(study_dir: Path, key: str, runtime_argv, threads: int):
    path = log_path(study_dir, key, ".log")
    path.parent.mkdir(parents=True, exist_ok=True)
    logf = open(path, "ab")
    kwargs = {"preexec_fn": _die_with_parent} if sys.platform.startswith("linux") else {}
    proc = subprocess.Popen(worker_command(study_dir, key, runtime_argv), stdout=logf,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=worker_env(threads), start_new_session=True, **kwargs)
    return proc, logf, time.time()


def _report(study_dir: Path, key: str, code: int, seconds: float, prefix: str, log) -> None:
    if code == EXIT_BUSY:
        log(f"{prefix} running     {key}: another process runs it (its lock is held)")
        return
    record = finish_record(study_dir, key, code)
    state = record.get("state", "?")
    detail = ""
    if state == "done":
        summary = study_dir / key / "summary.json"
        try:
            detail = f": test error {100 * json.loads(summary.read_text())['test_error']:.2f}%"
        except (OSError, ValueError, KeyError, TypeError):
            detail = ""
    elif record.get("last_error"):
        detail = f" (exit {code}): {record['last_error']}"
    log(f"{prefix} {state:<11s} {key} after {format_seconds(seconds)}{detail}")


def format_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"

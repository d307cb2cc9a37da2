"""The state of a study's cell on disk: done, running, interrupted, failed or pending.

Read from, in this order of precedence:

1. ``summary.json`` in the run folder (written last by a run): **done**.
2. The cell's lock ``DIR/logs/<key>.lock``: held by a live worker on this machine: **running**.
3. ``status.json`` in the run folder (written by the run at each transition: state, epoch,
   position, pid, host, last error, exit code) and the study's attempt record
   ``DIR/logs/<key>.attempt.json`` (written by the worker): *failed* there: **failed**, with the
   last error line; *running* on another host: **running** (not verifiable from here); running
   on this host but the lock is free: the worker died (SIGKILL, power loss): **interrupted**.
4. ``checkpoint.npz`` or ``config.json`` in the run folder: **interrupted** (resumable, or
   restarted from scratch when there is no checkpoint yet).
5. Otherwise **pending**.

Locks are ``flock`` locks (POSIX); the kernel releases them when their process dies, however it
dies. On a platform without :mod:`fcntl` cells are never seen as running from their lock.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .folder import log_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

STATES = ("done", "running", "interrupted", "failed", "pending")
INTERRUPT_CODES = (130, 138, 143)   # 128 + SIGINT, SIGUSR1, SIGTERM: saved and stopped
_PROGRESS = re.compile(r"epoch (\d+)/(\d+)\s+(\d+)/(\d+)")


@dataclass(frozen=True)
class CellState:
    """What is known about one cell; fields that do not apply are None."""

    key: str
    state: str                      # one of STATES
    epochs: int                     # the cell's target
    epoch: int | None = None        # completed epochs
    position: int | None = None     # examples done in the current epoch (running)
    examples: int | None = None     # examples per epoch (running, from the log)
    test_error: float | None = None  # done: final test error (fraction)
    last_error: str | None = None   # failed / interrupted: the last error line
    exit_code: int | None = None
    host: str | None = None
    pid: int | None = None
    started: float | None = None    # running: start of the attempt (seconds since the epoch)
    updated: float | None = None    # running: the run's last status.json (seconds since epoch)
    attempts: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# --------------------------------------------------------------------------- locks

class CellLock:
    """An exclusive, non-blocking ``flock`` on ``DIR/logs/<key>.lock``, held by the worker."""

    def __init__(self, study_dir: Path, key: str):
        self.path = log_path(study_dir, key, ".lock")
        self._fd = None

    def acquire(self, tries: int = 10, wait: float = 0.1) -> bool:
        """True once the lock is held; False if another live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            self._fd = fd
            return True
        for i in range(tries):  # a status reader may hold a shared lock for a moment
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if i + 1 < tries:
                    time.sleep(wait)
        os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def lock_is_held(study_dir: Path, key: str) -> bool:
    """True iff a live process on this machine holds the cell's lock (never creates it)."""
    path = log_path(study_dir, key, ".lock")
    if fcntl is None or not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- reading a cell

def _read(path: Path):
    """A JSON file's content, or None if it is absent or damaged (a torn status is no state)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_attempt(study_dir: Path, key: str) -> dict | None:
    return _read(log_path(study_dir, key, ".attempt.json"))


def last_progress(study_dir: Path, key: str):
    """``(epoch, epochs, done, total)`` from the last progress line of the cell's log, or None."""
    path = log_path(study_dir, key, ".log")
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    matches = _PROGRESS.findall(tail)
    return tuple(int(v) for v in matches[-1]) if matches else None


def _completed_epochs(run_dir: Path) -> int | None:
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return None
    return sum(1 for line in lines if line.strip())


def cell_state(study_dir: Path, key: str, epochs: int) -> CellState:
    """The :class:`CellState` of cell ``key`` of the study in ``study_dir`` (see module doc)."""
    study_dir = Path(study_dir)
    run_dir = study_dir / key
    attempt = read_attempt(study_dir, key) or {}
    attempts = attempt.get("attempt", 0)
    summary = _read(run_dir / "summary.json")
    if summary is not None:
        return CellState(key, "done", epochs, epoch=summary.get("epochs"),
                         test_error=summary.get("test_error"), attempts=attempts)
    status = _read(run_dir / "status.json") or {}
    here = socket.gethostname()
    info = {"host": status.get("host", attempt.get("host")),
            "pid": attempt.get("pid", status.get("pid")), "attempts": attempts,
            "exit_code": status.get("exit_code", attempt.get("exit_code")),
            "last_error": status.get("last_error") or attempt.get("last_error")}
    epoch = status.get("epoch", _completed_epochs(run_dir))
    if lock_is_held(study_dir, key) or _claims_running(status, attempt, here):
        return _running(study_dir, key, epochs, epoch, status, attempt, info)
    states = {status.get("state"), attempt.get("state")}
    if "failed" in states:
        return CellState(key, "failed", epochs, epoch=epoch, **info)
    if (run_dir / "checkpoint.npz").is_file() or (run_dir / "config.json").is_file():
        return CellState(key, "interrupted", epochs, epoch=epoch or 0, **info)
    return CellState(key, "pending", epochs, attempts=attempts)


def _claims_running(status: dict, attempt: dict, here: str) -> bool:
    """A record says "running" and cannot be disproved from here: on another host, or (without
    a lock: a run started by hand, or no flock) by a live pid on this host."""
    for record, locked in ((status, False), (attempt, True)):
        if record.get("state") != "running":
            continue
        host = record.get("host")
        if host not in (None, here):
            return True
        if (not locked or fcntl is None) and pid_alive(record.get("pid")):
            return True
    return False


def _timestamp(value):
    """Seconds since the epoch from a number or an ISO 8601 string (else None)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _running(study_dir, key, epochs, epoch, status, attempt, info) -> CellState:
    position = status.get("position")
    examples = None
    progress = last_progress(study_dir, key)
    if progress is not None and position is None:
        e, _, position, examples = progress
        epoch = e - 1 if position < examples else e
    return CellState(key, "running", epochs, epoch=epoch, position=position, examples=examples,
                     started=_timestamp(attempt.get("started")),
                     updated=_timestamp(status.get("updated")), **info)


def study_states(study_dir: Path, cells: list) -> list:
    """:func:`cell_state` of every cell, in plan order."""
    return [cell_state(study_dir, c.key, c.config["epochs"]) for c in cells]

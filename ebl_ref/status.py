"""``status.json``: where a run stands, for people and for the study runner.

Written atomically at every transition of the run (start, end of each epoch, interruption,
failure, end)::

    {"state": "running" | "interrupted" | "failed" | "done",
     "epoch": completed epochs, "epochs": the target, "position": examples done in the
     current epoch (at the last checkpoint), "pid": process id, "host": host name,
     "updated": ISO time, "last_error": one line or null, "exit_code": int or null}

A run is finished iff ``summary.json`` exists and ``state`` is ``"done"``. A ``"running"`` run
whose process (``pid`` on ``host``) no longer exists was killed without warning (SIGKILL, power
loss): resume it like an interrupted one.
"""
from __future__ import annotations

import os
import platform
from datetime import datetime
from pathlib import Path

from .jsonfile import BadFileError, read_json, write_json

STATUS = "status.json"
STATES = ("running", "interrupted", "failed", "done")


def write_status(run_dir, state: str, *, epoch: int, epochs: int, position: int = 0,
                 last_error: str | None = None, exit_code: int | None = None) -> dict:
    """Write ``run_dir/status.json`` atomically and return what was written."""
    if state not in STATES:
        raise ValueError(f"unknown run state {state!r}: one of {', '.join(STATES)}")
    status = {"state": state, "epoch": int(epoch), "epochs": int(epochs),
              "position": int(position), "pid": os.getpid(), "host": platform.node(),
              "updated": datetime.now().isoformat(timespec="seconds"),
              "last_error": None if last_error is None else " ".join(str(last_error).split()),
              "exit_code": exit_code}
    write_json(Path(run_dir) / STATUS, status)
    return status


def read_status(run_dir) -> dict | None:
    """The status of a run folder, None if it has none (made before status.json existed, or
    created but never started). Raises :class:`~ebl_ref.jsonfile.BadFileError` if damaged."""
    path = Path(run_dir) / STATUS
    if not path.exists():
        return None
    status = read_json(path, "it is rewritten by the next --resume; delete it to do so")
    if status.get("state") not in STATES:
        raise BadFileError(f"{path}: unknown state {status.get('state')!r}; delete the file, "
                           "the next --resume rewrites it")
    return status

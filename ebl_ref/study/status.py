"""``study status DIR``: one line per cell (done, running, interrupted, failed, pending) and
the counts; for running cells the progress (epoch, examples), host, pid and last sign of life;
for failed cells the exit code and last error line (:mod:`ebl_ref.study.cells`)."""
from __future__ import annotations

import time

from .cells import STATES
from .executors import format_seconds


def describe(s) -> str:
    """The detail column of one cell's line."""
    if s.state == "done":
        err = "" if s.test_error is None else f"test error {100 * s.test_error:.2f}%, "
        return f"{err}{s.epoch} epochs"
    if s.state == "running":
        if s.examples and s.position is not None and s.position >= s.examples:
            parts = [f"epoch {s.epoch}/{s.epochs} trained, evaluating"]
        else:
            parts = [f"epoch {(s.epoch or 0) + 1}/{s.epochs}"]
            if s.position is not None:
                parts[0] += f", {s.position}" + (f"/{s.examples}" if s.examples else "") + \
                    " examples"
        where = f"{s.host or '?'} pid {s.pid}" if s.pid else (s.host or "")
        for label, t in (("started", s.started), ("status written", s.updated)):
            if t:
                where += f", {label} {format_seconds(max(0.0, time.time() - t))} ago"
        return ", ".join(parts) + (f" ({where})" if where else "")
    if s.state == "interrupted":
        why = f"; last attempt: {s.last_error}" if s.last_error else ""
        return f"after epoch {s.epoch or 0}/{s.epochs}; 'study run' resumes it{why}"
    if s.state == "failed":
        return (f"exit {s.exit_code}: {s.last_error or '(no error line)'} — after fixing the "
                "cause, 'study run --retry-failed' runs it again")
    return ""


def counts(states) -> dict:
    return {k: sum(1 for s in states if s.state == k) for k in STATES}


def format_status(states) -> str:
    width = max((len(s.key) for s in states), default=10)
    lines = [f"{s.state:<11s} {s.key:<{width}s}  {describe(s)}".rstrip() for s in states]
    c = counts(states)
    lines.append(f"{len(states)} cells: " + ", ".join(f"{c[k]} {k}" for k in STATES))
    return "\n".join(lines)

"""The run's console output, mirrored into ``RUN_DIR/log.txt``.

While :func:`mirror` is active, everything written to ``sys.stdout`` and ``sys.stderr`` — the
header, the plan, progress lines, the data loader's lines, warnings, a traceback, the last
line of a failure — also goes to the log file (appended, flushed line by line, so a crash
leaves its last words there; a resume appends to the same file). A progress bar (tqdm) draws
on the terminal only (:func:`terminal`); :func:`log_only` writes plain progress lines to the
file instead. ``log.txt`` is the one run file that is appended to rather than replaced
atomically: it is a record for people, and nothing reads it back.
"""
from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

LOG = "log.txt"
_ACTIVE: list = []  # the open log files, innermost last


class _Tee(io.TextIOBase):
    """A text stream writing to ``stream`` and to the log file ``file``."""

    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text):
        self.stream.write(text)
        try:
            self.file.write(text)
            if "\n" in text:
                self.file.flush()
        except (OSError, ValueError):  # disk full, file closed: the console matters more
            pass
        return len(text)

    def flush(self):
        self.stream.flush()
        try:
            self.file.flush()
        except (OSError, ValueError):
            pass

    def isatty(self):
        return self.stream.isatty()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


@contextmanager
def mirror(run_dir):
    """Mirror ``sys.stdout`` and ``sys.stderr`` into ``run_dir/log.txt`` for the block."""
    path = Path(run_dir) / LOG
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- {datetime.now().isoformat(timespec='seconds')} {' '.join(sys.argv)}\n")
        f.flush()
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, f), _Tee(err, f)
        _ACTIVE.append(f)
        try:
            yield path
        finally:
            _ACTIVE.remove(f)
            sys.stdout, sys.stderr = out, err


def log_only(line: str) -> None:
    """Write ``line`` to the active log file only (not the terminal); nothing if none."""
    if _ACTIVE:
        try:
            _ACTIVE[-1].write(line + "\n")
            _ACTIVE[-1].flush()
        except (OSError, ValueError):
            pass


def terminal():
    """The stream a progress bar should draw on: the terminal's stderr, not the log."""
    err = sys.stderr
    return err.stream if isinstance(err, _Tee) else err

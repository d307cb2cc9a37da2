"""One process at a time per run folder: an exclusive ``flock`` on ``<run>/.lock``.

Two processes training the same folder would overwrite each other's checkpoints (a study
re-run while its first launch still works, a requeued job starting before the old one died).
The lock is released by the kernel when the process ends, however it ends, so a folder is
never left locked by a dead run. The ``.lock`` file itself stays (deleting lock files races);
it is empty. On systems without ``fcntl`` (Windows) the lock does nothing.
"""
from __future__ import annotations

from pathlib import Path

from .values import UsageError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK = ".lock"


class RunInUse(UsageError):
    """Another process holds the run folder."""


class RunLock:
    """Context manager holding the lock of the existing folder ``run_dir`` (raises
    :class:`RunInUse` if another process holds it)."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK
        self.file = None

    def __enter__(self):
        if fcntl is None:
            return self
        try:
            self.file = open(self.path, "a")
        except OSError:
            return self  # a read-only folder: the first write will say so
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            self.file = None
            raise RunInUse(f"{self.path.parent} is in use by another process (see its "
                           "status.json for the pid and host): wait for it to end, or stop it, "
                           "then resume") from None
        return self

    def __exit__(self, *exc):
        if self.file is not None:
            self.file.close()  # closing releases the lock
            self.file = None
        return False

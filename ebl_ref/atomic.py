"""Atomic file writes: a reader (or a crash, or a signal) sees the old file or the new one,
never half of one.

The bytes go to a temporary file beside the target (same folder, so the same file system),
are flushed and fsynced, get the mode an ordinary ``open(path, "w")`` would give (0666 minus
the umask: 0644 under the usual umask 022, so colleagues and dashboards can read run files),
and the temporary file is renamed over the target with ``os.replace`` (atomic on POSIX and
Windows). On any exception, including ``KeyboardInterrupt``, the temporary file is removed and
the target is left as it was.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, write) -> None:
    """Call ``write(file)`` on a binary temporary file beside ``path``, then move it to ``path``.

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its folder must exist.
    write : callable
        ``write(f)`` writes the content to the open binary file ``f``.

    Raises
    ------
    OSError
        If the folder is not writable or the disk is full (the target is unchanged).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    data = text.encode("utf-8")
    atomic_write_bytes(path, lambda f: f.write(data))

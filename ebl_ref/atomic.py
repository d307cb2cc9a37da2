"""Atomic file writes: the one helper every writer of the package uses.

A file is written under a temporary name in its destination folder, flushed and fsynced, then
renamed over the destination with ``os.replace`` (atomic on POSIX and Windows), so a reader, a
crash or an interrupt only ever sees the old file or the complete new one, never half of it.
The temporary file is created with ``mode`` filtered by the process umask, exactly as ``open``
creates files (0644 under the usual umask 022): files are as readable as any other file the
user writes, not private as ``tempfile.mkstemp``'s 0600 would leave them.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write_bytes(path: os.PathLike, write: Callable[[BinaryIO], object],
                       mode: int = 0o644) -> None:
    """Call ``write(f)`` on a new temporary file beside ``path``, then rename it over ``path``.

    Parameters
    ----------
    path : path-like
        Destination; its folder must exist.
    write : callable
        Receives the temporary file open for binary writing. ``f.name`` is the temporary
        file's path, so ``write`` may check what it wrote (e.g. a checksum) before the rename;
        any exception it raises aborts the write.
    mode : int
        Permission bits, filtered by the umask (default 0o644).

    Raises
    ------
    OSError
        If the folder is missing or not writable. On any exception (``KeyboardInterrupt``
        included) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            f = open(tmp, "xb", opener=lambda p, flags: os.open(p, flags, mode))
            break
        except FileExistsError:  # a leftover of the same random name: draw another
            continue
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: os.PathLike, text: str, mode: int = 0o644) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")), mode)


def atomic_write_csv(path: os.PathLike, header: list, rows, lineterminator: str = "\r\n") -> None:
    """:func:`atomic_write_text` of ``header`` and ``rows`` (iterables of values) as CSV
    (:mod:`csv`'s default dialect; ``lineterminator`` its default ``"\r\n"`` unless given)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def write_outputs(command: str, outputs, obj) -> None:
    """For each ``(path, write)`` of ``outputs`` whose path is set, ``write(path, obj)``: the
    result files of a report command (``gradcheck``, ``converge``). Raises
    ``SystemExit("<command>: cannot write <path>: <error>")`` on an OSError."""
    for path, write in outputs:
        if path:
            try:
                write(path, obj)
            except OSError as exc:
                raise SystemExit(f"{command}: cannot write {path}: {exc}") from None


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

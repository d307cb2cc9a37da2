"""Fast cache of decoded splits: an uncompressed ``.npy`` pair per split.

Decoding the originals (gzip, pickles, LZMA ``.npz``) takes seconds; loading two ``.npy`` files
takes milliseconds. Files are named ``<split>-<key>.x.npy`` / ``.y.npy`` where ``key`` hashes the
source files' checksums and sizes, so a changed source never hits a stale cache. Files are
written to a temporary name and moved into place with ``os.replace`` (atomic), and loaded with
``allow_pickle=False``. A cache that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

FORMAT_VERSION = "1"  # bump when decoders change what they return


def cache_key(parts: Iterable[str]) -> str:
    """A 16-hex-digit key from strings describing the sources (names, md5s, sizes)."""
    h = hashlib.sha256(FORMAT_VERSION.encode())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()[:16]


def _paths(folder: Path, split: str, key: str) -> Tuple[Path, Path]:
    return folder / f"{split}-{key}.x.npy", folder / f"{split}-{key}.y.npy"


def load_cached(folders: Sequence[Path], split: str, key: str):
    """Return ``(x, y)`` from the first folder holding a readable pair, else None."""
    for folder in folders:
        px, py = _paths(folder, split, key)
        if not (px.is_file() and py.is_file()):
            continue
        try:
            x = np.load(px, allow_pickle=False)
            y = np.load(py, allow_pickle=False)
        except (OSError, ValueError):
            continue
        if x.dtype == np.uint8 and x.ndim == 4 and y.dtype == np.int64 and y.shape == x.shape[:1]:
            return x, y
    return None


def writable_dir(folder: Path) -> bool:
    """Whether ``folder`` may be written into, creating it (and parents) if so.

    The nearest existing ancestor must have its owner write bit: a folder marked read-only
    (e.g. a shared dataset copy) counts as read-only even for root.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not existing.stat().st_mode & stat.S_IWUSR:
        return False
    if not os.access(existing, os.W_OK):
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return bool(folder.stat().st_mode & stat.S_IWUSR) and os.access(folder, os.W_OK)


def _atomic_save(path: Path, a: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, a, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_cached(folders: Sequence[Path], split: str, key: str, x: np.ndarray,
                y: np.ndarray) -> Optional[Path]:
    """Write the pair to the first writable folder (removing stale pairs of ``split`` there).

    Returns the folder used, or None (with a warning) if none was writable.
    """
    for folder in folders:
        if not writable_dir(folder):
            continue
        try:
            for old in folder.glob(f"{split}-*.npy"):
                if not old.name.startswith(f"{split}-{key}."):
                    old.unlink()
            px, py = _paths(folder, split, key)
            _atomic_save(py, y)
            _atomic_save(px, x)
            return folder
        except OSError:
            continue
    warnings.warn(f"could not write the decoded-data cache in any of {list(map(str, folders))}; "
                  f"loading will stay slow", RuntimeWarning, stacklevel=3)
    return None

"""Cache of decoded splits: one uncompressed ``.npz`` per split, in the user's cache folder.

Decoding the originals (gzip, pickles, LZMA ``.npz``) takes seconds; loading an uncompressed
``.npz`` takes a fraction of that. A file is named ``<dataset>-<split>-<key>.npz``, where
``key`` hashes the checksums of the source content, so a changed source never hits a stale
entry (and the stale entry of that dataset and split is removed when the new one is written).
The folder is chosen by :func:`.locate.resolve_cache_dir` (default
``~/.cache/ebl-ref/decoded``; never inside a data folder). Files are written atomically and
read with ``allow_pickle=False``; zip members carry a CRC-32, so a truncated or bit-flipped
file is detected: it is reported in one log line, ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterable, Optional, Tuple

import numpy as np

from ..atomic import atomic_write_bytes
from . import formats
from .registry import DatasetSpec

FORMAT_VERSION = "2"  # bump when decoders change what they return
NO_CACHE_HINT = ("choose another folder with --cache-dir DIR (or EBL_CACHE_DIR), or turn the "
                 "cache off with --no-cache")


def cache_key(parts: Iterable[str]) -> str:
    """A 16-hex-digit key from strings describing the source content (names, checksums)."""
    h = hashlib.sha256(FORMAT_VERSION.encode())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()[:16]


def cache_path(folder: Path, dataset: str, split: str, key: str) -> Path:
    return Path(folder) / f"{dataset}-{split}-{key}.npz"


def load_cached(path: Path, spec: DatasetSpec,
                log: Callable[[str], None]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(x, y)`` from a cache file, or None if absent; a damaged file is logged and removed."""
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
        return formats.check_arrays(x, y, spec.channels, spec.image_size, spec.classes,
                                    str(path))
    except FileNotFoundError:
        return None
    except Exception as e:  # DataError, bad zip, CRC mismatch, missing array, wrong shape
        log(f"ignoring the damaged decoded-data cache file {path} ({type(e).__name__}: {e}); "
            f"rebuilding it from the dataset")
        try:
            path.unlink()
        except OSError:
            pass
        return None


def save_cached(path: Path, x: np.ndarray, y: np.ndarray,
                log: Callable[[str], None]) -> bool:
    """Write ``(x, y)`` to ``path`` (creating its folder), replacing stale entries of the split.

    Returns False, after one log line, if the folder cannot be written (loading still works).
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stem = path.name.rsplit("-", 1)[0]  # <dataset>-<split>
        for old in folder.glob(f"{stem}-*.npz"):
            if old != path and len(old.name) == len(path.name):
                old.unlink()
        atomic_write_bytes(path, lambda f: np.savez(f, x=x, y=y))
        return True
    except OSError as e:
        log(f"could not write the decoded-data cache {path} ({type(e).__name__}: {e}); loading "
            f"will stay slow: {NO_CACHE_HINT}")
        return False

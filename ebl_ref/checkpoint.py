"""Checkpoints: one ``.npz`` (no pickle) holding arrays and a JSON metadata string, written
atomically (temporary file in the same folder, fsync, ``os.replace``), verified on load."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "ebl-ref-checkpoint-1"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or incompatible, with the fix in the message."""


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def save(path: Path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> host array) and ``meta`` (JSON-serialisable) to ``path``."""
    payload = {f"a/{k}": np.asarray(v) for k, v in arrays.items()}
    payload["meta"] = np.array(json.dumps({"format": FORMAT, **meta}))
    atomic_write_bytes(path, lambda f: np.savez(f, **payload))


def load(path: Path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save`: returns ``(arrays, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: is this a run folder made by run.py?")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k[2:]: z[k] for k in z.files if k.startswith("a/")}
    except Exception as exc:  # truncated zip, bad JSON, missing key ...
        raise CheckpointError(f"checkpoint {path} is unreadable ({exc}); it may be truncated. "
                              "Start a new run or restore the file.") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an ebl-ref checkpoint "
                              f"(format {meta.get('format')!r})")
    return arrays, meta

"""Checkpoint files: one ``.npz`` (no pickle) holding arrays and a JSON metadata string,
written atomically (:mod:`ebl_ref.atomic`), verified on load.

Format ``ebl-ref-checkpoint-1``: members ``a/<name>`` (the arrays) and ``meta`` (a 0-d string
array holding a strict-JSON object with ``"format"``). What goes into a training checkpoint
is :mod:`ebl_ref.state`'s business; this module only writes and reads the file.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .jsonfile import BadFileError, dumps

FORMAT = "ebl-ref-checkpoint-1"


class CheckpointError(BadFileError):
    """A checkpoint that is missing, unreadable or incompatible, with the fix in the message."""


def save(path, arrays: dict, meta: dict) -> None:
    """Write ``arrays`` (name -> host array) and ``meta`` (JSON-serialisable; non-finite floats
    become null) to ``path``, atomically."""
    payload = {f"a/{k}": np.asarray(v) for k, v in arrays.items()}
    payload["meta"] = np.array(dumps({"format": FORMAT, **meta}))
    atomic_write_bytes(path, lambda f: np.savez(f, **payload))


def _damaged(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is unreadable ({why}): it may be truncated or "
                           "not a checkpoint. Restore the file, or delete it to restart the run "
                           "from epoch 0, or start a new run.")


def _meta(z, path: Path) -> dict:
    try:
        meta = json.loads(str(z["meta"]))
    except (KeyError, ValueError) as exc:
        raise _damaged(path, f"no readable metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path} is not an ebl-ref checkpoint (format {found!r}, expected "
                              f"{FORMAT!r}); restore the file or start a new run")
    return meta


def _open(path: Path):
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: is this a run folder made by run.py?")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from None


def load(path) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save`: returns ``(arrays, meta)``.

    Raises :class:`CheckpointError` (naming the file and the fix) if it is missing, truncated,
    of another format, or holds unreadable arrays.
    """
    path = Path(path)
    with _open(path) as z:
        meta = _meta(z, path)
        try:
            arrays = {k[2:]: z[k] for k in z.files if k.startswith("a/")}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise _damaged(path, str(exc) or type(exc).__name__) from None
    return arrays, meta


def read_meta(path) -> dict:
    """Only the metadata of a checkpoint (cheap: the arrays are not read)."""
    path = Path(path)
    with _open(path) as z:
        return _meta(z, path)

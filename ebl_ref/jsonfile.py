"""Strict JSON files: what the project writes, every reader accepts; what it reads, it checks.

Python's ``json`` writes ``NaN``, ``Infinity`` and ``-Infinity`` by default, tokens that strict
readers (JavaScript, jq, most dashboards) reject. Here every non-finite float is written as
``null`` (a diverged cost reads back as ``None``), ``allow_nan=False`` makes any that slipped
through an error, and NumPy scalars, arrays and tuples become plain numbers and lists.
Writes are atomic (:mod:`ebl_ref.atomic`). Reads raise :class:`BadFileError` naming the file,
what is wrong with it and the fix, instead of a traceback.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text


class BadFileError(Exception):
    """A file that is missing, unreadable or damaged; the message names it and the fix."""


def to_plain(obj):
    """``obj`` with non-finite floats as None, NumPy scalars/arrays and tuples as plain values."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_plain(obj.tolist())
    if isinstance(obj, np.generic):
        return to_plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj, indent: int | None = None) -> str:
    """Strict JSON text of ``obj`` (see the module docstring)."""
    return json.dumps(to_plain(obj), indent=indent, allow_nan=False)


def write_json(path, obj) -> None:
    """Write ``obj`` as strict, indented JSON to ``path``, atomically."""
    atomic_write_text(path, dumps(obj, indent=2) + "\n")


def write_jsonl(path, rows) -> None:
    """Write one strict JSON object per line to ``path``, atomically (the whole file)."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in rows))


def _reject_constant(token):
    raise ValueError(f"non-standard JSON token {token}")


def _parse(text: str, path: Path, fix: str, line: int | None = None):
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        where = f" line {line}" if line is not None else ""
        raise BadFileError(f"{path}{where} is not valid JSON ({exc}); {fix}") from None


def read_json(path, fix: str, expect=dict):
    """The JSON value in ``path``, which must be of type ``expect``.

    Raises :class:`BadFileError` ("<path> ...; <fix>") if it is missing, unreadable, not strict
    JSON (``NaN``/``Infinity`` tokens are refused) or of another type.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadFileError(f"{path} does not exist; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFileError(f"{path} cannot be read ({exc}); {fix}") from None
    value = _parse(text, path, fix)
    if not isinstance(value, expect):
        raise BadFileError(f"{path} holds a JSON {type(value).__name__}, not a "
                           f"{expect.__name__}; {fix}")
    return value


def read_jsonl(path, fix: str) -> list:
    """The JSON objects of ``path``, one per non-empty line; :class:`BadFileError` naming the
    file and the first bad line otherwise."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadFileError(f"{path} does not exist; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFileError(f"{path} cannot be read ({exc}); {fix}") from None
    rows = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            row = _parse(line, path, fix, line=i)
            if not isinstance(row, dict):
                raise BadFileError(f"{path} line {i} is not a JSON object; {fix}")
            rows.append(row)
    return rows

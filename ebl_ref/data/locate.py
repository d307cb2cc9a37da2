"""Where the data and the decoded-data cache live.

**Data folder**, in order of precedence: the ``data_dir`` argument (the CLI's ``--data-dir``),
the environment variable ``EBL_DATA_DIR``, then the user cache folder
(``$XDG_CACHE_HOME/ebl-ref``, else ``~/.cache/ebl-ref``). Dataset ``name`` lives in
``<data folder>/<name>/``.

**Decoded-data cache**, in order: the ``cache_dir`` argument (``--cache-dir``; ``False``, the
CLI's ``--no-cache``, turns the cache off), the environment variable ``EBL_CACHE_DIR``, then
``$XDG_CACHE_HOME/ebl-ref/decoded`` (else ``~/.cache/ebl-ref/decoded``). The cache is never
written inside a data folder.

A folder the user names (argument or environment variable) must already exist: a mistyped
path is refused with one line, never created (nor filled by a download). Only the default
folders are created, when something is first written into them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from .errors import DataError

DATA_ENV = "EBL_DATA_DIR"
CACHE_ENV = "EBL_CACHE_DIR"


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/ebl-ref``, else ``~/.cache/ebl-ref`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ebl-ref"


def default_data_dir() -> Path:
    """The default data folder: :func:`user_cache_root`."""
    return user_cache_root()


def default_cache_dir() -> Path:
    """The default decoded-data cache: ``<user_cache_root()>/decoded``."""
    return user_cache_root() / "decoded"


def existing_folder(path: os.PathLike, what: str, fix: str = "fix the path") -> Path:
    """``path`` (``~`` expanded) if it is an existing folder, else a DataError naming ``what``.

    ``what`` says where the path came from, e.g. ``"data folder (--data-dir)"``.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{what} {p} does not exist: create it (mkdir -p {p}) or {fix}.")
    if not p.is_dir():
        raise DataError(f"{what} {p} is not a folder: {fix}.")
    return p


def resolve_data_dir(data_dir: Optional[os.PathLike] = None) -> Path:
    """The data folder: ``data_dir``, else ``$EBL_DATA_DIR``, else :func:`default_data_dir`.

    Raises
    ------
    DataError
        If ``data_dir`` or ``$EBL_DATA_DIR`` names a folder that does not exist.
    """
    if data_dir is not None:
        return existing_folder(data_dir, "data folder (--data-dir)")
    env = os.environ.get(DATA_ENV)
    if env:
        return existing_folder(env, f"data folder (${DATA_ENV})", f"fix or unset {DATA_ENV}")
    return default_data_dir()


def resolve_cache_dir(cache_dir: Union[None, bool, os.PathLike] = None) -> Optional[Path]:
    """The decoded-data cache folder, or None when caching is off (``cache_dir=False``).

    ``None`` (or ``True``) means: ``$EBL_CACHE_DIR`` if set, else :func:`default_cache_dir`.

    Raises
    ------
    DataError
        If ``cache_dir`` or ``$EBL_CACHE_DIR`` names a folder that does not exist.
    """
    if cache_dir is False:
        return None
    if cache_dir is True:
        cache_dir = None
    if cache_dir is not None:
        return existing_folder(cache_dir, "cache folder (--cache-dir)",
                               "fix the path, or turn the cache off with --no-cache")
    env = os.environ.get(CACHE_ENV)
    if env:
        return existing_folder(env, f"cache folder (${CACHE_ENV})", f"fix or unset {CACHE_ENV}")
    return default_cache_dir()

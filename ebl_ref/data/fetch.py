"""Where data lives, how files are verified, downloaded and safely extracted.

Data directory, in order of precedence: the ``data_dir`` argument (the CLI's ``--data-dir``),
the environment variable ``EBL_DATA_DIR``, then a user cache folder
(``$XDG_CACHE_HOME/ebl-ref``, else ``~/.cache/ebl-ref``). Dataset ``name`` lives in
``<data dir>/<name>/``.

Tests replace :func:`fetch_url` (the only function that touches the network) with a stub.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Sequence

from .errors import DataError
from .registry import FileSpec

ENV_VAR = "EBL_DATA_DIR"
_CHUNK = 1 << 20


def default_data_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/ebl-ref`` or ``~/.cache/ebl-ref``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ebl-ref"


def resolve_data_dir(data_dir: Optional[os.PathLike] = None) -> Path:
    """The data directory: argument, else ``$EBL_DATA_DIR``, else :func:`default_data_dir`."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, fspec: FileSpec) -> str:
    """Check a file's size (where known) and md5 against ``fspec``; return the md5.

    Raises
    ------
    DataError
        Naming the file, the expected and actual size or md5, and the fix.
    """
    path = Path(path)
    fix = (f"Delete {path} and let the loader download it again, or replace it with the "
           f"original file (md5 {fspec.md5}).")
    size = path.stat().st_size
    actual = file_md5(path)
    if fspec.size is not None and size != fspec.size:
        raise DataError(f"{path}: size {size} bytes, expected {fspec.size}; md5 {actual}, "
                        f"expected {fspec.md5} (truncated or not the original file). {fix}")
    if actual != fspec.md5:
        raise DataError(f"{path}: md5 mismatch, expected {fspec.md5}, got {actual} "
                        f"(corrupt, truncated or tampered file). {fix}")
    return actual


def fetch_url(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` (the only network access of the package)."""
    with urllib.request.urlopen(url, timeout=timeout) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f, _CHUNK)


def download_file(fspec: FileSpec, base_urls: Sequence[str], folder: Path) -> Path:
    """Download ``fspec`` from the first mirror that gives a verified file.

    The file is written to a temporary name in ``folder``, verified, then moved into place
    with ``os.replace`` (never a half-written file under the final name).

    Raises
    ------
    DataError
        If every mirror fails; the message lists each URL tried and its error.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / fspec.name
    failures = []
    for base in base_urls:
        url = base + fspec.name
        fd, tmp = tempfile.mkstemp(prefix=fspec.name + ".", suffix=".part", dir=folder)
        os.close(fd)
        try:
            print(f"ebl-ref: downloading {url}", file=sys.stderr)
            fetch_url(url, Path(tmp))
            verify_file(Path(tmp), fspec)
            os.replace(tmp, dest)
            return dest
        except (OSError, DataError, ValueError) as e:
            failures.append(f"{url} ({type(e).__name__}: {e})")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataError("download failed for every mirror:\n  " + "\n  ".join(failures))


def _unsafe_reason(member: tarfile.TarInfo) -> Optional[str]:
    """Why a tar member must not be extracted, or None if it is a plain file or folder."""
    if member.issym() or member.islnk():
        return "is a link"
    if not (member.isfile() or member.isdir()):
        return "is a device, fifo or other special file"
    p = PurePosixPath(member.name)
    if p.is_absolute() or member.name.startswith(("/", "\\")) or (p.parts and ":" in p.parts[0]):
        return "has an absolute path"
    if ".." in p.parts or "\\" in member.name:
        return "has a '..' component or a backslash"
    return None


def safe_extract(tar_path: Path, target: Path, only: Optional[Iterable[str]] = None) -> None:
    """Extract a tar archive into ``target``, refusing anything unsafe.

    Every member is checked before anything is written; an archive with an absolute path, a
    ``..`` component, a symlink or hardlink, or a device is refused whole. Files are written
    by streaming their bytes (never ``tarfile.extract``), and each destination is checked to
    resolve inside ``target``.

    Parameters
    ----------
    tar_path : Path
        The archive (compression detected automatically).
    target : Path
        Folder to extract into (created if needed).
    only : iterable of str, optional
        Extract only members with these names (others are still checked).

    Raises
    ------
    DataError
        Naming the archive and the offending member.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    wanted = None if only is None else set(only)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                reason = _unsafe_reason(m)
                dest = (root / m.name).resolve()
                if reason is None and root != dest and root not in dest.parents:
                    reason = "resolves outside the target folder"
                if reason:
                    raise DataError(f"{tar_path}: refusing unsafe archive, member {m.name!r} "
                                    f"{reason}. Delete the archive and obtain the original.")
            for m in members:
                if wanted is not None and m.name not in wanted:
                    continue
                dest = root / m.name
                if m.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                tmp = dest.with_name(dest.name + ".part")
                with src, open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f, _CHUNK)
                os.replace(tmp, dest)
    except (tarfile.TarError, EOFError) as e:
        raise DataError(f"{tar_path}: not a readable tar archive ({e}). Delete it and obtain "
                        f"the original.") from e

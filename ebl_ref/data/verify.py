"""Checksums: every original file is verified before it is decoded (pickles included).

What is verified is what matters, the content: a file as published passes on its md5; a
``.gz`` that is not byte-identical to the published one (re-compressed, e.g. Debian's copies)
passes when its decompressed bytes have the registry's SHA-256, and so does the decompressed
file itself; a CIFAR archive's batch files are each checked against their md5. Where the
registry knows no content checksum only the published md5 is accepted. See
:mod:`.registry`, "Checksums, two layers".
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from . import formats
from .errors import DataError
from .registry import FileSpec, SplitContent

CHUNK = 1 << 20  # bytes per read when hashing or downloading
MAX_MEMBER_BYTES = 1 << 30  # no CIFAR batch is near 1 GiB; refuse archive members above it


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest (``"md5"`` or ``"sha256"``) of a file, read in 1 MiB chunks.

    Raises
    ------
    DataError
        If the file cannot be read (permissions, a folder in its place, an I/O error).
    """
    h = hashlib.new(algorithm)
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: {e}); check its "
                        f"permissions, or replace it.") from e
    return h.hexdigest()


@dataclass(frozen=True)
class Checked:
    """A verified file.

    Attributes
    ----------
    key : str
        What the decoded-data cache key records about it: its name and the checksum of its
        content (so every form of the same content shares one cache entry).
    how : str
        How it was verified, for the log line.
    content : bytes or None
        The decompressed bytes, when verifying had to read them.
    """

    key: str
    how: str
    content: Optional[bytes] = None


def default_fix(fspec: FileSpec) -> str:
    return (f"Delete it and let the loader download the original again, or replace it with the "
            f"original file {fspec.name} (md5 {fspec.md5}).")


def check_file(path: Path, fspec: FileSpec, fix: Optional[str] = None) -> Checked:
    """Verify a distribution file, or its decompressed form, against ``fspec``.

    ``path.name`` is ``fspec.name`` (the file as published, e.g. ``...-ubyte.gz``, a ``.mat``,
    a CIFAR batch) or ``fspec.content_name`` (the decompressed ``...-ubyte``).

    Raises
    ------
    DataError
        One line naming the file, what was expected and found, and ``fix``.
    """
    path = Path(path)
    fix = fix or default_fix(fspec)
    if fspec.content_name is not None and path.name == fspec.content_name:
        return _check_decompressed(path, fspec, fix)
    md5 = file_digest(path)
    if md5 == fspec.md5:
        if fspec.content_sha256:
            return Checked(f"{fspec.content_name}:sha256:{fspec.content_sha256}",
                           "as published, md5 verified")
        return Checked(f"{fspec.name}:md5:{md5}", "as published, md5 verified")
    size = path.stat().st_size if path.exists() else 0
    found = f"md5 {md5} (expected {fspec.md5})" + (
        f", size {size} bytes (published {fspec.size})" if fspec.size else "")
    if fspec.content_sha256 is None or fspec.content_name is None:
        raise DataError(f"{path}: not the original file: {found}; it is corrupt, truncated or "
                        f"modified. {fix}")
    try:
        raw = formats.read_original(path, gz=True)
    except DataError as e:
        raise DataError(f"{path}: not the original file: {found}, and not a readable gzip file "
                        f"({e.__cause__}). {fix}") from None
    sha = hashlib.sha256(raw).hexdigest()
    if sha != fspec.content_sha256:
        raise DataError(f"{path}: not the original file: {found}, and its decompressed content "
                        f"has SHA-256 {sha} (expected {fspec.content_sha256}); it is corrupt, "
                        f"truncated or modified. {fix}")
    return Checked(f"{fspec.content_name}:sha256:{sha}",
                   "re-compressed, decompressed content SHA-256 verified", raw)


def _check_decompressed(path: Path, fspec: FileSpec, fix: str) -> Checked:
    if fspec.content_sha256 is None:
        raise DataError(f"{path}: no checksum of the decompressed file is known, so it cannot "
                        f"be verified; use the published {fspec.name} (md5 {fspec.md5}) "
                        f"instead.")
    size = path.stat().st_size
    if fspec.content_size is not None and size != fspec.content_size:
        raise DataError(f"{path}: size {size} bytes, expected {fspec.content_size} (truncated or "
                        f"not the original decompressed file). {fix}")
    sha = file_digest(path, "sha256")
    if sha != fspec.content_sha256:
        raise DataError(f"{path}: SHA-256 {sha}, expected {fspec.content_sha256} (corrupt or "
                        f"modified decompressed file). {fix}")
    return Checked(f"{path.name}:sha256:{sha}", "decompressed, SHA-256 verified")


def read_tar_members(tar_path: Path, folder: str,
                     members: Sequence[FileSpec]) -> Dict[str, bytes]:
    """The verified bytes of ``members`` (files of ``folder/`` inside a tar archive).

    Nothing is extracted to disk: each wanted member is read into memory in one pass over the
    archive and checked against its md5 before anyone may unpickle it. A wanted member that is
    a link or a special file, larger than 1 GiB, missing or with another md5 is refused; other
    members are skipped unread.

    Returns
    -------
    dict: member file name (e.g. ``data_batch_1``) -> bytes.

    Raises
    ------
    DataError
        Naming the archive, the member and the fix.
    """
    wanted = {f"{folder}/{m.name}": m for m in members}
    fix = "Delete the archive and let the loader download it again, or replace it."
    out: Dict[str, bytes] = {}
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for info in tar:
                m = wanted.get(info.name[2:] if info.name.startswith("./") else info.name)
                if m is None or m.name in out:
                    continue
                where = f"{tar_path}: member {info.name!r}"
                if not info.isfile():
                    raise DataError(f"{where} is a link or special file, not a batch file. {fix}")
                if info.size > MAX_MEMBER_BYTES:
                    raise DataError(f"{where} is {info.size} bytes, too large to be a batch file. "
                                    f"{fix}")
                raw = tar.extractfile(info).read()
                md5 = hashlib.md5(raw).hexdigest()
                if md5 != m.md5:
                    raise DataError(f"{where} has md5 {md5}, expected {m.md5} (not the original "
                                    f"batch file). {fix}")
                out[m.name] = raw
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{tar_path}: not a readable tar archive ({type(e).__name__}: {e}). "
                        f"{fix}") from e
    missing = [n for n, m in wanted.items() if m.name not in out]
    if missing:
        raise DataError(f"{tar_path}: the archive lacks {', '.join(missing)}. {fix}")
    return out


def split_digests(x: np.ndarray, y: np.ndarray) -> tuple:
    """``(x_sha256, y_sha256)`` of a decoded split, as recorded in :class:`SplitContent`."""
    return (hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
            hashlib.sha256(np.asarray(y).astype("<i8").tobytes()).hexdigest())


def compare_split(x: np.ndarray, y: np.ndarray, ref: SplitContent) -> str:
    """Say whether a prepared split is the original one (never refuses: custom data is fine)."""
    if len(y) != ref.size:
        return f"{len(y)} examples, not the original split of {ref.size}"
    if ref.x_sha256 is None:
        return "content not recognisable (no reference digest known)"
    if split_digests(x, y) == (ref.x_sha256, ref.y_sha256):
        return "identical to the original split (SHA-256 of the decoded arrays)"
    return "differs from the original split (a custom or modified copy)"

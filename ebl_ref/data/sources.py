"""Which form of a dataset a folder holds, and in which order the forms are tried.

Inside ``<data folder>/<name>/`` (precedence, first complete form wins):

1. **the original files**, verified against the registry before use (:mod:`.verify`):

   * MNIST, Fashion-MNIST: the four IDX files, each either as published (``*-ubyte.gz``,
     also re-compressed) or decompressed (``*-ubyte``; the ``.gz`` is preferred when both are
     there);
   * CIFAR-10/100: the extracted batches folder (``cifar-10-batches-py/``,
     ``cifar-100-python/``), else the archive (``cifar-10-python.tar.gz``, read in memory,
     never extracted);
   * SVHN: ``train_32x32.mat`` and ``test_32x32.mat``;

2. **the prepared form** ``train.npz`` + ``test.npz`` (``x`` uint8 (N, H, W) or (N, H, W, C),
   ``y`` integer labels (N,), any N; structure validated; recognised as the original split
   when the registry has its digests). Originals take precedence because they can be verified:
   prepared files beside them are reported as ignored (move them to a folder of their own);

3. nothing complete: the missing original files are downloaded (unless ``download=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from .registry import DatasetSpec

PREPARED = ("train.npz", "test.npz")

FORMS = {
    "idx": "original IDX files",
    "cifar-folder": "original extracted batch files",
    "cifar-tar": "original archive",
    "mat": "original .mat files",
    "prepared": "prepared train.npz / test.npz",
}


@dataclass(frozen=True)
class Source:
    """One complete form of a dataset found in its folder.

    Attributes
    ----------
    form : str
        A key of :data:`FORMS`.
    train, test : tuple of Path
        The files of each split (IDX: images then labels; CIFAR archive: the archive).
    ignored : tuple of Path
        Prepared files present but not used, because the originals take precedence.
    """

    form: str
    train: Tuple[Path, ...]
    test: Tuple[Path, ...]
    ignored: Tuple[Path, ...] = ()


def _idx_path(root: Path, name: str) -> Optional[Path]:
    """``root/name`` (``.gz``) if present, else its decompressed form, else None."""
    for candidate in (root / name, root / name[:-3]):
        if candidate.is_file():
            return candidate
    return None


def find_original(spec: DatasetSpec, root: Path) -> Optional[Source]:
    """The complete original form in ``root``, or None."""
    if spec.fmt == "idx":
        paths = [_idx_path(root, n) for n in spec.train_files + spec.test_files]
        if all(paths):
            k = len(spec.train_files)
            return Source("idx", tuple(paths[:k]), tuple(paths[k:]))
    elif spec.folder:
        folder = root / spec.folder
        if all((folder / m.name).is_file() for m in spec.members):
            return Source("cifar-folder", tuple(folder / n for n in spec.train_files),
                          tuple(folder / n for n in spec.test_files))
        tar = root / spec.files[0].name
        if tar.is_file():
            return Source("cifar-tar", (tar,), (tar,))
    elif spec.files and all((root / f.name).is_file() for f in spec.files):
        return Source("mat", tuple(root / n for n in spec.train_files),
                      tuple(root / n for n in spec.test_files))
    return None


def find_source(spec: DatasetSpec, root: Path) -> Optional[Source]:
    """The form to load from ``root`` by the precedence above, or None if none is complete."""
    prepared = tuple(root / p for p in PREPARED)
    has_prepared = all(p.is_file() for p in prepared)
    original = find_original(spec, root)
    if original is not None:
        if has_prepared:
            return Source(original.form, original.train, original.test, prepared)
        return original
    if has_prepared:
        return Source("prepared", prepared[:1], prepared[1:])
    return None


def missing_downloads(spec: DatasetSpec, root: Path) -> List[str]:
    """Names of the distribution files to download to complete the original form."""
    if spec.fmt == "idx":
        return [f.name for f in spec.files if _idx_path(root, f.name) is None]
    return [f.name for f in spec.files if not (root / f.name).is_file()]

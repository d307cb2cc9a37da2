"""``load_dataset``: find, verify (or download), decode and cache a dataset.

Inside ``<data dir>/<name>/`` the loader accepts, in this order:

1. the original distribution files, md5-verified before use:
   IDX ``.gz`` (4 files; MNIST, Fashion-MNIST), the CIFAR batches folder
   (``cifar-10-batches-py/``, ``cifar-100-python/``) or its ``.tar.gz`` (verified, then safely
   extracted next to it), SVHN ``train_32x32.mat`` / ``test_32x32.mat``;
2. the prepared form ``train.npz`` and ``test.npz`` with ``x`` uint8 (N, H, W) or (N, H, W, C)
   and ``y`` integer labels (N,), any N (no canonical checksum: structure is validated);
3. otherwise the original files are downloaded (mirrors in order) unless ``download=False``.

Decoded splits are cached as ``.npy`` pairs (:mod:`.cache`) in ``<name>/.cache/``, or in the user
cache folder when the dataset folder is read-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import cache, fetch, formats
from .errors import DataError
from .registry import DatasetSpec, FileSpec, get_spec
from .split import Split

PREPARED = ("train.npz", "test.npz")


def _file_specs(spec: DatasetSpec, checksums: Optional[Mapping[str, str]]) -> Dict[str, FileSpec]:
    """Name -> FileSpec, with md5 overrides (an overridden file has no known size)."""
    table = {f.name: f for f in spec.files + spec.members}
    for name, md5 in (checksums or {}).items():
        table[name] = FileSpec(name, md5)
    return table


def _expected_text(spec: DatasetSpec, root: Path, table: Dict[str, FileSpec]) -> str:
    names = [f"{f.name} (md5 {table[f.name].md5})" for f in spec.files]
    if spec.folder:
        names.append(f"or the extracted folder {spec.folder}/ with "
                     + ", ".join(f"{m.name} (md5 {table[m.name].md5})" for m in spec.members))
    return (f"Expected in {root}: " + "; ".join(names) + f"; or the prepared form "
            f"{' and '.join(PREPARED)} (x uint8 (N,H,W[,C]), y int labels). Place the files in "
            f"{root} (choose the data folder with --data-dir DIR or the environment variable "
            f"{fetch.ENV_VAR}=DIR; the folder must contain '{spec.name}/').")


def _find_source(spec: DatasetSpec, root: Path) -> Optional[str]:
    """Which form is present: 'extracted', 'tar', 'original', 'prepared' or None."""
    if spec.folder:
        if all((root / spec.folder / m.name).is_file() for m in spec.members):
            return "extracted"
        if all((root / f.name).is_file() for f in spec.files):
            return "tar"
    elif spec.files and all((root / f.name).is_file() for f in spec.files):
        return "original"
    if all((root / p).is_file() for p in PREPARED):
        return "prepared"
    return None


def _download(spec: DatasetSpec, root: Path, table: Dict[str, FileSpec]) -> None:
    """Download every missing distribution file, or raise one DataError listing all failures."""
    failures: List[str] = []
    for f in spec.files:
        if (root / f.name).is_file():
            continue
        try:
            fetch.download_file(table[f.name], spec.urls, root)
        except DataError as e:
            failures.append(f"{f.name}: {e}")
    if failures:
        raise DataError(f"could not download dataset {spec.name!r}:\n" + "\n".join(failures)
                        + "\n" + _expected_text(spec, root, table))


def _fallback_dir(spec: DatasetSpec) -> Path:
    return fetch.default_data_dir() / ".decoded" / spec.name


def _decode(spec: DatasetSpec, paths: List[Path]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode one split from its verified original files -> (uint8 (N,H,W,C), int64 (N,))."""
    if spec.fmt == "idx":
        x, y = formats.read_idx(paths[0]), formats.read_idx(paths[1])
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{paths[0]}, {paths[1]}: images {x.shape} and labels {y.shape} "
                            f"do not match.")
    elif spec.fmt in ("cifar10", "cifar100"):
        parts = [formats.load_cifar_batch(p) for p in paths]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
    elif spec.fmt == "svhn":
        x, y = formats.load_svhn_mat(paths[0])
    else:
        raise DataError(f"dataset {spec.name!r} has no original-format decoder ({spec.fmt}).")
    return formats.check_arrays(x, y, spec.channels, spec.image_size, spec.classes,
                                ", ".join(map(str, paths)))


def _load_split(spec, split, paths, verify, cache_dirs, use_cache):
    """Verify ``paths`` (-> cache key), then return a cached or freshly decoded Split."""
    key = cache.cache_key([spec.name, split] + [f"{p.name}:{p.stat().st_size}:{verify(p)}"
                                                 for p in paths])
    hit = cache.load_cached(cache_dirs, split, key) if use_cache else None
    if hit is not None:
        return Split(*hit)
    if paths[0].suffix == ".npz":
        x, y = formats.load_prepared_npz(paths[0], spec.channels, spec.image_size, spec.classes)
    else:
        x, y = _decode(spec, paths)
    if use_cache:
        cache.save_cached(cache_dirs, split, key, x, y)
    return Split(x, y)


def load_dataset(name: str, data_dir: Optional[os.PathLike] = None, download: bool = True,
                 checksums: Optional[Mapping[str, str]] = None,
                 use_cache: bool = True) -> Tuple[Split, Split]:
    """Load the train and test splits of a dataset.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``mnist``, ``fashion-mnist``, ``svhn``, ``cifar10``,
        ``cifar100``, or ``fashion-mnist-sample`` for the embedded offline sample).
    data_dir : path, optional
        Data folder (else ``$EBL_DATA_DIR``, else ``~/.cache/ebl-ref``); the dataset lives in
        ``data_dir/<name>/``.
    download : bool
        Download missing original files (never touches the network when False).
    checksums : mapping of str to str, optional
        File name -> md5 overriding the registry (for tests and custom copies).
    use_cache : bool
        Read and write the decoded ``.npy`` cache.

    Returns
    -------
    train, test : Split
        ``x`` uint8 (N, H, W, C), ``y`` int64 (N,).

    Raises
    ------
    DataError
        Files missing (and not downloadable), corrupt, malformed or unsafe.
    """
    spec = get_spec(name)
    if spec.name == "fashion-mnist-sample":
        from .sample import load_sample
        return load_sample()
    root = fetch.resolve_data_dir(data_dir) / spec.name
    table = _file_specs(spec, checksums)
    source = _find_source(spec, root)
    if source is None:
        if not download:
            raise DataError(f"dataset {spec.name!r} not found and download=False. "
                            + _expected_text(spec, root, table))
        _download(spec, root, table)
        source = _find_source(spec, root)
    cache_dirs = [root / ".cache", _fallback_dir(spec)]
    base = root
    if source == "tar":
        tar = root / spec.files[0].name
        fetch.verify_file(tar, table[tar.name])
        base = root if cache.writable_dir(root) else _fallback_dir(spec)
        fetch.safe_extract(tar, base, only=[f"{spec.folder}/{m.name}" for m in spec.members])
        source = "extracted"
    if source == "extracted":
        base = base / spec.folder
    if source == "prepared":
        groups = {"train": [root / PREPARED[0]], "test": [root / PREPARED[1]]}
        verify = fetch.file_md5
    else:
        groups = {"train": [base / n for n in spec.train_files],
                  "test": [base / n for n in spec.test_files]}

        def verify(p):
            return fetch.verify_file(p, table[p.name])

    out = tuple(_load_split(spec, s, ps, verify, cache_dirs, use_cache)
                for s, ps in groups.items())
    return out[0], out[1]

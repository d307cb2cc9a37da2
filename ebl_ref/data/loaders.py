"""``load_dataset``: find, verify (or download), decode and cache a dataset; ``dataset_sizes``.

Which files are looked for, in which order, is described in :mod:`.sources`; how they are
verified in :mod:`.verify`; where the data folder and the decoded-data cache are in
:mod:`.locate`. Every split loaded is reported in one line (``log``, default stderr) saying
which file form was used, how it was verified and whether the cache served it; the same line
is kept as :attr:`Split.source`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import cache, fetch, formats, locate
from .errors import DataError
from .registry import DatasetSpec, FileSpec, get_spec
from .sample import load_sample
from .sources import FORMS, PREPARED, Source, find_source, missing_downloads
from .split import Split
from .verify import Checked, check_file, compare_split, file_digest, read_tar_members

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"ebl-ref: {message}", file=sys.stderr)


def file_table(spec: DatasetSpec, checksums: Optional[Mapping[str, str]]) -> Dict[str, FileSpec]:
    """Name -> FileSpec of every known file, with ``checksums`` overriding the registry.

    A key naming a file as published (``train-images-idx3-ubyte.gz``, ``data_batch_1``, ...)
    sets its md5 and drops the registry's size and content checksum (they describe the
    published file); a key naming a decompressed file (``train-images-idx3-ubyte``) sets the
    SHA-256 of that content.
    """
    table = {f.name: f for f in spec.files + spec.members}
    content_of = {f.content_name: f.name for f in spec.files if f.content_name}
    overrides = dict(checksums or {})
    for name, md5 in overrides.items():
        if name not in content_of:
            table[name] = FileSpec(name, md5)
    for name, sha in overrides.items():
        if name in content_of:
            table[content_of[name]] = dataclasses.replace(
                table[content_of[name]], content_sha256=sha, content_size=None)
    return table


def _expected_text(spec: DatasetSpec, root: Path, table: Dict[str, FileSpec]) -> str:
    names = [f"{f.name} (md5 {table[f.name].md5})" for f in spec.files]
    if spec.fmt == "idx":
        names.append("or the same files decompressed (" + ", ".join(
            f.content_name for f in spec.files) + ")")
    if spec.folder:
        names.append(f"or the extracted folder {spec.folder}/ with "
                     + ", ".join(f"{m.name} (md5 {table[m.name].md5})" for m in spec.members))
    return (f"Expected in {root}: " + "; ".join(names) + f"; or the prepared form "
            f"{' and '.join(PREPARED)} (x uint8 (N,H,W[,C]), y int labels). Place the files in "
            f"{root} (choose the data folder with --data-dir DIR or the environment variable "
            f"{locate.DATA_ENV}=DIR; the folder must contain '{spec.name}/').")


def _download(spec: DatasetSpec, root: Path, table: Dict[str, FileSpec], log: Log) -> None:
    """Download every missing distribution file, or raise one DataError listing all failures."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the dataset folder {root} ({e}); choose a writable data "
                        f"folder with --data-dir DIR.") from e
    failures: List[str] = []
    for name in missing_downloads(spec, root):
        try:
            fetch.download_file(table[name], spec.urls, root, log)
        except DataError as e:
            failures.append(f"{name}: {e}")
    if failures:
        raise DataError(f"could not download dataset {spec.name!r}:\n" + "\n".join(failures)
                        + "\n" + _expected_text(spec, root, table))


def _summary(checked: List[Checked]) -> str:
    hows = sorted({c.how for c in checked})
    return hows[0] if len(hows) == 1 else "; ".join(c.key.split(":")[0] + ": " + c.how
                                                    for c in checked)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """For one split: the cache-key parts, how the files were verified, and a decoder."""

    parts: List[str]
    how: str
    decode: Callable[[], tuple]


def _plan_idx(spec, paths, table) -> _Plan:
    def spec_of(p):
        return table[p.name if p.name in table else p.name + ".gz"]
    checked = [check_file(p, spec_of(p)) for p in paths]

    def decode():
        x, y = (formats.parse_idx(c.content if c.content is not None
                                  else formats.read_original(p), str(p))
                for c, p in zip(checked, paths))
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{paths[0]}, {paths[1]}: images {x.shape} and labels {y.shape} "
                            f"do not match; replace them with the original files.")
        return x, y
    return _Plan([c.key for c in checked], _summary(checked), decode)


def _concat_batches(parts):
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _plan_cifar_folder(spec, paths, table) -> _Plan:
    fix = (f"Replace it with the original file, or delete the folder {spec.folder}/ to use "
           f"{spec.files[0].name} (downloaded if missing).")
    checked = [check_file(p, table[p.name], fix) for p in paths]
    return _Plan([c.key for c in checked], _summary(checked),
                 lambda: _concat_batches([formats.load_cifar_batch(p) for p in paths]))


def _plans_cifar_tar(spec, tar: Path, table) -> Dict[str, _Plan]:
    published = table[tar.name]
    md5 = file_digest(tar)
    members = [table[m.name] for m in spec.members]
    if md5 == published.md5:
        how, prefix = "archive as published (md5 verified), batch files md5-verified", []
    else:
        how = (f"archive not byte-identical to the published one (md5 {md5}, published "
               f"{published.md5}); every batch file in it md5-verified")
        prefix = [f"{tar.name}:md5:{md5}"]
    read: Dict[str, bytes] = {}

    def plan(names):
        def decode():
            if not read:
                read.update(read_tar_members(tar, spec.folder, members))
            return _concat_batches([formats.decode_cifar_batch(read[n], f"{tar}:{n}")
                                    for n in names])
        return _Plan(prefix + [f"{n}:md5:{table[n].md5}" for n in names], how, decode)
    return {"train": plan(spec.train_files), "test": plan(spec.test_files)}


def _plan_mat(spec, paths, table) -> _Plan:
    checked = [check_file(p, table[p.name]) for p in paths]
    return _Plan([c.key for c in checked], _summary(checked),
                 lambda: formats.load_svhn_mat(paths[0]))


def _plan_prepared(spec, paths, table) -> _Plan:
    path = paths[0]
    return _Plan([f"{path.name}:md5:{file_digest(path)}"], "prepared",
                 lambda: formats.load_prepared_npz(path, spec.channels, spec.image_size,
                                                   spec.classes))


def _plans(spec: DatasetSpec, source: Source, table) -> Dict[str, _Plan]:
    if source.form == "cifar-tar":
        return _plans_cifar_tar(spec, source.train[0], table)
    make = {"idx": _plan_idx, "cifar-folder": _plan_cifar_folder, "mat": _plan_mat,
            "prepared": _plan_prepared}[source.form]
    # Both splits are verified before either is decoded.
    return {"train": make(spec, source.train, table), "test": make(spec, source.test, table)}


def _load_split(spec, split, plan: _Plan, cache_dir: Optional[Path], log: Log):
    """``(x, y, how it came)``: from the cache when it holds this content, else decoded."""
    key = cache.cache_key([spec.name, split] + plan.parts)
    path = cache.cache_path(cache_dir, spec.name, split, key) if cache_dir else None
    arrays = cache.load_cached(path, spec, log) if path else None
    if arrays is not None:
        return arrays[0], arrays[1], f"read from the decoded-data cache {path}"
    x, y = formats.check_arrays(*plan.decode(), spec.channels, spec.image_size, spec.classes,
                                f"{spec.name} {split}")
    if path is None:
        return x, y, "decoded (cache off)"
    cached = cache.save_cached(path, x, y, log)
    return x, y, f"decoded{f', cached as {path}' if cached else ''}"


def load_dataset(name: str, data_dir: Optional[os.PathLike] = None, download: bool = True,
                 checksums: Optional[Mapping[str, str]] = None,
                 cache_dir: Union[None, bool, os.PathLike] = None,
                 log: Optional[Log] = None) -> Tuple[Split, Split]:
    """Load the train and test splits of a dataset.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``mnist``, ``fashion-mnist``, ``svhn``, ``cifar10``,
        ``cifar100``, or ``fashion-mnist-sample`` for the embedded offline sample).
    data_dir : path, optional
        Data folder, which must exist (else ``$EBL_DATA_DIR``, which must exist too, else
        ``~/.cache/ebl-ref``); the dataset lives in ``<data_dir>/<name>/``. See
        :mod:`.sources` for the files looked for and their precedence.
    download : bool
        Download missing original files (never touches the network when False).
    checksums : mapping of str to str, optional
        Overrides of the registry's checksums (for tests and custom copies), see
        :func:`file_table`.
    cache_dir : path, False or None
        Decoded-data cache folder, which must exist; False: no cache; None:
        ``$EBL_CACHE_DIR``, else ``~/.cache/ebl-ref/decoded`` (created when first written).
    log : callable(str), optional
        Receives one line per split (form used, verification, cache) and any download or
        cache notice. Default: print to stderr, prefixed ``ebl-ref:``.

    Returns
    -------
    train, test : Split
        ``x`` uint8 (N, H, W, C), ``y`` int64 (N,), ``source`` the logged line.

    Raises
    ------
    DataError
        A named folder missing; files missing (and not downloadable), corrupt, malformed or
        unsafe. The message names the file and the fix.
    """
    spec = get_spec(name)
    log = _stderr if log is None else log
    if spec.name == "fashion-mnist-sample":
        train, test = load_sample()
        for s in (train, test):
            log(s.source)
        return train, test
    root = locate.resolve_data_dir(data_dir) / spec.name
    cache_folder = locate.resolve_cache_dir(cache_dir)
    table = file_table(spec, checksums)
    source = find_source(spec, root)
    if source is None:
        if not download:
            raise DataError(f"dataset {spec.name!r} not found and download=False. "
                            + _expected_text(spec, root, table))
        _download(spec, root, table, log)
        source = find_source(spec, root)
    if source.ignored:
        log(f"{spec.name}: ignoring {' and '.join(p.name for p in source.ignored)} in {root}: "
            f"the original files there take precedence (move the prepared files to a data "
            f"folder of their own to use them)")
    plans = _plans(spec, source, table)
    out = []
    for split, plan in plans.items():
        x, y, came = _load_split(spec, split, plan, cache_folder, log)
        how = plan.how
        if source.form == "prepared":
            ref = spec.train_split if split == "train" else spec.test_split
            how = f"prepared: {compare_split(x, y, ref)}"
        files = ", ".join(p.name for p in getattr(source, split))
        line = (f"{spec.name} {split}: {len(y)} examples from {FORMS[source.form]} in {root} "
                f"({files}; {how}); {came}")
        log(line)
        out.append(Split(x, y, line))
    return out[0], out[1]


def dataset_sizes(name: str, data_dir: Optional[os.PathLike] = None) -> Tuple[int, int]:
    """``(n_train, n_test)`` of a dataset, known before any image is read.

    From the headers of a prepared ``train.npz`` / ``test.npz`` when that is the form that
    :func:`load_dataset` would use, else from the registry (the original files are verified to
    be the published ones before use, so their sizes are the registry's). Cheap: reads at most
    two array headers. Lets a caller refuse e.g. ``val_size >= n_train`` before loading.

    Raises
    ------
    DataError
        Unknown dataset, a named data folder that does not exist, an unreadable prepared file.
    """
    spec = get_spec(name)
    if spec.name != "fashion-mnist-sample":
        root = locate.resolve_data_dir(data_dir) / spec.name
        source = find_source(spec, root)
        if source is not None and source.form == "prepared":
            return formats.prepared_size(source.train[0]), formats.prepared_size(source.test[0])
    return spec.train_split.size, spec.test_split.size

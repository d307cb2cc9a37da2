"""Datasets: registry, location, verification, download, parsers, cache, augmentation.

Typical use::

    from ebl_ref.data import DATASETS, dataset_sizes, load_dataset, split_validation, preprocess
    n_train, n_test = dataset_sizes("mnist", data_dir="~/data")  # before reading any image
    train, test = load_dataset("mnist", data_dir="~/data")       # Split(x uint8 NHWC, y int64)
    train, val = split_validation(train, 5000, rng)
    x = preprocess(train.x[:128], DATASETS["mnist"], rng, train=True)  # (1, 32, 32, 128)

See ``data/README.md`` for the files looked for, their checksums and the cache.
"""

from .augment import preprocess
from .errors import DataError
from .loaders import dataset_sizes, load_dataset
from .locate import (CACHE_ENV, DATA_ENV, default_cache_dir, default_data_dir, resolve_cache_dir,
                     resolve_data_dir)
from .registry import DATASETS, DatasetSpec, FileSpec, SplitContent, get_spec
from .sample import load_sample
from .split import Split, split_validation

__all__ = [
    "CACHE_ENV", "DATASETS", "DATA_ENV", "DataError", "DatasetSpec", "FileSpec",
    "Split", "SplitContent", "dataset_sizes", "default_cache_dir", "default_data_dir",
    "get_spec", "load_dataset", "load_sample", "preprocess", "resolve_cache_dir",
    "resolve_data_dir", "split_validation",
]

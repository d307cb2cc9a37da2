"""Datasets: registry, download and verification, parsers, augmentation, batches.

Typical use::

    from ebl_ref.data import DATASETS, load_dataset, split_validation, preprocess, batch_indices
    train, test = load_dataset("mnist", data_dir="~/data")       # Split(x uint8 NHWC, y int64)
    train, val = split_validation(train, 5000, rng)
    for idx in batch_indices(len(train), 128, rng):
        xb = preprocess(train.x[idx], DATASETS["mnist"], rng, train=True)  # (B, 1, 32, 32)
"""

from .augment import preprocess
from .batches import batch_indices
from .errors import DataError
from .fetch import ENV_VAR, resolve_data_dir
from .loaders import load_dataset
from .registry import DATASETS, DatasetSpec, FileSpec, get_spec
from .sample import load_sample
from .split import Split, split_validation

__all__ = [
    "DATASETS", "DataError", "DatasetSpec", "ENV_VAR", "FileSpec", "Split", "batch_indices",
    "get_spec", "load_dataset", "load_sample", "preprocess", "resolve_data_dir",
    "split_validation",
]

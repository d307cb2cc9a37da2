"""A run's data: the dataset's spec and its host-side splits (train, optional validation, test)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .config import Config, ConfigError
from .data import Split, dataset_sizes, get_spec, load_dataset, resolve_cache_dir


@dataclass(frozen=True)
class Splits:
    """Host-side splits (uint8 images (N, H, W, C), int64 labels) and the dataset's spec."""

    spec: object
    train: Split
    test: Split
    val: Split | None = None

    def with_validation(self, train: Split, val: Split | None) -> "Splits":
        return replace(self, train=train, val=val)


def check_sizes(config: Config, n_train: int, n_test: int | None = None) -> None:
    """Refuse a --train-subset, --val-size or --test-subset larger than its split."""
    if config.train_subset > n_train:
        raise ConfigError(f"--train-subset {config.train_subset} exceeds the {n_train} training "
                          f"examples of {config.dataset}")
    usable = config.train_subset or n_train
    if config.val_size >= usable:
        raise ConfigError(f"--val-size {config.val_size} must be smaller than the {usable} "
                          "training examples")
    if n_test is not None and config.test_subset > n_test:
        raise ConfigError(f"--test-subset {config.test_subset} exceeds the {n_test} test "
                          f"examples of {config.dataset}")


def cache_setting(config: Config):
    """The ``cache_dir`` argument of :func:`ebl_ref.data.load_dataset` for ``config``: False
    with ``--no-cache``, else ``--cache-dir`` (None: ``$EBL_CACHE_DIR`` or the user cache)."""
    return False if not config.cache else config.cache_dir


def load_splits(config: Config) -> Splits:
    """Load ``config.dataset`` (from ``config.data_dir``), keep the first ``train_subset``
    training and ``test_subset`` test examples. Raises :class:`~ebl_ref.data.DataError` for
    missing or corrupt files."""
    train, test = load_dataset(config.dataset, config.data_dir, cache_dir=cache_setting(config))
    check_sizes(config, len(train), len(test))
    if config.train_subset:
        train = train.take(np.arange(config.train_subset))
    if config.test_subset:
        test = test.take(np.arange(config.test_subset))
    return Splits(spec=get_spec(config.dataset), train=train, test=test)


def check_sizes_early(config: Config) -> tuple:
    """The size checks of :func:`load_splits` before any image is read (the dataset's sizes
    come from its registry entry or a prepared file's header), and the cache folder's.

    Returns the dataset's ``(n_train, n_test)``. Raises :class:`~ebl_ref.config.ConfigError`,
    or :class:`~ebl_ref.data.DataError` for a data or cache folder that does not exist.
    """
    n_train, n_test = dataset_sizes(config.dataset, config.data_dir)
    check_sizes(config, n_train, n_test)
    resolve_cache_dir(cache_setting(config))
    return n_train, n_test

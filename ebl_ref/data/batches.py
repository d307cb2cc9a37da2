"""Mini-batches as index arrays."""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from .errors import DataError


def batch_indices(n: int, batch_size: int, rng: Optional[np.random.Generator] = None,
                  shuffle: bool = True) -> Iterator[np.ndarray]:
    """Yield the index arrays of one epoch, like a DataLoader with ``drop_last=False``.

    With ``shuffle`` the order is ``rng.permutation(n)`` (one fresh permutation per call, so per
    epoch); otherwise ``0..n-1``. Every batch has ``batch_size`` indices except possibly the
    last, which has ``n % batch_size``.

    Yields
    ------
    ndarray, int64, shape (B,) with B <= batch_size
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}.")
    if shuffle and rng is None:
        raise DataError("batch_indices(shuffle=True) needs a numpy.random.Generator rng.")
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]

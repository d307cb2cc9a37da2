"""The :class:`Split` container and the train / validation split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

import numpy as np

from .errors import DataError


@dataclass(frozen=True)
class Split:
    """Images and labels of one split, on the host.

    Attributes
    ----------
    x : ndarray, uint8, shape (N, H, W, C)
        Raw images, channels last (C = 1 for grey).
    y : ndarray, int64, shape (N,)
        Class labels.
    source : str
        Where the examples came from and how they were verified (one line, as logged by
        :func:`~ebl_ref.data.load_dataset`); empty for a Split built by hand.
    """

    x: np.ndarray
    y: np.ndarray
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if self.x.ndim != 4 or self.y.shape != self.x.shape[:1]:
            raise DataError(f"Split needs x (N, H, W, C) and y (N,), got {self.x.shape} and "
                            f"{self.y.shape}.")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, idx: np.ndarray) -> "Split":
        """The examples at integer indices ``idx`` (a copy, same ``source``)."""
        return Split(self.x[idx], self.y[idx], self.source)


def split_validation(train: Split, val_size: int,
                     rng: np.random.Generator) -> Tuple[Split, Split]:
    """Hold out ``val_size`` training examples for model selection.

    The held-out examples are the last ``val_size`` entries of ``rng.permutation(N)``; both
    parts keep the original order (indices sorted). With ``val_size = 0`` the validation split
    is empty.

    Returns
    -------
    train : Split with N - val_size examples
    val : Split with val_size examples

    Raises
    ------
    DataError
        If ``val_size`` is negative or not smaller than the training set.
    """
    n = len(train)
    if not 0 <= val_size < n:
        raise DataError(f"val_size={val_size} must satisfy 0 <= val_size < {n} (the training "
                        f"set size).")
    perm = rng.permutation(n)
    keep, held = np.sort(perm[: n - val_size]), np.sort(perm[n - val_size:])
    return train.take(keep), train.take(held)

"""Augmentation and normalisation, vectorised over the batch; the data boundary's output layout.

For a batch of uint8 images this reproduces the torchvision pipeline of the authors' training
code (sources and constants: ``data/README.md``, "Normalisation and augmentation"):

1. ``pad_to_32`` (MNIST, Fashion-MNIST): zero-pad 28 -> 32 (2 pixels each side);
2. training only: ``RandomCrop(32, padding=crop_pad, padding_mode="edge")``: edge-pad by
   ``crop_pad`` then cut a 32x32 window at a uniform offset in ``{0..2*crop_pad}^2``, i.e. a
   uniform shift in ``{-crop_pad..crop_pad}^2`` with edge replication (over MNIST's zero border
   it is a shift over a zero background);
3. training only, if ``flip``: horizontal flip with probability 0.5. The authors flip before
   cropping for CIFAR; flip-then-crop with shift ``d`` equals crop with shift ``-d``-then-flip,
   and the shift is symmetric, so the distribution is the same;
4. ``ToTensor`` (``/255``) then ``Normalize``: ``(x - mean[c]) / (std[c] * std_scale)``, after
   padding, so padded pixels become ``(0 - mean) / std`` (e.g. -0.4242 for MNIST).

The result is in the layout of every network state, (C, 32, 32, N): channel-major, batch last
(see :mod:`ebl_ref.ops`), so callers copy it to the device and use it as the input ``s0``.

All randomness is drawn from the passed ``numpy.random.Generator``: first the ``(N, 2)`` crop
offsets, then the ``(N,)`` flip coins.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import DataError
from .registry import DatasetSpec

OUT_SIZE = 32


def pad_to_32(x: np.ndarray) -> np.ndarray:
    """Zero-pad uint8 (N, H, W, C) images symmetrically to (N, 32, 32, C)."""
    n, h, w, c = x.shape
    ph, pw = (OUT_SIZE - h) // 2, (OUT_SIZE - w) // 2
    if ph < 0 or pw < 0 or (OUT_SIZE - h) % 2 or (OUT_SIZE - w) % 2:
        raise DataError(f"cannot zero-pad images of size {h}x{w} symmetrically to 32x32.")
    return np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))  # (N,H,W,C) -> (N,32,32,C)


def random_crop(x: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Edge-pad by ``pad`` and cut a random window of the input size from each image.

    Parameters
    ----------
    x : ndarray (N, H, W, C)
    pad : int
    rng : numpy.random.Generator
        Draws offsets ``(N, 2)`` uniform in ``{0..2*pad}`` (row, column).

    Returns
    -------
    ndarray (N, H, W, C): ``out[n, i, j] = padded[n, i + dy[n], j + dx[n]]``.
    """
    n, h, w, _ = x.shape
    offsets = rng.integers(0, 2 * pad + 1, size=(n, 2))
    if pad == 0:
        return x.copy()
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    rows = offsets[:, :1] + np.arange(h)  # (N, H)
    cols = offsets[:, 1:] + np.arange(w)  # (N, W)
    # (N, H+2p, W+2p, C) -> (N, H, W, C)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Flip each image of (N, H, W, C) left-right with probability ``p`` (draws (N,) coins)."""
    flip = rng.random(x.shape[0]) < p
    out = x.copy()
    out[flip] = x[flip, :, ::-1]
    return out


def normalize(x: np.ndarray, spec: DatasetSpec, dtype=np.float32) -> np.ndarray:
    """uint8 (N, H, W, C) -> ``(x/255 - mean) / (std*std_scale)`` as C-contiguous (C, H, W, N)."""
    if np.dtype(dtype).kind != "f":
        raise DataError(f"preprocess dtype must be floating, got {np.dtype(dtype)}.")
    mean = np.asarray(spec.mean, dtype=dtype)[:, None, None, None]  # (C, 1, 1, 1)
    std = np.asarray(spec.norm_std, dtype=dtype)[:, None, None, None]
    out = x.transpose(3, 1, 2, 0).astype(dtype, order="C")  # (N, H, W, C) -> (C, H, W, N)
    out /= 255  # ToTensor
    out -= mean
    out /= std
    return out


def preprocess(x: np.ndarray, spec: DatasetSpec, rng: Optional[np.random.Generator] = None,
               train: bool = False, dtype=np.float32) -> np.ndarray:
    """Turn a batch of raw images into network inputs (augmenting only when ``train``).

    Parameters
    ----------
    x : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        Raw images as stored in a :class:`Split`.
    spec : DatasetSpec
        Gives padding, crop, flip and normalisation (``DATASETS[name]``).
    rng : numpy.random.Generator, optional
        Required when ``train`` and the spec augments.
    train : bool
        Apply the random crop and flip.
    dtype : numpy floating dtype
        Output dtype (default float32).

    Returns
    -------
    ndarray, ``dtype``, shape (C, 32, 32, N), C-contiguous, on the host: the state layout
    (channel-major, batch last) of :mod:`ebl_ref.ops`.

    Raises
    ------
    DataError
        Images not uint8 or of the wrong shape for ``spec``; ``train`` without ``rng``.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise DataError(f"preprocess expects uint8 images, got {x.dtype}.")
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != 4 or x.shape[3] != spec.channels:
        raise DataError(f"preprocess expects (N, H, W, {spec.channels}) images for "
                        f"{spec.name}, got {x.shape}.")
    if spec.pad_to_32:
        x = pad_to_32(x)
    if x.shape[1:3] != (OUT_SIZE, OUT_SIZE):
        raise DataError(f"{spec.name} images are {x.shape[1]}x{x.shape[2]}, expected 32x32.")
    if train and (spec.crop_pad or spec.flip):
        if rng is None:
            raise DataError("preprocess(train=True) needs a numpy.random.Generator rng.")
        if spec.crop_pad:
            x = random_crop(x, spec.crop_pad, rng)
        if spec.flip:
            x = random_flip(x, rng)
    return normalize(x, spec, dtype)

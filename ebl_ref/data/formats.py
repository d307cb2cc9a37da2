"""Parsers for the original distribution formats and the prepared ``.npz`` form.

All parsers return images as uint8 ``(N, H, W, C)`` (channels last, C = 1 for grey) and labels
as int64 ``(N,)``. None of them checks checksums: callers verify files first.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Tuple

import numpy as np

from .errors import DataError

# IDX type codes (third header byte) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (``.gz`` or plain), e.g. MNIST's ``train-images-idx3-ubyte.gz``.

    Header: two zero bytes, a type code, the number of dims ``d``, then ``d`` big-endian
    uint32 sizes (images: magic 0x00000803, dims (N, 28, 28); labels: 0x00000801, (N,)).

    Returns
    -------
    ndarray, shape given by the header, native byte order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read IDX file ({e}); delete it and re-download.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic {raw[:4].hex()}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header says shape {shape} ({expected} bytes) but the "
                        f"file has {len(raw)} bytes; delete it and re-download.")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    CIFAR batches are pickled dicts of lists, strings, ints and one numpy array; the array needs
    ``_reconstruct``, ``ndarray`` and ``dtype``. Every other global (``os.system``,
    ``builtins.eval``, ...) is refused before it is called.
    """

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def restricted_loads(data: bytes):
    """Unpickle ``data`` (Python 2 or 3 pickle) with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _str_keys(d: dict) -> dict:
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def load_cifar_batch(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch (``data_batch_1``, ``test_batch``, CIFAR-100 ``train``).

    ``data`` is (N, 3072) uint8 in CHW row-major order; labels are under ``labels``
    (CIFAR-10) or ``fine_labels`` (CIFAR-100). Keys may be ``str`` or ``bytes``.

    Returns
    -------
    x : uint8 (N, 32, 32, 3)
    y : int64 (N,)
    """
    path = Path(path)
    try:
        d = restricted_loads(path.read_bytes())
    except Exception as e:  # any unpickling failure means a bad or hostile file
        raise DataError(f"{path}: cannot load CIFAR batch ({type(e).__name__}: {e}); replace "
                        f"it with the original file.") from e
    if not isinstance(d, dict):
        raise DataError(f"{path}: CIFAR batch is a {type(d).__name__}, expected a dict.")
    d = _str_keys(d)
    labels = d.get("labels", d.get("fine_labels"))
    data = d.get("data")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path}: CIFAR batch lacks 'data' (array) or 'labels'/'fine_labels'.")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: CIFAR 'data' is {data.dtype} {data.shape}, expected uint8 "
                        f"(N, 3072).")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (data.shape[0],):
        raise DataError(f"{path}: {y.shape[0]} labels for {data.shape[0]} images.")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 3072) -> (N, 32, 32, 3)
    return np.ascontiguousarray(x), y


def load_svhn_mat(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Read an SVHN ``*_32x32.mat`` file (needs scipy: ``pip install ebl-ref[svhn]``).

    ``X`` is (32, 32, 3, N) uint8, ``y`` is (N, 1) with digit 0 stored as 10 (mapped to 0).

    Returns
    -------
    x : uint8 (N, 32, 32, 3)
    y : int64 (N,)
    """
    try:
        import scipy.io
    except ImportError:
        raise DataError("SVHN .mat files need scipy: pip install ebl-ref[svhn]") from None
    try:
        m = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for malformed files
        raise DataError(f"{path}: cannot read .mat file ({e}); replace it.") from e
    x, y = m.get("X"), m.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: expected 'X' (32, 32, 3, N) and 'y' (N, 1).")
    y = np.asarray(y, dtype=np.int64).reshape(-1) % 10  # label 10 means digit 0
    x = np.ascontiguousarray(x.transpose(3, 0, 1, 2), dtype=np.uint8)  # -> (N, 32, 32, 3)
    if y.shape[0] != x.shape[0]:
        raise DataError(f"{path}: {y.shape[0]} labels for {x.shape[0]} images.")
    return x, y


def check_arrays(x, y, channels: int, image_size: int, classes: int, where: str):
    """Validate and normalise a split: uint8 (N,H,W[,C]) images and integer labels.

    Returns
    -------
    x : uint8 (N, H, W, C)
    y : int64 (N,)
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        raise DataError(f"{where}: 'x' must be uint8, got {getattr(x, 'dtype', type(x))}.")
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    want = (image_size, image_size, channels)
    if x.ndim != 4 or x.shape[1:] != want:
        raise DataError(f"{where}: 'x' has shape {x.shape}, expected (N, {want[0]}, {want[1]}"
                        f"{'' if channels == 1 else ', %d' % channels}) (N,H,W) or (N,H,W,C).")
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu":
        raise DataError(f"{where}: 'y' must be an integer array, got "
                        f"{getattr(y, 'dtype', type(y))}.")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataError(f"{where}: 'y' has shape {y.shape}, expected ({x.shape[0]},) to match "
                        f"'x'.")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise DataError(f"{where}: labels span [{y.min()}, {y.max()}], expected [0, "
                        f"{classes - 1}].")
    return np.ascontiguousarray(x), y.astype(np.int64)


def load_prepared_npz(path: Path, channels: int, image_size: int, classes: int):
    """Read a prepared split ``train.npz`` / ``test.npz`` (``allow_pickle=False``).

    The file holds ``x`` uint8 (N, H, W) or (N, H, W, C) and ``y`` integer labels (N,).

    Returns
    -------
    x : uint8 (N, H, W, C)
    y : int64 (N,)
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise DataError(f"{path}: prepared file needs arrays 'x' and 'y', has "
                                f"{z.files}.")
            x, y = z["x"], z["y"]
    except DataError:
        raise
    except Exception as e:  # zip, format or pickle-refusal errors
        raise DataError(f"{path}: cannot read prepared .npz ({type(e).__name__}: {e}).") from e
    return check_arrays(x, y, channels, image_size, classes, str(path))

"""Parsers for the original distribution formats and the prepared ``.npz`` form.

All parsers return images as uint8 ``(N, H, W, C)`` (channels last, C = 1 for grey) and labels
as int64 ``(N,)``. None of them checks checksums: callers verify files first.
"""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .errors import DataError

# IDX type codes (third header byte) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_original(path: Path, gz: Optional[bool] = None) -> bytes:
    """The bytes a distribution file holds: decompressed if ``gz``, else the file itself.

    ``gz=None`` decides by the name (``.gz``).

    Raises
    ------
    DataError
        If the file cannot be read or is not a readable gzip file.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz" if gz is None else gz:
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: {e}); it is corrupt or "
                        f"truncated: delete it and download it again, or replace it with the "
                        f"original.") from e


def parse_idx(raw: bytes, where: str) -> np.ndarray:
    """Parse the bytes of an IDX file (e.g. MNIST's decompressed ``train-images-idx3-ubyte``).

    Header: two zero bytes, a type code, the number of dims ``d``, then ``d`` big-endian
    uint32 sizes (images: magic 0x00000803, dims (N, 28, 28); labels: 0x00000801, (N,)).

    Returns
    -------
    ndarray, shape given by the header, native byte order.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{where}: not an IDX file (bad magic {raw[:4].hex()}); replace it with "
                        f"the original.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: IDX header truncated; replace it with the original.")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{where}: IDX header says shape {shape} ({expected} bytes) but the "
                        f"file has {len(raw)} bytes; replace it with the original.")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file, ``.gz`` or decompressed: :func:`read_original` then :func:`parse_idx`."""
    return parse_idx(read_original(path), str(path))


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
    """Read one CIFAR python batch file: :func:`decode_cifar_batch` of its bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e}).") from e
    return decode_cifar_batch(data, str(path))


def decode_cifar_batch(raw: bytes, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """Decode one CIFAR python batch (``data_batch_1``, ``test_batch``, CIFAR-100 ``train``).

    ``data`` is (N, 3072) uint8 in CHW row-major order; labels are under ``labels``
    (CIFAR-10) or ``fine_labels`` (CIFAR-100). Keys may be ``str`` or ``bytes``. Unpickled
    with :class:`RestrictedUnpickler`; callers verify the bytes' checksum first.

    Returns
    -------
    x : uint8 (N, 32, 32, 3)
    y : int64 (N,)
    """
    try:
        d = restricted_loads(raw)
    except Exception as e:  # any unpickling failure means a bad or hostile file
        raise DataError(f"{where}: cannot load CIFAR batch ({type(e).__name__}: {e}); replace "
                        f"it with the original file.") from e
    if not isinstance(d, dict):
        raise DataError(f"{where}: CIFAR batch is a {type(d).__name__}, expected a dict.")
    d = _str_keys(d)
    labels = d.get("labels", d.get("fine_labels"))
    data = d.get("data")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{where}: CIFAR batch lacks 'data' (array) or 'labels'/'fine_labels'.")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: CIFAR 'data' is {data.dtype} {data.shape}, expected uint8 "
                        f"(N, 3072).")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: CIFAR labels are not integers ({e}).") from e
    if y.shape != (data.shape[0],):
        raise DataError(f"{where}: labels of shape {y.shape} for {data.shape[0]} images.")
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


PREPARED_FIX = ("Re-create it (x uint8 (N, H, W) or (N, H, W, C), y integer labels (N,), "
                "numpy.savez), or delete it to use the original files.")


def load_prepared_npz(path: Path, channels: int, image_size: int, classes: int):
    """Read a prepared split ``train.npz`` / ``test.npz`` (``allow_pickle=False``).

    The file holds ``x`` uint8 (N, H, W) or (N, H, W, C) and ``y`` integer labels (N,). A
    damaged zip (truncated, a flipped bit: zip members carry a CRC-32) is refused.

    Returns
    -------
    x : uint8 (N, H, W, C)
    y : int64 (N,)
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise DataError(f"{path}: prepared file needs arrays 'x' and 'y', has "
                                f"{z.files}. {PREPARED_FIX}")
            x, y = z["x"], z["y"]
        return check_arrays(x, y, channels, image_size, classes, str(path))
    except DataError as e:
        if PREPARED_FIX in str(e):
            raise
        raise DataError(f"{e} {PREPARED_FIX}") from None
    except Exception as e:  # zip, CRC, format or pickle-refusal errors
        raise DataError(f"{path}: cannot read prepared .npz ({type(e).__name__}: {e}). "
                        f"{PREPARED_FIX}") from e


def prepared_size(path: Path) -> int:
    """Number of examples of a prepared ``.npz``, from the header of its ``y`` array only."""
    try:
        with zipfile.ZipFile(path) as z, z.open("y.npy") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape = read(f)[0]
    except Exception as e:  # not a zip, no y.npy, bad header
        raise DataError(f"{path}: cannot read prepared .npz ({type(e).__name__}: {e}). "
                        f"{PREPARED_FIX}") from e
    if len(shape) != 1:
        raise DataError(f"{path}: 'y' has shape {shape}, expected (N,). {PREPARED_FIX}")
    return int(shape[0])

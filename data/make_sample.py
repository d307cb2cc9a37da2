"""Regenerate the embedded Fashion-MNIST sample in data/fashion-mnist-sample/.

Usage (from the repository root, on Debian/Ubuntu):

    apt-get update && cd "$(mktemp -d)" && apt-get download dataset-fashion-mnist
    dpkg-deb -x dataset-fashion-mnist_*.deb pkg && cd -
    python data/make_sample.py <tmpdir>/pkg/usr/share/datasets/fashion-mnist

Any folder holding the four original Fashion-MNIST IDX files works as well, ``.gz`` as
published or re-compressed, or decompressed: each is verified on its content against the
registry (``ebl_ref/data/registry.py``) before use.

Subset (exactly class-balanced, original order kept): from the training file the first 600
images of each class (6000 images), from the test file the first 100 images of each class
(1000 images). Each ``.npz`` holds ``x`` uint8 (N, 28, 28), ``y`` uint8 (N,) and ``index``
int64 (N,), the positions in the original file. The zip is written with fixed timestamps so
that the files (and their SHA-256 in ebl_ref/data/sample.py) are reproducible.
"""

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

from ebl_ref.atomic import atomic_write_bytes
from ebl_ref.data import DataError
from ebl_ref.data.formats import parse_idx, read_original
from ebl_ref.data.registry import FASHION_MNIST
from ebl_ref.data.verify import check_file

PER_CLASS = {"train": 600, "test": 100}
SOURCES = {"train": "train", "test": "t10k"}


def first_per_class(y, k):
    """Sorted indices of the first ``k`` examples of each class of ``y``."""
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:k] for c in range(10)]))


def read_verified(src, name):
    """The array of the IDX file ``name`` in ``src`` (``.gz`` or decompressed), verified."""
    fspec = next(f for f in FASHION_MNIST.files if f.name == name)
    path = Path(src) / name
    if not path.is_file():
        path = path.with_name(fspec.content_name)
    checked = check_file(path, fspec)
    return parse_idx(read_original(path) if checked.content is None else checked.content,
                     str(path))


def write_npz(path, arrays):
    """Like ``np.savez_compressed`` but with fixed zip timestamps (byte-reproducible), atomic."""
    def write(out):
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, a in arrays.items():
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    atomic_write_bytes(path, write)


def main(src):
    out = Path(__file__).resolve().parent / "fashion-mnist-sample"
    out.mkdir(exist_ok=True)
    for split, prefix in SOURCES.items():
        x = read_verified(src, f"{prefix}-images-idx3-ubyte.gz")
        y = read_verified(src, f"{prefix}-labels-idx1-ubyte.gz")
        idx = first_per_class(y, PER_CLASS[split])
        path = out / f"{split}.npz"
        write_npz(path, {"x": x[idx], "y": y[idx], "index": idx.astype(np.int64)})
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{digest}  {split}.npz  ({len(idx)} images, last index {idx[-1]}, "
              f"{path.stat().st_size} bytes, classes {np.bincount(y[idx]).tolist()})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        main(sys.argv[1])
    except (DataError, FileNotFoundError) as e:
        sys.exit(f"make_sample: {e}")

"""The embedded offline sample: 6000 + 1000 Fashion-MNIST images in the repository's data/.

Found at ``data/fashion-mnist-sample/`` next to the package's parent folder (the repository
root, for a checkout or an editable install), else in the installed package (``ebl_ref/_sample``,
where ``pip install .`` puts the same files), else under the current directory. Files are
SHA-256-verified against the constants below (also listed in
``data/fashion-mnist-sample/SHA256SUMS``); ``data/make_sample.py`` regenerates them
byte for byte. See ``data/README.md``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import List, Tuple

from .errors import DataError
from .formats import load_prepared_npz
from .registry import FASHION_MNIST_SAMPLE
from .split import Split

SAMPLE_FOLDER = Path("data") / "fashion-mnist-sample"
SAMPLE_SHA256 = {
    "train.npz": "0bc96a5a7dfd2ef1a27f1fe016e2401b2cb0a53612af21ce140489c977810912",
    "test.npz": "b1301e1113683f5bf44c712144af84e7ccbe3ed3d4375b7a9d5a8d6f2152882e",
}


def _candidates() -> List[Path]:
    repo = Path(__file__).resolve().parents[2]  # ebl_ref/data/sample.py -> repository root
    installed = Path(__file__).resolve().parents[1] / "_sample"  # pyproject's package-data
    return [repo / SAMPLE_FOLDER, installed, Path.cwd() / SAMPLE_FOLDER]


def sample_dir() -> Path:
    """The folder holding the sample's ``train.npz`` and ``test.npz``."""
    for c in _candidates():
        if all((c / n).is_file() for n in SAMPLE_SHA256):
            return c
    raise DataError("embedded sample not found; looked in " + ", ".join(map(str, _candidates()))
                    + ". It ships in the repository's data/fashion-mnist-sample/: run from a "
                    "git checkout (pip install -e .) or from the repository root, or use "
                    "load_dataset('fashion-mnist', data_dir=...) with the full dataset.")


def load_sample() -> Tuple[Split, Split]:
    """Load the verified embedded sample.

    Returns
    -------
    train : Split, x uint8 (6000, 28, 28, 1), y int64 (6000,), 600 per class
    test : Split, x uint8 (1000, 28, 28, 1), y int64 (1000,), 100 per class
    """
    folder = sample_dir()
    s = FASHION_MNIST_SAMPLE
    out = []
    for (name, want), split in zip(SAMPLE_SHA256.items(), ("train", "test")):
        path = folder / name
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise DataError(f"{path}: SHA-256 {got}, expected {want} (modified or corrupt). "
                            f"Restore it with git checkout, or regenerate it with "
                            f"data/make_sample.py.")
        x, y = load_prepared_npz(path, s.channels, s.image_size, s.classes)
        out.append(Split(x, y, f"{s.name} {split}: {len(y)} examples from the embedded sample "
                               f"{path} (SHA-256 verified)"))
    return out[0], out[1]

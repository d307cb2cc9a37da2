"""Dataset specifications: shapes, normalisation, augmentation and distribution files.

Everything the loaders and the augmentation need to know about a dataset lives in one
:class:`DatasetSpec` per name in :data:`DATASETS`, so adding a dataset means adding one entry.

Normalisation and augmentation follow the authors' torchvision pipeline (``datasets.py`` of
rain-neuromorphics/energy-based-learning):

=============  ======  ======  ====  =======================================================
dataset        28->32  crop    flip  mean / std
=============  ======  ======  ====  =======================================================
mnist          zeros   2 edge  no    0.1307 / 0.3081
fashion-mnist  zeros   2 edge  yes   0.2860 / 0.3530
svhn           no      4 edge  no    (0.4377, 0.4438, 0.4728) / (0.1980, 0.2010, 0.1970)
cifar10        no      4 edge  yes   (0.4914, 0.4822, 0.4465) / 3 x (0.2023, 0.1994, 0.2010)
cifar100       no      4 edge  yes   (0.5071, 0.4867, 0.4408) / (0.2675, 0.2565, 0.2761)
=============  ======  ======  ====  =======================================================

**CIFAR-10 std x3 quirk.** The reference code divides CIFAR-10 inputs by three times the usual
std (0.6069, 0.5982, 0.6030), both at HEAD and in the paper-era commit; CIFAR-100 is not scaled.
We keep it as the default (``std_scale=3.0``) so that results compare with the paper's Table 1.
For the plain std use ``DATASETS["cifar10"].with_plain_std()``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .errors import DataError


@dataclass(frozen=True)
class FileSpec:
    """One file of an original distribution, with its known checksum.

    Attributes
    ----------
    name : str
        File name (relative to the dataset folder, or to the extracted folder for members).
    md5 : str
        Hex md5 of the original file.
    size : int or None
        Size in bytes where known (checked before the md5, so truncation is reported fast).
    """

    name: str
    md5: str
    size: Optional[int] = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything known about one dataset.

    Attributes
    ----------
    name : str
        Registry key, also the folder name inside the data directory.
    fmt : str
        Original format: ``"idx"``, ``"cifar10"``, ``"cifar100"``, ``"svhn"`` or ``"prepared"``.
    channels, classes, image_size : int
        Native image shape is ``(image_size, image_size, channels)``; labels are in
        ``[0, classes)``.
    mean, std : tuple of float, length ``channels``
        Per-channel normalisation on the [0, 1] scale (after ToTensor's /255).
    std_scale : float
        Multiplies ``std`` (3.0 for CIFAR-10: the reference's quirk, see module docstring).
    pad_to_32 : bool
        Zero-pad the native image to 32x32 (MNIST, Fashion-MNIST: 28 -> 32).
    crop_pad : int
        Training augmentation: edge-pad by this much, then take a random 32x32 crop.
    flip : bool
        Training augmentation: random horizontal flip with probability 0.5.
    urls : tuple of str
        Base URLs (mirrors, tried in order); a file's URL is ``base + file.name``.
    files : tuple of FileSpec
        Distribution files to download (IDX ``.gz``, the CIFAR ``.tar.gz``, SVHN ``.mat``).
    folder : str or None
        CIFAR: the folder the tarball extracts to (``cifar-10-batches-py``).
    members : tuple of FileSpec
        CIFAR: the batch files inside ``folder`` with their own md5s.
    train_files, test_files : tuple of str
        Which file names (of ``files`` or ``members``) make the train and test split; IDX
        splits list the images file then the labels file.
    """

    name: str
    fmt: str
    channels: int
    classes: int
    image_size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    std_scale: float = 1.0
    pad_to_32: bool = False
    crop_pad: int = 0
    flip: bool = False
    urls: Tuple[str, ...] = ()
    files: Tuple[FileSpec, ...] = ()
    folder: Optional[str] = None
    members: Tuple[FileSpec, ...] = ()
    train_files: Tuple[str, ...] = ()
    test_files: Tuple[str, ...] = ()

    @property
    def norm_std(self) -> Tuple[float, ...]:
        """The std actually divided by: ``std * std_scale``, length ``channels``."""
        return tuple(s * self.std_scale for s in self.std)

    def with_plain_std(self) -> "DatasetSpec":
        """A copy with ``std_scale = 1`` (undo the CIFAR-10 x3 quirk)."""
        return dataclasses.replace(self, std_scale=1.0)

    def md5_table(self) -> Dict[str, str]:
        """File name -> md5 for every known file (distribution files and members)."""
        return {f.name: f.md5 for f in self.files + self.members}


_IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _idx_spec(name, urls, md5s, sizes, mean, std, flip):
    files = tuple(FileSpec(n, m, s) for n, m, s in zip(_IDX_NAMES, md5s, sizes))
    return DatasetSpec(
        name=name, fmt="idx", channels=1, classes=10, image_size=28, mean=(mean,), std=(std,),
        pad_to_32=True, crop_pad=2, flip=flip, urls=urls, files=files,
        train_files=_IDX_NAMES[:2], test_files=_IDX_NAMES[2:],
    )


MNIST = _idx_spec(
    "mnist",
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5s=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    sizes=(9912422, 28881, 1648877, 4542),
    mean=0.1307, std=0.3081, flip=False,
)

FASHION_MNIST = _idx_spec(
    "fashion-mnist",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5s=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
    sizes=(26421880, 29515, 4422102, 5148),
    mean=0.2860, std=0.3530, flip=True,
)

# The embedded offline sample (repository folder data/fashion-mnist-sample, prepared form):
# same images and pipeline as Fashion-MNIST, located by ebl_ref.data.sample.
FASHION_MNIST_SAMPLE = dataclasses.replace(
    FASHION_MNIST, name="fashion-mnist-sample", fmt="prepared", urls=(), files=(),
    train_files=(), test_files=(),
)

SVHN = DatasetSpec(
    name="svhn", fmt="svhn", channels=3, classes=10, image_size=32,
    mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
    crop_pad=4, flip=False,
    urls=("http://ufldl.stanford.edu/housenumbers/",),
    files=(FileSpec("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
           FileSpec("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")),
    train_files=("train_32x32.mat",), test_files=("test_32x32.mat",),
)

CIFAR10 = DatasetSpec(
    name="cifar10", fmt="cifar10", channels=3, classes=10, image_size=32,
    mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010), std_scale=3.0,
    crop_pad=4, flip=True,
    urls=("https://www.cs.toronto.edu/~kriz/",),
    files=(FileSpec("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170498071),),
    folder="cifar-10-batches-py",
    members=(FileSpec("data_batch_1", "c99cafc152244af753f735de768cd75f"),
             FileSpec("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
             FileSpec("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
             FileSpec("data_batch_4", "634d18415352ddfa80567beed471001a"),
             FileSpec("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
             FileSpec("test_batch", "40351d587109b95175f43aff81a1287e")),
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
)

CIFAR100 = DatasetSpec(
    name="cifar100", fmt="cifar100", channels=3, classes=100, image_size=32,
    mean=(0.5071, 0.4867, 0.4408), std=(0.2675, 0.2565, 0.2761),
    crop_pad=4, flip=True,
    urls=("https://www.cs.toronto.edu/~kriz/",),
    files=(FileSpec("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
    folder="cifar-100-python",
    members=(FileSpec("train", "16019d7e3df5f24257cddd939b257f8d"),
             FileSpec("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")),
    train_files=("train",), test_files=("test",),
)

DATASETS: Dict[str, DatasetSpec] = {
    s.name: s for s in (MNIST, FASHION_MNIST, FASHION_MNIST_SAMPLE, SVHN, CIFAR10, CIFAR100)
}
"""Name -> :class:`DatasetSpec` for every supported dataset."""


def get_spec(name: str) -> DatasetSpec:
    """Look up a dataset by name, with an error listing the valid names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}"
        ) from None

"""Dataset specifications: shapes, normalisation, augmentation, distribution files, checksums.

Everything the loaders and the augmentation need to know about a dataset lives in one
:class:`DatasetSpec` per name in :data:`DATASETS`, so adding a dataset means adding one entry.

Normalisation and augmentation are those of the authors' public training code (see
``data/README.md``, "Normalisation and augmentation", for the sources and for the values we
re-measured on the training sets):

=============  ======  ======  ====  =======================================================
dataset        28->32  crop    flip  mean / std
=============  ======  ======  ====  =======================================================
mnist          zeros   2 edge  no    0.1307 / 0.3081
fashion-mnist  zeros   2 edge  yes   0.2860 / 0.3530
svhn           no      4 edge  no    (0.4377, 0.4438, 0.4728) / (0.1980, 0.2010, 0.1970)
cifar10        no      4 edge  yes   (0.4914, 0.4822, 0.4465) / 3 x (0.2023, 0.1994, 0.2010)
cifar100       no      4 edge  yes   (0.5071, 0.4867, 0.4408) / (0.2675, 0.2565, 0.2761)
=============  ======  ======  ====  =======================================================

**CIFAR-10 std x3 quirk.** The authors' code divides CIFAR-10 inputs by three times the std
above, i.e. by (0.6069, 0.5982, 0.6030); CIFAR-100 is not scaled. We keep it as the default
(``std_scale=3.0``) so that results compare with the paper's Table 1. For the plain std use
``DATASETS["cifar10"].with_plain_std()``.

**Checksums, two layers.** Each distribution file has the md5 its publisher gives
(``FileSpec.md5``, the list torchvision checks too). What matters is the decoded content, so a
file that only wraps other bytes also records the checksum of what it wraps: an IDX ``.gz``
the SHA-256 of its decompressed bytes (``FileSpec.content_sha256``), so that a re-compressed
copy (such as Debian's) or the decompressed ``*-ubyte`` file (as other mirrors ship it) is
accepted; a CIFAR ``.tar.gz`` the md5 of each batch file inside (``DatasetSpec.members``). Each
split also records its size and, where we could compute them, the SHA-256 of its decoded
arrays (:class:`SplitContent`), which recognise a prepared ``train.npz`` / ``test.npz`` as the
original split. Where a value could not be computed it is None and a comment says so: the
loader then accepts only the publisher's file checksum (never no checksum at all).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from .errors import DataError


@dataclass(frozen=True)
class FileSpec:
    """One file of an original distribution, with its known checksums.

    Attributes
    ----------
    name : str
        File name (relative to the dataset folder, or to the archive's folder for members).
    md5 : str
        Hex md5 of the file as published.
    size : int or None
        Size in bytes as published, where known (quoted in error messages).
    content_sha256 : str or None
        For a ``.gz`` file: hex SHA-256 of its decompressed bytes (the file
        :attr:`content_name`). None where unknown: then only ``md5`` is accepted.
    content_size : int or None
        Size of the decompressed bytes, where known.
    """

    name: str
    md5: str
    size: Optional[int] = None
    content_sha256: Optional[str] = None
    content_size: Optional[int] = None

    @property
    def content_name(self) -> Optional[str]:
        """The decompressed file's name (``name`` without ``.gz``); None if not gzipped."""
        return self.name[:-3] if self.name.endswith(".gz") else None


@dataclass(frozen=True)
class SplitContent:
    """The decoded content of one original split.

    Attributes
    ----------
    size : int
        Number of examples.
    x_sha256, y_sha256 : str or None
        Hex SHA-256 of ``x`` as uint8 (N, H, W, C) C-order bytes and of ``y`` as little-endian
        int64 bytes, i.e. ``sha256(np.ascontiguousarray(x).tobytes())`` and
        ``sha256(y.astype("<i8").tobytes())``; None where we could not compute them.
    """

    size: int
    x_sha256: Optional[str] = None
    y_sha256: Optional[str] = None


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
        Multiplies ``std`` (3.0 for CIFAR-10: the authors' quirk, see module docstring).
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
        CIFAR: the folder the archive holds its batches in (``cifar-10-batches-py``).
    members : tuple of FileSpec
        CIFAR: the batch files inside ``folder`` with their own md5s.
    train_files, test_files : tuple of str
        Which file names (of ``files`` or ``members``) make the train and test split; IDX
        splits list the images file then the labels file.
    train_split, test_split : SplitContent
        Size (and, where known, content digests) of the original splits.
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
    train_split: SplitContent = SplitContent(0)
    test_split: SplitContent = SplitContent(0)

    @property
    def norm_std(self) -> Tuple[float, ...]:
        """The std actually divided by: ``std * std_scale``, length ``channels``."""
        return tuple(s * self.std_scale for s in self.std)

    def with_plain_std(self) -> "DatasetSpec":
        """A copy with ``std_scale = 1`` (undo the CIFAR-10 x3 quirk)."""
        return dataclasses.replace(self, std_scale=1.0)


_IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Decompressed IDX sizes: 16-byte image header + N*28*28, 8-byte label header + N.
_IDX_CONTENT_SIZES = (16 + 60000 * 784, 8 + 60000, 16 + 10000 * 784, 8 + 10000)


def _idx_spec(name, urls, md5s, sizes, content_sha256s, splits, mean, std, flip):
    files = tuple(FileSpec(n, m, s, c, cs) for n, m, s, c, cs in
                  zip(_IDX_NAMES, md5s, sizes, content_sha256s, _IDX_CONTENT_SIZES))
    return DatasetSpec(
        name=name, fmt="idx", channels=1, classes=10, image_size=28, mean=(mean,), std=(std,),
        pad_to_32=True, crop_pad=2, flip=flip, urls=urls, files=files,
        train_files=_IDX_NAMES[:2], test_files=_IDX_NAMES[2:],
        train_split=SplitContent(60000, *splits[0]), test_split=SplitContent(10000, *splits[1]),
    )


# MNIST and Fashion-MNIST: md5s as published; content and split SHA-256s computed by us from
# files whose .gz md5s equal the published ones (see data/README.md, "Checksums").
MNIST = _idx_spec(
    "mnist",
    urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5s=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    sizes=(9912422, 28881, 1648877, 4542),
    content_sha256s=("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                     "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                     "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    splits=(("741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
             "e474323ac02fc156161b0bbb1f8c9cfeb327a74bcd9f9680a8385269a24f566c"),
            ("6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
             "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243")),
    mean=0.1307, std=0.3081, flip=False,
)

FASHION_MNIST = _idx_spec(
    "fashion-mnist",
    urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5s=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
    sizes=(26421880, 29515, 4422102, 5148),
    content_sha256s=("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                     "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                     "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    splits=(("2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
             "e3245b63f7c40d1c8b652835f19744d970c1613b40ddac6bcfc87b9c46e16a0b"),
            ("c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
             "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae")),
    mean=0.2860, std=0.3530, flip=True,
)

# The embedded offline sample (repository folder data/fashion-mnist-sample, prepared form,
# SHA-256-verified by ebl_ref.data.sample): same pipeline as Fashion-MNIST.
FASHION_MNIST_SAMPLE = dataclasses.replace(
    FASHION_MNIST, name="fashion-mnist-sample", fmt="prepared", urls=(), files=(),
    train_files=(), test_files=(), train_split=SplitContent(6000),
    test_split=SplitContent(1000),
)

# SVHN: md5s as published. A .mat file is not a wrapper, so it has no content layer; we had no
# copy to compute split digests from (a prepared SVHN is accepted but not recognised).
SVHN = DatasetSpec(
    name="svhn", fmt="svhn", channels=3, classes=10, image_size=32,
    mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
    crop_pad=4, flip=False,
    urls=("http://ufldl.stanford.edu/housenumbers/",),
    files=(FileSpec("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
           FileSpec("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")),
    train_files=("train_32x32.mat",), test_files=("test_32x32.mat",),
    train_split=SplitContent(73257), test_split=SplitContent(26032),
)

# CIFAR-10: archive and member md5s as published; the training split's digests computed by us
# from a pixel- and label-exact copy of data_batch_1..5; the test split's could not be (we had
# only its first 1000 images).
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
    train_split=SplitContent(
        50000, "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
        "f5cfe00b0f00968c0cc5ff3b1d2de51b10e33efa277c2986f4e0fa63e58c9f4f"),
    test_split=SplitContent(10000),
)

# CIFAR-100: archive and member md5s as published; no split digests (we had 20 test images).
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
    train_split=SplitContent(50000), test_split=SplitContent(10000),
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

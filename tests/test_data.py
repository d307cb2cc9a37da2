"""Loading datasets on small synthetic files (no network, no shared folders): which file forms
are accepted and how they are verified, precedence, downloads, folders, the decoded-data cache,
sizes before loading, and one clear DataError for every file a person or a crash may damage."""

import gzip
import hashlib
import io
import os
import pickle
import sys
import tarfile

import numpy as np
import pytest

from ebl_ref.data import (DataError, dataset_sizes, load_dataset, resolve_cache_dir,
                          resolve_data_dir)
from ebl_ref.data import fetch, formats, verify

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------- fixtures and writers

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No network, a private user cache folder, no EBL_* variables from the environment, the
    usual umask 022."""
    def offline(url, f, timeout=60.0):
        raise OSError(f"network disabled in tests ({url})")
    monkeypatch.setattr(fetch, "fetch_url", offline)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EBL_DATA_DIR", raising=False)
    monkeypatch.delenv("EBL_CACHE_DIR", raising=False)
    umask = os.umask(0o022)
    yield
    os.umask(umask)


class Log(list):
    """A ``log`` callable that keeps the lines."""

    def __call__(self, line):
        self.append(line)

    def has(self, *words):
        return any(all(w in line for w in words) for line in self)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def idx_bytes(a):
    """The bytes of an uint8 IDX file, as in the MNIST distribution."""
    return bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + a.tobytes()


def make_idx_dataset(root, n_train=12, n_test=5, seed=0):
    """Write the 4 IDX .gz files into root; return (arrays, checksum overrides).

    The overrides give each .gz's md5 and each decompressed file's SHA-256, as the registry does
    for the real files.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8))
    sums = {}
    for name, a in zip(IDX_NAMES, arrays):
        raw = idx_bytes(a)
        with gzip.GzipFile(root / name, "wb", mtime=1) as f:  # not what `gzip -n -9` writes
            f.write(raw)
        sums[name], sums[name[:-3]] = md5(root / name), sha256(raw)
    return arrays, sums


def recompress(path):
    """What `gunzip; gzip -n -9` does: same content, different .gz bytes."""
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


def decompress(path):
    """Replace ``x.gz`` by the decompressed ``x``."""
    path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()


def cifar_batch_bytes(x, y, label_key=b"labels"):
    """A CIFAR python batch: dict with bytes keys, data (N, 3072) CHW row-major, list labels."""
    d = {b"batch_label": b"synthetic", label_key: [int(v) for v in y],
         b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
         b"filenames": [b"img%d.png" % i for i in range(len(x))]}
    return pickle.dumps(d, protocol=3)


def make_cifar10_folder(folder, seed=0):
    """Write data_batch_1..5 (4 images each) and test_batch (3 images); return arrays, md5s."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    x = rng.integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 23)
    for k in range(5):
        (folder / f"data_batch_{k + 1}").write_bytes(
            cifar_batch_bytes(x[4 * k:4 * k + 4], y[4 * k:4 * k + 4]))
    (folder / "test_batch").write_bytes(cifar_batch_bytes(x[20:], y[20:]))
    return (x[:20], y[:20], x[20:], y[20:]), {p.name: md5(p) for p in folder.iterdir()}


def make_cifar10_tar(tmp_path, compresslevel=9, extra=()):
    """cifar10/cifar-10-python.tar.gz holding the synthetic batches; return arrays, md5s."""
    src = tmp_path / "src" / "cifar-10-batches-py"
    arrays, sums = make_cifar10_folder(src)
    (tmp_path / "cifar10").mkdir(exist_ok=True)
    tar_path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz", compresslevel=compresslevel) as t:
        for info, data in extra:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
        t.add(src, arcname="cifar-10-batches-py")
    sums["cifar-10-python.tar.gz"] = md5(tar_path)
    return arrays, sums, tar_path


def evil_pickle(marker):
    """A pickle whose loading would run os.system('touch marker')."""
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    return pickle.dumps({b"data": Evil()}, protocol=3)


def write_prepared(root, xtr, ytr, xte, yte):
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "train.npz", x=xtr, y=ytr)
    np.savez(root / "test.npz", x=xte, y=yte)


def tree(folder):
    """Every path under folder (to show that nothing was written)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---------------------------------------------------------------- IDX: forms and verification

def test_idx_loader_reads_synthetic_files(tmp_path):
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    log = Log()
    train, test = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=log)
    assert train.x.shape == (12, 28, 28, 1) and train.x.dtype == np.uint8, "train x NHWC uint8"
    assert train.y.dtype == np.int64 and test.y.shape == (5,), "labels int64 (N,)"
    np.testing.assert_array_equal(train.x[..., 0], arrays[0], err_msg="train images")
    np.testing.assert_array_equal(test.y, arrays[3], err_msg="test labels")
    assert "as published, md5 verified" in train.source, train.source
    assert log == [train.source, test.source], "one line per split, kept as Split.source"


def test_recompressed_idx_is_accepted_on_its_content(tmp_path):
    """Issue 7 case 5: gunzip + gzip -n -9 of an original gives other .gz bytes, same IDX."""
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    recompress(path)
    assert md5(path) != sums[path.name], "the .gz bytes changed"
    log = Log()
    _, test = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=log)
    np.testing.assert_array_equal(test.y, arrays[3], err_msg="labels from the re-compressed file")
    assert "re-compressed, decompressed content SHA-256 verified" in test.source, test.source
    assert "as published" in test.source, "the other file of the split is as published"


def test_decompressed_idx_files_are_accepted(tmp_path):
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    for name in IDX_NAMES:
        decompress(tmp_path / "mnist" / name)
    train, test = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.x[..., 0], arrays[0], err_msg="plain IDX images")
    np.testing.assert_array_equal(test.y, arrays[3], err_msg="plain IDX labels")
    assert "decompressed, SHA-256 verified" in train.source, train.source
    assert "train-images-idx3-ubyte," in train.source, "names the files used"


def test_recompressed_file_with_other_content_is_refused(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    path = tmp_path / "mnist" / IDX_NAMES[2]
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 1  # one pixel changed, then compressed again
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    msg = str(e.value)
    assert str(path) in msg and "SHA-256" in msg and sums[IDX_NAMES[2][:-3]] in msg, msg
    assert "Delete it" in msg and "\n" not in msg, "one line with the fix"


def test_truncated_and_bit_flipped_gz_refused(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    path = tmp_path / "mnist" / IDX_NAMES[2]
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(DataError, match="not a readable gzip file") as e:
        load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert sums[IDX_NAMES[2]] in str(e.value) and md5(path) in str(e.value), "expected vs actual"
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # same size, one bit of the trailer
    with pytest.raises(DataError, match=IDX_NAMES[2]):
        load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())


def test_damaged_decompressed_file_refused(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    decompress(tmp_path / "mnist" / IDX_NAMES[1])
    plain = tmp_path / "mnist" / IDX_NAMES[1][:-3]
    raw = plain.read_bytes()
    plain.write_bytes(raw[:-1] + bytes([(raw[-1] + 1) % 10]))  # a label changed
    with pytest.raises(DataError, match="SHA-256") as e:
        load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert str(plain) in str(e.value) and "Delete it" in str(e.value), str(e.value)


def test_without_a_content_checksum_only_the_published_file_passes(tmp_path):
    """Where the registry knows no content checksum, the archive checksum is the only one
    accepted: never no checksum at all."""
    _, sums = make_idx_dataset(tmp_path / "mnist")
    archive_only = {k: v for k, v in sums.items() if k.endswith(".gz")}
    recompress(tmp_path / "mnist" / IDX_NAMES[0])
    with pytest.raises(DataError, match="not the original file"):
        load_dataset("mnist", tmp_path, download=False, checksums=archive_only, log=Log())
    decompress(tmp_path / "mnist" / IDX_NAMES[0])
    with pytest.raises(DataError, match="cannot be verified"):
        load_dataset("mnist", tmp_path, download=False, checksums=archive_only, log=Log())


def test_unreadable_file_is_one_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read it .IsADirectoryError"):
        verify.file_digest(tmp_path)


def test_registry_checksums_refuse_synthetic_files(tmp_path):
    make_idx_dataset(tmp_path / "fashion-mnist")
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", tmp_path, download=False, log=Log())
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg, "names the file"
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in msg and "26421880" in msg, "published md5, size"
    assert "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888" in msg, "content"
    assert "Delete it" in msg, "says how to fix it"


def test_idx_parser_rejects_bad_header_and_length(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(gzip.compress(b"\x01\x02\x08\x01" + b"\0" * 8))
    with pytest.raises(DataError, match="magic"):
        formats.read_idx(p)
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + np.asarray([5], ">u4").tobytes() + b"\0"))
    with pytest.raises(DataError, match="header says"):
        formats.read_idx(p)
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0])))
    with pytest.raises(DataError, match="header truncated"):
        formats.read_idx(p)


# ---------------------------------------------------------------- CIFAR

def test_cifar10_extracted_folder(tmp_path):
    (xtr, ytr, xte, yte), sums = make_cifar10_folder(tmp_path / "cifar10" / "cifar-10-batches-py")
    train, test = load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.x, xtr, err_msg="CHW rows -> NHWC, batches in order")
    np.testing.assert_array_equal(train.y, ytr, err_msg="train labels")
    np.testing.assert_array_equal(test.x, xte, err_msg="test images")
    assert "extracted batch files" in train.source, train.source


def test_cifar10_tarball_is_read_in_memory_never_extracted(tmp_path):
    (xtr, _, _, yte), sums, tar_path = make_cifar10_tar(tmp_path)
    before = tree(tmp_path / "cifar10")
    train, test = load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.x, xtr, err_msg="images from the tarball")
    np.testing.assert_array_equal(test.y, yte, err_msg="test labels from the tarball")
    assert tree(tmp_path / "cifar10") == before, "nothing written into the data folder"
    assert "archive as published" in train.source, train.source


def test_repacked_cifar_archive_is_accepted_on_its_members(tmp_path):
    (xtr, *_), sums, tar_path = make_cifar10_tar(tmp_path, compresslevel=1)
    sums["cifar-10-python.tar.gz"] = "0" * 32  # "the published archive" is another file
    log = Log()
    train, _ = load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=log)
    np.testing.assert_array_equal(train.x, xtr, err_msg="images from the repacked archive")
    assert "not byte-identical" in train.source and "md5-verified" in train.source


def test_cifar_archive_with_a_wrong_member_is_refused_before_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    evil = tarfile.TarInfo("cifar-10-batches-py/test_batch")
    data = evil_pickle(marker)
    evil.size = len(data)
    _, sums, tar_path = make_cifar10_tar(tmp_path / "a")
    (tmp_path / "b" / "cifar10").mkdir(parents=True)
    bad = tmp_path / "b" / "cifar10" / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path) as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            if m.name == evil.name:
                dst.addfile(evil, io.BytesIO(data))
            else:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", tmp_path / "b", download=False, checksums=sums, log=Log())
    assert "member 'cifar-10-batches-py/test_batch' has md5" in str(e.value), str(e.value)
    assert str(bad) in str(e.value) and "Delete the archive" in str(e.value)
    assert not marker.exists(), "refused by checksum before unpickling"


def test_cifar_archive_links_and_unsafe_members(tmp_path):
    """A wanted member that is a link is refused; other members (absolute paths, '..') are
    never looked at, and nothing from an archive is ever written to disk."""
    outside = [tarfile.TarInfo(n) for n in (str(tmp_path / "evil-abs"), "../evil-dotdot")]
    for info in outside:
        info.size = 1
    extra = [(info, b"x") for info in outside]
    (xtr, *_), sums, tar_path = make_cifar10_tar(tmp_path, extra=extra)
    train, _ = load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.x, xtr, err_msg="the batches are still read")
    assert not (tmp_path / "evil-dotdot").exists() and not (tmp_path / "evil-abs").exists()
    link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    _, sums, tar_path = make_cifar10_tar(tmp_path / "l", extra=[(link, None)])
    with pytest.raises(DataError, match="is a link or special file"):
        load_dataset("cifar10", tmp_path / "l", download=False, checksums=sums, cache_dir=False,
                     log=Log())


def test_truncated_cifar_archive_is_refused(tmp_path):
    _, sums, tar_path = make_cifar10_tar(tmp_path)
    tar_path.write_bytes(tar_path.read_bytes()[:3000])
    with pytest.raises(DataError, match="not a readable tar archive") as e:
        load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=Log())
    assert str(tar_path) in str(e.value) and "\n" not in str(e.value)


def test_damaged_extracted_batch_is_refused_and_never_unpickled(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    _, sums = make_cifar10_folder(folder)
    marker = tmp_path / "pwned"
    (folder / "data_batch_1").write_bytes(evil_pickle(marker))
    with pytest.raises(DataError, match="not the original file") as e:
        load_dataset("cifar10", tmp_path, download=False, checksums=sums, log=Log())
    assert "data_batch_1" in str(e.value) and "delete the folder" in str(e.value)
    assert not marker.exists(), "refused by checksum before unpickling"


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 99, 5, 17, 42, 3, 64, 98, 1])
    (folder / "train").write_bytes(cifar_batch_bytes(x[:6], y[:6], label_key=b"fine_labels"))
    (folder / "test").write_bytes(cifar_batch_bytes(x[6:], y[6:], label_key=b"fine_labels"))
    sums = {n: md5(folder / n) for n in ("train", "test")}
    train, test = load_dataset("cifar100", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.y, y[:6], err_msg="fine labels up to 99")
    np.testing.assert_array_equal(test.x, x[6:], err_msg="test images")


# ---------------------------------------------------------------- SVHN

def make_svhn(root, sio):
    root.mkdir()
    rng = np.random.default_rng(2)
    xs = {}
    for name, n in (("train_32x32.mat", 6), ("test_32x32.mat", 4)):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = np.arange(1, n + 1).reshape(-1, 1)
        y[0] = 10  # digit 0
        sio.savemat(root / name, {"X": x.transpose(1, 2, 3, 0), "y": y})
        xs[name] = x
    return xs, {n: md5(root / n) for n in xs}


def test_svhn_mat(tmp_path):
    sio = pytest.importorskip("scipy.io")
    xs, sums = make_svhn(tmp_path / "svhn", sio)
    train, test = load_dataset("svhn", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(train.x, xs["train_32x32.mat"], err_msg="(32,32,3,N)->NHWC")
    assert train.y[0] == 0 and list(train.y[1:]) == [2, 3, 4, 5, 6], "label 10 means digit 0"
    assert test.x.shape == (4, 32, 32, 3), "test shape"
    path = tmp_path / "svhn" / "test_32x32.mat"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="not the original file") as e:
        load_dataset("svhn", tmp_path, download=False, checksums=sums, log=Log())
    assert str(path) in str(e.value) and "Delete it" in str(e.value)


def test_svhn_without_scipy_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(DataError, match=r"pip install ebl-ref\[svhn\]"):
        formats.load_svhn_mat(tmp_path / "train_32x32.mat")


# ---------------------------------------------------------------- prepared form and precedence

def test_prepared_npz_any_size_and_says_it_is_not_the_original(tmp_path):
    rng = np.random.default_rng(3)
    xtr = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    xte = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    write_prepared(tmp_path / "cifar10", xtr, np.arange(10) % 10, xte, np.arange(7))
    train, test = load_dataset("cifar10", tmp_path, download=False, log=Log())
    assert len(train) == 10 and len(test) == 7, "any split size is accepted"
    np.testing.assert_array_equal(test.x, xte, err_msg="prepared images unchanged")
    assert "prepared train.npz" in train.source, train.source
    assert "10 examples, not the original split of 50000" in train.source, train.source
    gray = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_prepared(tmp_path / "mnist", gray, np.arange(4), gray, np.arange(4))
    train, _ = load_dataset("mnist", tmp_path, download=False, log=Log())
    assert train.x.shape == (4, 28, 28, 1), "(N,H,W) gains a channel axis"


@pytest.mark.parametrize("bad, match", [
    (dict(x=np.zeros((3, 28, 28), np.float32), y=np.zeros(3, int)), "uint8"),
    (dict(x=np.zeros((3, 32, 32), np.uint8), y=np.zeros(3, int)), "shape"),
    (dict(x=np.zeros((3, 28, 28), np.uint8), y=np.zeros(4, int)), "to match"),
    (dict(x=np.zeros((3, 28, 28), np.uint8), y=np.array([0, 1, 10])), r"labels span"),
    (dict(x=np.zeros((3, 28, 28), np.uint8), y=np.zeros(3, np.float64)), "integer"),
    (dict(x=np.zeros((3, 28, 28), np.uint8)), "'x' and 'y'"),
    (dict(x=np.zeros((3, 28, 28), np.uint8), y=np.array([0, 1, None])), "cannot read"),
])
def test_prepared_npz_validation(tmp_path, bad, match):
    root = tmp_path / "mnist"
    root.mkdir()
    np.savez(root / "train.npz", **bad)
    np.savez(root / "test.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2, int))
    with pytest.raises(DataError, match=match) as e:
        load_dataset("mnist", tmp_path, download=False, log=Log())
    assert "train.npz" in str(e.value) and "Re-create it" in str(e.value), str(e.value)


@pytest.mark.parametrize("damage", ["truncated", "bit flip"])
def test_damaged_prepared_npz_is_refused(tmp_path, damage):
    gray = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    write_prepared(tmp_path / "mnist", gray, np.arange(40) % 10, gray, np.arange(40) % 10)
    path = tmp_path / "mnist" / "test.npz"
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[:len(raw) // 2]
    else:
        raw[1000] ^= 0x10  # inside x's data: caught by the zip member's CRC-32
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cannot read prepared .npz") as e:
        load_dataset("mnist", tmp_path, download=False, log=Log())
    assert str(path) in str(e.value) and "delete it" in str(e.value), str(e.value)


def test_originals_take_precedence_over_prepared_files_and_say_so(tmp_path):
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    other = np.zeros((3, 28, 28), np.uint8)
    write_prepared(tmp_path / "mnist", other, np.arange(3), other, np.arange(3))
    log = Log()
    train, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=log)
    np.testing.assert_array_equal(train.x[..., 0], arrays[0], err_msg="the originals are used")
    assert log.has("ignoring train.npz and test.npz", "take precedence"), log


# ---------------------------------------------------------------- the decoded-data cache

def test_cache_lives_in_the_user_cache_folder_and_serves_the_second_load(tmp_path, monkeypatch):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    before = tree(tmp_path / "mnist")
    first, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert tree(tmp_path / "mnist") == before, "nothing written into the data folder"
    cached = sorted((tmp_path / "xdg" / "ebl-ref" / "decoded").glob("mnist-*.npz"))
    assert [p.name.split("-")[1] for p in cached] == ["test", "train"], cached
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in cached), "readable like any file"

    def no_decode(*args):
        raise AssertionError("decoded again despite a valid cache")
    monkeypatch.setattr(formats, "parse_idx", no_decode)
    second, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    np.testing.assert_array_equal(first.x, second.x, err_msg="cache returns the same data")
    assert "read from the decoded-data cache" in second.source, second.source
    for name in IDX_NAMES:  # same content in another form: the key covers content, not bytes
        decompress(tmp_path / "mnist" / name)
    third, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert "read from the decoded-data cache" in third.source, "shared by both forms"


def test_changed_source_misses_the_cache_and_replaces_the_stale_entry(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    arrays, sums2 = make_idx_dataset(tmp_path / "mnist", n_train=8, seed=5)
    third, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums2, log=Log())
    np.testing.assert_array_equal(third.x[..., 0], arrays[0], err_msg="new source, new data")
    folder = tmp_path / "xdg" / "ebl-ref" / "decoded"
    assert len(list(folder.glob("mnist-train-*.npz"))) == 1, "stale entry removed"


@pytest.mark.parametrize("damage", ["truncated", "bit flip", "wrong arrays"])
def test_damaged_cache_file_is_ignored_logged_and_rebuilt(tmp_path, damage):
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    (path,) = (tmp_path / "xdg" / "ebl-ref" / "decoded").glob("mnist-train-*.npz")
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        path.write_bytes(bytes(raw[:len(raw) // 3]))
    elif damage == "bit flip":
        raw[400] ^= 1  # inside x's data
        path.write_bytes(bytes(raw))
    else:
        np.savez(path.with_suffix(".tmp.npz"), x=np.zeros((2, 3), np.uint8), y=np.zeros(2))
        os.replace(path.with_suffix(".tmp.npz"), path)
    log = Log()
    train, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=log)
    np.testing.assert_array_equal(train.x[..., 0], arrays[0], err_msg="rebuilt from the source")
    assert log.has("ignoring the damaged decoded-data cache file", str(path), "rebuilding"), log
    assert "decoded, cached as" in train.source, "rebuilt"
    again, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert "read from the decoded-data cache" in again.source, "the rebuilt file is good"


def test_cache_folder_can_be_moved_or_turned_off(tmp_path, monkeypatch):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    mine = tmp_path / "mine"
    mine.mkdir()
    load_dataset("mnist", tmp_path, download=False, checksums=sums, cache_dir=mine, log=Log())
    assert len(list(mine.glob("mnist-*.npz"))) == 2, "cache_dir argument"
    env = tmp_path / "env"
    env.mkdir()
    monkeypatch.setenv("EBL_CACHE_DIR", str(env))
    load_dataset("mnist", tmp_path, download=False, checksums=sums, log=Log())
    assert len(list(env.glob("mnist-*.npz"))) == 2, "EBL_CACHE_DIR"
    monkeypatch.delenv("EBL_CACHE_DIR")
    train, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, cache_dir=False,
                            log=Log())
    assert "cache off" in train.source
    assert not (tmp_path / "xdg").exists(), "cache_dir=False writes nothing"
    with pytest.raises(DataError, match="cache folder .--cache-dir. .* does not exist"):
        load_dataset("mnist", tmp_path, download=False, checksums=sums,
                     cache_dir=tmp_path / "typo", log=Log())
    assert not (tmp_path / "typo").exists(), "a mistyped cache folder is not created"
    assert resolve_cache_dir(False) is None
    assert resolve_cache_dir() == tmp_path / "xdg" / "ebl-ref" / "decoded", "default"


def test_unwritable_cache_is_one_line_and_loading_still_works(tmp_path, monkeypatch):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))  # the cache cannot be made
    log = Log()
    train, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums, log=log)
    assert len(train) == 12
    assert log.has("could not write the decoded-data cache", "--no-cache"), log


# ---------------------------------------------------------------- folders (issue 7 case 9)

def test_mistyped_data_dir_is_refused_not_created(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "fetch_url", lambda url, f, timeout=60.0: calls.append(url))
    typo = tmp_path / "nonexistent" / "dir"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", typo, log=Log())
    assert str(e.value) == (f"data folder (--data-dir) {typo} does not exist: create it "
                            f"(mkdir -p {typo}) or fix the path.")
    assert not (tmp_path / "nonexistent").exists() and not calls, "nothing created or fetched"
    monkeypatch.setenv("EBL_DATA_DIR", str(typo))
    with pytest.raises(DataError, match=r"\$EBL_DATA_DIR.*does not exist.*unset EBL_DATA_DIR"):
        load_dataset("mnist", log=Log())
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="is not a folder"):
        dataset_sizes("mnist", tmp_path / "file")


def test_data_dir_resolution(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "env").mkdir()
    assert resolve_data_dir(tmp_path / "a") == tmp_path / "a", "argument first"
    assert resolve_data_dir() == tmp_path / "xdg" / "ebl-ref", "XDG cache by default"
    monkeypatch.setenv("EBL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env", "then EBL_DATA_DIR"
    assert resolve_data_dir(tmp_path / "a") == tmp_path / "a", "argument beats the env"


# ---------------------------------------------------------------- sizes before loading

def test_dataset_sizes_before_any_image_is_read(tmp_path, monkeypatch):
    assert dataset_sizes("mnist", tmp_path) == (60000, 10000), "registry when nothing is there"
    assert dataset_sizes("cifar100", tmp_path) == (50000, 10000)
    assert dataset_sizes("svhn", tmp_path) == (73257, 26032)
    assert dataset_sizes("fashion-mnist-sample") == (6000, 1000)
    gray = np.zeros((7, 28, 28), np.uint8)
    write_prepared(tmp_path / "mnist", gray, np.arange(7), gray[:3], np.arange(3))

    def no_read(*args, **kwargs):
        raise AssertionError("images read")
    monkeypatch.setattr(np, "load", no_read)
    monkeypatch.setattr(formats, "load_prepared_npz", no_read)
    assert dataset_sizes("mnist", tmp_path) == (7, 3), "from the prepared files' headers"
    (tmp_path / "mnist" / "test.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="test.npz: cannot read prepared .npz"):
        dataset_sizes("mnist", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        dataset_sizes("imagenet")


# ---------------------------------------------------------------- downloads

def test_offline_failure_message(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path, log=Log())
    msg = str(e.value)
    for text in ("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
                 "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz",
                 "f68b3c2dcbeaaa9fbdd348bbdeb94873", "--data-dir", "EBL_DATA_DIR",
                 "train.npz"):
        assert text in msg, f"offline message should mention {text!r}"
    assert tree(tmp_path / "mnist") == [], "no partial files left"


def test_download_false_never_touches_network(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("network used with download=False")
    monkeypatch.setattr(fetch, "fetch_url", boom)
    with pytest.raises(DataError, match="download=False") as e:
        load_dataset("cifar100", tmp_path, download=False, log=Log())
    assert "cifar-100-python.tar.gz" in str(e.value), "names the expected file"


def test_download_falls_back_across_mirrors_and_accepts_recompressed_copies(tmp_path,
                                                                           monkeypatch):
    arrays, sums = make_idx_dataset(tmp_path / "server")
    recompress(tmp_path / "server" / IDX_NAMES[3])  # a mirror re-compressed this one
    calls = []

    def fake_fetch(url, f, timeout=60.0):
        calls.append(url)
        if url.startswith("https://ossci"):
            f.write(b"corrupt mirror")  # wrong checksums: must try the next mirror
            return
        f.write((tmp_path / "server" / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr(fetch, "fetch_url", fake_fetch)
    (tmp_path / "data").mkdir()
    log = Log()
    train, test = load_dataset("mnist", tmp_path / "data", checksums=sums, log=log)
    np.testing.assert_array_equal(train.y, arrays[1], err_msg="downloaded labels")
    np.testing.assert_array_equal(test.y, arrays[3], err_msg="re-compressed download")
    assert len(calls) == 8, "each of 4 files tried on both mirrors"
    assert log.has("downloading http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz")
    assert tree(tmp_path / "data" / "mnist") == sorted(IDX_NAMES), "only verified files kept"
    assert all((tmp_path / "data" / "mnist" / n).stat().st_mode & 0o777 == 0o644
               for n in IDX_NAMES), "downloads are readable like any file (umask 022)"


def test_default_data_folder_is_created_for_a_download(tmp_path, monkeypatch):
    _, sums = make_idx_dataset(tmp_path / "server")
    monkeypatch.setattr(fetch, "fetch_url", lambda url, f, timeout=60.0: f.write(
        (tmp_path / "server" / url.rsplit("/", 1)[1]).read_bytes()))
    load_dataset("mnist", checksums=sums, log=Log())
    assert (tmp_path / "xdg" / "ebl-ref" / "mnist" / IDX_NAMES[0]).is_file(), "default created"


def test_unknown_dataset_lists_names():
    with pytest.raises(DataError, match="cifar10"):
        load_dataset("imagenet", download=False)

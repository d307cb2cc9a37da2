"""Tests of ebl_ref.data on small synthetic files (no network, no shared folders)."""

import gzip
import hashlib
import io
import os
import pickle
import struct
import sys
import tarfile

import numpy as np
import pytest

from ebl_ref.data import (DATASETS, DataError, Split, batch_indices, load_dataset, load_sample,
                          preprocess, resolve_data_dir, split_validation)
from ebl_ref.data import augment, fetch, formats, sample

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# ---------------------------------------------------------------- fixtures and writers

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No network, no user cache, no EBL_DATA_DIR from the environment."""
    def offline(url, dest, timeout=60.0):
        raise OSError(f"network disabled in tests ({url})")
    monkeypatch.setattr(fetch, "fetch_url", offline)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("EBL_DATA_DIR", raising=False)


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_idx(path, a):
    """Write an IDX .gz file (uint8) the way the MNIST distribution does."""
    header = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def make_idx_dataset(root, n_train=12, n_test=5, seed=0):
    """Write the 4 IDX files into root; return (arrays, md5 table)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8))
    for name, a in zip(IDX_NAMES, arrays):
        write_idx(root / name, a)
    return arrays, {n: md5(root / n) for n in IDX_NAMES}


def cifar_batch(path, x, y, label_key=b"labels"):
    """A CIFAR python batch: dict with bytes keys, data (N, 3072) CHW row-major, list labels."""
    d = {b"batch_label": b"synthetic", label_key: [int(v) for v in y],
         b"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1),
         b"filenames": [b"img%d.png" % i for i in range(len(x))]}
    path.write_bytes(pickle.dumps(d, protocol=3))


def make_cifar10_folder(folder, seed=0):
    """Write data_batch_1..5 (4 images each) and test_batch (3 images); return arrays, md5s."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    x = rng.integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 23)
    for k in range(5):
        cifar_batch(folder / f"data_batch_{k + 1}", x[4 * k:4 * k + 4], y[4 * k:4 * k + 4])
    cifar_batch(folder / "test_batch", x[20:], y[20:])
    return (x[:20], y[:20], x[20:], y[20:]), {p.name: md5(p) for p in folder.iterdir()}


def py2_batch(data, labels):
    """A CIFAR batch pickled as Python 2's cPickle (protocol 2, py2 str keys and raw data).

    Hand-assembled opcodes: {'data': numpy.core.multiarray._reconstruct(...) uint8 (N, 3072),
    'labels': [...]} as in the original cifar-10-python.tar.gz.
    """
    raw = data.tobytes()
    p = b"\x80\x02}(U\x04data"
    p += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
    p += b"(K\x01M" + struct.pack("<H", data.shape[0]) + b"M\x00\x0c\x86"
    p += b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"
    p += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    p += b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    p += b"U\x06labels](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"eu."
    return p


def evil_pickle(marker):
    """A pickle whose loading would run os.system('touch marker')."""
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    return pickle.dumps({b"data": Evil()}, protocol=3)


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

def test_idx_loader_reads_synthetic_files(tmp_path):
    arrays, sums = make_idx_dataset(tmp_path / "mnist")
    train, test = load_dataset("mnist", tmp_path, download=False, checksums=sums)
    assert train.x.shape == (12, 28, 28, 1) and train.x.dtype == np.uint8, "train x NHWC uint8"
    assert train.y.dtype == np.int64 and test.y.shape == (5,), "labels int64 (N,)"
    np.testing.assert_array_equal(train.x[..., 0], arrays[0], err_msg="train images")
    np.testing.assert_array_equal(test.y, arrays[3], err_msg="test labels")


def test_idx_registry_md5_refuses_synthetic_files(tmp_path):
    make_idx_dataset(tmp_path / "fashion-mnist")
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", tmp_path, download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg, "names the file"
    assert "size" in msg and "26421880" in msg, "states the expected size (checked first)"
    assert "Delete" in msg, "says how to fix it"


def test_tampered_and_truncated_files_refused(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    path = tmp_path / "mnist" / IDX_NAMES[2]
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])  # truncated
    with pytest.raises(DataError, match="md5 mismatch") as e:
        load_dataset("mnist", tmp_path, download=False, checksums=sums)
    assert sums[IDX_NAMES[2]] in str(e.value) and md5(path) in str(e.value), "expected vs actual"
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # same size, one bit flipped
    with pytest.raises(DataError, match=IDX_NAMES[2]):
        load_dataset("mnist", tmp_path, download=False, checksums=sums)


def test_idx_parser_rejects_bad_header_and_length(tmp_path):
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x01\x02\x08\x01" + b"\0" * 8)
    with pytest.raises(DataError, match="magic"):
        formats.read_idx(p)
    with gzip.open(p, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.asarray([5], ">u4").tobytes() + b"\0\0")
    with pytest.raises(DataError, match="header says"):
        formats.read_idx(p)


# ---------------------------------------------------------------- CIFAR

def test_cifar10_extracted_folder(tmp_path):
    (xtr, ytr, xte, yte), sums = make_cifar10_folder(tmp_path / "cifar10" / "cifar-10-batches-py")
    train, test = load_dataset("cifar10", tmp_path, download=False, checksums=sums)
    np.testing.assert_array_equal(train.x, xtr, err_msg="CHW rows -> NHWC, batches in order")
    np.testing.assert_array_equal(train.y, ytr, err_msg="train labels")
    np.testing.assert_array_equal(test.x, xte, err_msg="test images")
    assert test.y.dtype == np.int64, "labels int64"


def test_python2_cifar_pickle(tmp_path):
    x = np.random.default_rng(4).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch(x.transpose(0, 3, 1, 2).reshape(3, -1), [3, 1, 4]))
    got_x, got_y = formats.load_cifar_batch(path)
    np.testing.assert_array_equal(got_x, x, err_msg="Python 2 pickle decoded")
    assert got_y.tolist() == [3, 1, 4], "Python 2 labels"


def test_cifar10_tarball_verified_and_extracted(tmp_path):
    src = tmp_path / "src" / "cifar-10-batches-py"
    (xtr, _, _, yte), sums = make_cifar10_folder(src)
    (tmp_path / "cifar10").mkdir()
    tar_path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as t:
        t.add(src, arcname="cifar-10-batches-py")
    sums["cifar-10-python.tar.gz"] = md5(tar_path)
    train, test = load_dataset("cifar10", tmp_path, download=False, checksums=sums)
    np.testing.assert_array_equal(train.x, xtr, err_msg="images from the tarball")
    np.testing.assert_array_equal(test.y, yte, err_msg="test labels from the tarball")
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file(), "extracted"
    sums["cifar-10-python.tar.gz"] = "0" * 32
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError, match="md5 mismatch"):
        load_dataset("cifar10", tmp_path, download=False, checksums=sums)


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 99, 5, 17, 42, 3, 64, 98, 1])
    cifar_batch(folder / "train", x[:6], y[:6], label_key=b"fine_labels")
    cifar_batch(folder / "test", x[6:], y[6:], label_key=b"fine_labels")
    sums = {n: md5(folder / n) for n in ("train", "test")}
    train, test = load_dataset("cifar100", tmp_path, download=False, checksums=sums)
    np.testing.assert_array_equal(train.y, y[:6], err_msg="fine labels up to 99")
    np.testing.assert_array_equal(test.x, x[6:], err_msg="test images")


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(pickle.UnpicklingError, match="system"):
        formats.restricted_loads(evil_pickle(marker))
    bad = pickle.dumps(eval, protocol=3)  # a reference to builtins.eval
    with pytest.raises(pickle.UnpicklingError, match="eval"):
        formats.restricted_loads(bad)
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(evil_pickle(marker))
    with pytest.raises(DataError, match="cannot load CIFAR batch"):
        formats.load_cifar_batch(batch)
    assert not marker.exists(), "the malicious reduce must never run"


def test_unverified_cifar_batch_is_never_unpickled(tmp_path):
    _, sums = make_cifar10_folder(tmp_path / "cifar10" / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1").write_bytes(
        evil_pickle(marker))
    with pytest.raises(DataError, match="md5 mismatch"):
        load_dataset("cifar10", tmp_path, download=False, checksums=sums)
    assert not marker.exists(), "refused by checksum before unpickling"


def _tar_with(tmp_path, info, data=b""):
    p = tmp_path / "evil.tar"
    with tarfile.open(p, "w") as t:
        good = tarfile.TarInfo("ok/file")
        good.size = 2
        t.addfile(good, io.BytesIO(b"ok"))
        info.size = len(data) if info.isfile() else 0
        t.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return p


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "hardlink", "device"])
def test_safe_extract_refuses_unsafe_members(tmp_path, kind):
    info = tarfile.TarInfo({"absolute": "/tmp/evil", "dotdot": "ok/../../evil"}.get(kind, "evil"))
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "ok/file"
    elif kind == "device":
        info.type = tarfile.CHRTYPE
    p = _tar_with(tmp_path, info, b"x")
    target = tmp_path / "target"
    with pytest.raises(DataError, match="refusing unsafe archive"):
        fetch.safe_extract(p, target)
    assert not (target / "ok" / "file").exists(), "nothing is extracted from an unsafe archive"
    assert not (tmp_path / "evil").exists(), "nothing written outside the target"


def test_safe_extract_plain_archive(tmp_path):
    p = _tar_with(tmp_path, tarfile.TarInfo("ok/second"), b"abc")
    fetch.safe_extract(p, tmp_path / "t")
    assert (tmp_path / "t" / "ok" / "second").read_bytes() == b"abc", "plain files extracted"


# ---------------------------------------------------------------- SVHN

def test_svhn_mat(tmp_path):
    sio = pytest.importorskip("scipy.io")
    root = tmp_path / "svhn"
    root.mkdir()
    rng = np.random.default_rng(2)
    xs = {}
    for name, n in (("train_32x32.mat", 6), ("test_32x32.mat", 4)):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = np.arange(1, n + 1).reshape(-1, 1)
        y[0] = 10  # digit 0
        sio.savemat(root / name, {"X": x.transpose(1, 2, 3, 0), "y": y})
        xs[name] = (x, y)
    sums = {n: md5(root / n) for n in xs}
    train, test = load_dataset("svhn", tmp_path, download=False, checksums=sums)
    np.testing.assert_array_equal(train.x, xs["train_32x32.mat"][0], err_msg="(32,32,3,N)->NHWC")
    assert train.y[0] == 0 and list(train.y[1:]) == [2, 3, 4, 5, 6], "label 10 means digit 0"
    assert test.x.shape == (4, 32, 32, 3), "test shape"


def test_svhn_without_scipy_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(DataError, match=r"pip install ebl-ref\[svhn\]"):
        formats.load_svhn_mat(tmp_path / "train_32x32.mat")


# ---------------------------------------------------------------- prepared form

def write_prepared(root, xtr, ytr, xte, yte):
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "train.npz", x=xtr, y=ytr)
    np.savez(root / "test.npz", x=xte, y=yte)


def test_prepared_npz_any_test_size(tmp_path):
    rng = np.random.default_rng(3)
    xtr = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    xte = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    write_prepared(tmp_path / "cifar10", xtr, np.arange(10) % 10, xte, np.arange(7))
    train, test = load_dataset("cifar10", tmp_path, download=False)
    assert len(train) == 10 and len(test) == 7, "any split size is accepted"
    np.testing.assert_array_equal(test.x, xte, err_msg="prepared images unchanged")
    gray = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    write_prepared(tmp_path / "mnist", gray, np.arange(4), gray, np.arange(4))
    train, _ = load_dataset("mnist", tmp_path, download=False)
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
    with pytest.raises(DataError, match=match):
        load_dataset("mnist", tmp_path, download=False)


# ---------------------------------------------------------------- cache

def test_second_load_hits_cache_and_changed_source_invalidates(tmp_path, monkeypatch):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    first, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums)
    assert list((tmp_path / "mnist" / ".cache").glob("*.npy")), "cache written beside the data"

    def no_decode(path):
        raise AssertionError("decoded again despite a valid cache")
    real_read_idx = formats.read_idx
    monkeypatch.setattr(formats, "read_idx", no_decode)
    second, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums)
    np.testing.assert_array_equal(first.x, second.x, err_msg="cache returns the same data")

    monkeypatch.setattr(formats, "read_idx", real_read_idx)
    arrays, sums2 = make_idx_dataset(tmp_path / "mnist", n_train=8, seed=5)
    third, _ = load_dataset("mnist", tmp_path, download=False, checksums=sums2)
    np.testing.assert_array_equal(third.x[..., 0], arrays[0], err_msg="new source, new data")
    assert len(list((tmp_path / "mnist" / ".cache").glob("train-*.npy"))) == 2, "stale removed"


def test_read_only_dataset_folder_caches_in_user_folder(tmp_path):
    _, sums = make_idx_dataset(tmp_path / "mnist")
    os.chmod(tmp_path / "mnist", 0o555)
    try:
        load_dataset("mnist", tmp_path, download=False, checksums=sums)
    finally:
        os.chmod(tmp_path / "mnist", 0o755)
    assert not (tmp_path / "mnist" / ".cache").exists(), "read-only folder left untouched"
    assert list((tmp_path / "xdg" / "ebl-ref" / ".decoded" / "mnist").glob("*.npy")), "fallback"


# ---------------------------------------------------------------- location and download

def test_data_dir_resolution(tmp_path, monkeypatch):
    assert resolve_data_dir(tmp_path / "a") == tmp_path / "a", "argument first"
    assert resolve_data_dir() == tmp_path / "xdg" / "ebl-ref", "XDG cache by default"
    monkeypatch.setenv("EBL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env", "then EBL_DATA_DIR"
    assert resolve_data_dir(tmp_path / "a") == tmp_path / "a", "argument beats the env"


def test_offline_failure_message(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path)
    msg = str(e.value)
    for text in ("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
                 "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz",
                 "f68b3c2dcbeaaa9fbdd348bbdeb94873", "--data-dir", "EBL_DATA_DIR",
                 "train.npz"):
        assert text in msg, f"offline message should mention {text!r}"
    assert not list((tmp_path / "mnist").glob("*.part")), "no partial files left"


def test_download_false_never_touches_network(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("network used with download=False")
    monkeypatch.setattr(fetch, "fetch_url", boom)
    with pytest.raises(DataError, match="download=False") as e:
        load_dataset("cifar100", tmp_path, download=False)
    assert "cifar-100-python.tar.gz" in str(e.value), "names the expected file"


def test_download_falls_back_across_mirrors(tmp_path, monkeypatch):
    arrays, sums = make_idx_dataset(tmp_path / "server")
    calls = []

    def fake_fetch(url, dest, timeout=60.0):
        calls.append(url)
        if url.startswith("https://ossci"):
            dest.write_bytes(b"corrupt mirror")  # wrong md5: must try the next mirror
            return
        dest.write_bytes((tmp_path / "server" / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr(fetch, "fetch_url", fake_fetch)
    train, _ = load_dataset("mnist", tmp_path / "data", checksums=sums)
    np.testing.assert_array_equal(train.y, arrays[1], err_msg="downloaded labels")
    assert len(calls) == 8, "each of 4 files tried on both mirrors"
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(
        IDX_NAMES + (".cache",)), "only verified files kept"


def test_unknown_dataset_lists_names():
    with pytest.raises(DataError, match="cifar10"):
        load_dataset("imagenet", download=False)


# ---------------------------------------------------------------- augmentation

def naive_preprocess(x, spec, offsets, flips):
    """Per-example loop oracle of the torchvision pipeline."""
    x = x if x.ndim == 4 else x[..., None]
    out = []
    for n in range(len(x)):
        img = x[n].astype(np.float64)
        if spec.pad_to_32:
            img = np.pad(img, ((2, 2), (2, 2), (0, 0)))
        if offsets is not None:
            p = spec.crop_pad
            img = np.pad(img, ((p, p), (p, p), (0, 0)), mode="edge")
            dy, dx = offsets[n]
            img = img[dy:dy + 32, dx:dx + 32]
        if flips is not None and flips[n]:
            img = img[:, ::-1]
        img = (img / 255 - np.array(spec.mean)) / np.array(spec.norm_std)
        out.append(img.transpose(2, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "svhn", "cifar10", "cifar100"])
def test_preprocess_matches_naive_oracle(name):
    spec = DATASETS[name]
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (6, spec.image_size, spec.image_size, spec.channels), np.uint8)
    out = preprocess(x, spec, np.random.default_rng(11), train=True, dtype=np.float64)
    draws = np.random.default_rng(11)
    offsets = draws.integers(0, 2 * spec.crop_pad + 1, size=(6, 2))
    flips = draws.random(6) < 0.5 if spec.flip else None
    want = naive_preprocess(x, spec, offsets, flips)
    assert out.shape == (6, spec.channels, 32, 32) and out.dtype == np.float64, "shape, dtype"
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12, err_msg=f"{name} train pipeline")
    test_out = preprocess(x, spec)
    np.testing.assert_allclose(test_out, naive_preprocess(x, spec, None, None), atol=1e-6,
                               err_msg=f"{name} test pipeline")
    assert test_out.dtype == np.float32 and test_out.flags.c_contiguous, "float32 contiguous"


def test_preprocess_padding_value_and_range():
    spec = DATASETS["mnist"]
    x = np.full((3, 28, 28), 255, np.uint8)
    out = preprocess(x, spec)
    pad_val, ones_val = (0 - 0.1307) / 0.3081, (1 - 0.1307) / 0.3081
    np.testing.assert_allclose(out[:, 0, :2, :], pad_val, rtol=1e-6, err_msg="padded rows")
    np.testing.assert_allclose(out[:, 0, 2:30, 2:30], ones_val, rtol=1e-6, err_msg="interior")
    aug = preprocess(x, spec, np.random.default_rng(0), train=True)
    assert np.all((np.isclose(aug, pad_val)) | np.isclose(aug, ones_val)), "only shifts"
    assert (np.isclose(aug, ones_val).sum(axis=(1, 2, 3)) == 28 * 28).all(), "shift keeps image"


def test_cifar10_std_quirk_and_plain_std():
    spec = DATASETS["cifar10"]
    assert np.allclose(spec.norm_std, (0.6069, 0.5982, 0.6030)), "x3 std by default"
    x = np.zeros((1, 32, 32, 3), np.uint8)
    np.testing.assert_allclose(preprocess(x, spec)[0, :, 0, 0],
                               -np.array(spec.mean) / (3 * np.array(spec.std)), rtol=1e-6)
    plain = spec.with_plain_std()
    np.testing.assert_allclose(preprocess(x, plain)[0, :, 0, 0],
                               -np.array(spec.mean) / np.array(spec.std), rtol=1e-6,
                               err_msg="plain std on request")
    assert DATASETS["cifar100"].std_scale == 1.0, "CIFAR-100 not scaled"


def test_flip_and_determinism():
    spec = DATASETS["cifar10"]
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), np.uint8)
    a = preprocess(x, spec, np.random.default_rng(3), train=True)
    b = preprocess(x, spec, np.random.default_rng(3), train=True)
    c = preprocess(x, spec, np.random.default_rng(4), train=True)
    np.testing.assert_array_equal(a, b, err_msg="same seed, same batch")
    assert not np.array_equal(a, c), "different seed, different batch"
    flipped = augment.random_flip(x, np.random.default_rng(5), p=1.0)
    np.testing.assert_array_equal(flipped, x[:, :, ::-1], err_msg="p=1 flips every image")
    with pytest.raises(DataError, match="rng"):
        preprocess(x, spec, train=True)


# ---------------------------------------------------------------- splits and batches

def test_split_validation():
    rng = np.random.default_rng(0)
    train = Split(np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1), np.arange(20))
    tr, va = split_validation(train, 5, np.random.default_rng(1))
    assert len(tr) == 15 and len(va) == 5, "sizes"
    assert sorted(np.concatenate([tr.y, va.y]).tolist()) == list(range(20)), "a partition"
    assert np.all(np.diff(tr.y) > 0), "original order kept"
    tr2, va2 = split_validation(train, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(va.y, va2.y, err_msg="seeded")
    for bad in (20, 25, -1):
        with pytest.raises(DataError, match="val_size"):
            split_validation(train, bad, rng)


def test_batch_indices():
    batches = list(batch_indices(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2], "drop_last=False"
    assert sorted(np.concatenate(batches).tolist()) == list(range(10)), "a permutation"
    again = list(batch_indices(10, 4, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again)), "seeded"
    rng = np.random.default_rng(0)
    e1, e2 = (np.concatenate(list(batch_indices(50, 8, rng))) for _ in range(2))
    assert not np.array_equal(e1, e2), "a new permutation each epoch"
    ordered = np.concatenate(list(batch_indices(5, 2, shuffle=False)))
    assert ordered.tolist() == [0, 1, 2, 3, 4], "no shuffle: natural order"


# ---------------------------------------------------------------- embedded sample

def test_embedded_sample_loads_and_verifies(monkeypatch):
    train, test = load_sample()
    assert train.x.shape == (6000, 28, 28, 1) and test.x.shape == (1000, 28, 28, 1), "sizes"
    assert np.bincount(train.y).tolist() == [600] * 10, "balanced train"
    assert np.bincount(test.y).tolist() == [100] * 10, "balanced test"
    same, _ = load_dataset("fashion-mnist-sample")
    np.testing.assert_array_equal(same.y, train.y, err_msg="also via load_dataset")
    monkeypatch.setitem(sample.SAMPLE_SHA256, "test.npz", "0" * 64)
    with pytest.raises(DataError, match="SHA-256"):
        load_sample()

"""The data boundary: every dataset's constants pinned to literal values with their source, the
augmentation and normalisation against a naive per-example oracle built from those literals
(never from the spec under test), the (C, 32, 32, N) output layout, splits and the embedded
sample."""

import numpy as np
import pytest

from ebl_ref.data import (DATASETS, DataError, Split, dataset_sizes, load_dataset, load_sample,
                          preprocess)
from ebl_ref.data import augment, sample, split_validation

# Sources (see data/README.md, "Normalisation and augmentation"): the authors' public training
# code, github.com/rain-neuromorphics/energy-based-learning, file datasets.py (the torchvision
# transforms of each dataset); MNIST's, Fashion-MNIST's and CIFAR-10's means re-measured by us
# on the training sets (0.1307, 0.2860, (0.4914, 0.4822, 0.4465)). CIFAR-10's divisor is three
# times (0.2023, 0.1994, 0.2010), the authors' quirk.
PIPELINE = {
    # name: (zero-pad 28 -> 32, random-crop edge padding, horizontal flip, mean, std divided by)
    "mnist": (True, 2, False, (0.1307,), (0.3081,)),
    "fashion-mnist": (True, 2, True, (0.2860,), (0.3530,)),
    "fashion-mnist-sample": (True, 2, True, (0.2860,), (0.3530,)),
    "svhn": (False, 4, False, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "cifar10": (False, 4, True, (0.4914, 0.4822, 0.4465), (0.6069, 0.5982, 0.6030)),
    "cifar100": (False, 4, True, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}

# Sources: the publishers' pages (MNIST: LeCun et al.; Fashion-MNIST: Xiao et al. 2017; SVHN:
# Netzer et al. 2011, cropped digits without "extra"; CIFAR: Krizhevsky 2009); the sample:
# data/README.md.
SHAPES = {
    # name: (channels, native image size, classes, train examples, test examples)
    "mnist": (1, 28, 10, 60000, 10000),
    "fashion-mnist": (1, 28, 10, 60000, 10000),
    "fashion-mnist-sample": (1, 28, 10, 6000, 1000),
    "svhn": (3, 32, 10, 73257, 26032),
    "cifar10": (3, 32, 10, 50000, 10000),
    "cifar100": (3, 32, 100, 50000, 10000),
}


def test_every_dataset_is_pinned():
    assert set(DATASETS) == set(PIPELINE) == set(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_and_sizes_are_the_published_ones(name, tmp_path):
    spec = DATASETS[name]
    channels, size, classes, n_train, n_test = SHAPES[name]
    assert (spec.channels, spec.image_size, spec.classes) == (channels, size, classes)
    assert dataset_sizes(name, tmp_path) == (n_train, n_test), "known before loading"


def naive_preprocess(x, literal, offsets, flips):
    """Per-example loop oracle of the torchvision pipeline, from the literal constants."""
    pad28, crop, _, mean, std = literal
    x = x if x.ndim == 4 else x[..., None]
    out = []
    for n in range(len(x)):
        img = x[n].astype(np.float64)
        if pad28:
            img = np.pad(img, ((2, 2), (2, 2), (0, 0)))
        if offsets is not None:
            img = np.pad(img, ((crop, crop), (crop, crop), (0, 0)), mode="edge")
            dy, dx = offsets[n]
            img = img[dy:dy + 32, dx:dx + 32]
        if flips is not None and flips[n]:
            img = img[:, ::-1]
        img = (img / 255 - np.array(mean)) / np.array(std)
        out.append(img.transpose(2, 0, 1))  # (32, 32, C) -> (C, 32, 32)
    return np.stack(out, axis=-1)  # batch last: (C, 32, 32, N)


@pytest.mark.parametrize("name", sorted(PIPELINE))
def test_preprocess_matches_the_oracle_of_the_literal_pipeline(name):
    spec, literal = DATASETS[name], PIPELINE[name]
    channels, size = SHAPES[name][:2]
    x = np.random.default_rng(7).integers(0, 256, (8, size, size, channels), np.uint8)
    out = preprocess(x, spec, np.random.default_rng(11), train=True, dtype=np.float64)
    draws = np.random.default_rng(11)  # draw order: (N, 2) crop offsets, then (N,) flip coins
    offsets = draws.integers(0, 2 * literal[1] + 1, size=(8, 2))
    flips = draws.random(8) < 0.5 if literal[2] else None
    if flips is not None:
        assert 0 < flips.sum() < 8, "the seed flips some images and not others"
    assert out.shape == (channels, 32, 32, 8) and out.dtype == np.float64, "(C, 32, 32, N)"
    np.testing.assert_allclose(out, naive_preprocess(x, literal, offsets, flips), rtol=0,
                               atol=1e-12, err_msg=f"{name} train pipeline")
    test_out = preprocess(x, spec)
    np.testing.assert_allclose(test_out, naive_preprocess(x, literal, None, None), atol=1e-6,
                               err_msg=f"{name} test pipeline")
    assert test_out.dtype == np.float32 and test_out.flags.c_contiguous, "float32 contiguous"


def test_output_is_batch_last():
    spec = DATASETS["cifar10"]
    x = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), np.uint8)
    out = preprocess(x, spec)
    for n in range(5):
        np.testing.assert_array_equal(out[..., n], preprocess(x[n:n + 1], spec)[..., 0])


def test_preprocess_padding_value_and_range():
    spec = DATASETS["mnist"]
    x = np.full((3, 28, 28), 255, np.uint8)
    out = preprocess(x, spec)  # (1, 32, 32, 3)
    pad_val, ones_val = (0 - 0.1307) / 0.3081, (1 - 0.1307) / 0.3081
    np.testing.assert_allclose(out[0, :2, :, :], pad_val, rtol=1e-6, err_msg="padded rows")
    np.testing.assert_allclose(out[0, 2:30, 2:30, :], ones_val, rtol=1e-6, err_msg="interior")
    aug = preprocess(x, spec, np.random.default_rng(0), train=True)
    assert np.all((np.isclose(aug, pad_val)) | np.isclose(aug, ones_val)), "only shifts"
    assert (np.isclose(aug, ones_val).sum(axis=(0, 1, 2)) == 28 * 28).all(), "shift keeps image"


def test_cifar10_std_quirk_and_plain_std():
    spec = DATASETS["cifar10"]
    assert spec.std_scale == 3.0 and DATASETS["cifar100"].std_scale == 1.0
    x = np.zeros((1, 32, 32, 3), np.uint8)
    np.testing.assert_allclose(preprocess(x, spec)[:, 0, 0, 0],
                               -np.array([0.4914, 0.4822, 0.4465]) / [0.6069, 0.5982, 0.6030],
                               rtol=1e-6, err_msg="x3 std by default")
    np.testing.assert_allclose(preprocess(x, spec.with_plain_std())[:, 0, 0, 0],
                               -np.array([0.4914, 0.4822, 0.4465]) / [0.2023, 0.1994, 0.2010],
                               rtol=1e-6, err_msg="plain std on request")


def test_flip_determinism_and_refusals():
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
    with pytest.raises(DataError, match="uint8"):
        preprocess(x.astype(np.float32), spec)
    with pytest.raises(DataError, match=r"\(N, H, W, 3\)"):
        preprocess(x[..., :1], spec)
    with pytest.raises(DataError, match="floating"):
        preprocess(x, spec, dtype=np.int32)


# ---------------------------------------------------------------- splits and the sample

def test_split_validation():
    rng = np.random.default_rng(0)
    train = Split(np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1), np.arange(20), "src")
    tr, va = split_validation(train, 5, np.random.default_rng(1))
    assert len(tr) == 15 and len(va) == 5, "sizes"
    assert sorted(np.concatenate([tr.y, va.y]).tolist()) == list(range(20)), "a partition"
    assert np.all(np.diff(tr.y) > 0), "original order kept"
    assert tr.source == va.source == "src", "provenance kept"
    _, va2 = split_validation(train, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(va.y, va2.y, err_msg="seeded")
    for bad in (20, 25, -1):
        with pytest.raises(DataError, match="val_size"):
            split_validation(train, bad, rng)


def test_embedded_sample_loads_and_verifies(monkeypatch):
    train, test = load_sample()
    assert train.x.shape == (6000, 28, 28, 1) and test.x.shape == (1000, 28, 28, 1), "sizes"
    assert np.bincount(train.y).tolist() == [600] * 10, "balanced train"
    assert np.bincount(test.y).tolist() == [100] * 10, "balanced test"
    assert "embedded sample" in train.source and "SHA-256 verified" in train.source
    lines = []
    same, _ = load_dataset("fashion-mnist-sample", log=lines.append)
    np.testing.assert_array_equal(same.y, train.y, err_msg="also via load_dataset")
    assert len(lines) == 2, "one line per split"
    monkeypatch.setitem(sample.SAMPLE_SHA256, "test.npz", "0" * 64)
    with pytest.raises(DataError, match="SHA-256.*git checkout"):
        load_sample()

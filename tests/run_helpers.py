"""Shared by the training, reliability and CLI tests: a tiny learnable dataset on disk, the
flags of a tiny run, and comparisons of run folders."""
import json

import numpy as np

from ebl_ref import checkpoint

TIMING = ("seconds", "train_seconds", "eval_seconds", "examples_per_s")  # may differ by session


def write_blob_dataset(root, n_train=440, n_test=120, seed=0):
    """A learnable 28×28 "mnist" in the prepared form: a bright 6×5 blob whose position (one
    of ten) is the label, on a noisy background."""
    rng = np.random.default_rng(seed)
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            r, c = 3 + 11 * (label // 5), 2 + 5 * (label % 5)
            x[i, r:r + 6, c:c + 5] = 255
        np.savez(folder / f"{split}.npz", x=x, y=y)
    return root


def tiny_args(data_dir, out, *extra):
    return ["--dataset", "mnist", "--data-dir", str(data_dir), "--out", str(out),
            "--widths", "4,6,8,8", "--batch-size", "16", "--free-iters", "6",
            "--train-iters", "3", "--lr", "0.2,0.12,0.08,0.06,0.04", "--gains", "0.8",
            "--log-every", "1000", *extra]


def read_params(run_dir, name="checkpoint.npz"):
    """``(arrays, meta)`` of a run's checkpoint, arrays = parameters and momentum buffers."""
    arrays, meta = checkpoint.load(run_dir / name)
    return {k: v for k, v in arrays.items() if k.startswith(("param/", "velocity/"))}, meta


def read_history(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def untimed(history):
    return [{k: v for k, v in m.items() if k not in TIMING} for m in history]


def assert_same_run(a, b):
    """Same parameters, momentum, RNG state and metrics (bar timings) in two run folders."""
    pa, ma = read_params(a)
    pb, mb = read_params(b)
    assert ma["epoch"] == mb["epoch"] and ma["position"] == mb["position"] == 0
    assert sorted(pa) == sorted(pb)
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    assert ma["rng"] == mb["rng"], "generator states differ"
    assert untimed(read_history(a)) == untimed(read_history(b))
    assert untimed(ma["history"]) == untimed(mb["history"])

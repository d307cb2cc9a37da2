"""Training: optimiser and schedule against their formulas, the top-5 error and the pinned
defaults, an end-to-end run on tiny synthetic data that must learn, bit-exact resume (after an
epoch and after Ctrl-C mid-epoch), the run folder's contents, and one-line error messages.
Signals, divergence and damaged files: tests/test_reliability.py."""
import inspect
import json
import math

import numpy as np
import pytest
from run_helpers import read_params, tiny_args, write_blob_dataset

from ebl_ref import cli, train
from ebl_ref.config import Config, resolve
from ebl_ref.optim import cosine_lr, sgd_step
from ebl_ref.algorithms import estimate_gradient
from ebl_ref.train import top_errors


# --------------------------------------------------------------------------- optimiser

def test_sgd_step_matches_pytorch_formula():
    rng = np.random.default_rng(0)
    params = {"b1": rng.standard_normal(3), "W5": rng.standard_normal((2, 2))}
    g1 = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    g2 = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    lrs, mu, wd = [0.1, 0.2, 0.3, 0.4, 0.5], 0.9, 0.01
    p1, v1 = sgd_step(params, g1, None, lrs, mu, wd)
    p2, v2 = sgd_step(p1, g2, v1, lrs, mu, wd)
    for k, lr in (("b1", 0.1), ("W5", 0.5)):
        d1 = g1[k] + wd * params[k]                   # coupled weight decay
        np.testing.assert_allclose(p1[k], params[k] - lr * d1)   # v = d at the first step
        v_2 = mu * d1 + g2[k] + wd * p1[k]
        np.testing.assert_allclose(v2[k], v_2)
        np.testing.assert_allclose(p2[k], p1[k] - lr * v_2)


def test_cosine_schedule_matches_formula():
    lr0, T = 0.05, 10
    assert cosine_lr(lr0, 1, T) == pytest.approx(lr0)
    assert cosine_lr(lr0, T + 1, T) == pytest.approx(2e-6)
    for e in range(1, T + 1):
        expected = 2e-6 + (lr0 - 2e-6) * (1 + math.cos(math.pi * (e - 1) / T)) / 2
        assert cosine_lr(lr0, e, T) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- pinned values

def test_top5_error_counts_labels_outside_the_five_largest_outputs():
    """Hand-made outputs where the five *smallest* outputs would give another answer."""
    o = np.array([[9, 8, 7, 6, 5, 4, 3, 2, 1, 0],     # label 4: 5th largest -> top-5 hit
                  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],     # label 5: 6th largest -> top-5 miss
                  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],    # label 9: largest -> top-1 and top-5 hit
                 dtype=float)
    labels = np.array([4, 5, 9])
    # top-1 misses rows 0 and 1, top-5 row 1 only (the five smallest would miss rows 0 and 2)
    assert top_errors(o, labels) == (2, 1)
    assert top_errors(o[:, :3], np.array([2, 0, 1]), k=5) == (2, 0)  # k capped at M = 3


def test_default_zero_term_is_relaxed():
    """The β = 0 term of CL and the one-sided rules defaults to the re-relaxed state of the
    authors' code (rules.py module docstring; README "Measured": "free" leaves P-EP at ≈ 90%
    error with the quick preset)."""
    assert Config().zero_term == "relaxed"
    assert resolve("quick").zero_term == "relaxed"
    assert inspect.signature(estimate_gradient).parameters["zero_term"].default == "relaxed"


def test_comparative_preset_is_table_1():
    """Paper §4.1: one set of hyperparameters for every rule and dataset, 100 epochs; the
    values of the authors' comparative-study script (presets.py)."""
    c = resolve("comparative")
    assert (c.epochs, c.batch_size, c.beta, c.free_iters, c.train_iters, c.mode) == (
        100, 128, 0.25, 60, 15, "async")
    assert c.widths == (128, 256, 512, 512) and c.gains == (0.5,) * 5
    assert c.lr == (0.0625, 0.0375, 0.025, 0.02, 0.0125)
    assert (c.momentum, c.weight_decay, c.eta_min) == (0.9, 3e-4, 2e-6)
    assert resolve("comparative", algo="cl").beta == 1.0  # CL clamps the output: β = 1
    assert resolve("comparative", algo="cl", beta=0.5).beta == 0.5  # unless given


# --------------------------------------------------------------------------- tiny runs

@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"))


def test_end_to_end_run_learns_and_writes_a_complete_folder(blob_dir, tmp_path):
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "3", "--val-size", "40",
                              "--widths", "8,8,16,16", "--free-iters", "10",
                              "--train-iters", "5")) == 0
    for name in ("config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint.npz",
                 "best.npz", "status.json"):
        assert (out / name).is_file(), f"{name} missing from the run folder"
    summary = json.loads((out / "summary.json").read_text())
    assert {"algo", "dataset", "epochs", "test_error", "best_val_error", "seconds"} <= set(summary)
    assert summary["test_error"] < 0.5, f"did not learn: test error {summary['test_error']}"
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert {"lr", "train_error", "train_cost", "train_energy", "val_error", "test_error",
            "residual", "seconds", "examples_per_s"} <= set(lines[0])
    config = json.loads((out / "config.json").read_text())
    assert config["widths"] == [8, 8, 16, 16] and config["val_size"] == 40


def test_resume_after_an_epoch_is_bit_exact(blob_dir, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(tiny_args(blob_dir, straight, "--epochs", "2")) == 0
    assert cli.main(tiny_args(blob_dir, split, "--epochs", "1")) == 0
    assert cli.main(["--resume", str(split), "--epochs", "2"]) == 0
    a, meta_a = read_params(straight)
    b, meta_b = read_params(split)
    assert meta_a["epoch"] == meta_b["epoch"] == 2
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert meta_a["rng"] == meta_b["rng"]


def test_ctrl_c_writes_a_checkpoint_and_resume_is_bit_exact(blob_dir, tmp_path, monkeypatch,
                                                          capsys):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert cli.main(tiny_args(blob_dir, straight, "--epochs", "1")) == 0
    real, calls = train.estimate_gradient, {"n": 0}

    def interrupt_on_fifth_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "estimate_gradient", interrupt_on_fifth_batch)
    assert cli.main(tiny_args(blob_dir, interrupted, "--epochs", "1")) == 130
    assert f"--resume {interrupted}" in capsys.readouterr().out
    _, meta = read_params(interrupted)
    assert meta["epoch"] == 0 and meta["position"] == 4 * 16
    monkeypatch.setattr(train, "estimate_gradient", real)
    assert cli.main(["--resume", str(interrupted)]) == 0
    a, _ = read_params(straight)
    b, _ = read_params(interrupted)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --------------------------------------------------------------------------- failures

@pytest.mark.parametrize("flags, message", [
    (["--algo", "ep"], "unknown algorithm 'ep': choose one of cl, p-ep"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet': choose one of"),
    (["--beta", "0"], "--beta must be a finite number > 0, got 0.0"),
    (["--beta", "-0.1"], "--beta must be a finite number > 0"),
    (["--free-iters", "0"], "--free-iters must be an integer >= 1"),
    (["--train-iters", "0"], "--train-iters must be an integer >= 1"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["--widths", "8,8,8"], "--widths needs 4 comma-separated values"),
    (["--lr", "0.1,0.2"], "--lr needs 5 comma-separated values"),
    (["--train-subset", "100000"], "exceeds the"),
])
def test_bad_flags_give_one_clear_line(blob_dir, tmp_path, capsys, flags, message):
    code = cli.main(tiny_args(blob_dir, tmp_path / "r", "--epochs", "1", *flags))
    err = capsys.readouterr().err
    assert code != 0 and message in err, err
    assert "Traceback" not in err


def test_default_preset_is_quick_for_the_sample_and_table_1_for_real_data():
    from ebl_ref.presets import default_preset
    assert default_preset(None, None) == "quick"
    assert default_preset(None, "fashion-mnist-sample") == "quick"
    assert default_preset(None, "cifar10") == "comparative"
    assert default_preset("quick", "cifar10") == "quick"


def test_unknown_preset_is_one_line_and_exit_2(capsys):
    assert cli.main(["--preset", "fastest"]) == 2
    err = capsys.readouterr().err
    assert "--preset: unknown preset 'fastest': choose one of comparative" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_missing_data_names_the_fix(tmp_path, capsys, monkeypatch):
    import ebl_ref.data.fetch as fetch

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(fetch, "fetch_url", offline)
    code = cli.main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                     "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and "train-images-idx3-ubyte.gz" in err and "--data-dir" in err, err


def test_tampered_data_is_refused(tmp_path, capsys):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"not the real file")
    code = cli.main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                     "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and ("md5" in err.lower() or "size" in err.lower()), err
    assert "Traceback" not in err


def test_gpu_without_cupy_names_the_extra(blob_dir, tmp_path, capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    code = cli.main(tiny_args(blob_dir, tmp_path / "r", "--device", "gpu"))
    err = capsys.readouterr().err
    assert code != 0 and "ebl-ref[cuda12]" in err, err


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["--resume", str(tmp_path)]) != 0
    assert "not a run folder" in capsys.readouterr().err


def test_resume_refuses_an_incompatible_config(blob_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1")) == 0
    assert cli.main(["--resume", str(out), "--widths", "8,8,8,8"]) != 0
    assert "different widths" in capsys.readouterr().err


def test_out_folder_is_never_overwritten(blob_dir, tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "something").write_text("precious")
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1")) != 0
    assert "not empty" in capsys.readouterr().err
    assert (out / "something").read_text() == "precious"


def test_non_finite_parameters_stop_the_run_with_a_message(blob_dir, tmp_path, capsys):
    out = tmp_path / "r"
    code = cli.main(tiny_args(blob_dir, out, "--epochs", "1", "--lr", "1e6"))
    captured = capsys.readouterr()
    assert code == 3 and "diverged at epoch 1" in captured.err, captured.err
    assert "Traceback" not in captured.err and "Warning" not in captured.err
    assert not (out / "checkpoint.npz").exists(), "a non-finite state must not be checkpointed"
    assert "no checkpoint yet" in captured.err, "the last line must not point at nothing"

"""The one command line: flags derived from the Config fields, the comma-list parser, one-line
refusals (exit 2, no traceback) in every subcommand, checks before any data is read, and a
``main`` that returns instead of exiting."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from run_helpers import tiny_args, write_blob_dataset

from ebl_ref.convolution import CONV_PATHS
from ebl_ref import cli, splits
from ebl_ref.analog import PRESETS as ANALOG_PRESETS
from ebl_ref.backend import DEVICES, DTYPES, MATMULS
from ebl_ref.config import FIELDS, RESUMABLE, Config, flag
from ebl_ref.data import DATASETS
from ebl_ref.flags import describe_default
from ebl_ref.minimize import SCHEDULES
from ebl_ref.presets import PRESETS
from ebl_ref.algorithms import ALGORITHMS
from ebl_ref.rules import ZERO_TERMS
from ebl_ref.values import POSITIVE, Range, UsageError, check_range, parse_list

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"), n_train=60, n_test=20)


def one_line_refusal(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


# --------------------------------------------------------------------------- values

def test_parse_list_counts_broadcasts_and_refuses():
    assert parse_list("0.1,0.2", float, "x") == (0.1, 0.2)
    assert parse_list("0.5", float, "gains", 5, broadcast=True) == (0.5,) * 5
    assert parse_list([8, 16, 32, 32], int, "widths", 4) == (8, 16, 32, 32)
    for bad, message in [("1,,2", "empty element"), ("8,8,8", "needs 4"),
                         ("8,8,8.5,8", "expected an integer"), ([8, True, 8, 8], "integer"),
                         ("a,b,c,d", "expected an integer")]:
        with pytest.raises(UsageError, match=message):
            parse_list(bad, int, "widths", 4)


def test_ranges_refuse_nan_and_inf_and_name_the_range():
    assert str(POSITIVE) == "> 0" and str(Range(0, 1, hi_open=True)) == "in [0, 1)"
    for value in (float("nan"), float("inf"), 0.0):
        with pytest.raises(UsageError, match=r"--beta must be a finite number > 0"):
            check_range(value, POSITIVE, "beta")
    with pytest.raises(UsageError, match=r"every value of --lr must be a finite number > 0, "
                                         r"got 0.1,nan"):
        check_range((0.1, float("nan")), POSITIVE, "lr")


# --------------------------------------------------------------------------- flags

def test_every_config_field_is_a_flag_with_its_default_in_the_help(capsys):
    assert cli.main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in FIELDS:
        assert flag(name) + " " in text, name
        assert describe_default(name) in text, name
    assert "default: the preset's (quick: 6; comparative: 100)" in text  # --epochs
    assert "--zero-term NAME β = 0 state" in text and "(default: relaxed)" in text


def test_choices_come_from_the_owning_tables():
    owners = {"algo": ALGORITHMS, "dataset": DATASETS, "preset": PRESETS, "device": DEVICES,
              "dtype": DTYPES, "mode": SCHEDULES, "zero_term": ZERO_TERMS, "conv": CONV_PATHS,
              "matmul": MATMULS, "analog": ANALOG_PRESETS}
    for name, f in FIELDS.items():
        assert f.metadata["choices"] == (tuple(owners[name]) if name in owners else None), name
    assert set(RESUMABLE) == {"epochs", "device", "data_dir", "log_every", "eval_batch_size",
                              "conv", "threads", "eval_every", "checkpoint_every", "cache_dir",
                              "cache", "tensorboard"}


def test_config_field_defaults_are_the_documented_ones():
    """Field defaults (used where no preset sets a value), pinned to literals."""
    c = Config()
    assert (c.algo, c.dataset, c.device, c.dtype, c.seed, c.eval_batch_size, c.eta_min,
            c.zero_term, c.log_every, c.train_subset, c.val_size, c.data_dir, c.conv,
            c.matmul) == (
        "c-ep", "fashion-mnist", "cpu", "float32", 0, 256, 2e-6, "relaxed", 20, 0, 0, None,
        "auto", "ieee")
    # issue 9: all cores (or the environment's count), full test set, every epoch evaluated,
    # checkpoints at epoch ends only, the user cache, no TensorBoard
    assert (c.threads, c.test_subset, c.eval_every, c.checkpoint_every, c.cache_dir, c.cache,
            c.tensorboard) == (0, 0, 1, 0.0, None, True, False)
    assert [f.name for f in dataclasses.fields(Config)] == list(FIELDS)


# --------------------------------------------------------------------------- train

@pytest.mark.parametrize("flags, message", [
    (["--lr", "0.05,nan,0.05,0.05,0.05"], "every value of --lr must be a finite number >= 0"),
    (["--gains", "0.5,nan,0.5,0.5,0.5"], "every value of --gains must be a finite number > 0"),
    (["--gains", "0.5,inf,0.5,0.5,0.5"], "got 0.5,inf,0.5,0.5,0.5"),
    (["--beta", "nan"], "--beta must be a finite number > 0, got nan"),
    (["--momentum", "1"], "--momentum must be a finite number in [0, 1)"),
    (["--weight-decay=-1e-4"], "--weight-decay must be a finite number >= 0"),
    (["--widths", "8,8,0,8"], "every value of --widths must be an integer >= 1"),
    (["--widths", "8,8,8.5,8"], "--widths: expected an integer, got '8.5'"),
    (["--epochs", "two"], "--epochs: expected an integer, got 'two'"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--mode", "fast"], "--mode: unknown mode 'fast': choose one of async, sync"),
    (["--zero-term", "zero"], "--zero-term: unknown zero-term 'zero'"),
    (["--dtype", "float16"], "--dtype float16 needs --device gpu"),
    (["--algo", "c-ep", "--beta", "1.5"], "--beta must be < 1 for c-ep"),
    (["--val-size", "5000", "--train-subset", "500"],
     "--val-size 5000 must be smaller than --train-subset 500"),
    (["--train-subset", "100"], "--train-subset 100 exceeds the 60 training examples of mnist"),
    (["--val-size", "60"], "--val-size 60 must be smaller than the 60 training examples"),
    (["--nonsense"], "unrecognized arguments: --nonsense"),
    (["--epochs"], "argument --epochs: expected one argument"),
])
def test_train_refuses_bad_flags_before_reading_data(flags, message, blob_dir, tmp_path,
                                                     monkeypatch, capsys):
    def no_data(*args, **kwargs):
        raise AssertionError("data was read before the flags were checked")

    monkeypatch.setattr(splits, "load_dataset", no_data)
    out = tmp_path / "r"
    one_line_refusal(capsys, cli.main(tiny_args(blob_dir, out, *flags)), message)
    assert not out.exists(), "a refused run must not leave a folder"


def test_resume_checks_its_flags_too(blob_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1", "--train-subset", "16")) == 0
    capsys.readouterr()
    one_line_refusal(capsys, cli.main(["--resume", str(out), "--epochs", "0"]),
                     "--epochs must be an integer >= 1")
    one_line_refusal(capsys, cli.main(["--resume", str(out), "--gains", "nan"]),
                     "every value of --gains must be a finite number > 0")


def test_main_returns_instead_of_exiting(capsys):
    for argv in (["--help"], ["train", "--help"], ["gradcheck", "--help"], ["bench", "--help"],
                 ["trace", "--help"], ["plot", "--help"], ["table", "--help"]):
        assert cli.main(argv) == 0, argv
    text = capsys.readouterr().out
    assert "gradcheck" in text and "--repeats" in text and "--rbp-iters" in text


# --------------------------------------------------------------------------- other commands

@pytest.mark.parametrize("argv, message", [
    (["gradcheck", "--gains", "0.5,nan,0.5,0.5,0.5"], "every value of --gains must be a finite"),
    (["gradcheck", "--betas", "0.1,nan"], "every value of --betas must be a finite number > 0"),
    (["gradcheck", "--widths", "8,8,8.5,8"], "--widths: expected an integer"),
    (["gradcheck", "--seed", "-3"], "--seed must be an integer >= 0"),
    (["gradcheck", "--device", "tpu"], "--device: unknown device 'tpu'"),
    (["bench", "--widths", "8,8,nan,8"], "--widths: expected an integer, got 'nan'"),
    (["bench", "--batch", "0"], "--batch must be an integer >= 1"),
    (["bench", "--repeats", "0"], "--repeats must be an integer >= 1"),
    (["bench", "--device", "tpu"], "--device: unknown device 'tpu'"),
    (["bench", "--dtype", "float16"], "float16 is supported on --device gpu only"),
    (["bench", "--free-iters", "1e3"], "--free-iters: expected an integer"),
])
def test_other_commands_refuse_bad_flags_with_one_line(argv, message, capsys):
    one_line_refusal(capsys, cli.main(argv), message)


def test_trace_refuses_a_file_as_its_folder(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    one_line_refusal(capsys, cli.main(["trace", "--out", str(path)]), "is a file")


def test_the_module_entry_points_give_exit_2(tmp_path):
    """``python -m ebl_ref.cli`` and ``python -m ebl_ref.bench`` go through the same main."""
    out = tmp_path / "r"
    out.mkdir()
    (out / "x").write_text("precious")
    for argv, needle in ((["ebl_ref.cli", "--out", str(out)], f"--resume {out}"),
                         (["ebl_ref.bench", "--batch", "0"], "--batch must be an integer")):
        proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr

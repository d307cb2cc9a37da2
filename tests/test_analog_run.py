"""Analog runs end to end on tiny synthetic data: the settings are recorded in config.json,
bad values exit 2 with one line, the hooks change the run when on, and a run with every model
on resumes bit-exactly (its noise comes from the checkpointed Generator and the seed)."""
import json

import numpy as np
import pytest
from run_helpers import read_params, tiny_args, write_blob_dataset

from ebl_ref import cli

NOISY = ("--analog", "reram-gong", "--analog-levels", "64", "--analog-w-noise", "0.01",
         "--analog-relax-noise", "0.01", "--analog-w-gain-dtod", "0.05", "--analog-n-reads", "2")


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"))


def test_config_records_the_machine_and_the_hooks_change_the_run(blob_dir, tmp_path):
    ideal, noisy = tmp_path / "ideal", tmp_path / "noisy"
    assert cli.main(tiny_args(blob_dir, ideal, "--epochs", "1")) == 0
    assert cli.main(tiny_args(blob_dir, noisy, "--epochs", "1", *NOISY)) == 0
    c = json.loads((noisy / "config.json").read_text())
    assert c["analog"] == "reram-gong" and c["analog_dw_min"] == 0.002
    assert c["analog_levels"] == 64 and c["analog_n_reads"] == 2
    assert json.loads((ideal / "config.json").read_text())["analog"] == "ideal"
    a, _ = read_params(ideal)
    b, _ = read_params(noisy)
    assert not np.array_equal(a["param/W1"], b["param/W1"])
    assert all(np.isfinite(v).all() for v in b.values())


def test_an_analog_run_resumes_bit_exactly(blob_dir, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert cli.main(tiny_args(blob_dir, straight, "--epochs", "2", *NOISY)) == 0
    assert cli.main(tiny_args(blob_dir, split, "--epochs", "1", *NOISY)) == 0
    assert cli.main(["--resume", str(split), "--epochs", "2"]) == 0
    a, meta_a = read_params(straight)
    b, meta_b = read_params(split)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert meta_a["rng"] == meta_b["rng"]
    errors = [[json.loads(line)["test_error"] for line in (d / "metrics.jsonl").open()]
              for d in (straight, split)]
    assert errors[0] == errors[1]


@pytest.mark.parametrize("flags,message", [
    (("--analog", "nope"), "unknown analog preset 'nope'"),
    (("--analog-out-noise", "-1"), "--analog-out-noise must be"),
    (("--analog-levels", "1"), "--analog-levels must be 0"),
    (("--analog-up-down", "1.5"), "--analog-up-down must be"),
])
def test_bad_analog_values_are_one_line_and_exit_2(blob_dir, tmp_path, capsys, flags, message):
    assert cli.main(tiny_args(blob_dir, tmp_path / "r", *flags)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err

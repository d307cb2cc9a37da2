"""Runs that survive what clusters and people do to them (issue 7): signals at every stage,
resume as the single source of truth, divergence, strict JSON, damaged run files, file modes,
status.json. Every stopped run must resume to exactly the parameters, generator state and
metrics of an uninterrupted run (CPU)."""
import json
import os
import signal
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from run_helpers import assert_same_run, read_params, tiny_args, write_blob_dataset

from ebl_ref import checkpoint, cli, runfiles, runner, splits, train
from ebl_ref.atomic import atomic_write_text
from ebl_ref.jsonfile import BadFileError, dumps, read_json, write_json
from ebl_ref.runlock import RunLock
from ebl_ref.signals import EXIT_CODES, Guard, Interrupted

ROOT = Path(__file__).resolve().parent.parent
RUN = ("--train-subset", "96", "--val-size", "16", "--epochs", "2")  # 80 train: 5 batches


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"), n_train=200, n_test=40)


@pytest.fixture(scope="module")
def straight(blob_dir, tmp_path_factory):
    """The uninterrupted reference run."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 0
    return out


def on_call(monkeypatch, module, name, n, action):
    """Replace ``module.name`` by a wrapper that runs ``action()`` before its ``n``-th call."""
    real, calls = getattr(module, name), {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def send(sig):
    return lambda: os.kill(os.getpid(), sig)


# --------------------------------------------------------------------------- signals

SIGINT, SIGTERM, SIGUSR1 = signal.SIGINT, signal.SIGTERM, signal.SIGUSR1
POINTS = {  # where: (module, function, call number); what the stop leaves is checked after
    "writing config.json": (runfiles, "write_config", 1),
    "loading the data": (splits, "load_dataset", 1),
    "a batch of epoch 1": (train, "estimate_gradient", 3),
    "a batch of epoch 2": (train, "estimate_gradient", 8),
    "the evaluation": (runner, "evaluate", 1),
    "recording the metrics": (runfiles, "write_metrics", 2),
    "writing status.json": (runner, "write_status", 2),
}


@pytest.mark.parametrize("point, sig", [
    ("writing config.json", SIGINT),
    ("loading the data", SIGTERM),
    ("a batch of epoch 1", SIGINT),
    ("a batch of epoch 1", SIGTERM),
    ("a batch of epoch 1", SIGUSR1),
    ("a batch of epoch 2", SIGUSR1),
    ("the evaluation", SIGUSR1),
    ("the evaluation", SIGINT),
    ("recording the metrics", SIGTERM),
    ("writing status.json", SIGINT),
])
def test_a_signal_anywhere_saves_and_resume_is_bit_exact(point, sig, blob_dir, straight,
                                                         tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    module, name, n = POINTS[point]
    handlers = {s: signal.getsignal(s) for s in (SIGINT, SIGTERM, SIGUSR1)}
    on_call(monkeypatch, module, name, n, send(sig))
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == EXIT_CODES[sig] == 128 + sig
    text = capsys.readouterr().out
    assert f"interrupted by {signal.Signals(sig).name}" in text
    assert f"continue with: python -m ebl_ref --resume {out}" in text
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "interrupted" and status["exit_code"] == 128 + sig
    assert handlers == {s: signal.getsignal(s) for s in handlers}, "handlers must be restored"
    monkeypatch.undo()
    assert cli.main(["--resume", str(out)]) == 0
    assert_same_run(straight, out)
    assert json.loads((out / "status.json").read_text())["state"] == "done"


def test_a_signal_during_a_checkpoint_write_waits_for_the_write(blob_dir, straight, tmp_path,
                                                                 monkeypatch, capsys):
    real, calls = checkpoint.atomic_write_bytes, {"n": 0}

    def write_with_a_signal_inside(path, write):
        calls["n"] += 1

        def writing(f):
            if calls["n"] == 1:          # the trained epoch, before its evaluation
                os.kill(os.getpid(), SIGTERM)
            write(f)
        real(path, writing)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", write_with_a_signal_inside)
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 143
    _, meta = read_params(out)  # complete and readable
    assert meta["epoch"] == 1 and meta["pending"] is not None, "epoch 1 trained, not evaluated"
    assert "evaluation pending" in capsys.readouterr().out
    monkeypatch.undo()
    assert cli.main(["--resume", str(out)]) == 0
    assert_same_run(straight, out)


def test_sigterm_to_a_process_mid_epoch_then_resume_is_bit_exact(blob_dir, tmp_path):
    """The scheduler's case, for real: another process, a real SIGTERM in the middle of an
    epoch (after its first progress line), exit 143, resume, same parameters."""
    args = tiny_args(blob_dir, tmp_path / "killed", "--train-subset", "160", "--epochs", "1",
                     "--log-every", "1", "--free-iters", "12")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ebl_ref.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "epoch 1/1     16/160" in line:
            proc.send_signal(SIGTERM)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM while training epoch 1" in out
    _, meta = read_params(tmp_path / "killed")
    assert meta["epoch"] == 0 and 16 <= meta["position"] < 160
    assert cli.main(["--resume", str(tmp_path / "killed")]) == 0
    reference = tiny_args(blob_dir, tmp_path / "straight", *args[args.index("--train-subset"):])
    assert cli.main(reference) == 0
    assert_same_run(tmp_path / "straight", tmp_path / "killed")


def test_the_guard_defers_outside_abortable_blocks_and_restores_handlers():
    before = signal.getsignal(SIGTERM)
    with Guard() as guard:
        os.kill(os.getpid(), SIGTERM)        # outside a block: remembered, nothing raised
        assert guard.pending == SIGTERM
        with pytest.raises(Interrupted) as exc, guard.abortable():
            pass                              # a pending signal stops the next block at once
        assert exc.value.exit_code == 143
    assert signal.getsignal(SIGTERM) is before
    with Guard() as guard:
        with pytest.raises(Interrupted), guard.abortable():
            os.kill(os.getpid(), SIGUSR1)     # inside a block: raised at once
            for _ in range(1000):
                pass
            raise AssertionError("not stopped")


# --------------------------------------------------------------------------- failures

def test_an_error_during_evaluation_keeps_the_trained_epoch(blob_dir, straight, tmp_path,
                                                             monkeypatch, capsys):
    """Case 1: out of memory at evaluation batch size: the epoch just trained is saved and
    the last line says so truthfully; resuming (with a smaller --eval-batch-size) finishes it."""
    def oom():
        raise MemoryError

    on_call(monkeypatch, runner, "evaluate", 1, oom)
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 1
    err = capsys.readouterr().err
    assert "out of memory (while evaluating epoch 1)" in err
    assert f"saved {out / 'checkpoint.npz'} (epoch 1 trained, its evaluation pending)" in err
    assert "Traceback" not in err
    monkeypatch.undo()
    assert cli.main(["--resume", str(out)]) == 0
    assert_same_run(straight, out)


def test_a_failed_checkpoint_write_points_at_the_last_good_one(blob_dir, straight, tmp_path,
                                                                monkeypatch, capsys):
    real, calls = checkpoint.atomic_write_bytes, {"n": 0}

    def disk_full_on_the_third_write(path, write):
        calls["n"] += 1
        if calls["n"] >= 3:  # 1: epoch 1 trained, 2: best.npz, 3: epoch 1 evaluated
            raise OSError(28, "No space left on device", str(path))
        real(path, write)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", disk_full_on_the_third_write)
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "could not write a checkpoint" in err
    assert f"last checkpoint: {out / 'checkpoint.npz'} (epoch 1 trained, its evaluation " \
           "pending)" in err, err
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
    monkeypatch.undo()
    assert cli.main(["--resume", str(out)]) == 0
    assert_same_run(straight, out)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("lr, message", [("1000", "non-finite"), ("1e30", "non-finite")])
def test_divergence_stops_with_exit_3_and_strict_json(blob_dir, tmp_path, capsys, lr, message):
    """Cases 4 and 7: finite but exploding parameters are caught on the cost/energy; the line
    says there is no checkpoint (there is none); every JSON file is strict."""
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1", "--lr", lr)) == 3
    err = capsys.readouterr().err
    assert "diverged at epoch 1" in err and message in err
    assert "no checkpoint yet" in err and not (out / "checkpoint.npz").exists()
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and status["exit_code"] == 3
    assert "diverged" in status["last_error"]
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    for path in out.glob("*.json*"):
        texts = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for text in texts:
            json.loads(text, parse_constant=refuse)


def test_divergence_in_epoch_2_keeps_epoch_1s_checkpoint(blob_dir, tmp_path, monkeypatch,
                                                         capsys):
    real, calls = train.sgd_step, {"n": 0}

    def explode_in_epoch_2(*args, **kwargs):
        params, velocity = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 7:  # the second batch of epoch 2
            params = {**params, "W5": params["W5"] * np.inf}
        return params, velocity

    monkeypatch.setattr(train, "sgd_step", explode_in_epoch_2)
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 3
    err = capsys.readouterr().err
    assert "diverged at epoch 2, example 16: non-finite parameters" in err
    assert f"last checkpoint: {out / 'checkpoint.npz'} (epoch 1 trained)" in err, err
    assert read_params(out)[1]["epoch"] == 1


@pytest.mark.parametrize("what", ["free state", "gradient estimate", "parameters", "cost"])
def test_divergence_is_detected_on_each_thing_the_rule_produces(what, blob_dir, tmp_path,
                                                                monkeypatch, capsys):
    real_estimate, real_step = train.estimate_gradient, train.sgd_step

    def estimate(*args, **kwargs):
        grads, free = real_estimate(*args, **kwargs)
        if what == "free state":
            free.s[2] = free.s[2] * np.nan
        if what == "gradient estimate":
            grads = {**grads, "b1": grads["b1"] + np.inf}
        if what == "cost":
            free.s[5] = free.s[5] + 1e30  # finite, but its square overflows float32
        return grads, free

    def step(*args, **kwargs):
        params, velocity = real_step(*args, **kwargs)
        return ({**params, "b3": params["b3"] * np.nan} if what == "parameters" else params,
                velocity)

    monkeypatch.setattr(train, "estimate_gradient", estimate)
    monkeypatch.setattr(train, "sgd_step", step)
    assert cli.main(tiny_args(blob_dir, tmp_path / "r", *RUN)) == 3
    assert f"non-finite {what}" in capsys.readouterr().err


# --------------------------------------------------------------------------- resume policy

def test_extending_epochs_is_recorded_and_survives_an_interruption(blob_dir, tmp_path,
                                                                   monkeypatch, capsys):
    """Case 2: resume --epochs 2, interrupted, then a plain --resume (as advised) continues to
    epoch 2, exactly as an uninterrupted extension does."""
    base = ("--train-subset", "96", "--epochs", "1")
    ref, run = tmp_path / "ref", tmp_path / "run"
    for d in (ref, run):
        assert cli.main(tiny_args(blob_dir, d, *base)) == 0
    assert cli.main(["--resume", str(ref), "--epochs", "2"]) == 0
    on_call(monkeypatch, train, "estimate_gradient", 2, send(SIGTERM))
    assert cli.main(["--resume", str(run), "--epochs", "2"]) == 143
    assert "config.json updated: epochs 1 -> 2" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert not (run / "summary.json").exists(), "a summary of epoch 1 would be stale"
    monkeypatch.undo()
    assert cli.main(["--resume", str(run)]) == 0
    assert_same_run(ref, run)
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2


def test_a_finished_run_says_so_without_reading_data(straight, monkeypatch, capsys):
    def no_data(*args, **kwargs):
        raise AssertionError("a finished run must not load data")

    monkeypatch.setattr(splits, "load_dataset", no_data)
    before = (straight / "checkpoint.npz").read_bytes()
    assert cli.main(["--resume", str(straight)]) == 0
    out = capsys.readouterr().out
    assert f"{straight} is finished: 2 of 2 epochs trained" in out and "--epochs N" in out
    assert (straight / "checkpoint.npz").read_bytes() == before


def test_fewer_epochs_than_trained_is_refused(straight, capsys):
    assert cli.main(["--resume", str(straight), "--epochs", "1"]) == 2
    assert "--epochs 1 is fewer than the 2 epochs already trained" in capsys.readouterr().err


def test_out_and_resume_together_are_refused(straight, tmp_path, capsys):
    assert cli.main(["--resume", str(straight), "--out", str(tmp_path / "x")]) == 2
    assert "--out and --resume exclude each other" in capsys.readouterr().err


def test_a_run_folder_in_use_is_refused(straight, capsys):
    with RunLock(straight):
        assert cli.main(["--resume", str(straight)]) == 2
    assert "is in use by another process" in capsys.readouterr().err


# --------------------------------------------------------------------------- run files

def copy_run(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def with_config(**changes):
    """A damage: config.json with some values replaced (text spliced in as written)."""
    def damage(path):
        config = json.loads(path.read_text())
        config.update({k: f"@{k}@" for k in changes})
        text = json.dumps(config)
        for k, v in changes.items():
            text = text.replace(f'"@{k}@"', v)
        path.write_text(text)
    return damage


@pytest.mark.parametrize("name, damage, message", [
    ("config.json", lambda p: p.write_text('{"algo": '), "config.json is not valid JSON"),
    ("config.json", lambda p: p.write_text("[1, 2]"), "config.json holds a JSON list, not a dict"),
    ("config.json", with_config(lr="[0.1, NaN, 0.1, 0.1, 0.1]"), "non-standard JSON token NaN"),
    ("config.json", with_config(widths="[8, 8, 8]"), "config.json: --widths needs 4"),
    ("config.json", with_config(epochs='"two"'), "config.json: --epochs: expected an integer"),
    ("config.json", with_config(momentum="1.5"), "config.json: --momentum must be a finite"),
    ("config.json", lambda p: p.unlink(), "no config.json there"),
    ("checkpoint.npz", lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "is unreadable"),
    ("checkpoint.npz", lambda p: p.write_bytes(p.read_bytes()[:200]), "is unreadable"),
])
def test_a_damaged_run_file_is_one_line_naming_it(name, damage, message, straight, tmp_path,
                                                  capsys):
    """Case 5: each file a person or a crash may damage names itself and the fix."""
    run = copy_run(straight, tmp_path / "run")
    (run / "summary.json").unlink()  # not finished: the resume must read everything
    damage(run / name)
    assert cli.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and name in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    if (run / "config.json").exists():  # else it is not a run folder: nothing is written
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "failed" and message in status["last_error"]
        assert (status["epoch"], status["epochs"]) == (2, 2), "progress kept from before"


def test_an_edited_config_json_is_caught_against_the_checkpoint(straight, tmp_path, capsys):
    run = copy_run(straight, tmp_path / "run")
    (run / "summary.json").unlink()
    config = json.loads((run / "config.json").read_text())
    config["lr"] = [0.1] * 5
    (run / "config.json").write_text(json.dumps(config))
    assert cli.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "does not match config.json (lr" in err and "config.json was edited" in err


def test_damaged_metrics_are_rebuilt_and_readers_name_the_line(straight, tmp_path):
    run = copy_run(straight, tmp_path / "run")
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "test_')
    with pytest.raises(BadFileError, match=r"metrics.jsonl line 2 is not valid JSON"):
        runfiles.read_metrics(run)
    (run / "summary.json").write_text("{")
    with pytest.raises(BadFileError, match="summary.json is not valid JSON.*--resume"):
        runfiles.read_summary(run)
    (run / "summary.json").unlink()  # the fix the message gives
    assert cli.main(["--resume", str(run)]) == 0
    assert runfiles.read_metrics(run) == runfiles.read_metrics(straight)
    assert runfiles.read_summary(run)["epochs"] == 2


def test_strict_json_writes_null_for_non_finite_numbers(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": float("nan"), "b": [float("inf"), np.float32(-np.inf), 1.5],
                      "c": np.int64(3), "d": (1, 2)})
    assert json.loads(path.read_text()) == {"a": None, "b": [None, None, 1.5], "c": 3,
                                            "d": [1, 2]}
    assert dumps(float("nan")) == "null"
    path.write_text('{"a": Infinity}')
    with pytest.raises(BadFileError, match="x.json is not valid JSON .*Infinity.*; the fix"):
        read_json(path, "the fix")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_run_files_get_the_mode_the_umask_gives(umask, mode, tmp_path):
    """Case 8: 0644 under the usual umask, not mkstemp's 0600."""
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == mode


def test_every_file_of_a_run_folder_is_readable_by_others(straight):
    umask = os.umask(0o022)
    os.umask(umask)
    if umask & 0o044:
        pytest.skip("this session's umask hides files from others")
    for p in straight.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044, p.name


def test_status_json_describes_a_finished_run(straight):
    status = json.loads((straight / "status.json").read_text())
    assert {k: status[k] for k in ("state", "epoch", "epochs", "position", "last_error",
                                   "exit_code")} == {
        "state": "done", "epoch": 2, "epochs": 2, "position": 0, "last_error": None,
        "exit_code": 0}
    assert isinstance(status["pid"], int) and status["host"]
    datetime.fromisoformat(status["updated"])


def test_a_folder_made_but_never_started_is_accepted_by_out(blob_dir, tmp_path):
    """Killed (SIGKILL) between creating --out and writing config.json: the folder holds only
    the lock file, and the same command starts the run."""
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").touch()
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1", "--train-subset", "32")) == 0
    assert cli.main(tiny_args(blob_dir, out, "--epochs", "1")) == 2  # now it is a run


def test_a_resume_stopped_before_its_restore_names_the_checkpoint_on_disk(
        blob_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    assert cli.main(tiny_args(blob_dir, out, "--train-subset", "32", "--epochs", "1")) == 0
    on_call(monkeypatch, splits, "load_dataset", 1, send(SIGTERM))
    assert cli.main(["--resume", str(out), "--epochs", "2"]) == 143
    text = capsys.readouterr().out
    assert f"last checkpoint: {out / 'checkpoint.npz'} (epoch 1 trained)" in text, text
    status = json.loads((out / "status.json").read_text())
    assert (status["state"], status["epoch"], status["epochs"]) == ("interrupted", 1, 2)


def test_resume_of_a_folder_that_is_not_a_run_writes_nothing_there(tmp_path, capsys):
    assert cli.main(["--resume", str(tmp_path)]) == 2
    assert "no config.json there" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

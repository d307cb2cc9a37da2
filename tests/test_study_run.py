"""Running studies with the local executor on tiny synthetic data: idempotent re-runs, a worker
killed mid-cell (SIGKILL) and a study stopped by SIGTERM both converge, on re-running, to the
same parameters as an uninterrupted study, bit for bit; failed cells are reported with their
last error line and retried only on request; cell states read from disk."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ebl_ref import checkpoint
from ebl_ref.study import executors
from ebl_ref.study.cells import CellLock, cell_state
from ebl_ref.study.cli import main as study_main
from ebl_ref.study.folder import log_path, write_json
from ebl_ref.study.spec import StudyError
from ebl_ref.study.worker import clear_unstarted

ROOT = Path(__file__).resolve().parent.parent


def write_blob_dataset(root, n_train=160, n_test=40, seed=0):
    """A learnable 28×28 "mnist" in the prepared form (train.npz / test.npz): a bright blob
    whose position (one of ten) is the label, on a noisy background."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            r, c = 3 + 11 * (label // 5), 2 + 5 * (label % 5)
            x[i, r:r + 6, c:c + 5] = 255
        np.savez(folder / f"{split}.npz", x=x, y=y)
    return Path(root)


def tiny_study(path, name="tiny", epochs=4, axes=None, **overrides):
    """A study file of tiny cells (a few seconds each, mostly process start-up)."""
    study = {"name": name, "preset": "quick",
             "overrides": {"dataset": "mnist", "widths": [4, 6, 8, 8], "batch_size": 16,
                           "free_iters": 5, "train_iters": 3, "gains": [0.8],
                           "epochs": epochs, **overrides},
             "axes": axes or {"seed": [0], "algo": ["c-ep", "tbp"]}}
    Path(path).write_text(json.dumps(study))
    return Path(path)


def run_args(study, out, data, *extra):
    return ["run", str(study), "--out", str(out), "--data-dir", str(data), "--threads", "1",
            *extra]


def final_state(run_dir):
    """Everything a finished run's result is: parameters, momentum, RNG state, test errors."""
    arrays, meta = checkpoint.load(Path(run_dir) / "checkpoint.npz")
    metrics = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text()
               .splitlines()]
    errors = [(m["train_error"], m["test_error"], m["train_cost"]) for m in metrics]
    return arrays, meta["rng"], errors


def assert_same_results(a_dir, b_dir, keys):
    for key in keys:
        arrays_a, rng_a, errors_a = final_state(a_dir / key)
        arrays_b, rng_b, errors_b = final_state(b_dir / key)
        assert sorted(arrays_a) == sorted(arrays_b)
        for name in arrays_a:
            np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=f"{key} {name}")
        assert rng_a == rng_b and errors_a == errors_b, key


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    data = write_blob_dataset(root / "data")
    study = tiny_study(root / "tiny.json")
    reference = root / "reference"
    assert study_main(run_args(study, reference, data, "--workers", "2")) == 0
    return root, data, study, reference


def spawn_study(study, out, data, cwd, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "ebl_ref.study", *run_args(study, out, data,
                                                                               *extra)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for(predicate, timeout=120.0):
    t0 = time.time()
    while not predicate():
        assert time.time() - t0 < timeout, "timed out waiting"
        time.sleep(0.005)


# --------------------------------------------------------------------------- running

def test_a_finished_study_is_not_run_again(setup, capsys):
    root, data, study, reference = setup
    for key in ("mnist/c-ep/seed0", "mnist/tbp/seed0"):
        assert (reference / key / "summary.json").is_file()
        record = json.loads(log_path(reference, key, ".attempt.json").read_text())
        assert record["state"] == "done" and record["attempt"] == 1
        assert record["threads"] == "1" and record["action"] == "fresh"
        assert "attempt 1" in log_path(reference, key, ".log").read_text()
    assert study_main(run_args(study, reference, data)) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert study_main(["status", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "2 cells: 2 done, 0 running, 0 interrupted, 0 failed, 0 pending" in out


def test_a_worker_killed_mid_cell_resumes_bit_exactly(setup, tmp_path):
    root, data, study, reference = setup
    out = tmp_path / "killed"
    proc = spawn_study(study, out, data, tmp_path, "--workers", "2")
    key = "mnist/c-ep/seed0"
    ckpt = out / key / "checkpoint.npz"
    wait_for(lambda: ckpt.is_file())      # epoch 1 of 4 finished: the cell is mid-run
    pid = json.loads(log_path(out, key, ".attempt.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, text
    assert f"interrupted {key}" in text and "worker stopped by SIGKILL" in text, text
    assert "re-run the same command" in text
    state = cell_state(out, key, 4)
    assert state.state == "interrupted" and state.epoch is not None and state.epoch < 4
    assert cell_state(out, "mnist/tbp/seed0", 4).state == "done"
    assert study_main(run_args(study, out, data, "--workers", "2")) == 0
    record = json.loads(log_path(out, key, ".attempt.json").read_text())
    assert record["attempt"] == 2 and record["action"] == "resume"
    assert_same_results(reference, out, ["mnist/c-ep/seed0", "mnist/tbp/seed0"])


def test_a_study_stopped_by_sigterm_continues_bit_exactly(setup, tmp_path):
    root, data, study, reference = setup
    out = tmp_path / "stopped"
    proc = spawn_study(study, out, data, tmp_path, "--workers", "1", "--only", "mnist/tbp/*")
    key = "mnist/tbp/seed0"
    wait_for(lambda: (out / key / "checkpoint.npz").is_file())
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, text
    assert "study stopped; re-run the same command" in text
    assert cell_state(out, key, 4).state == "interrupted"
    assert cell_state(out, "mnist/c-ep/seed0", 4).state == "pending"   # --only left it out
    assert study_main(run_args(study, out, data)) == 0
    assert_same_results(reference, out, [key, "mnist/c-ep/seed0"])


def test_a_failed_cell_is_reported_and_retried_only_on_request(setup, tmp_path, capsys):
    root, data, _, _ = setup
    study = tiny_study(tmp_path / "bad.json", name="bad", epochs=1,
                       axes={"lr": [[1e6]], "algo": ["c-ep"]})
    out = tmp_path / "bad"
    assert study_main(run_args(study, out, data)) == 1
    text = capsys.readouterr().out
    key = "mnist/c-ep/seed0"
    assert f"failed      {key}" in text and "non-finite" in text, text
    state = cell_state(out, key, 1)
    assert state.state == "failed" and "non-finite" in state.last_error
    assert state.exit_code in (2, 3)            # 3 = "diverged" once run.py has its own code
    assert study_main(["status", str(out)]) == 0
    assert "--retry-failed" in capsys.readouterr().out
    assert study_main(run_args(study, out, data)) == 1          # not retried
    text = capsys.readouterr().out
    assert "nothing to run" in text and "not retried (failed; --retry-failed)" in text
    assert json.loads(log_path(out, key, ".attempt.json").read_text())["attempt"] == 1
    assert study_main(run_args(study, out, data, "--retry-failed")) == 1
    assert json.loads(log_path(out, key, ".attempt.json").read_text())["attempt"] == 2


# --------------------------------------------------------------------------- study folders

def test_a_study_folder_holds_one_study(setup, tmp_path, capsys):
    root, data, study, reference = setup
    other = tiny_study(tmp_path / "other.json", epochs=3)
    assert study_main(run_args(other, reference, data)) == 2
    assert "holds the study 'tiny' with other settings" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert study_main(run_args(study, busy, data)) == 2
    assert "is not empty and holds no study.json" in capsys.readouterr().err
    assert study_main(["status", str(tmp_path)]) == 2
    assert "is not a study folder" in capsys.readouterr().err


def test_bad_run_options_are_refused(setup, tmp_path, capsys):
    root, data, study, _ = setup
    assert study_main(["run", str(study), "--out", str(tmp_path / "x"), "--data-dir",
                       str(tmp_path / "nowhere")]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert study_main(run_args(study, tmp_path / "x", data, "--workers", "0")) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- cell states

def test_cell_states_from_disk(tmp_path):
    key = "mnist/c-ep/seed0"
    run_dir = tmp_path / key
    assert cell_state(tmp_path, key, 3).state == "pending"
    lock = CellLock(tmp_path, key)
    assert lock.acquire()
    try:
        assert cell_state(tmp_path, key, 3).state == "running"
        assert not CellLock(tmp_path, key).acquire(tries=1)    # a second worker backs off
    finally:
        lock.release()
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")
    # a record of a worker that died (SIGKILL) without updating it: the lock is free
    write_json(log_path(tmp_path, key, ".attempt.json"),
               {"state": "running", "pid": 2 ** 22 + 12345, "host": os.uname().nodename,
                "attempt": 1})
    assert cell_state(tmp_path, key, 3).state == "interrupted"
    write_json(log_path(tmp_path, key, ".attempt.json"),
               {"state": "running", "pid": 1, "host": "elsewhere", "attempt": 1})
    assert cell_state(tmp_path, key, 3).state == "running"       # another host: trust it
    (run_dir / "status.json").write_text(json.dumps({"state": "failed", "last_error": "boom",
                                                     "exit_code": 1}))
    write_json(log_path(tmp_path, key, ".attempt.json"), {"state": "failed", "attempt": 1})
    s = cell_state(tmp_path, key, 3)
    assert (s.state, s.last_error, s.exit_code) == ("failed", "boom", 1)
    (run_dir / "summary.json").write_text(json.dumps({"epochs": 3, "test_error": 0.25}))
    s = cell_state(tmp_path, key, 3)
    assert (s.state, s.test_error, s.epoch) == ("done", 0.25, 3)


def test_a_cell_that_died_before_its_first_checkpoint_restarts_clean(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    for name in ("config.json", "env.json", "metrics.jsonl", ".checkpoint.npz.tmp1", ".lock"):
        (run_dir / name).write_text("x")
    clear_unstarted(run_dir, log=lambda *a: None)
    assert [p.name for p in run_dir.iterdir()] == [".lock"]     # the run's own lock stays
    (run_dir / "config.json").write_text("x")
    (run_dir / "my-notes.txt").write_text("precious")
    with pytest.raises(StudyError, match="my-notes.txt"):
        clear_unstarted(run_dir, log=lambda *a: None)
    assert (run_dir / "my-notes.txt").read_text() == "precious"
    assert (run_dir / "config.json").is_file()


def test_blas_threads_are_split_between_workers(monkeypatch):
    monkeypatch.setattr(executors, "usable_cores", lambda: 8)
    assert [executors.default_threads(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    env = executors.worker_env(3)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        assert env[var] == "3"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


# --------------------------------------------------------------------------- the submitit path

def test_submitit_path_requeues_on_preemption_and_resumes_bit_exactly(setup, tmp_path):
    """--executor submitit-local runs the SLURM executor's code through submitit's
    LocalExecutor: the preemption signal (SIGUSR2, as SLURM sends it before the time limit)
    makes the job stop its worker and requeue itself; the requeued job resumes the cell."""
    pytest.importorskip("submitit")
    root, data, study, reference = setup
    out = tmp_path / "submitit"
    key = "mnist/c-ep/seed0"
    proc = spawn_study(study, out, data, tmp_path, "--executor", "submitit-local", "--wait",
                       "--time", "10", "--only", "mnist/c-ep/*")
    wait_for(lambda: (out / key / "checkpoint.npz").is_file())
    job_pid = json.loads(log_path(out, key, ".attempt.json").read_text())["parent_pid"]
    os.kill(job_pid, signal.SIGUSR2)
    text, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, text        # every selected cell is done (--only left one)
    assert "1 done, 0 running, 0 interrupted, 0 failed, 1 pending" in text
    assert f"done        {key}" in text, text
    record = json.loads(log_path(out, key, ".attempt.json").read_text())
    assert record["attempt"] == 2 and record["action"] == "resume"
    logs = "".join(p.read_text() for p in (out / "slurm").rglob("*_log.err"))
    assert "Caught signal SIGUSR2" in logs
    assert json.loads((out / "slurm" / "jobs.json").read_text()).keys() == {key}
    assert_same_results(reference, out, [key])


def test_slurm_options_become_one_job_array():
    submitit = pytest.importorskip("submitit")
    from ebl_ref.study.slurm import slurm_parameters
    params = slurm_parameters("table1", partition="gpu", time_min=240, gpus=1, cpus=8,
                              mem_gb=32, max_parallel=20, signal_delay_s=120,
                              setup=["source .venv/bin/activate"], extra={"qos": "high"})
    assert params == {"job_name": "ebl-table1", "signal_delay_s": 120, "partition": "gpu",
                      "time": 240, "gpus_per_node": 1, "cpus_per_task": 8, "mem": "32GB",
                      "array_parallelism": 20, "setup": ["source .venv/bin/activate"],
                      "additional_parameters": {"qos": "high"}}
    make = getattr(submitit.slurm.slurm, "_make_sbatch_string", None)
    if make is None:
        pytest.skip("this submitit has no _make_sbatch_string")
    text = make(command="python -m x", folder="/f/%j", map_count=135, **params)
    for line in ("#SBATCH --array=0-134%20", "#SBATCH --partition=gpu", "#SBATCH --time=240",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=32GB", "#SBATCH --signal=USR2@120", "#SBATCH --qos=high",
                 "#SBATCH --job-name=ebl-table1", "source .venv/bin/activate"):
        assert line in text, line


def test_a_second_worker_leaves_a_running_cell_alone(tmp_path, capsys):
    from ebl_ref.study.folder import save_plan
    from ebl_ref.study.plan import expand
    from ebl_ref.study.spec import read_study_file
    from ebl_ref.study.worker import EXIT_BUSY, main as worker_main
    study = read_study_file(tiny_study(tmp_path / "s.json"))
    save_plan(tmp_path / "S", study, expand(study))
    key = "mnist/c-ep/seed0"
    record = {"state": "running", "pid": os.getpid(), "host": os.uname().nodename,
              "attempt": 1}
    write_json(log_path(tmp_path / "S", key, ".attempt.json"), record)
    lock = CellLock(tmp_path / "S", key)
    assert lock.acquire()
    try:
        assert worker_main([str(tmp_path / "S"), key]) == EXIT_BUSY
        assert "is being run by another process" in capsys.readouterr().err
        assert executors.finish_record(tmp_path / "S", key, EXIT_BUSY) == record
        assert json.loads(log_path(tmp_path / "S", key, ".attempt.json").read_text()) == record
    finally:
        lock.release()
    assert worker_main([str(tmp_path / "S"), "mnist/x/seed0"]) == 2
    assert "has no cell mnist/x/seed0" in capsys.readouterr().err


def test_a_worker_that_dies_before_its_record_is_reported_failed(setup, tmp_path, capsys,
                                                                 monkeypatch):
    """A worker that cannot even start (e.g. a broken installation) is a failed cell with its
    log's last line, not an unexplained '?' left pending."""
    root, data, _, _ = setup
    study = tiny_study(tmp_path / "one.json", name="one", epochs=1, axes={"algo": ["c-ep"]})
    out = tmp_path / "one"
    crash = [sys.executable, "-c", "import sys; sys.exit('SyntaxError: invalid syntax')"]
    monkeypatch.setattr(executors, "worker_command", lambda *a: crash)
    assert study_main(run_args(study, out, data)) == 1
    text = capsys.readouterr().out
    key = "mnist/c-ep/seed0"
    assert f"failed      {key}" in text and "SyntaxError: invalid syntax" in text, text
    state = cell_state(out, key, 1)
    assert state.state == "failed" and state.last_error == "SyntaxError: invalid syntax"

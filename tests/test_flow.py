"""The researcher's workflow (issue 9): BLAS threads, the plan and its warning, settings shown
before a run, test subsets and evaluation cadence, mid-epoch checkpoints, evaluation after the
fact (``eval``, ``load_run``), log.txt, TensorBoard, and summary fields that mean one thing."""
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_helpers import assert_same_run, read_params, tiny_args, write_blob_dataset

import ebl_ref
from ebl_ref import cli, estimate, report, splits, train
from ebl_ref.config import resolve
from ebl_ref.estimate import LONG_RUN_HOURS, Calibration, Eta, Plan, long_run_warning
from ebl_ref.threads import THREAD_ENV, plan_threads

threadpoolctl = pytest.importorskip("threadpoolctl")

ROOT = Path(__file__).resolve().parent.parent
RUN = ("--train-subset", "64", "--epochs", "2")  # 4 batches of 16 per epoch


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"), n_train=120, n_test=40)


@pytest.fixture(scope="module")
def done_run(blob_dir, tmp_path_factory):
    """A finished tiny run with a validation split and a test subset."""
    out = tmp_path_factory.mktemp("done") / "run"
    assert cli.main(tiny_args(blob_dir, out, *RUN, "--val-size", "16", "--test-subset",
                              "30")) == 0
    return out


def blas_threads_now():
    return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]


# --------------------------------------------------------------------------- threads

def test_threads_1_is_honoured_during_the_run_and_restored_after(blob_dir, tmp_path,
                                                                 monkeypatch):
    seen, real = [], train.train_batch

    def spy(*args, **kwargs):
        seen.extend(blas_threads_now())
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_batch", spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads_now()
        if set(before) != {2}:
            pytest.skip(f"this BLAS takes no 2 threads here ({before}): nothing to lower")
        out = tmp_path / "r"
        assert cli.main(tiny_args(blob_dir, out, *RUN, "--threads", "1")) == 0
        assert blas_threads_now() == before, "the run's limit outlived the run"
    assert seen and set(seen) == {1}, seen
    env = json.loads((out / "env.json").read_text())
    assert env["threads"] == {"requested": 1, "set": 1, "why": "--threads 1"}
    assert {b["threads"] for b in env["blas"]} == {1}
    for key in ("cpu", "host", "cores"):
        assert env[key], key
    assert all(b["library"] and "kernel" in b for b in env["blas"])
    log = (out / "log.txt").read_text()
    assert re.search(r"machine: .*BLAS: \w+ .*kernel .*, 1 thread \(--threads 1\)", log), log


def test_default_threads_follow_the_environment_else_every_usable_core():
    assert plan_threads(3, {}) == (3, "--threads 3")
    assert plan_threads(0, {"OMP_NUM_THREADS": "2"}) == (
        None, "set by the environment (OMP_NUM_THREADS=2)")
    count, why = plan_threads(0, {})
    assert count >= 1 and why == "every core this process may use"
    assert THREAD_ENV == ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                          "BLIS_NUM_THREADS")  # what the study's local executor sets


def test_threads_without_threadpoolctl_is_one_line_before_any_folder(blob_dir, tmp_path,
                                                                     monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, *RUN, "--threads", "1")) == 2
    err = capsys.readouterr().err
    assert "--threads 1 needs threadpoolctl" in err and "ebl-ref[threads]" in err
    assert err.count("\n") == 1 and not out.exists()


# --------------------------------------------------------------------------- plan, estimate

def test_the_plan_counts_with_the_study_cost_model():
    c = resolve("comparative", algo="n-ep", dataset="fashion-mnist", eval_every=10,
                test_subset=1000)
    plan = Plan.of(c, (60000, 10000))
    k = plan.cost
    assert (k.train_examples, k.eval_examples, k.eval_epochs) == (60000, 1000, 10)
    assert plan.remaining_flops() == pytest.approx(k.flops)
    # after 99 epochs and 100 examples of the last: 59,900 examples and one evaluation left
    assert plan.remaining_flops(99, 100) == pytest.approx(59900 * k.train_flops
                                                          + 1000 * k.eval_flops)
    text = "\n".join(plan.lines())
    assert "100 epochs × 60,000 training examples (469 batches of 128)" in text
    assert "60 free + 2×15 second-phase iterations" in text and "every 10 epochs" in text


def test_a_long_cpu_run_is_warned_about_naming_quick_and_gpu():
    c = resolve("comparative", algo="n-ep", dataset="fashion-mnist")
    assert long_run_warning(c, LONG_RUN_HOURS * 3600, "ebl-ref") is None
    text = long_run_warning(c, 29 * 86400, "ebl-ref")
    assert text.startswith("warning: this run is projected to take about 29 days on this CPU")
    assert "ebl-ref --preset quick --dataset fashion-mnist --train-subset 10000" in text
    assert "--device gpu" in text and "ebl-ref[cuda12]" in text
    gpu = resolve("comparative", algo="n-ep", dataset="fashion-mnist", device="gpu")
    assert long_run_warning(gpu, 29 * 86400, "ebl-ref") is None
    assert LONG_RUN_HOURS == 3.0


def test_the_mission_command_is_told_its_duration_before_any_data(blob_dir, monkeypatch,
                                                                  capsys):
    """``--algo n-ep --dataset D`` without --preset quick: the comparative preset; the plan
    and the warning come before a single image is read (calibration stubbed: slow CPU)."""
    def no_data(*args, **kwargs):
        raise AssertionError("the estimate must come before the data")

    monkeypatch.setattr(report, "calibrate", lambda c, b: Calibration(150.0, 32, 4, 0.5))
    monkeypatch.setattr(splits, "load_dataset", no_data)
    assert cli.main(["--algo", "n-ep", "--dataset", "mnist", "--data-dir", str(blob_dir),
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "preset comparative: 100 epochs, widths 128,256,512,512" in out
    # the 120 blob images: about 2 hours at 150 GFLOP/s, no warning
    assert "plan: 100 epochs × 120 training examples" in out and "estimate: about" in out
    assert "warning" not in out
    # MNIST's 60,000 + 10,000 images: weeks
    monkeypatch.setattr(estimate, "cell_cost", lambda config, sizes: _table1_cost(config))
    assert cli.main(["--algo", "n-ep", "--dataset", "mnist", "--data-dir", str(blob_dir),
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warning: this run is projected to take about" in out
    assert "--preset quick" in out and "--device gpu" in out


def _table1_cost(config):
    from ebl_ref.study.cost import cell_cost
    return cell_cost(config, (60000, 10000))


def test_busy_cores_switch_the_default_to_one_thread(monkeypatch):
    rates = iter([10.0, 40.0])  # all threads, then one thread
    monkeypatch.setattr(report, "calibrate", lambda c, b: Calibration(next(rates), 5, 1, 1.0))
    c = resolve("comparative", dataset="mnist")
    threads = {"requested": 0, "set": 2, "why": "every core this process may use"}
    lines, plan, calibration, one = report.plan_report(c, None, (60000, 10000), threads=threads)
    assert one and calibration.gflops == 40.0  # the estimate is the one-thread one
    assert any(line.startswith("threads: 1 BLAS thread for this run, not 2: it ran the "
                               "calibration 4.0× faster") for line in lines), lines
    rates = iter([10.0, 12.0])  # not faster enough: all threads stay
    lines, _, calibration, one = report.plan_report(c, None, (60000, 10000), threads=threads)
    assert not one and calibration.gflops == 10.0
    monkeypatch.setattr(report, "calibrate", lambda c, b: Calibration(10.0, 5, 1, 1.0))
    asked = {"requested": 2, "set": 2, "why": "--threads 2"}  # as asked: one calibration
    lines, _, _, one = report.plan_report(c, None, (60000, 10000), threads=asked)
    assert not one and not any(line.startswith("threads:") for line in lines)
    assert report.BUSY_RATIO == 1.5


def test_a_switch_to_one_thread_holds_for_the_run_and_is_recorded(blob_dir, tmp_path,
                                                                 monkeypatch):
    rates = iter([10.0, 40.0])
    monkeypatch.setattr(report, "calibrate", lambda c, b: Calibration(next(rates), 5, 1, 1.0))
    seen, real = [], train.train_batch

    def spy(*args, **kwargs):
        seen.extend(blas_threads_now())
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_batch", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for k in THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if set(blas_threads_now()) != {2}:
            pytest.skip("this BLAS takes no 2 threads here")
        monkeypatch.setattr("ebl_ref.threads.available_cores", lambda: 2)
        out = tmp_path / "r"
        assert cli.main(tiny_args(blob_dir, out, *RUN)) == 0
        assert set(blas_threads_now()) == {2}
    assert seen and set(seen) == {1}
    env = json.loads((out / "env.json").read_text())
    assert env["threads"]["set"] == 1 and {b["threads"] for b in env["blas"]} == {1}


def test_durations_read_as_people_say_them():
    assert [estimate.format_duration(s) for s in (45, 720, 3.4 * 3600, 29 * 86400,
                                                  3.2 * 365.25 * 86400)] == [
        "45 s", "12 min", "3.4 h", "29 days", "3.2 years"]


def test_eta_uses_the_measured_rate():
    c = resolve("quick", epochs=2)
    plan = Plan.of(c, (6000, 1000))
    eta = Eta(plan, gflops=1.0)
    slow = eta.training(1, 3000, examples_per_s=0.0)  # nothing measured yet: calibrated
    assert slow == pytest.approx(plan.remaining_flops(0, 3000) / 1e9)
    fast = eta.training(1, 3000, examples_per_s=100.0)
    assert fast == pytest.approx(plan.remaining_flops(0, 3000) / (100 * plan.cost.train_flops))
    assert eta.after(2) == 0


def test_dry_run_creates_nothing(blob_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(tiny_args(blob_dir, tmp_path / "r", *RUN, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "plan: 2 epochs × 64 training examples (4 batches of 16)" in out
    assert "estimate: about" in out and "machine:" in out
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- settings

def test_config_prints_a_preset_with_where_each_value_comes_from(capsys):
    assert cli.main(["config", "comparative"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"--epochs +100 +preset comparative", out)
    assert re.search(r"--lr +0.0625,0.0375,0.025,0.02,0.0125 +preset comparative", out)
    assert re.search(r"--eval-batch-size +256 +default", out)
    assert "plan: 100 epochs × 60,000 training examples" in out
    assert cli.main(["config", "quick", "--epochs", "3", "--algo", "cl"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"--epochs +3 +flag", out) and re.search(r"--beta +1 +CL clamps", out)
    assert cli.main(["config", "quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["widths"] == [16, 32, 64, 64]


def test_config_prints_a_run_folder_and_refuses_nonsense(done_run, tmp_path, capsys):
    assert cli.main(["config", str(done_run)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"--test-subset +30 +config.json", out)
    for argv, message in ((["config", "nonsense"], "neither a preset"),
                          (["config", str(tmp_path)], "is not a run folder"),
                          (["config", str(done_run), "--epochs", "3"], "flags apply to presets")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_help_shows_plain_text_for_every_command(capsys):
    for command in ("plot", "table", "eval", "config", "bench", "gradcheck", "converge", "trace",
                    "study"):
        assert cli.main([command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "``" not in text and ":mod:" not in text and ":func:" not in text, command


# --------------------------------------------------------------------------- test subset,
#                                                                            eval cadence

def test_test_subset_and_eval_every(blob_dir, tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, "--train-subset", "32", "--epochs", "3",
                              "--eval-every", "2", "--test-subset", "20", "--log-every", "1",
                              "--eval-batch-size", "4")) == 0
    text = capsys.readouterr().out
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in history] == [1, 2, 3]
    assert ["test_error" in m for m in history] == [False, True, True]  # every 2nd, the last
    assert history[0]["eval_seconds"] == 0 and history[1]["eval_seconds"] > 0
    for m in history[1:]:
        assert round(m["test_error"] * 20) == pytest.approx(m["test_error"] * 20)
    assert "not evaluated (--eval-every 2)" in text
    # progress while evaluating: a line per 16 examples (--log-every 1 × batch 16)
    assert re.search(r"evaluating epoch 2: test +16/20 \| +[\d.]+ ex/s", text), text
    assert "run ETA" in text


def test_test_subset_larger_than_the_test_set_is_refused_early(blob_dir, tmp_path, capsys):
    assert cli.main(tiny_args(blob_dir, tmp_path / "r", "--test-subset", "41")) == 2
    assert "--test-subset 41 exceeds the 40 test examples" in capsys.readouterr().err


# --------------------------------------------------------------------------- checkpoints

def test_a_mid_epoch_checkpoint_survives_a_kill_and_resumes_bit_exactly(blob_dir, tmp_path,
                                                                        monkeypatch):
    args = ("--train-subset", "64", "--epochs", "2")
    straight = tmp_path / "straight"
    assert cli.main(tiny_args(blob_dir, straight, *args)) == 0
    killed, calls, real = tmp_path / "killed", {"n": 0}, train.train_batch

    def dies_at_batch_7(*a, **k):  # SIGKILL: nothing of the session's own saving runs
        calls["n"] += 1
        if calls["n"] == 7:
            raise SystemExit(137)
        return real(*a, **k)

    monkeypatch.setattr(train, "train_batch", dies_at_batch_7)
    assert cli.main(tiny_args(blob_dir, killed, *args, "--checkpoint-every", "1e-9")) == 137
    _, meta = read_params(killed)
    assert (meta["epoch"], meta["position"]) == (1, 32)  # after batch 6: 2 batches into epoch 2
    assert json.loads((killed / "status.json").read_text())["state"] == "running"
    monkeypatch.setattr(train, "train_batch", real)
    assert cli.main(["--resume", str(killed)]) == 0
    assert_same_run(straight, killed)


# --------------------------------------------------------------------------- after the run

def test_eval_reproduces_the_recorded_test_error_exactly(done_run, capsys):
    summary = json.loads((done_run / "summary.json").read_text())
    assert cli.main(["eval", str(done_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["error"] == summary["test_error"] and result["reproduced"] is True
    assert (result["examples"], result["epoch"], result["split"]) == (30, 2, "test")
    assert cli.main(["eval", str(done_run)]) == 0
    assert "identical" in capsys.readouterr().out


def test_eval_other_splits_params_and_datasets(done_run, capsys):
    history = [json.loads(line) for line in (done_run / "metrics.jsonl").read_text().split("\n")
               if line]
    summary = json.loads((done_run / "summary.json").read_text())
    assert cli.main(["eval", str(done_run), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["error"] == history[-1]["val_error"]
    assert cli.main(["eval", str(done_run), "--params", "best", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["epoch"] == summary["best_val_epoch"]
    assert best["error"] == summary["test_error_at_best_val"] and best["reproduced"]
    assert cli.main(["eval", str(done_run), "--split", "train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 48  # 64 - 16 held out
    assert cli.main(["eval", str(done_run), "--dataset", "fashion-mnist-sample", "--subset",
                     "20", "--json"]) == 0
    other = json.loads(capsys.readouterr().out)
    assert other["examples"] == 20 and "reproduced" not in other
    for argv, message in (
            (["--dataset", "cifar10"], "3 channel(s) and 10 classes, but the run was trained"),
            (["--split", "nope"], "--split: unknown split 'nope'"),
            (["--subset", "41"], "--subset 41 exceeds the 40 examples of the test split"),
            (["--device", "gpu"], "--device gpu needs CuPy")):
        if argv[0] == "--device" and _has_gpu():
            continue
        assert cli.main(["eval", str(done_run), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def _has_gpu():
    try:
        from ebl_ref.backend import get_backend
        get_backend("gpu")
        return True
    except Exception:
        return False


def test_eval_refuses_what_is_not_there(done_run, tmp_path, blob_dir, capsys):
    plain = tmp_path / "plain"
    assert cli.main(tiny_args(blob_dir, plain, "--train-subset", "16", "--epochs", "1")) == 0
    capsys.readouterr()
    for argv, message in ((["eval", str(tmp_path / "nothing")], "is not a run folder"),
                          (["eval", str(plain), "--params", "best"], "without --val-size"),
                          (["eval", str(plain), "--split", "val"], "held out no validation")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_load_run_returns_config_network_and_parameters(done_run):
    run = ebl_ref.load_run(done_run)
    assert run.config.algo == "c-ep" and run.config.widths == (4, 6, 8, 8)
    assert run.net.widths == (4, 6, 8, 8) and run.net.n_classes == 10
    assert sorted(run.params) == sorted(run.net.param_shapes())
    for k, shape in run.net.param_shapes().items():
        assert run.params[k].shape == shape and run.params[k].dtype == np.float32
    summary = json.loads((done_run / "summary.json").read_text())
    assert run.evaluate("test")["error"] == summary["test_error"]
    assert run.recorded()["epoch"] == 2


# --------------------------------------------------------------------------- records

def test_summary_fields_mean_one_thing_and_a_no_op_resume_changes_nothing(done_run, capsys):
    summary = json.loads((done_run / "summary.json").read_text())
    assert "seconds_total" not in summary
    history = [json.loads(line) for line in (done_run / "metrics.jsonl").read_text().split("\n")
               if line]
    assert summary["train_seconds"] == pytest.approx(sum(m["train_seconds"] for m in history))
    assert summary["eval_seconds"] == pytest.approx(sum(m["eval_seconds"] for m in history))
    assert summary["seconds"] >= summary["train_seconds"] + summary["eval_seconds"]
    for m in history:
        assert m["seconds"] == pytest.approx(m["train_seconds"] + m["eval_seconds"])
        assert m["examples_per_s"] == pytest.approx(48 / m["train_seconds"])
    before = (done_run / "summary.json").read_bytes()
    assert cli.main(["--resume", str(done_run)]) == 0
    assert "is finished" in capsys.readouterr().out
    assert (done_run / "summary.json").read_bytes() == before


def test_every_recorded_field_is_defined_in_the_readme(done_run):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metrics", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", section, flags=re.M)
    defined = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    history = [json.loads(line) for line in (done_run / "metrics.jsonl").read_text().split("\n")
               if line]
    summary = json.loads((done_run / "summary.json").read_text())
    used = {k for m in history for k in m} | set(summary) | {"test_top5_error", "val_top5_error"}
    assert used <= defined, f"undefined in the README: {sorted(used - defined)}"
    assert "running average" in section


def test_log_txt_keeps_the_console_and_a_crash_s_last_words(blob_dir, tmp_path, monkeypatch,
                                                             capsys):
    out = tmp_path / "r"

    def boom(*args, **kwargs):
        raise RuntimeError("boom in the rule")

    monkeypatch.setattr(train, "train_batch", boom)
    assert cli.main(tiny_args(blob_dir, out, *RUN)) == 1
    capsys.readouterr()
    log = (out / "log.txt").read_text()
    assert "run folder: " in log and "plan: 2 epochs" in log and "data: 64 training" in log
    assert "Traceback" in log and "RuntimeError: boom in the rule" in log
    assert log.rstrip().splitlines()[-1].startswith("error: RuntimeError: boom in the rule")
    monkeypatch.undo()
    assert cli.main(["--resume", str(out)]) == 0
    log = (out / "log.txt").read_text()
    assert log.count("\n--- ") == 1 and "--resume" in log  # a second session, appended
    assert log.rstrip().splitlines()[-1].startswith("done: 2 epochs in ")
    env = json.loads((out / "env.json").read_text())
    assert len(env["resumed"]) == 1 and env["resumed"][0]["host"] == env["host"]


# --------------------------------------------------------------------------- TensorBoard

def read_events(folder):
    """Scalars of tensorboardX event files (TFRecord framing: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2
    scalars = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                scalars.setdefault(v.tag, {})[event.step] = v.simple_value
    return scalars


def test_tensorboard_logs_every_epoch_metric(blob_dir, tmp_path):
    pytest.importorskip("tensorboardX")
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, *RUN, "--tensorboard")) == 0
    scalars = read_events(out / "tensorboard")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().split("\n")
               if line]
    for m in history:
        assert scalars["test/error"][m["epoch"]] == pytest.approx(m["test_error"])
        assert scalars["train/error"][m["epoch"]] == pytest.approx(m["train_error"])
        assert scalars["lr/layer1"][m["epoch"]] == pytest.approx(m["lr"][0])


def test_tensorboard_without_tensorboardx_is_one_line(blob_dir, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    out = tmp_path / "r"
    assert cli.main(tiny_args(blob_dir, out, *RUN, "--tensorboard")) == 2
    err = capsys.readouterr().err
    assert "ebl-ref[tensorboard]" in err and err.count("\n") == 1 and not out.exists()


# --------------------------------------------------------------------------- data cache

def test_cache_dir_must_exist_and_no_cache_is_recorded(blob_dir, tmp_path, capsys):
    assert cli.main(tiny_args(blob_dir, tmp_path / "a", "--cache-dir",
                              str(tmp_path / "missing"))) == 2
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "--no-cache" in err and not (tmp_path / "a").exists()
    out = tmp_path / "b"
    assert cli.main(tiny_args(blob_dir, out, "--train-subset", "16", "--epochs", "1",
                              "--no-cache")) == 0
    assert json.loads((out / "config.json").read_text())["cache"] is False


# --------------------------------------------------------------------------- entry points

@pytest.mark.skipif(_has_gpu(), reason="a GPU is present")
def test_every_entry_point_without_a_gpu_ends_in_one_line(tmp_path):
    for argv in (["-m", "ebl_ref.bench", "--device", "gpu"],
                 ["-m", "ebl_ref", "gradcheck", "--device", "gpu"],
                 ["-m", "ebl_ref", "--device", "gpu", "--out", str(tmp_path / "r")],
                 ["-m", "ebl_ref", "study", "run", "smoke", "--device", "gpu", "--out",
                  str(tmp_path / "s")]):
        proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "ebl-ref[cuda12]" in proc.stderr, proc.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()
    proc = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "NOTHING CHECKED" in proc.stdout + proc.stderr

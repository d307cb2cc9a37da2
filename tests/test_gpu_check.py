"""scripts/gpu_check.py and .sh without a GPU: the projection's arithmetic, a CPU smoke run of
every part, and the plain "NOTHING CHECKED" (exit 3) where there is no GPU."""
import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPTS / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grid_is_table_1():
    gc = load_script()
    assert set(gc.GRID_DATASETS) == {"mnist", "fashion-mnist", "svhn", "cifar10", "cifar100"}
    assert gc.GRID_DATASETS["svhn"] == (73257, 26032) and gc.GRID_DATASETS["cifar10"] == (
        50000, 10000)
    assert (gc.GRID_SEEDS, gc.GRID_EPOCHS) == (3, 100)  # paper §4: 3 runs, 100 epochs


def test_projection_arithmetic():
    gc = load_script()
    step = {"train_step": {"a": 2.0, "b": 1.0}, "batch": 100, "eval_batch": 50,
            "eval_batch_seconds": 0.5}
    p = gc.project(step, epochs=2, seeds=3, datasets={"d": (1000, 500)})
    # per epoch: 10 steps × 2 s + 10 eval batches × 0.5 s = 25 s for "a"
    assert p["hours_per_algorithm"]["a"] == pytest.approx(3 * 2 * 25 / 3600)
    assert p["total_hours"] == pytest.approx(3 * 2 * (25 + 15) / 3600)
    assert p["runs"] == 2 * 1 * 3


def test_cpu_smoke_run_of_every_part(tmp_path):
    gc = load_script()
    out = tmp_path / "gc.json"
    assert gc.main(["--device", "cpu", "--widths", "2,2,4,4", "--batch", "4",
                    "--eval-batch", "8", "--grad-batch", "2", "--free-iters", "2",
                    "--train-iters", "1", "--repeats", "1", "--synthetic", "16,8",
                    "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["precisions"] == ["fp64", "fp32"]  # float16 and TF32 need a GPU
    assert 0.99 < r["gradients"]["fp32"]["W2"]["cosine"] <= 1.0 + 1e-12
    assert set(r["steps"]["fp32"]["train_step"]) >= {"c-ep", "tbp", "rbp", "cl"}
    assert r["projection"]["fp64"]["runs"] == 9 * 5 * 3
    assert "error" not in r["epoch"]["fp32"] and r["epoch"]["fp32"]["train_examples"] == 16
    assert r["epoch_data"] == "synthetic cifar10-shaped"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_shell_script_says_it_checked_nothing_without_a_gpu():
    r = subprocess.run(["bash", str(SCRIPTS / "gpu_check.sh")], capture_output=True, text=True)
    assert r.returncode == 3
    assert r.stdout.startswith("NOTHING CHECKED:")

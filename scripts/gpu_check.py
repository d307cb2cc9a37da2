"""The GPU check's measurements (run by scripts/gpu_check.sh; ``--device cpu`` for a smoke test).

1. ``gradients``: one C-EP gradient at full width in every precision against float64 on the
   same device — cosine, relative error (‖g − g64‖/‖g64‖) and norm ratio per tensor.
2. ``steps``: seconds of one training step of every algorithm (batch 128) and of one inference
   free phase (batch 256), per precision, in-process (median of ``--repeats`` after a warm-up).
3. ``epoch``: one CIFAR-10-sized epoch (50,000 training + 10,000 test examples) of C-EP through
   the command line, per precision: the real training loop (data pipeline, checkpoint, eval).
   CIFAR-10 itself if ``--data-dir`` holds it, else synthetic images of its shape.
4. ``projection``: the GPU-hours of the paper's Table 1 grid (5 datasets × 9 algorithms × 3
   seeds × 100 epochs, §4) from the step timings, per precision; every dataset is costed at
   3 input channels (MNIST's 1 channel is slightly cheaper: an overestimate).

Prints a table and writes everything to ``--out`` (JSON). Nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ebl_ref.algorithms import ALGORITHMS, estimate_gradient  # noqa: E402
from ebl_ref.backend import PRECISIONS, BackendError, get_backend, to_host  # noqa: E402
from ebl_ref.machine import machine_info  # noqa: E402
from ebl_ref.minimize import free_phase  # noqa: E402
from ebl_ref.network import DCHN, init_params, one_hot  # noqa: E402
from ebl_ref.ops import channel_major  # noqa: E402

# Table 1 (paper §4): 45 experiments (9 algorithms × 5 datasets) × 3 runs × 100 epochs.
GRID_DATASETS = {"mnist": (60000, 10000), "fashion-mnist": (60000, 10000),
                 "svhn": (73257, 26032), "cifar10": (50000, 10000), "cifar100": (50000, 10000)}
GRID_SEEDS, GRID_EPOCHS = 3, 100
TABLE1 = dict(free_iters=60, train_iters=15, beta=0.25, batch=128, eval_batch=256)


def _problem(backend, widths, batch, seed=0, n_classes=10):
    """Parameters (compute dtype), input and one-hot target, drawn on the host in float64."""
    net = DCHN(in_channels=3, widths=tuple(widths), n_classes=n_classes)
    rng = np.random.default_rng(seed)
    params = backend.compute(init_params(net, rng, backend=backend))
    x = channel_major(backend.asarray(rng.standard_normal((batch, 3, 32, 32))))
    y = one_hot(backend.asarray(rng.integers(0, n_classes, batch)), n_classes, x)
    return net, params, x, y


def _median_seconds(fn, backend, repeats):
    fn()
    backend.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cosine(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0  # both zero: the same gradient
    return float(a.ravel() @ b.ravel() / (na * nb))


def gradients(device, precisions, widths, batch, free_iters, train_iters):
    """Per precision and tensor: cosine, relative error and norm ratio against fp64."""
    def grad(precision):
        backend = get_backend(device, *PRECISIONS[precision])
        net, params, x, y = _problem(backend, widths, batch)
        g, _ = estimate_gradient("c-ep", params, net, x, y, beta=TABLE1["beta"],
                                 free_iters=free_iters, train_iters=train_iters)
        return {k: to_host(v).astype(np.float64) for k, v in g.items()}

    ref = grad("fp64")
    out = {}
    for precision in precisions:
        if precision == "fp64":
            continue
        g = grad(precision)
        out[precision] = {k: {"cosine": _cosine(g[k], ref[k]),
                              "rel_error": float(np.linalg.norm(g[k] - ref[k])
                                                 / (np.linalg.norm(ref[k]) + 1e-300)),
                              "norm_ratio": float(np.linalg.norm(g[k])
                                                  / (np.linalg.norm(ref[k]) + 1e-300))}
                          for k in ref}
    return out


def steps(device, precision, widths, batch, eval_batch, free_iters, train_iters, repeats,
          algorithms=tuple(ALGORITHMS)):
    """Seconds of one training step per algorithm and of one inference free phase."""
    backend = get_backend(device, *PRECISIONS[precision])
    net, params, x, y = _problem(backend, widths, batch)
    out = {"train_step": {}, "batch": batch, "eval_batch": eval_batch}
    for algo in algorithms:
        out["train_step"][algo] = _median_seconds(
            lambda a=algo: estimate_gradient(a, params, net, x, y, beta=TABLE1["beta"],
                                             free_iters=free_iters, train_iters=train_iters),
            backend, repeats)
    _, _, xe, _ = _problem(backend, widths, eval_batch)
    out["eval_batch_seconds"] = _median_seconds(
        lambda: free_phase(params, net, xe, free_iters), backend, repeats)
    return out


def project(step: dict, epochs=GRID_EPOCHS, seeds=GRID_SEEDS, datasets=None) -> dict:
    """GPU-hours of the Table 1 grid from :func:`steps`' timings.

    Per run: epochs × (n_train / batch × step seconds + n_test / eval_batch × eval seconds).
    Returns hours per algorithm (summed over datasets and seeds) and the total.
    """
    datasets = GRID_DATASETS if datasets is None else datasets
    per_algo = {}
    for algo, t_step in step["train_step"].items():
        seconds = sum(epochs * (n_train / step["batch"] * t_step
                                + n_test / step["eval_batch"] * step["eval_batch_seconds"])
                      for n_train, n_test in datasets.values())
        per_algo[algo] = seeds * seconds / 3600
    return {"hours_per_algorithm": per_algo, "total_hours": sum(per_algo.values()),
            "runs": len(per_algo) * len(datasets) * seeds, "epochs": epochs}


def synthetic_cifar(folder: Path, n_train=50000, n_test=10000, seed=0) -> Path:
    """Random uint8 images of CIFAR-10's shape in the prepared form (``cifar10/train.npz``)."""
    rng = np.random.default_rng(seed)
    (folder / "cifar10").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        np.savez(folder / "cifar10" / f"{split}.npz",
                 x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 y=rng.integers(0, 10, n))
    return folder


def epoch(device, precision, data_dir, widths, train_subset=0, free_iters=60, train_iters=15,
          timeout=None, n_train_all=50000, n_test=10000) -> dict:
    """One epoch of C-EP on cifar10 through ``run.py``: its metrics and the process's wall
    time. ``train_subset`` > 0 trains on that many examples only (the test set stays whole)."""
    dtype, matmul = PRECISIONS[precision]
    with tempfile.TemporaryDirectory(prefix="gpu-check-run-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, str(ROOT / "run.py"), "--dataset", "cifar10", "--data-dir",
               str(data_dir), "--out", str(out), "--epochs", "1", "--device", device,
               "--dtype", dtype, "--matmul", matmul, "--widths", ",".join(map(str, widths)),
               "--free-iters", str(free_iters), "--train-iters", str(train_iters),
               "--train-subset", str(train_subset), "--log-every", "100000"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if r.returncode:
            return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1],
                    "exit": r.returncode}
        m = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    n_train = train_subset or n_train_all
    train_s = n_train / m["examples_per_s"]
    return {"wall_seconds": wall, "epoch_seconds": m["seconds"], "train_seconds": train_s,
            "eval_seconds": m["seconds"] - train_s, "train_examples": n_train,
            "test_examples": n_test, "train_examples_per_s": m["examples_per_s"],
            "test_error": m.get("test_error")}


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="gpu", choices=["gpu", "cpu"])
    p.add_argument("--precisions", default="fp64,fp32,tf32,fp16")
    p.add_argument("--widths", default="128,256,512,512")
    p.add_argument("--parts", default="gradients,steps,epoch",
                   help="which measurements (the projection comes with steps)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=TABLE1["batch"])
    p.add_argument("--eval-batch", type=int, default=TABLE1["eval_batch"])
    p.add_argument("--free-iters", type=int, default=TABLE1["free_iters"])
    p.add_argument("--train-iters", type=int, default=TABLE1["train_iters"])
    p.add_argument("--grad-batch", type=int, default=16)
    p.add_argument("--train-subset", type=int, default=0,
                   help="epoch part: train on this many examples (0: all 50,000)")
    p.add_argument("--data-dir", default=os.environ.get("EBL_DATA_DIR"),
                   help="a folder with cifar10/ (else synthetic data of its shape)")
    p.add_argument("--synthetic", default="50000,10000",
                   help="train,test sizes of the synthetic data (smoke tests: small)")
    p.add_argument("--out", help="write the results as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    widths = tuple(int(w) for w in args.widths.split(","))
    precisions = [p for p in args.precisions.split(",") if p]
    parts = set(args.parts.split(","))
    if args.device == "cpu":  # the smoke test: float16 and TF32 need a GPU
        precisions = [p for p in precisions if p in ("fp64", "fp32")]
    try:
        backend = get_backend(args.device, "float32")
    except BackendError as exc:
        print(f"NOTHING CHECKED: {exc}")
        return 3
    report = {"machine": machine_info(backend), "widths": widths, "precisions": precisions,
              "settings": {**TABLE1, "batch": args.batch, "eval_batch": args.eval_batch,
                           "free_iters": args.free_iters, "train_iters": args.train_iters}}
    if "gradients" in parts:
        report["gradients"] = gradients(args.device, precisions, widths, args.grad_batch,
                                        args.free_iters, args.train_iters)
        for precision, per in report["gradients"].items():
            worst = min(per, key=lambda k: per[k]["cosine"])
            print(f"gradient {precision:5s} vs fp64: worst cosine {per[worst]['cosine']:.6f} "
                  f"({worst}), max relative error "
                  f"{max(v['rel_error'] for v in per.values()):.2e}")
    if "steps" in parts:
        report["steps"], report["projection"] = {}, {}
        for precision in precisions:
            st = steps(args.device, precision, widths, args.batch, args.eval_batch,
                       args.free_iters, args.train_iters, args.repeats)
            report["steps"][precision] = st
            report["projection"][precision] = pr = project(st)
            print(f"{precision:5s} step c-ep {st['train_step']['c-ep']:.3f} s "
                  f"(batch {args.batch}), inference {st['eval_batch_seconds']:.3f} s "
                  f"(batch {args.eval_batch}); Table 1 grid ({pr['runs']} runs × "
                  f"{pr['epochs']} epochs): {pr['total_hours']:.0f} GPU-hours")
    if "epoch" in parts:
        report["epoch"] = {}
        with tempfile.TemporaryDirectory(prefix="gpu-check-data-") as tmp:
            real = args.data_dir and (Path(args.data_dir) / "cifar10").is_dir()
            n_train, n_test = (int(n) for n in args.synthetic.split(","))
            data_dir = Path(args.data_dir) if real else synthetic_cifar(Path(tmp), n_train,
                                                                         n_test)
            report["epoch_data"] = "cifar10" if real else "synthetic cifar10-shaped"
            for precision in precisions:
                e = epoch(args.device, precision, data_dir, widths, args.train_subset,
                          args.free_iters, args.train_iters,
                          n_train_all=50000 if real else n_train, n_test=10000 if real else n_test)
                report["epoch"][precision] = e
                if "error" in e:
                    print(f"{precision:5s} epoch FAILED: {e['error']}")
                else:
                    print(f"{precision:5s} epoch ({report['epoch_data']}, "
                          f"{e['train_examples']} train + {e['test_examples']} test): "
                          f"{e['epoch_seconds']:.0f} s (train {e['train_seconds']:.0f} s, "
                          f"eval {e['eval_seconds']:.0f} s), wall {e['wall_seconds']:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One training run, end to end: resolve the config, make (or reopen) the run folder, train,
evaluate, checkpoint every epoch, write the summary.

Run folder::

    config.json      fully resolved configuration
    env.json         versions, git revision, device
    metrics.jsonl    one JSON object per epoch
    checkpoint.npz   parameters, momentum, RNG state, epoch (atomic; allow_pickle=False)
    best.npz         parameters of the epoch with the lowest validation error (--val-size)
    summary.json     written last
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from . import checkpoint
from .backend import get_backend, to_host
from .config import Config, ConfigError, resolve
from .train import Data, TrainState, build_network, evaluate, initial_state, train_epoch

FLAGS = ("algo", "dataset", "device", "dtype", "epochs", "batch_size", "seed", "beta",
         "free_iters", "train_iters", "mode", "zero_term", "widths", "gains", "lr", "momentum",
         "weight_decay", "train_subset", "val_size", "data_dir", "log_every")


# Flags that may differ when resuming: they change how, not what, is computed (and --epochs
# extends the run; the cosine schedule is recomputed for the new length).
RESUMABLE_OVERRIDES = ("epochs", "device", "data_dir", "log_every", "eval_batch_size")


def default_preset(args) -> str:
    """``--preset``, else ``comparative`` (the paper's Table 1) for a real dataset, else
    ``quick`` (the embedded sample, minutes on a CPU)."""
    if args.preset:
        return args.preset
    real = args.dataset not in (None, "fashion-mnist-sample")
    return "comparative" if real else "quick"


def _overrides(args) -> dict:
    return {k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None}


# --------------------------------------------------------------------------- run folder

def new_run_dir(config: Config, out: str | None) -> Path:
    """Create a fresh folder; never reuse one that holds anything."""
    if out:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"--out {path} exists and is not empty: choose another folder, "
                                  f"or continue it with --resume {path}")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{config.dataset}-{config.algo}-seed{config.seed}-{stamp}"
    for i in range(1000):
        path = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a fresh run folder next to {base}")


def environment(config: Config, backend) -> dict:
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "device": config.device, "dtype": config.dtype,
           "git_revision": _git_revision(), "argv": sys.argv,
           "started": datetime.now().isoformat(timespec="seconds")}
    if config.device == "gpu":
        xp = backend.xp
        env["cupy_version"] = xp.__version__
        env["gpu"] = xp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return env


def _git_revision():
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_json(path: Path, obj) -> None:
    checkpoint.atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------- checkpoints

def save_state(run_dir: Path, state: TrainState, config: Config, name="checkpoint.npz") -> None:
    arrays = {f"param/{k}": to_host(v) for k, v in state.params.items()}
    if state.velocity is not None:
        arrays.update({f"velocity/{k}": to_host(v) for k, v in state.velocity.items()})
    if state.order is not None:
        arrays["order"] = state.order
    meta = {"epoch": state.epoch, "rng": state.rng.bit_generator.state,
            "best_val_error": state.best_val_error, "history": state.history,
            "position": state.position, "sums": state.sums, "config": config.to_dict()}
    checkpoint.save(run_dir / name, arrays, meta)


def restore_state(run_dir: Path, state: TrainState, backend) -> None:
    arrays, meta = checkpoint.load(run_dir / "checkpoint.npz")
    names = list(state.params)
    missing = [k for k in names if f"param/{k}" not in arrays]
    if missing:
        raise checkpoint.CheckpointError(f"checkpoint lacks parameters {missing}")
    for k in names:
        if arrays[f"param/{k}"].shape != tuple(state.params[k].shape):
            raise checkpoint.CheckpointError(
                f"checkpoint parameter {k} has shape {arrays[f'param/{k}'].shape}, the config "
                f"expects {tuple(state.params[k].shape)}: the run folder does not match")
    state.params = {k: backend.asarray(arrays[f"param/{k}"]) for k in names}
    if f"velocity/{names[0]}" in arrays:
        state.velocity = {k: backend.asarray(arrays[f"velocity/{k}"]) for k in names}
    state.rng.bit_generator.state = meta["rng"]
    state.epoch, state.best_val_error = meta["epoch"], meta["best_val_error"]
    state.history, state.position, state.sums = meta["history"], meta["position"], meta["sums"]
    state.order = arrays.get("order")


def resume_config(run_dir: Path, overrides: dict) -> Config:
    path = run_dir / "config.json"
    if not path.is_file():
        raise checkpoint.CheckpointError(f"--resume {run_dir}: no config.json there; it is not "
                                         "a run folder made by run.py")
    stored = json.loads(path.read_text())
    preset = stored.pop("preset", "comparative")
    try:
        config = resolve(preset, **stored)
    except (ConfigError, TypeError) as exc:
        raise checkpoint.CheckpointError(
            f"--resume {run_dir}: config.json is not usable ({exc})") from None
    proposed = resolve(preset, **{**stored, **overrides})
    before, after = config.to_dict(), proposed.to_dict()
    clash = [k for k in after if after[k] != before[k] and k not in RESUMABLE_OVERRIDES]
    if clash:
        raise checkpoint.CheckpointError(
            f"--resume {run_dir}: the run was made with a different {', '.join(clash)}; "
            "drop those flags to continue it, or start a new run")
    return proposed


# --------------------------------------------------------------------------- progress

def make_progress(config: Config, log):
    """A callback for :func:`ebl_ref.train.train_epoch`: a tqdm bar when tqdm is installed and
    the output is a terminal, else a plain line every ``log_every`` batches."""
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:
        tqdm = None
    if tqdm is not None and sys.stderr.isatty():
        bar = {}

        def progress_bar(epoch, done, total, error, rate):
            if bar.get("epoch") != epoch:
                bar.update(epoch=epoch, tqdm=tqdm(total=total, initial=0, unit="ex",
                                                  desc=f"epoch {epoch}/{config.epochs}"))
            t = bar["tqdm"]
            t.update(done - t.n)
            t.set_postfix_str(f"train error {100 * error:.1f}%")
            if done >= total:
                t.close()
        return progress_bar
    every = config.log_every * config.batch_size

    def progress(epoch, done, total, error, rate):
        if done % every >= config.batch_size and done < total:
            return
        eta = (total - done) / max(rate, 1e-9)
        log(f"  epoch {epoch}/{config.epochs} {done:>6}/{total} | {rate:6.1f} ex/s | "
            f"train error {100 * error:5.1f}% | epoch ETA {eta:5.0f} s")
    return progress


# --------------------------------------------------------------------------- the run

def load_data(config: Config) -> Data:
    from .data import get_spec, load_dataset  # noqa: PLC0415

    spec = get_spec(config.dataset)
    train, test = load_dataset(config.dataset, config.data_dir)
    if config.train_subset:
        if config.train_subset > len(train):
            raise ConfigError(f"--train-subset {config.train_subset} exceeds the "
                              f"{len(train)} training examples of {config.dataset}")
        train = train.take(np.arange(config.train_subset))
    return Data(spec=spec, train=train, test=test)


def run(args, log=print) -> int:
    resuming = args.resume is not None
    if resuming:
        run_dir = Path(args.resume)
        config = resume_config(run_dir, _overrides(args))
    else:
        config = resolve(default_preset(args), **_overrides(args))
    backend = get_backend(config.device, config.dtype)
    data = load_data(config)
    net = build_network(config, data.spec)
    state, data.train, data.val = initial_state(config, net, backend, data.train)
    if resuming:
        restore_state(run_dir, state, backend)
        log(f"resuming {run_dir} after epoch {state.epoch}")
    else:
        run_dir = new_run_dir(config, getattr(args, "out", None))
        _write_json(run_dir / "config.json", config.to_dict())
        _write_json(run_dir / "env.json", environment(config, backend))
    _rewrite_metrics(run_dir, state.history)
    log(f"{config.algo} on {config.dataset}, preset {config.preset} ({len(data.train)} train, "
        f"{0 if data.val is None else len(data.val)} val, {len(data.test)} test), "
        f"widths {list(config.widths)}, batch {config.batch_size}, β {config.beta}, "
        f"{config.free_iters}/{config.train_iters} iterations, {config.device} {config.dtype}")
    log(f"run folder: {run_dir}")
    return _train_loop(config, net, backend, state, data, run_dir, log)


def _train_loop(config, net, backend, state, data, run_dir, log) -> int:
    progress = make_progress(config, log)
    t_run = time.perf_counter()
    while state.epoch < config.epochs:
        t0 = time.perf_counter()
        try:
            metrics = train_epoch(config, net, backend, state, data, progress)
        except KeyboardInterrupt:
            save_state(run_dir, state, config)
            log(f"\ninterrupted: checkpoint written; continue with: "
                f"python run.py --resume {run_dir}")
            return 130
        except Exception:
            log(f"stopped; the last good checkpoint (epoch {state.epoch}) is in {run_dir}")
            raise
        state.epoch += 1
        metrics.update(_evaluate(config, net, backend, state, data))
        seconds = time.perf_counter() - t0
        metrics["seconds"] = seconds  # training and evaluation
        if data.val is not None and (state.best_val_error is None
                                     or metrics["val_error"] < state.best_val_error):
            state.best_val_error = metrics["val_error"]
            save_state(run_dir, state, config, name="best.npz")
        state.history.append(metrics)
        save_state(run_dir, state, config)
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        log(_epoch_line(config, metrics))
    summary = _summary(config, state, time.perf_counter() - t_run)
    _write_json(run_dir / "summary.json", summary)
    log(f"done: test error {100 * summary['test_error']:.2f}% after {config.epochs} epochs; "
        f"run folder {run_dir}")
    return 0


def _evaluate(config, net, backend, state, data) -> dict:
    out = {}
    splits = (("val", data.val), ("test", data.test))
    for name, split in splits:
        if split is None:
            continue
        m = evaluate(config, net, backend, state.params, split, data.spec)
        out[f"{name}_error"], out[f"{name}_cost"] = m["error"], m["cost"]
        if net.n_classes > 10:  # top-5 matters for CIFAR-100
            out[f"{name}_top5_error"] = m["top5_error"]
    return out


def _epoch_line(config, m) -> str:
    val = f" | val error {100 * m['val_error']:.2f}%" if "val_error" in m else ""
    return (f"epoch {m['epoch']}/{config.epochs}: train error {100 * m['train_error']:.2f}% "
            f"cost {m['train_cost']:.4f}{val} | test error {100 * m['test_error']:.2f}% | "
            f"{m['seconds']:.1f} s (training {m['examples_per_s']:.1f} ex/s)")


def _summary(config, state, seconds) -> dict:
    last = state.history[-1]
    summary = {"algo": config.algo, "dataset": config.dataset, "seed": config.seed,
               "epochs": state.epoch, "test_error": last["test_error"],
               "train_error": last["train_error"], "best_val_error": state.best_val_error,
               "seconds": seconds,
               "seconds_total": sum(m["seconds"] for m in state.history)}
    if state.best_val_error is not None:
        best = min(state.history, key=lambda m: m["val_error"])
        summary["best_val_epoch"] = best["epoch"]
        summary["test_error_at_best_val"] = best["test_error"]
    return summary


def _rewrite_metrics(run_dir: Path, history: list) -> None:
    """metrics.jsonl = the checkpoint's history (drops lines of epochs lost to a crash)."""
    checkpoint.atomic_write_text(run_dir / "metrics.jsonl",
                                 "".join(json.dumps(m) + "\n" for m in history))

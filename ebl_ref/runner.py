"""One training run, start to finish: the epoch loop and what happens when it is stopped.

:func:`start` makes a new run folder, :func:`resume` continues one; both return the exit
status and never call ``sys.exit``. The order of work is chosen so that a run stopped at any
point — a signal, an exception, a divergence — leaves a folder that ``--resume`` continues
bit for bit (on the CPU):

1. check the settings (everything that needs no data) and the device;
2. create the folder and write ``config.json``, ``env.json`` and ``status.json`` (running);
3. load the data (abortable), seed the state, restore the checkpoint if there is one;
4. per epoch: train (each batch abortable, committed only when done); **checkpoint the
   trained epoch**; evaluate (abortable); record the metrics; checkpoint again;
5. write ``summary.json`` and ``status.json`` (done).

On SIGINT / SIGTERM / SIGUSR1 (:mod:`ebl_ref.signals`) the state is checkpointed and the run
exits with 130 / 143 / 138 and one line saying how to continue. On a divergence
(:class:`~ebl_ref.train.NonFiniteError`) nothing new is written, and the line says what the
checkpoint on disk holds (exit 3). On any other error the consistent state is checkpointed
first, then the error is reported (:class:`RunStopped`, exit 2 for bad input or files, 1
otherwise).
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from pathlib import Path

from . import runfiles
from .backend import BackendError, get_backend
from .checkpoint import read_meta
from .config import Config
from .data import DataError
from .jsonfile import BadFileError
from .progress import make_progress
from .progname import program
from .provenance import environment
from .resume import check_target, resume_config
from .runfiles import BEST, CHECKPOINT
from .runlock import RunLock
from .signals import Guard, Interrupted, as_interrupted, signal_name
from .splits import check_sizes_early, load_splits
from .state import (build_network, describe, restore_state, save_state, saved_point,
                    seeded_state)
from .status import read_status, write_status
from .train import NonFiniteError, evaluate, train_epoch
from .values import UsageError

EXIT_DIVERGED = 3


class RunStopped(Exception):
    """The run stopped on an error; ``message`` is one line (what happened, what the folder
    holds, how to continue) and ``exit_code`` the status to exit with."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def resume_command(run_dir) -> str:
    """The command that continues the run in ``run_dir``, as this process was started."""
    return f"{program()} --resume {run_dir}"


# --------------------------------------------------------------------------- entry points

def start(config: Config, out=None, log=print) -> int:
    """Train a new run with ``config`` into ``out`` (absent or empty; default a fresh folder
    under ``./runs``). Returns the exit status; raises :class:`RunStopped` on an error after
    the folder was made, ``UsageError``/``BackendError``/``FileExistsError`` before."""
    backend = get_backend(config.device, config.dtype)
    check_sizes_early(config)
    with Guard() as guard:
        run_dir = runfiles.new_run_dir(out, config.dataset, config.algo, config.seed)
        with RunLock(run_dir):
            runfiles.write_config(run_dir, config.to_dict())  # first: the folder is a run now
            runfiles.write_env(run_dir, environment(config.device, config.dtype, backend.xp))
            return Session(run_dir, config, backend, guard, log).run()


def resume(run_dir, overrides: dict | None = None, log=print) -> int:
    """Continue the run in ``run_dir``; ``overrides`` may change the resumable settings (see
    :mod:`ebl_ref.resume`), which are then recorded in its config.json. A finished run is
    reported as such (exit 0). A damaged run file is reported (``BadFileError``) and recorded
    as the run's last error in status.json."""
    run_dir = Path(run_dir)
    if not runfiles.is_run_dir(run_dir):
        runfiles.read_config(run_dir)  # its clear error, before anything is written there
    with Guard() as guard, RunLock(run_dir):
        try:
            return _resume(run_dir, overrides or {}, guard, log)
        except BadFileError as exc:
            _record_failure(run_dir, exc)
            raise


def _resume(run_dir: Path, overrides: dict, guard: Guard, log) -> int:
    config, changed = resume_config(run_dir, overrides)
    backend = get_backend(config.device, config.dtype)
    check_sizes_early(config)
    meta = read_meta(run_dir / CHECKPOINT) if (run_dir / CHECKPOINT).exists() else {}
    trained = int(meta.get("epoch", 0))
    check_target(run_dir, config, trained)
    if changed:
        runfiles.write_config(run_dir, config.to_dict())
        log("config.json updated: " + ", ".join(f"{k} {a} -> {b}"
                                                 for k, (a, b) in changed.items()))
        if "epochs" in changed:
            runfiles.remove_summary(run_dir)
    finished = (trained >= config.epochs and meta.get("pending") is None
                and (run_dir / runfiles.SUMMARY).is_file())
    if finished:
        write_status(run_dir, "done", epoch=trained, epochs=config.epochs, exit_code=0)
        log(f"{run_dir} is finished: {trained} of {config.epochs} epochs trained, results in "
            f"{run_dir / runfiles.SUMMARY}; to train longer: {resume_command(run_dir)} "
            f"--epochs N (N > {trained})")
        return 0
    saved = None if not meta else {"epoch": trained, "position": int(meta.get("position", 0)),
                                   "pending": meta.get("pending") is not None}
    return Session(run_dir, config, backend, guard, log, saved=saved).run()


def _record_failure(run_dir: Path, exc: Exception) -> None:
    """status.json: failed, with ``exc`` as the last error (best effort)."""
    try:
        before = read_status(run_dir) or {}
    except BadFileError:
        before = {}
    try:
        write_status(run_dir, "failed", epoch=before.get("epoch", 0),
                     epochs=before.get("epochs", 0), position=before.get("position", 0),
                     last_error=str(exc), exit_code=2)
    except OSError:
        pass


# --------------------------------------------------------------------------- the session

class Session:
    """The run in one process: loads, trains, evaluates, saves, and handles being stopped."""

    def __init__(self, run_dir: Path, config: Config, backend, guard: Guard, log,
                 saved: dict | None = None):
        self.run_dir, self.config, self.backend, self.guard, self.log = (
            Path(run_dir), config, backend, guard, log)
        self.state = self.splits = self.net = None
        self.saved = saved           # saved_point() of the checkpoint on disk, None if none
        self.doing = "starting"      # for the last line: what was interrupted
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ outcome handling

    def run(self) -> int:
        try:
            self._status("running")
            self._prepare()
            self._epochs()
            return self._finish()
        except KeyboardInterrupt as exc:
            return self._interrupted(as_interrupted(exc))
        except NonFiniteError as exc:
            self._stop(exc, EXIT_DIVERGED, save=False,
                       advice="start a new run with smaller learning rates or β")
        except MemoryError:
            self._stop("out of memory", 1, advice="lower --eval-batch-size (resumable), or "
                       "start a new run with a smaller --batch-size; then "
                       + resume_command(self.run_dir))
        except (UsageError, BadFileError, DataError, BackendError) as exc:
            self._stop(exc, 2, advice=f"fix it, then: {resume_command(self.run_dir)}")
        except OSError as exc:  # disk full, folder removed, permissions
            self._stop(exc, 1, advice=f"fix it, then: {resume_command(self.run_dir)}")
        except Exception as exc:
            traceback.print_exc()
            self._stop(f"{type(exc).__name__}: {exc}", 1,
                       advice=f"continue with: {resume_command(self.run_dir)}")

    def _status(self, state, **extra):
        point = (saved_point(self.state) if self.state is not None
                 else self.saved or {"epoch": 0, "position": 0})
        write_status(self.run_dir, state, epoch=point["epoch"], epochs=self.config.epochs,
                     position=point["position"], **extra)

    def _save(self, name=CHECKPOINT, state=None):
        state = self.state if state is None else state
        save_state(self.run_dir / name, state, self.config)
        if name == CHECKPOINT:
            self.saved = saved_point(state)

    def _save_what_we_have(self) -> str:
        """Checkpoint the (consistent) state if there is one; the phrase for the last line."""
        if self.state is None:
            return f"last checkpoint: {describe(self.run_dir / CHECKPOINT, self.saved)}"
        try:
            self._save()
            return f"saved {describe(self.run_dir / CHECKPOINT, self.saved)}"
        except Exception as exc:  # disk full, folder gone ...
            return (f"could not write a checkpoint ({exc}); last checkpoint: "
                    f"{describe(self.run_dir / CHECKPOINT, self.saved)}")

    def _interrupted(self, exc: Interrupted) -> int:
        saved = self._save_what_we_have()
        self._status("interrupted", exit_code=exc.exit_code,
                     last_error=f"interrupted by {signal_name(exc.signum)}")
        self.log(f"\ninterrupted by {signal_name(exc.signum)} while {self.doing}; {saved}; "
                 f"continue with: {resume_command(self.run_dir)}")
        return exc.exit_code

    def _stop(self, problem, code: int, advice: str, save: bool = True):
        problem = " ".join(str(problem).split())
        saved = (self._save_what_we_have() if save else
                 f"last checkpoint: {describe(self.run_dir / CHECKPOINT, self.saved)}")
        try:
            self._status("failed", last_error=problem, exit_code=code)
        except OSError:
            pass  # the error being reported matters more
        raise RunStopped(f"{problem} (while {self.doing}); {saved}; {advice}", code) from None

    # ------------------------------------------------------------------ the work

    def _prepare(self):
        config, backend = self.config, self.backend
        self.doing = "loading the data"
        with self.guard.abortable():
            splits = load_splits(config)
        self.net = build_network(config, splits.spec)
        state, train, val = seeded_state(config, self.net, backend, splits.train)
        self.splits = splits.with_validation(train, val)
        path = self.run_dir / CHECKPOINT
        if path.exists():
            restore_state(path, state, backend, config, len(train))
            self.saved = saved_point(state)
            self.log(f"resuming from {describe(path, self.saved)}")
        self.state = state
        runfiles.write_metrics(self.run_dir, state.history)  # drops lines of lost epochs
        n_val = 0 if val is None else len(val)
        self.log(f"{config.algo} on {config.dataset}, preset {config.preset} ({len(train)} "
                 f"train, {n_val} val, {len(splits.test)} test), widths {list(config.widths)}, "
                 f"batch {config.batch_size}, β {config.beta}, {config.free_iters}/"
                 f"{config.train_iters} iterations, {config.device} {config.dtype}")
        self.log(f"run folder: {self.run_dir}")

    def _epochs(self):
        state, config = self.state, self.config
        progress = make_progress(config, self.log)
        if state.pending is not None:
            self._evaluate_epoch()
        while state.epoch < config.epochs:
            self.guard.check()
            self.doing = f"training epoch {state.epoch + 1}"
            train_epoch(config, self.net, self.backend, state, self.splits, progress,
                        self.guard.abortable)
            self.doing = f"saving epoch {state.epoch}"
            self._save()  # the trained epoch is safe before it is evaluated
            self._evaluate_epoch()

    def _evaluate_epoch(self):
        state, config, splits = self.state, self.config, self.splits
        self.guard.check()
        self.doing = f"evaluating epoch {state.epoch}"
        t0 = time.perf_counter()
        results = {}
        with self.guard.abortable():
            for name, split in (("val", splits.val), ("test", splits.test)):
                if split is not None:
                    m = evaluate(config, self.net, self.backend, state.params, split, splits.spec)
                    results.update({f"{name}_error": m["error"], f"{name}_cost": m["cost"]})
                    if self.net.n_classes > 10:  # top-5 matters for CIFAR-100
                        results[f"{name}_top5_error"] = m["top5_error"]
        metrics = {**state.pending, **results}
        metrics["seconds"] = state.pending["seconds"] + time.perf_counter() - t0
        self.doing = f"saving epoch {state.epoch}"
        best, history = state.best_val_error, state.history + [metrics]
        if "val_error" in metrics and (best is None or metrics["val_error"] < best):
            best = metrics["val_error"]
            self._save(BEST, dataclasses.replace(state, best_val_error=best, history=history,
                                                 pending=None))
        state.best_val_error, state.history, state.pending = best, history, None
        self._save()
        runfiles.write_metrics(self.run_dir, state.history)
        self._status("running")
        self.log(_epoch_line(config, metrics))

    def _finish(self) -> int:
        self.doing = "writing the summary"
        summary = _summary(self.config, self.state, time.perf_counter() - self.t0)
        runfiles.write_summary(self.run_dir, summary)
        self._status("done", exit_code=0)
        error = summary["test_error"]
        shown = "n/a" if error is None else f"{100 * error:.2f}%"
        self.log(f"done: test error {shown} after {self.state.epoch} epochs; run folder "
                 f"{self.run_dir}")
        return 0


def _epoch_line(config, m) -> str:
    def pct(key):
        return "n/a" if m.get(key) is None else f"{100 * m[key]:.2f}%"
    val = f" | val error {pct('val_error')}" if "val_error" in m else ""
    return (f"epoch {m['epoch']}/{config.epochs}: train error {pct('train_error')} "
            f"cost {m['train_cost']:.4f}{val} | test error {pct('test_error')} | "
            f"{m['seconds']:.1f} s (training {m['examples_per_s']:.1f} ex/s)")


def _summary(config, state, seconds) -> dict:
    last = state.history[-1]
    summary = {"algo": config.algo, "dataset": config.dataset, "seed": config.seed,
               "epochs": state.epoch, "test_error": last["test_error"],
               "train_error": last["train_error"], "best_val_error": state.best_val_error,
               "seconds": seconds,
               "seconds_total": sum(m["seconds"] or 0 for m in state.history)}
    if state.best_val_error is not None:
        best = min((m for m in state.history if m.get("val_error") is not None),
                   key=lambda m: m["val_error"])
        summary["best_val_epoch"] = best["epoch"]
        summary["test_error_at_best_val"] = best["test_error"]
    return summary

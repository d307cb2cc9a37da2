"""One training run, start to finish: the epoch loop and what happens when it is stopped.

:func:`start` makes a new run folder, :func:`resume` continues one; both return the exit
status and never call ``sys.exit``. The order of work is chosen so that a run stopped at any
point — a signal, an exception, a divergence — leaves a folder that ``--resume`` continues
bit for bit (on the CPU):

1. check the settings (everything that needs no data), the device, the dataset's sizes, the
   cache folder and the optional extras asked for (``--threads``, ``--tensorboard``);
2. create the folder, mirror the console into its ``log.txt`` (:mod:`ebl_ref.console`), set
   the BLAS threads (:mod:`ebl_ref.threads`); write ``config.json``, ``env.json`` and
   ``status.json`` (running);
3. print the header, the plan and the estimated duration (:mod:`ebl_ref.report`; a
   calibration of about a second), warning about a CPU run of more than a few hours;
4. load the data (abortable), seed the state, restore the checkpoint if there is one;
5. per epoch: train (each batch abortable, committed only when done; a checkpoint every
   ``--checkpoint-every`` minutes between batches); **checkpoint the trained epoch**; evaluate
   it if due (``--eval-every``; abortable); record the metrics; checkpoint again;
6. write ``summary.json`` and ``status.json`` (done) and the end-of-run line.

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
from contextlib import ExitStack
from pathlib import Path

from . import console, report, runfiles
from .backend import BackendError, get_backend
from .convolution import set_conv_path
from .checkpoint import read_meta
from .config import Config
from .data import DataError
from .estimate import Eta
from .jsonfile import BadFileError
from .progname import program
from .progress import make_eval_progress, make_progress
from .provenance import environment, header, session_record
from .resume import check_target, resume_config
from .runfiles import BEST, CHECKPOINT
from .runlock import RunLock
from .signals import Guard, Interrupted, as_interrupted, signal_name
from .splits import check_sizes_early, load_splits
from .state import (build_network, describe, restore_state, save_state, saved_point,
                    seeded_state)
from .status import read_status, write_status
from .study.cost import evaluated_epochs
from .tblog import TensorBoard, check_tensorboard
from .threads import blas_threads, check_threads, only
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

def _checked(config: Config):
    """Every check that needs no data folder written: device, sizes, cache folder, extras.
    Returns ``(backend, sizes)``."""
    backend = get_backend(config.device, config.dtype, config.matmul)
    set_conv_path(config.conv)
    sizes = check_sizes_early(config)
    check_threads(config.threads)
    check_tensorboard(config.tensorboard)
    return backend, sizes


def start(config: Config, out=None, log=print) -> int:
    """Train a new run with ``config`` into ``out`` (absent or empty; default a fresh folder
    under ``./runs``). Returns the exit status; raises :class:`RunStopped` on an error after
    the folder was made, ``UsageError``/``BackendError``/``FileExistsError`` before."""
    backend, sizes = _checked(config)
    with Guard() as guard:
        run_dir = runfiles.new_run_dir(out, config.dataset, config.algo, config.seed)
        with RunLock(run_dir), console.mirror(run_dir), blas_threads(config.threads) as threads:
            runfiles.write_config(run_dir, config.to_dict())  # first: the folder is a run now
            return _logged(Session(run_dir, config, backend, guard, log, sizes=sizes,
                                   threads=threads))


def dry_run(config: Config, log=print) -> int:
    """Print what :func:`start` would print before its first batch — settings, machine, plan,
    estimated duration — and create nothing (``train --dry-run``)."""
    backend, sizes = _checked(config)
    with blas_threads(config.threads) as threads:
        log(report.settings_line(config))
        log(header(environment(backend, threads)))
        for line in report.plan_report(config, backend, sizes, threads=threads)[0]:
            log(line)
    return 0


def _logged(session: "Session") -> int:
    """Run the session; a failure's last line goes to log.txt too (the CLI prints it)."""
    try:
        return session.run()
    except RunStopped as exc:
        console.log_only(f"error: {exc}")
        raise


def resume(run_dir, overrides: dict | None = None, log=print) -> int:
    """Continue the run in ``run_dir``; ``overrides`` may change the resumable settings (see
    :mod:`ebl_ref.resume`), which are then recorded in its config.json. A finished run is
    reported as such (exit 0). A damaged run file is reported (``BadFileError``) and recorded
    as the run's last error in status.json."""
    run_dir = Path(run_dir)
    if not runfiles.is_run_dir(run_dir):
        runfiles.read_config(run_dir)  # its clear error, before anything is written there
    with Guard() as guard, RunLock(run_dir), console.mirror(run_dir):
        try:
            return _resume(run_dir, overrides or {}, guard, log)
        except BadFileError as exc:
            _record_failure(run_dir, exc)
            console.log_only(f"error: {exc}")
            raise
        except (UsageError, BackendError, DataError) as exc:
            console.log_only(f"error: {exc}")
            raise


def _resume(run_dir: Path, overrides: dict, guard: Guard, log) -> int:
    config, changed = resume_config(run_dir, overrides)
    backend, sizes = _checked(config)
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
    with blas_threads(config.threads) as threads:
        return _logged(Session(run_dir, config, backend, guard, log, saved=saved,
                               sizes=sizes, threads=threads))


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
                 saved: dict | None = None, sizes=None, threads: dict | None = None):
        self.run_dir, self.config, self.backend, self.guard, self.log = (
            Path(run_dir), config, backend, guard, log)
        self.state = self.splits = self.net = self.eta = self.tensorboard = None
        self.saved = saved           # saved_point() of the checkpoint on disk, None if none
        self.resumed = saved is not None or (self.run_dir / runfiles.ENV).is_file()
        self.sizes, self.threads = sizes, threads
        self.stack = ExitStack()     # what the session holds until it ends (a thread limit)
        self.doing = "starting"      # for the last line: what was interrupted
        self.t0 = self.last_save = time.perf_counter()
        self.elapsed0 = 0.0          # seconds of earlier sessions (from the checkpoint)

    # ------------------------------------------------------------------ outcome handling

    def run(self) -> int:
        try:
            self._status("running")
            self._plan()
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
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
            self.stack.close()

    def _status(self, state, **extra):
        point = (saved_point(self.state) if self.state is not None
                 else self.saved or {"epoch": 0, "position": 0})
        write_status(self.run_dir, state, epoch=point["epoch"], epochs=self.config.epochs,
                     position=point["position"], **extra)

    def _elapsed(self) -> float:
        """Wall-clock seconds of all sessions so far."""
        return self.elapsed0 + time.perf_counter() - self.t0

    def _save(self, name=CHECKPOINT, state=None):
        state = self.state if state is None else state
        state.elapsed = self._elapsed()
        save_state(self.run_dir / name, state, self.config)
        if name == CHECKPOINT:
            self.saved, self.last_save = saved_point(state), time.perf_counter()

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

    def _plan(self):
        """The header: folder, settings, machine, plan and estimated duration (before data);
        then ``env.json`` (for a resume: a record added to it)."""
        config, backend = self.config, self.backend
        self.log(f"run folder: {self.run_dir}")
        self.log(report.settings_line(config, self.run_dir))
        env = environment(backend, self.threads)
        self.log(header(env))
        if self.sizes is not None:
            self.doing = "estimating the duration"
            lines, plan, calibration, one_thread = report.plan_report(
                config, backend, self.sizes, self.saved, self.threads)
            if one_thread:  # busy cores: the rest of the session with one BLAS thread
                self.stack.enter_context(only(1))
                self.threads = {**self.threads, "set": 1,
                                "why": "1 thread: faster than all cores at the start"}
                env = environment(backend, self.threads)
            for line in lines:
                self.log(line)
            self.eta = Eta(plan, calibration.gflops)
        if self.resumed:
            runfiles.add_resumed_env(self.run_dir, session_record(env))
        else:
            runfiles.write_env(self.run_dir, env)

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
            self.saved, self.elapsed0 = saved_point(state), state.elapsed
            self.log(f"resuming from {describe(path, self.saved)}")
        self.state = state
        runfiles.write_metrics(self.run_dir, state.history)  # drops lines of lost epochs
        if config.tensorboard:
            self.tensorboard = TensorBoard(self.run_dir, len(state.history))
        n_val = 0 if val is None else len(val)
        self.log(f"data: {len(train)} training, {n_val} validation, {len(splits.test)} test "
                 "examples")

    def _epochs(self):
        state, config = self.state, self.config
        progress = make_progress(config, self.log, self.eta)
        if state.pending is not None:
            self._close_epoch()
        while state.epoch < config.epochs:
            self.guard.check()
            self.doing = f"training epoch {state.epoch + 1}"
            train_epoch(config, self.net, self.backend, state, self.splits, progress,
                        self.guard.abortable, after_batch=self._periodic_checkpoint)
            self.doing = f"saving epoch {state.epoch}"
            self._save()  # the trained epoch is safe before it is evaluated
            self._close_epoch()

    def _periodic_checkpoint(self):
        """``--checkpoint-every MINUTES``: a checkpoint inside the epoch (between batches,
        where the state is consistent); the epoch's end is checkpointed anyway."""
        every, state = self.config.checkpoint_every, self.state
        if (not every or time.perf_counter() - self.last_save < 60 * every
                or state.position >= len(self.splits.train)):
            return
        doing, self.doing = self.doing, f"saving a checkpoint inside epoch {state.epoch + 1}"
        self._save()
        self._status("running")
        self.doing = doing

    def _close_epoch(self):
        """Evaluate the trained epoch if it is due (``--eval-every``), record its metrics."""
        state, config, splits = self.state, self.config, self.splits
        epoch = state.epoch
        self.guard.check()
        metrics = dict(state.pending)
        if "train_seconds" not in metrics:  # a checkpoint written before it was named so
            metrics["train_seconds"] = metrics.pop("seconds", 0.0)
        results, eval_seconds = {}, 0.0
        if epoch in evaluated_epochs(config.epochs, config.eval_every, epoch - 1):
            self.doing = f"evaluating epoch {epoch}"
            t0, offset = time.perf_counter(), 0
            with self.guard.abortable():
                for name, split in (("val", splits.val), ("test", splits.test)):
                    if split is None:
                        continue
                    shown = make_eval_progress(config, self.log, epoch, name, offset, self.eta)
                    m = evaluate(config, self.net, self.backend, state.params, split,
                                 splits.spec, shown)
                    offset += len(split)
                    results.update({f"{name}_error": m["error"], f"{name}_cost": m["cost"]})
                    if self.net.n_classes > 10:  # top-5 matters for CIFAR-100
                        results[f"{name}_top5_error"] = m["top5_error"]
            eval_seconds = time.perf_counter() - t0
        metrics.update(results)
        metrics["eval_seconds"] = eval_seconds
        metrics["seconds"] = metrics["train_seconds"] + eval_seconds
        self.doing = f"saving epoch {epoch}"
        best, history = state.best_val_error, state.history + [metrics]
        if metrics.get("val_error") is not None and (best is None or metrics["val_error"] < best):
            best = metrics["val_error"]
            self._save(BEST, dataclasses.replace(state, best_val_error=best, history=history,
                                                 pending=None))
        state.best_val_error, state.history, state.pending = best, history, None
        self._save()
        runfiles.write_metrics(self.run_dir, state.history)
        if self.tensorboard is not None:
            self.tensorboard.epoch(metrics)
        self._status("running")
        left = None if self.eta is None else self.eta.after(epoch)
        self.log(report.epoch_line(config, metrics, left))

    def _finish(self) -> int:
        self.doing = "writing the summary"
        self.state.elapsed = self._elapsed()
        summary = report.summary(self.config, self.state)
        runfiles.write_summary(self.run_dir, summary)
        self._status("done", exit_code=0)
        self.log(report.end_line(summary, self.state.history, time.perf_counter() - self.t0,
                                 self.run_dir))
        return 0

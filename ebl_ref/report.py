"""What a run says and records about itself: the header and plan printed before any work, a
line per epoch, ``summary.json`` and the end-of-run line.

The metrics themselves are defined in the README ("Metrics"); in short, ``train_error`` is the
running average over an epoch of the batches' errors at their free states — under parameters
that change after every batch, on augmented images — so it sits above the test error of the
network at the end of the epoch.
"""
from __future__ import annotations

from .config import Config
from .estimate import Plan, calibrate, format_duration, long_run_warning
from .progname import program
from .threads import only


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def settings_line(c: Config, run_dir=None) -> str:
    """The settings that matter, in one line (every setting: ``config.json``)."""
    where = f"{program()} config {run_dir}" if run_dir else f"{program()} config"
    lr = ",".join(f"{v:g}" for v in c.lr)
    return (f"{c.algo} on {c.dataset}, preset {c.preset}: {plural(c.epochs, 'epoch')}, widths "
            f"{','.join(map(str, c.widths))}, batch {c.batch_size}, β {c.beta:g}, "
            f"{c.free_iters}/{c.train_iters} iterations {c.mode}, lr {lr}, momentum "
            f"{c.momentum:g}, weight decay {c.weight_decay:g}, seed {c.seed}, {c.device} "
            f"{c.dtype} (all settings: {where})")


BUSY_RATIO = 1.5  # one BLAS thread this much faster than all of them: the cores are busy


def plan_report(config: Config, backend, sizes, point=None,
                threads: dict | None = None) -> tuple:
    """The plan and the estimated duration of the work left.

    ``sizes``: the dataset's ``(n_train, n_test)``; ``point``: where a resumed run stands
    (:func:`ebl_ref.state.saved_point`; None: from the start); ``threads``: what
    :func:`ebl_ref.threads.blas_threads` set. When the default (``--threads 0``) gave BLAS
    several threads on the CPU, the calibration is repeated with one thread; if that is
    :data:`BUSY_RATIO` times faster (other work holds the cores, and BLAS threads waiting for
    each other collapse), the run should use one thread: the estimate is the one-thread one
    and a line says why.

    Returns ``(lines, plan, calibration, one_thread)``: the lines end with
    :func:`~ebl_ref.estimate.long_run_warning`'s, if any; ``one_thread`` says whether to
    switch to one BLAS thread.
    """
    plan = Plan.of(config, sizes)
    calibration, choice = calibrate(config, backend), None
    if (config.device == "cpu" and threads and not threads["requested"]
            and (threads["set"] or 0) > 1):
        with only(1):
            single = calibrate(config, backend)
        if single.gflops > BUSY_RATIO * calibration.gflops:
            choice = (f"threads: 1 BLAS thread for this run, not {threads['set']}: it ran the "
                      f"calibration {single.gflops / calibration.gflops:.1f}× faster (other "
                      "work holds the cores); --threads N chooses")
            calibration = single
    if point:
        left = plan.remaining_flops(point["epoch"], point["position"],
                                    evaluated=not point["pending"])
        n = config.epochs - point["epoch"]
        what = f"the {n} epoch{'' if n == 1 else 's'} left"
    else:
        left, what = plan.cost.flops, "the whole run"
    seconds = left / (calibration.gflops * 1e9)
    lines = plan.lines() + ([choice] if choice else []) + [
        f"estimate: about {format_duration(seconds)} for {what} on the {config.device} "
        f"({calibration.describe()}; the progress lines refine it)"]
    warning = long_run_warning(config, seconds, program())
    if warning:
        lines.append(warning)
    return lines, plan, calibration, choice is not None


def epoch_line(config: Config, m: dict, run_left: float | None = None) -> str:
    val = f" | val error {pct(m.get('val_error'))}" if "val_error" in m else ""
    test = (f"test error {pct(m.get('test_error'))}" if "test_error" in m
            else f"not evaluated (--eval-every {config.eval_every})")
    eta = "" if run_left is None or run_left <= 0 else f" | run ETA {format_duration(run_left)}"
    return (f"epoch {m['epoch']}/{config.epochs}: train error {pct(m.get('train_error'))} "
            f"cost {m['train_cost']:.4f}{val} | {test} | {format_duration(m['seconds'])} "
            f"(training {m['examples_per_s']:.1f} ex/s){eta}")


def evaluated(history: list) -> list:
    """The epochs of ``history`` that were evaluated (those with a test error)."""
    return [m for m in history if "test_error" in m]


def summary(config: Config, state) -> dict:
    """``summary.json`` of a finished run (fields defined in the README, "Metrics")."""
    last = evaluated(state.history)[-1]
    out = {"algo": config.algo, "dataset": config.dataset, "seed": config.seed,
           "epochs": state.epoch, "test_error": last["test_error"],
           "train_error": state.history[-1]["train_error"],
           "best_val_error": state.best_val_error, "best_val_epoch": None,
           "test_error_at_best_val": None,
           "seconds": state.elapsed,
           "train_seconds": sum(m.get("train_seconds") or 0 for m in state.history),
           "eval_seconds": sum(m.get("eval_seconds") or 0 for m in state.history)}
    if state.best_val_error is not None:
        best = min((m for m in state.history if m.get("val_error") is not None),
                   key=lambda m: m["val_error"])
        out["best_val_epoch"], out["test_error_at_best_val"] = best["epoch"], best["test_error"]
    if "test_top5_error" in last:
        out["test_top5_error"] = last["test_top5_error"]
    return out


def end_line(s: dict, history: list, session_seconds: float, run_dir) -> str:
    """The last line of a finished run: wall time, final and best errors, best epoch."""
    times = format_duration(s["seconds"])
    if abs(session_seconds - s["seconds"]) > 1:
        times += f" over all sessions, {format_duration(session_seconds)} this one"
    line = (f"done: {plural(s['epochs'], 'epoch')} in {times}; test error "
            f"{pct(s['test_error'])} at the end")
    if s["best_val_epoch"] is not None:
        line += (f"; best val error {pct(s['best_val_error'])} at epoch {s['best_val_epoch']} "
                 f"(test error there {pct(s['test_error_at_best_val'])}, parameters in best.npz)")
    else:
        tested = [m for m in evaluated(history) if m.get("test_error") is not None]
        low = min(tested, key=lambda m: m["test_error"]) if tested else None
        if low is not None and low["test_error"] < tested[-1]["test_error"]:
            line += (f"; lowest test error {pct(low['test_error'])} at epoch {low['epoch']} "
                     "(for reference: the test set selects nothing; --val-size N does)")
    return f"{line}; run folder {run_dir}"

"""Progress display during training and evaluation: a tqdm bar when tqdm is installed (the
``progress`` extra) and the output is a terminal, else a plain line every ``log_every``
batches. Both show the epoch's ETA and the whole run's (:class:`ebl_ref.estimate.Eta`); with a
bar, the plain lines still go to ``log.txt`` (:func:`ebl_ref.console.log_only`)."""
from __future__ import annotations

import sys
import time

from .console import log_only, terminal
from .estimate import format_duration

try:
    from tqdm import tqdm
except ImportError:  # the optional ``progress`` extra
    tqdm = None


def _use_bar() -> bool:
    return tqdm is not None and sys.stderr.isatty()


QUIET_SECONDS = 60.0  # a plain line at least this often, whatever --log-every says


def make_progress(config, log, eta=None):
    """A callback ``progress(epoch, done, total, error, rate)`` for
    :func:`ebl_ref.train.train_epoch` (``rate`` in examples per second, this session);
    ``eta``: an :class:`~ebl_ref.estimate.Eta` for the whole run's time left. A plain line
    comes every ``log_every`` batches, and after any batch that ends a minute without one
    (so a slow run shows its measured rate after its first batch)."""
    every = config.log_every * config.batch_size
    bar = _bar(config) if _use_bar() else None
    line_to = log_only if bar is not None else log
    last = [time.perf_counter()]

    def progress(epoch, done, total, error, rate):
        run_left = None if eta is None else eta.training(epoch, done, rate)
        if bar is not None:
            bar(epoch, done, total, error, run_left)
        now = time.perf_counter()
        if (done % every >= config.batch_size and done < total
                and now - last[0] < QUIET_SECONDS):
            return
        last[0] = now
        left = (total - done) / max(rate, 1e-9)
        run = "" if run_left is None else f" | run ETA {format_duration(run_left)}"
        line_to(f"  epoch {epoch}/{config.epochs} {done:>6}/{total} | {rate:6.1f} ex/s | "
                f"train error {100 * error:5.1f}% | epoch ETA {format_duration(left)}{run}")
    return progress


def _bar(config):
    bar = {}

    def draw(epoch, done, total, error, run_left):
        if bar.get("epoch") != epoch:
            bar.update(epoch=epoch, tqdm=tqdm(total=total, initial=done, unit="ex",
                                              desc=f"epoch {epoch}/{config.epochs}",
                                              file=terminal()))
        t = bar["tqdm"]
        t.update(done - t.n)
        run = "" if run_left is None else f", run ETA {format_duration(run_left)}"
        t.set_postfix_str(f"train error {100 * error:.1f}%{run}")
        if done >= total:
            t.close()
    return draw


def make_eval_progress(config, log, epoch: int, name: str, offset: int = 0, eta=None):
    """A callback ``progress(done, total)`` for :func:`ebl_ref.train.evaluate` of split
    ``name`` after epoch ``epoch``; ``offset``: examples of this evaluation done before this
    split (the validation split comes first). A line per ``log_every × batch_size`` examples
    (as many as between two training lines), and after a minute without one."""
    every = max(1, config.log_every * config.batch_size // config.eval_batch_size)
    state, t0, last = {}, time.perf_counter(), [time.perf_counter()]
    use_bar = _use_bar()

    def progress(done, total):
        run_left = None if eta is None else eta.evaluating(epoch, offset + done)
        run = "" if run_left is None else f" | run ETA {format_duration(run_left)}"
        rate = done / max(time.perf_counter() - t0, 1e-9)
        left = format_duration((total - done) / max(rate, 1e-9))
        if use_bar:
            if "tqdm" not in state:
                state["tqdm"] = tqdm(total=total, unit="ex", desc=f"evaluating {name}",
                                     file=terminal(), leave=False)
            t = state["tqdm"]
            t.update(done - t.n)
            if done >= total:
                t.close()
        batches, now = -(-done // config.eval_batch_size), time.perf_counter()
        if done < total and (batches % every == 0 or now - last[0] >= QUIET_SECONDS):
            last[0] = now
            (log_only if use_bar else log)(
                f"  evaluating epoch {epoch}: {name} {done:>6}/{total} | {rate:6.1f} ex/s | "
                f"{name} ETA {left}{run}")
    return progress

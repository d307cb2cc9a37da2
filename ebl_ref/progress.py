"""Progress display during an epoch: a tqdm bar when tqdm is installed (the ``progress`` extra)
and the output is a terminal, else a plain line every ``log_every`` batches."""
from __future__ import annotations

import sys

try:
    from tqdm import tqdm
except ImportError:  # the optional ``progress`` extra
    tqdm = None


def make_progress(config, log):
    """A callback ``progress(epoch, done, total, error, rate)`` for
    :func:`ebl_ref.train.train_epoch` (``rate`` in examples per second, this session)."""
    if tqdm is not None and sys.stderr.isatty():
        return _bar(config)
    every = config.log_every * config.batch_size

    def progress(epoch, done, total, error, rate):
        if done % every >= config.batch_size and done < total:
            return
        eta = (total - done) / max(rate, 1e-9)
        log(f"  epoch {epoch}/{config.epochs} {done:>6}/{total} | {rate:6.1f} ex/s | "
            f"train error {100 * error:5.1f}% | epoch ETA {eta:5.0f} s")
    return progress


def _bar(config):
    bar = {}

    def progress(epoch, done, total, error, rate):
        if bar.get("epoch") != epoch:
            bar.update(epoch=epoch, tqdm=tqdm(total=total, initial=done, unit="ex",
                                              desc=f"epoch {epoch}/{config.epochs}"))
        t = bar["tqdm"]
        t.update(done - t.n)
        t.set_postfix_str(f"train error {100 * error:.1f}%")
        if done >= total:
            t.close()
    return progress

"""Training and evaluation (paper §4): one batch, one epoch, one evaluation, divergence checks.

Per batch: augment on the host, copy to the device, relax freely (the inference iteration
count), estimate +∂L/∂θ with the chosen rule, take an SGD step (:mod:`ebl_ref.optim`). What the
rule produces — the free state, the cost and energy, the gradient, the new parameters — must be
finite, else :class:`NonFiniteError` stops the run before the batch is committed.
Evaluation relaxes freely from zero with the same iteration count; the test split is never
used to choose anything (``best_val_error`` picks the best epoch).

The batch loop is written so that an interruption anywhere leaves a consistent state: a batch
runs inside ``abortable()`` (see :mod:`ebl_ref.signals`) and its results are committed to the
state only after it finished; if it is stopped, the Generator is rewound to where the batch
began, so a resumed run draws the same augmentation again.
"""
from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np

from .algorithms import estimate_gradient
from .analog import device_for
from .analog.device import EVALUATION, child_rng
from .backend import Backend, to_host
from .data import preprocess
from .minimize import free_phase
from .network import OUTPUT, cost, energy, one_hot
from .optim import cosine_lr, sgd_step


class NonFiniteError(RuntimeError):
    """What a rule produced (states, cost, energy, gradient or parameters) became inf/nan."""


def _inputs(spec, backend: Backend, x_uint8, rng, train: bool):
    """uint8 NHWC images -> normalised, (optionally) augmented (C, 32, 32, B) device array."""
    return backend.asarray(preprocess(x_uint8, spec, rng if train else None, train=train,
                                      dtype=backend.dtype))


def top_errors(o, labels, k: int = 5) -> tuple:
    """Top-1 and top-k error counts of outputs ``o`` (B, M) against ``labels`` (B,), on the host.

    An example is a top-k error when its label is not among the k *largest* outputs (k is
    capped at M).
    """
    o = to_host(o)
    top1 = int((o.argmax(axis=1) != labels).sum())
    k = min(k, o.shape[1])
    topk = np.argpartition(-o, k - 1, axis=1)[:, :k]  # (B, k): indices of the k largest
    return top1, int((topk != labels[:, None]).all(axis=1).sum())


def _all_finite(xp, arrays) -> bool:
    """Whether every array is finite, with one device-to-host transfer."""
    return bool(xp.stack([xp.isfinite(a).all() for a in arrays]).all())


def _diverged(what: str, where: str) -> NonFiniteError:
    return NonFiniteError(f"diverged at {where}: non-finite {what} (learning rates or β too "
                          "large for this network, or the dtype too narrow)")


def evaluate(config, net, backend, params, split, spec, progress=None) -> dict:
    """Error, top-5 error and mean cost on a split: free phases of ``free_iters`` from zero.

    ``progress(done, total)``, if given, is called after every evaluation batch (examples
    evaluated so far, split size). Returns ``{"error", "top5_error", "cost", "examples"}``.
    Raises :class:`NonFiniteError` if the outputs are not finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return _evaluate(config, net, backend, params, split, spec, progress)


def _evaluate(config, net, backend, params, split, spec, progress) -> dict:
    n_err = n_top5 = 0
    total_cost = 0.0
    device = device_for(config, net, params)  # None: the ideal machine
    params = backend.compute(params)
    if device is not None:  # written once, read per batch; noise of its own (analog.device)
        device = device.with_rng(child_rng(config.seed, EVALUATION))
        params = device.stored(params)
    for start in range(0, len(split), config.eval_batch_size):
        xb = split.x[start:start + config.eval_batch_size]
        labels = split.y[start:start + config.eval_batch_size]
        x = _inputs(spec, backend, xb, None, train=False)
        o = free_phase(params, net, x, config.free_iters, config.mode,
                       analog=device).s[OUTPUT]
        if not _all_finite(backend.xp, [o]):
            raise _diverged("output", f"evaluation, examples {start}..")
        e1, e5 = top_errors(o, labels)
        n_err, n_top5 = n_err + e1, n_top5 + e5
        total_cost += float(cost(o, one_hot(backend.xp.asarray(labels), net.n_classes, o)).sum())
        if progress is not None:
            progress(start + len(labels), len(split))
    n = len(split)
    return {"error": n_err / n, "top5_error": n_top5 / n, "cost": total_cost / n,
            "examples": n}


def train_batch(config, net, backend, state, splits, idx, lrs, where: str):
    """Augment, relax, estimate, step. Returns the new ``(params, velocity)`` and the batch's
    metric sums; ``state`` is not modified (its Generator is advanced).

    Raises :class:`NonFiniteError` if the free state, cost, energy, gradient or new parameters
    are not finite (NumPy's overflow warnings are silenced here: these checks report it).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return _train_batch(config, net, backend, state, splits, idx, lrs, where)


def _train_batch(config, net, backend, state, splits, idx, lrs, where):
    xp, labels = backend.xp, splits.train.y[idx]
    x = _inputs(splits.spec, backend, splits.train.x[idx], state.rng, train=True)
    y = one_hot(xp.asarray(labels), net.n_classes, x)
    params = backend.compute(state.params)  # float16 copies of float32 masters under fp16
    device = device_for(config, net, state.params)  # None: the ideal machine
    if device is not None:  # the analog machine, its noise from the run's Generator
        device = device.with_rng(state.rng)
        params = device.stored(params)
    grads, free = estimate_gradient(config.algo, params, net, x, y, beta=config.beta,
                                    free_iters=config.free_iters,
                                    train_iters=config.train_iters, mode=config.mode,
                                    zero_term=config.zero_term, analog=device)
    if not _all_finite(xp, free.s[1:]):
        raise _diverged("free state", where)
    batch = {"cost": float(cost(free.s[OUTPUT], y).sum()),
             "energy": float(energy(params, free.s, free.drives).sum()),
             "residual": free.residual * len(idx),
             "error": top_errors(free.s[OUTPUT], labels)[0], "examples": len(idx)}
    for name in ("cost", "energy", "residual"):
        if not np.isfinite(batch[name]):
            raise _diverged(name, where)
    if not _all_finite(xp, grads.values()):
        raise _diverged("gradient estimate", where)
    params, velocity = sgd_step(state.params, backend.master(grads), state.velocity, lrs,
                                config.momentum, config.weight_decay)  # in param_dtype
    if device is not None:
        params = device.update(state.params, params)  # pulse trains on a pulsed device
    if not _all_finite(xp, params.values()):
        raise _diverged("parameters", where)
    return params, velocity, batch


def train_epoch(config, net, backend, state, splits, progress, abortable=nullcontext,
                after_batch=None) -> dict:
    """Train epoch ``state.epoch + 1`` (or finish it, if ``state`` is inside it).

    Updates ``state`` batch by batch; at the end it counts the epoch as trained
    (``state.epoch += 1``) and keeps the returned training metrics in ``state.pending`` until
    the epoch is evaluated. ``abortable`` gives the context a batch runs in (a signal may stop
    it there, see :mod:`ebl_ref.signals`); a stopped or failed batch leaves ``state`` as it was
    before the batch, its Generator rewound. ``after_batch()``, if given, is called after each
    committed batch (where a mid-epoch checkpoint is consistent).

    The epoch's metrics: ``train_error``, ``train_cost``, ``train_energy``, ``residual`` (means
    over its examples, each taken at the free state of its batch, under the parameters of that
    moment), ``train_seconds`` (the batches' wall time, summed over sessions if the epoch was
    resumed) and ``examples_per_s`` (examples / ``train_seconds``).
    """
    epoch = state.epoch + 1
    lrs = [cosine_lr(lr0, epoch, config.epochs, config.eta_min) for lr0 in config.lr]
    n = len(splits.train)
    if state.order is None:
        state.order, state.position, state.sums = state.rng.permutation(n), 0, {}
    sums, first, t0 = state.sums, state.position, time.perf_counter()
    for start in range(state.position, n, config.batch_size):
        idx = state.order[start:start + config.batch_size]
        snapshot, t_batch = state.rng.bit_generator.state, time.perf_counter()
        try:
            with abortable():
                params, velocity, batch = train_batch(config, net, backend, state, splits, idx,
                                                      lrs, f"epoch {epoch}, example {start}")
        except BaseException:
            state.rng.bit_generator.state = snapshot  # redo this batch's draws on resume
            raise
        batch["seconds"] = time.perf_counter() - t_batch
        sums = {k: sums.get(k, 0) + v for k, v in batch.items()}
        state.params, state.velocity, state.sums, state.position = (
            params, velocity, sums, start + len(idx))
        seconds = time.perf_counter() - t0
        progress(epoch, state.position, n, sums["error"] / sums["examples"],
                 (state.position - first) / max(seconds, 1e-9))
        if after_batch is not None:
            after_batch()
    m, seconds = sums["examples"], sums.get("seconds", 0.0)
    metrics = {"epoch": epoch, "lr": lrs, "train_error": sums["error"] / m,
               "train_cost": sums["cost"] / m, "train_energy": sums["energy"] / m,
               "residual": sums["residual"] / m, "train_seconds": seconds,
               "examples_per_s": m / max(seconds, 1e-9)}
    state.epoch, state.pending, state.order, state.position, state.sums = (
        epoch, metrics, None, 0, {})
    return metrics

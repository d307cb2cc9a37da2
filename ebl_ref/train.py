"""Training: the epoch loop, evaluation, metrics, resumable state (§4; REFERENCE-CODE §4.1, §6).

Per batch: augment on the host, copy to the device, relax freely (the inference iteration
count), estimate +∂L/∂θ with the chosen rule, take an SGD step. After each epoch: evaluate on
the validation split (if held out) and the test split, with free phases started from zero.
The test split is never used to choose anything; ``best_val_error`` picks the best epoch.

All randomness — initialisation, validation split, shuffling, augmentation — comes from one
``numpy.random.Generator`` seeded with ``config.seed``, whose state is checkpointed, so a resumed
run continues bit for bit (on the CPU).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .algorithms import estimate_gradient
from .backend import Backend, to_host
from .minimize import free_phase
from .network import DCHN, cost, energy, init_params, one_hot
from .optim import cosine_lr, sgd_step


class NonFiniteError(RuntimeError):
    """States or parameters became inf/nan."""


@dataclass
class Data:
    """Host-side splits (uint8 images, int64 labels) and the dataset's spec."""

    spec: object
    train: object
    test: object
    val: object = None


@dataclass
class TrainState:
    """Everything a resumed run needs. ``order``/``position``/``sums`` describe an epoch in
    progress (set when a run is interrupted mid-epoch), else None/0/{}."""

    params: dict
    velocity: dict | None
    rng: np.random.Generator
    epoch: int = 0                      # completed epochs
    best_val_error: float | None = None
    history: list = field(default_factory=list)
    order: np.ndarray | None = None
    position: int = 0
    sums: dict = field(default_factory=dict)


def build_network(config, spec) -> DCHN:
    return DCHN(in_channels=spec.channels, widths=tuple(config.widths), n_classes=spec.classes)


def initial_state(config, net: DCHN, backend: Backend, data_train) -> tuple:
    """Seed the Generator, draw the parameters, then hold out the validation split.

    Returns ``(state, train, val)``. Replaying this with the same seed (as resume does)
    reproduces the same split.
    """
    from .data import split_validation  # noqa: PLC0415  (data is optional for library users)

    rng = np.random.default_rng(config.seed)
    params = init_params(net, rng, config.gains, backend)
    train, val = data_train, None
    if config.val_size:
        train, val = split_validation(data_train, config.val_size, rng)
    return TrainState(params=params, velocity=None, rng=rng), train, val


def _inputs(config, spec, backend, x_uint8, rng, train: bool):
    """uint8 NHWC images -> normalised, (optionally) augmented (C, 32, 32, B) device array."""
    from .data import preprocess  # noqa: PLC0415

    return backend.asarray(preprocess(x_uint8, spec, rng if train else None, train=train,
                                      dtype=backend.dtype))


def _errors(o, labels, k: int = 5):
    """Top-1 and top-k error counts of outputs ``o`` (B, M) on the host."""
    o = to_host(o)
    top1 = int((o.argmax(axis=1) != labels).sum())
    k = min(k, o.shape[1])
    topk = np.argpartition(-o, k - 1, axis=1)[:, :k]
    return top1, int((topk != labels[:, None]).all(axis=1).sum())


def evaluate(config, net, backend, params, split, spec) -> dict:
    """Error, top-5 error and cost on a split, free phases of ``free_iters`` from zero."""
    n_err = n_top5 = 0
    total_cost = 0.0
    for start in range(0, len(split), config.eval_batch_size):
        xb = split.x[start:start + config.eval_batch_size]
        labels = split.y[start:start + config.eval_batch_size]
        x = _inputs(config, spec, backend, xb, None, train=False)
        eq = free_phase(params, net, x, config.free_iters, config.mode)
        e1, e5 = _errors(eq.s[5], labels)
        n_err, n_top5 = n_err + e1, n_top5 + e5
        total_cost += float(cost(eq.s[5], one_hot(backend.xp.asarray(labels), net.n_classes,
                                                   eq.s[5])).sum())
    n = len(split)
    return {"error": n_err / n, "top5_error": n_top5 / n, "cost": total_cost / n}


def _check_finite(xp, arrays, what: str, where: str):
    if not all(bool(xp.isfinite(a).all()) for a in arrays):
        raise NonFiniteError(f"non-finite {what} at {where}: the learning rates or β are too "
                             "large for this network, or the dtype too narrow")


def _train_batch(config, net, backend, state, data, idx, lrs, where):
    """Augment, relax, estimate, step: returns the new (params, velocity) and batch sums."""
    xp, labels = backend.xp, data.train.y[idx]
    x = _inputs(config, data.spec, backend, data.train.x[idx], state.rng, train=True)
    y = one_hot(xp.asarray(labels), net.n_classes, x)
    grads, free = estimate_gradient(config.algo, state.params, net, x, y, beta=config.beta,
                                    free_iters=config.free_iters,
                                    train_iters=config.train_iters, mode=config.mode,
                                    zero_term=config.zero_term)
    _check_finite(xp, [free.s[5]], "free state", where)
    params, velocity = sgd_step(state.params, grads, state.velocity, lrs, config.momentum,
                                config.weight_decay)
    _check_finite(xp, params.values(), "parameters", where)
    batch = {"cost": float(cost(free.s[5], y).sum()),
             "energy": float(energy(state.params, free.s, free.drives).sum()),
             "residual": free.residual * len(idx), "error": _errors(free.s[5], labels)[0],
             "examples": len(idx)}
    return params, velocity, batch


def train_epoch(config, net, backend, state: TrainState, data: Data, progress) -> dict:
    """One epoch of training; updates ``state`` in place batch by batch (so an interrupt
    leaves a consistent, checkpointable state). Returns the epoch's training metrics."""
    epoch = state.epoch + 1
    lrs = [cosine_lr(lr0, epoch, config.epochs, config.eta_min) for lr0 in config.lr]
    n = len(data.train)
    if state.order is None:
        state.order, state.position, state.sums = state.rng.permutation(n), 0, {}
    sums, first, t0 = state.sums, state.position, time.perf_counter()
    for start in range(state.position, n, config.batch_size):
        idx = state.order[start:start + config.batch_size]
        snapshot = state.rng.bit_generator.state
        try:
            params, velocity, batch = _train_batch(config, net, backend, state, data, idx, lrs,
                                                   f"epoch {epoch}, example {start}")
        except KeyboardInterrupt:
            state.rng.bit_generator.state = snapshot  # redo this batch's draws on resume
            raise
        sums = {k: sums.get(k, 0) + v for k, v in batch.items()}
        state.params, state.velocity, state.sums, state.position = (
            params, velocity, sums, start + len(idx))
        seconds = time.perf_counter() - t0
        progress(epoch, state.position, n, sums["error"] / sums["examples"],
                 (state.position - first) / seconds)
    m, seconds = sums["examples"], time.perf_counter() - t0
    state.order, state.position, state.sums = None, 0, {}
    return {"epoch": epoch, "lr": lrs, "train_error": sums["error"] / m,
            "train_cost": sums["cost"] / m, "train_energy": sums["energy"] / m,
            "residual": sums["residual"] / m,
            "examples_per_s": (n - first) / seconds}  # training only, this session

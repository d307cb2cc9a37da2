"""A run's resumable state: what it is, how it starts (seeded), how it is saved and restored.

All randomness — initialisation, validation split, shuffling, augmentation — comes from one
``numpy.random.Generator`` seeded with ``config.seed``, whose state is checkpointed with the
parameters, momentum buffers and the position inside the current epoch, so a resumed run
continues bit for bit (on the CPU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checkpoint
from .analog import device_for
from .backend import Backend, to_host
from .checkpoint import CheckpointError
from .config import RESUMABLE, Config
from .data import split_validation
from .network import DCHN, init_params


@dataclass
class TrainState:
    """Everything a resumed run needs.

    Attributes
    ----------
    params, velocity : parameter and momentum dicts on the device (velocity None before the
        first SGD step)
    rng : the run's one Generator
    epoch : completed (trained) epochs
    best_val_error : lowest validation error so far (None without --val-size)
    history : the metrics of every evaluated epoch
    order, position, sums : the epoch in progress — its permutation of the training examples,
        how many are done, the running sums of its training metrics (None / 0 / {} between
        epochs)
    pending : the training metrics of epoch ``epoch`` if it is trained but not yet evaluated
        (its evaluation was interrupted), else None
    elapsed : wall-clock seconds the run's sessions had spent when it was last saved (all
        sessions together: loading, training, evaluating, saving)
    """

    params: dict
    velocity: dict | None
    rng: np.random.Generator
    epoch: int = 0
    best_val_error: float | None = None
    history: list = field(default_factory=list)
    order: np.ndarray | None = None
    position: int = 0
    sums: dict = field(default_factory=dict)
    pending: dict | None = None
    elapsed: float = 0.0


def build_network(config: Config, spec) -> DCHN:
    """The DCHN of ``config.widths`` for a dataset ``spec`` (channels, classes)."""
    return DCHN(in_channels=spec.channels, widths=tuple(config.widths), n_classes=spec.classes)


def seeded_state(config: Config, net: DCHN, backend: Backend, train) -> tuple:
    """The state of a run before its first batch: seed the Generator, draw the parameters, then
    hold out the validation split (in this order, so that replaying it reproduces both).

    Returns ``(state, train, val)`` (``val`` None without ``val_size``).
    """
    rng = np.random.default_rng(config.seed)
    params = init_params(net, rng, config.gains, backend)
    device = device_for(config, net, params)
    if device is not None:  # a pulsed device holds the weights: write them once (own stream)
        params = device.initial(params, config.seed)
    val = None
    if config.val_size:
        train, val = split_validation(train, config.val_size, rng)
    return TrainState(params=params, velocity=None, rng=rng), train, val


def save_state(path, state: TrainState, config: Config) -> None:
    """Write ``state`` (and ``config``, for the compatibility check) as a checkpoint."""
    arrays = {f"param/{k}": to_host(v) for k, v in state.params.items()}
    if state.velocity is not None:
        arrays.update({f"velocity/{k}": to_host(v) for k, v in state.velocity.items()})
    if state.order is not None:
        arrays["order"] = state.order
    meta = {"epoch": state.epoch, "rng": state.rng.bit_generator.state,
            "best_val_error": state.best_val_error, "history": state.history,
            "position": state.position, "sums": state.sums, "pending": state.pending,
            "elapsed": state.elapsed, "config": config.to_dict()}
    checkpoint.save(path, arrays, meta)


def check_compatible(path, meta: dict, config: Config) -> None:
    """Refuse a checkpoint written under other settings than ``config`` (the run folder's
    config.json), except for the resumable ones."""
    stored = meta.get("config")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path} records no settings: it is damaged; restore it or start "
                              "a new run")
    now = config.to_dict()
    clash = [k for k in now if k not in RESUMABLE and k in stored and stored[k] != now[k]]
    if clash:
        shown = "; ".join(f"{k} {stored[k]!r} in the checkpoint, {now[k]!r} in config.json"
                          for k in clash)
        raise CheckpointError(f"{path} does not match config.json ({shown}): config.json was "
                              "edited; restore it, or start a new run")


def restore_state(path, state: TrainState, backend: Backend, config: Config,
                  n_train: int) -> None:
    """Load the checkpoint at ``path`` into ``state`` (seeded for the same ``config``).

    Raises :class:`~ebl_ref.checkpoint.CheckpointError` naming the file if it is damaged or was
    written for other settings or another training set (``n_train`` examples).
    """
    arrays, meta = checkpoint.load(path)
    check_compatible(path, meta, config)
    names = list(state.params)
    for k in names:
        a = arrays.get(f"param/{k}")
        if a is None or a.shape != tuple(state.params[k].shape):
            raise CheckpointError(f"{path}: parameter {k} is missing or has the wrong shape; "
                                  "the file is damaged or from another run")
    order = arrays.get("order")
    try:
        position, epoch = int(meta["position"]), int(meta["epoch"])
        if order is not None and (order.shape != (n_train,) or not 0 <= position <= n_train):
            raise ValueError(f"an epoch order over {order.shape[0]} examples, the training set "
                             f"has {n_train}")
        state.rng.bit_generator.state = meta["rng"]
        state.params = {k: backend.asparam(arrays[f"param/{k}"]) for k in names}
        state.velocity = ({k: backend.asparam(arrays[f"velocity/{k}"]) for k in names}
                          if f"velocity/{names[0]}" in arrays else None)
        state.epoch, state.position, state.order = epoch, position, order
        state.best_val_error = meta["best_val_error"]
        state.history, state.sums = list(meta["history"]), dict(meta["sums"])
        state.pending = meta.get("pending")
        state.elapsed = float(meta.get("elapsed") or 0.0)  # absent in older checkpoints
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its metadata is damaged ({type(exc).__name__}: {exc}); "
                              "restore the file or start a new run") from None


def saved_point(state: TrainState) -> dict:
    """Where ``state`` stands, as :func:`describe` reports it (taken when it is saved)."""
    return {"epoch": state.epoch, "position": state.position,
            "pending": state.pending is not None}


def describe(path, point: dict | None) -> str:
    """What the checkpoint at ``path`` holds (``point`` from :func:`saved_point`) in a few
    words, e.g. ``"R/checkpoint.npz (epoch 3 trained, its evaluation pending)"``; true also when
    there is none."""
    if point is None or not Path(path).is_file():
        return f"no checkpoint yet ({Path(path).name} not written)"
    done = f"epoch {point['epoch']} trained"
    if point["pending"]:
        done += ", its evaluation pending"
    if point["position"]:
        done += f", {point['position']} examples of epoch {point['epoch'] + 1}"
    return f"{path} ({done})"

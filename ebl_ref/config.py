"""A run's configuration: one flat dataclass, filled from a preset and then from flags, validated
with messages that name the problem and the fix."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .presets import PRESETS


class ConfigError(ValueError):
    """A configuration value that makes no sense, with the fix in the message."""


@dataclass(frozen=True)
class Config:
    algo: str = "c-ep"              # a rule of ebl_ref.rules.ALGORITHMS
    dataset: str = "fashion-mnist"  # a key of ebl_ref.data.DATASETS
    preset: str = "comparative"     # which preset filled the defaults
    device: str = "cpu"             # cpu | gpu
    dtype: str = "float32"          # float64 | float32 | float16 (GPU only)
    epochs: int = 100
    batch_size: int = 128
    eval_batch_size: int = 256      # evaluation only: no effect on results
    seed: int = 0
    beta: float = 0.25              # nudging strength β > 0; the rule picks the sign
    free_iters: int = 60            # free phase (training and inference)
    train_iters: int = 15           # each second phase
    mode: str = "async"             # async | sync
    zero_term: str = "relaxed"      # β = 0 state of one-sided rules: relaxed (reference) | free
    widths: tuple = (128, 256, 512, 512)
    gains: tuple = (0.5,) * 5
    lr: tuple = (0.0625, 0.0375, 0.025, 0.02, 0.0125)
    momentum: float = 0.9
    weight_decay: float = 3e-4
    eta_min: float = 2e-6           # cosine annealing floor
    train_subset: int = 0           # use the first N training examples (0: all)
    val_size: int = 0               # hold out N training examples for model selection
    data_dir: str | None = None     # else $EBL_DATA_DIR, else the user cache folder
    log_every: int = 20             # progress line every so many batches

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


TUPLE_LENGTHS = {"widths": 4, "gains": 5, "lr": 5}


def resolve(preset: str = "comparative", **overrides) -> Config:
    """Defaults ← preset ← overrides (None values are ignored); then validate.

    CL clamps the output to the target, which is β = 1 in eq. (7): with ``algo="cl"`` the
    preset's β is replaced by 1 unless β is given explicitly.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], "preset": preset}
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    if values.get("algo") == "cl" and "beta" not in given:
        values["beta"] = 1.0
    for name, n in TUPLE_LENGTHS.items():
        if name in values:
            values[name] = _tuple(name, values[name], n)
    unknown = set(values) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    config = Config(**values)
    validate(config)
    return config


def _tuple(name, value, n):
    if isinstance(value, str):
        value = value.split(",")
    value = tuple(value)
    if len(value) == 1 and name != "widths":
        value = value * n  # one learning rate or gain for every layer
    if len(value) != n:
        raise ConfigError(f"--{name} needs {n} comma-separated values (one per layer), "
                          f"got {len(value)}: {','.join(map(str, value))}")
    cast = int if name == "widths" else float
    try:
        return tuple(cast(v) for v in value)
    except ValueError:
        raise ConfigError(f"--{name}: {','.join(map(str, value))} are not numbers") from None


def validate(c: Config) -> None:
    """Raise :class:`ConfigError` for nonsensical values."""
    from .data import DATASETS  # noqa: PLC0415
    from .algorithms import ALGORITHMS  # noqa: PLC0415

    if c.algo not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {c.algo!r}: choose one of {', '.join(ALGORITHMS)}")
    if c.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {c.dataset!r}: choose one of {', '.join(DATASETS)}")
    checks = [
        (c.beta > 0, f"--beta must be > 0 (the rule chooses the sign), got {c.beta}"),
        (c.algo not in ("n-ep", "c-ep") or c.beta < 1,
         f"--beta must be < 1 for {c.algo}: the −β phase minimises F − βC, unbounded for β ≥ 1"),
        (c.epochs >= 1, f"--epochs must be >= 1, got {c.epochs}"),
        (c.batch_size >= 1, f"--batch-size must be >= 1, got {c.batch_size}"),
        (c.eval_batch_size >= 1, f"eval_batch_size must be >= 1, got {c.eval_batch_size}"),
        (c.free_iters >= 1, f"--free-iters must be >= 1, got {c.free_iters}"),
        (c.train_iters >= 1, f"--train-iters must be >= 1, got {c.train_iters}"),
        (c.mode in ("async", "sync"), f"--mode must be async or sync, got {c.mode!r}"),
        (c.zero_term in ("relaxed", "free"),
         f"--zero-term must be relaxed or free, got {c.zero_term!r}"),
        (min(c.widths) >= 1, f"--widths must be positive, got {c.widths}"),
        (min(c.lr) >= 0, f"--lr must be >= 0, got {c.lr}"),
        (min(c.gains) > 0, f"--gains must be > 0, got {c.gains}"),
        (0 <= c.momentum < 1, f"--momentum must be in [0, 1), got {c.momentum}"),
        (c.weight_decay >= 0, f"--weight-decay must be >= 0, got {c.weight_decay}"),
        (c.train_subset >= 0, f"--train-subset must be >= 0, got {c.train_subset}"),
        (c.val_size >= 0, f"--val-size must be >= 0, got {c.val_size}"),
        (c.device in ("cpu", "gpu"), f"--device must be cpu or gpu, got {c.device!r}"),
        (c.dtype in ("float64", "float32", "float16"),
         f"--dtype must be float64, float32 or float16, got {c.dtype!r}"),
        (c.log_every >= 1, f"log_every must be >= 1, got {c.log_every}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)

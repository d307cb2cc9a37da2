"""A run's configuration: one flat, frozen dataclass whose fields are the knobs.

Each field is declared once, with :func:`knob`: its default, its help text, and what it
accepts (choices from the table that owns them — algorithms, datasets, presets, devices,
dtypes, schedules, β = 0 terms — or a numeric range; a list length). The command line's flags
(:mod:`ebl_ref.flags`), the checks of ``config.json`` on resume, and :func:`validate` are all
derived from these declarations, so a knob's name and allowed values are typed in one place.

Values are filled in the order: field defaults ← preset (:mod:`ebl_ref.presets`) ← overrides.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .algorithms import ALGORITHMS
from .analog import FIELDS as ANALOG_FIELDS
from .analog import PRESETS as ANALOG_PRESETS
from .analog import from_config as analog_config
from .analog import validate as validate_analog
from .backend import DEVICES, DTYPES, MATMULS
from .convolution import CONV_PATHS
from .data import DATASETS
from .minimize import SCHEDULES
from .presets import PRESETS
from .rules import ZERO_TERMS
from .values import (AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, Range, UsageError,
                     check_choice, check_range, parse_list, to_number)


class ConfigError(UsageError):
    """A configuration value that makes no sense, with the fix in the message (exit 2)."""


def knob(default, doc: str, *, choices=None, within: Range | None = None,
         length: int | None = None, broadcast: bool = False, resumable: bool = False,
         noun: str | None = None):
    """A :class:`Config` field with what the CLI and the checks need, as field metadata.

    Parameters
    ----------
    default : the value when neither the preset nor a flag gives one
    doc : one phrase for ``--help``
    choices : the owning table (its keys are the allowed values)
    within : the numeric range of the value (of every element, for a list)
    length, broadcast : a list of ``length`` values; with ``broadcast`` one value means all
    resumable : may differ on ``--resume`` (it changes how, not what, is computed; ``epochs``
        sets a new target). A resume records the new value in ``config.json``.
    noun : what an unknown choice is called in the message ("unknown algorithm 'ep'")
    """
    meta = {"help": doc, "choices": None if choices is None else tuple(choices),
            "within": within, "length": length, "broadcast": broadcast,
            "resumable": resumable, "noun": noun}
    return field(default=default, metadata=meta)


def analog_knob(name: str):
    """The :func:`knob` of ``analog_<name>``: default (ideal), help and range from
    :class:`ebl_ref.analog.AnalogConfig`'s field ``name``."""
    f = ANALOG_FIELDS[name]
    return knob(f.default, f"analog: {f.metadata['help']}", within=f.metadata["within"])


@dataclass(frozen=True)
class Config:
    """Every setting of a run (see each field's help, or ``python run.py --help``)."""

    algo: str = knob("c-ep", "learning rule (paper §2) or baseline (TBP, RBP)",
                     choices=ALGORITHMS, noun="algorithm")
    dataset: str = knob("fashion-mnist", "dataset; fashion-mnist-sample is embedded (offline)",
                        choices=DATASETS)
    preset: str = knob("comparative", "settings to start from: comparative = Table 1; quick = "
                       "minutes on a CPU; sota-cifar10 / sota-cifar100 = Table 2; "
                       "speedup-fp32-sync = 250/30 synchronous iterations", choices=PRESETS)
    device: str = knob("cpu", "cpu (NumPy) or gpu (CuPy)", choices=DEVICES, resumable=True)
    dtype: str = knob("float32", "floating type of states, inputs and matrix products "
                      "(float16: gpu only, with float32 master parameters and sums)",
                      choices=DTYPES)
    matmul: str = knob("ieee", "float32 matrix products: ieee, or tf32 (gpu: TF32 tensor cores, "
                       "what the paper's '16-bit' runs used)", choices=MATMULS)
    threads: int = knob(0, "BLAS threads (needs the threads extra, threadpoolctl); 0: as "
                        "OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS say if set, "
                        "else every core this process may use", within=NON_NEGATIVE,
                        resumable=True)
    epochs: int = knob(100, "number of epochs, also the cosine schedule's length (on "
                       "--resume: a new target, recorded in config.json)", within=AT_LEAST_ONE,
                       resumable=True)
    batch_size: int = knob(128, "training mini-batch size", within=AT_LEAST_ONE)
    eval_batch_size: int = knob(256, "evaluation batch size (changes the evaluation's "
                                "rounding only)", within=AT_LEAST_ONE, resumable=True)
    seed: int = knob(0, "seed of the one Generator behind init, split, shuffle and "
                     "augmentation", within=NON_NEGATIVE)
    beta: float = knob(0.25, "nudging strength β > 0 (eqs. 4, 7; the rule picks the sign; CL "
                       "clamps: β = 1)", within=POSITIVE)
    free_iters: int = knob(60, "iterations of the free phase (eq. 1; training and inference)",
                           within=AT_LEAST_ONE)
    train_iters: int = knob(15, "iterations of each second phase (nudged, eq. 4, or clamped, "
                            "eq. 2)", within=AT_LEAST_ONE)
    conv: str = knob("auto", "convolution code: auto (per convolution the faster: Winograd "
                     "from 64x128 channel pairs on, im2col below), winograd (everywhere) or "
                     "im2col (the reference); they differ in rounding only", choices=CONV_PATHS,
                     resumable=True)
    mode: str = knob("async", "minimiser schedule: async (odd and even layers in turn) or sync",
                     choices=SCHEDULES)
    zero_term: str = knob("relaxed", "β = 0 state of CL and the one-sided rules: relaxed = s* "
                          "relaxed as long as the other phase, so unfinished relaxation cancels "
                          "(the authors' code); free = s* itself (the paper's equations)",
                          choices=ZERO_TERMS)
    widths: tuple = knob((128, 256, 512, 512), "four hidden-layer widths", within=AT_LEAST_ONE,
                         length=4)
    gains: tuple = knob((0.5,) * 5, "weight-init gains of layers 1..5, or one for all",
                        within=POSITIVE, length=5, broadcast=True)
    lr: tuple = knob((0.0625, 0.0375, 0.025, 0.02, 0.0125), "initial learning rates of layers "
                     "1..5 (bias as weight), or one for all", within=NON_NEGATIVE, length=5,
                     broadcast=True)
    momentum: float = knob(0.9, "SGD momentum μ", within=UNIT_INTERVAL)
    weight_decay: float = knob(3e-4, "coupled L2 weight decay λ (all parameters)",
                               within=NON_NEGATIVE)
    eta_min: float = knob(2e-6, "floor of the cosine learning-rate schedule",
                          within=NON_NEGATIVE)
    train_subset: int = knob(0, "train on the first N training examples only (0: all)",
                             within=NON_NEGATIVE)
    val_size: int = knob(0, "hold out N training examples for model selection (the test set "
                         "never picks)", within=NON_NEGATIVE)
    test_subset: int = knob(0, "evaluate on the first N test examples only (0: all); the test "
                            "error then estimates the full one", within=NON_NEGATIVE)
    eval_every: int = knob(1, "evaluate every N epochs (and always after the last one)",
                           within=AT_LEAST_ONE, resumable=True)
    checkpoint_every: float = knob(0.0, "also checkpoint inside an epoch every MINUTES of "
                                   "training (0: at the end of each epoch only)",
                                   within=NON_NEGATIVE, resumable=True)
    data_dir: str | None = knob(None, "folder holding <dataset>/ (else $EBL_DATA_DIR, else a "
                                "user cache)", resumable=True)
    cache_dir: str | None = knob(None, "folder of the decoded-data cache (else $EBL_CACHE_DIR, "
                                 "else ~/.cache/ebl-ref/decoded); never the data folder",
                                 resumable=True)
    cache: bool = knob(True, "keep decoded splits in the decoded-data cache (--no-cache: decode "
                       "the files every time, write nothing)", resumable=True)
    log_every: int = knob(20, "progress line every N batches", within=AT_LEAST_ONE,
                          resumable=True)
    analog: str = knob("ideal", "analog machine the rules run on (docs/PORTING.md, 'Analog "
                       "non-idealities'): ideal = none; a preset sets the --analog-* values it "
                       "names unless given", choices=ANALOG_PRESETS, noun="analog preset")
    analog_levels: int = analog_knob("levels")
    analog_w_max: float = analog_knob("w_max")
    analog_w_min: float = analog_knob("w_min")
    analog_omega: float = analog_knob("omega")
    analog_prog_noise: float = analog_knob("prog_noise")
    analog_w_gain_dtod: float = analog_knob("w_gain_dtod")
    analog_w_noise: float = analog_knob("w_noise")
    analog_relax_noise: float = analog_knob("relax_noise")
    analog_out_res: float = analog_knob("out_res")
    analog_out_noise: float = analog_knob("out_noise")
    analog_n_reads: int = analog_knob("n_reads")
    analog_dw_min: float = analog_knob("dw_min")
    analog_dw_min_dtod: float = analog_knob("dw_min_dtod")
    analog_dw_min_std: float = analog_knob("dw_min_std")
    analog_up_down: float = analog_knob("up_down")
    tensorboard: bool = knob(False, "also log the metrics as TensorBoard events in "
                             "RUN_DIR/tensorboard (needs the tensorboard extra, tensorboardX)",
                             resumable=True)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples as lists), in field order."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
RESUMABLE = tuple(name for name, f in FIELDS.items() if f.metadata["resumable"])


def kind_of(f: dataclasses.Field):
    """The Python type of a field's value, or of its elements for a list: int, float, bool or
    str."""
    default = f.default[0] if isinstance(f.default, tuple) else f.default
    return str if default is None else type(default)


def coerce(name: str, value):
    """``value`` (flag text, or a value read from JSON or given in Python) as field ``name``'s
    type: numbers parsed, lists checked for length (:func:`ebl_ref.values.parse_list`)."""
    f = FIELDS[name]
    meta, kind, spelled = f.metadata, kind_of(f), _spelled(name)
    if meta["length"] is not None:
        return parse_list(value, kind, spelled, meta["length"], meta["broadcast"])
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"--{spelled}: expected true or false, got {value!r}")
        return value
    if kind is str:
        if value is None and f.default is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(f"--{spelled}: expected text, got {value!r}")
        return value
    return to_number(value, kind, spelled)


def _spelled(name: str) -> str:
    return name.replace("_", "-")  # a flag as ebl_ref.values names it: "batch-size"


def flag(name: str) -> str:
    """The command-line spelling of field ``name``: ``batch_size`` -> ``--batch-size``."""
    return "--" + _spelled(name)


def resolve(preset: str = "comparative", /, **overrides) -> Config:
    """Defaults ← preset ← overrides (None values are ignored); then :func:`validate`.

    CL clamps the output to the target, which is β = 1 in eq. (7): with ``algo="cl"`` the
    preset's β is replaced by 1 unless β is given explicitly.

    A named ``analog`` preset (:data:`ebl_ref.analog.PRESETS`) sets each ``analog_*`` field it
    names, unless that field is given explicitly.

    Raises :class:`ConfigError` for an unknown preset or key, a value of the wrong type or out
    of range (messages name the flag).
    """
    check_choice(preset, tuple(PRESETS), "preset")
    values = {**PRESETS[preset], "preset": preset}
    given = {k: v for k, v in overrides.items() if v is not None and k != "preset"}
    unknown = (set(values) | set(given)) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    values.update(given)
    if values.get("algo") == "cl" and "beta" not in given:
        values["beta"] = 1.0
    for name, value in ANALOG_PRESETS.get(values.get("analog"), {}).items():
        if f"analog_{name}" not in given:
            values[f"analog_{name}"] = value
    try:
        config = Config(**{k: coerce(k, v) for k, v in values.items()})
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    validate(config)
    return config


def validate(c: Config) -> None:
    """Raise :class:`ConfigError` for a value out of its range or table, or an inconsistent
    pair: every check that needs neither data nor a device (the dataset's sizes are checked by
    :func:`ebl_ref.splits.check_sizes_early`, the device by :func:`ebl_ref.backend.get_backend`)."""
    try:
        for name, f in FIELDS.items():
            value, meta = getattr(c, name), f.metadata
            if meta["choices"] is not None:
                check_choice(value, meta["choices"], _spelled(name), meta["noun"])
            if meta["within"] is not None:
                check_range(value, meta["within"], _spelled(name))
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    checks = [
        (c.algo not in ("n-ep", "c-ep") or c.beta < 1,
         f"--beta must be < 1 for {c.algo}: the −β phase minimises F − βC, unbounded for β ≥ 1 "
         f"(got {c.beta})"),
        (not (c.dtype == "float16" and c.device == "cpu"),
         "--dtype float16 needs --device gpu (NumPy has no fast float16 GEMM): use float32"),
        (not c.train_subset or c.val_size < c.train_subset,
         f"--val-size {c.val_size} must be smaller than --train-subset {c.train_subset}: the "
         "validation examples are held out of the training subset"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    try:
        validate_analog(analog_config(c))
    except UsageError as exc:
        raise ConfigError(str(exc)) from None

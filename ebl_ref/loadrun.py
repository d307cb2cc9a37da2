"""A trained run, read back: ``ebl_ref.load_run(path)``.

    >>> run = ebl_ref.load_run("runs/mnist-c-ep-seed0-...")   # doctest: +SKIP
    >>> run.config.algo, run.epoch, sorted(run.params)         # doctest: +SKIP
    ('c-ep', 6, ['W1', ..., 'b5'])
    >>> run.evaluate("test")["error"]                          # doctest: +SKIP
    0.1705

:func:`load_run` reads ``config.json`` (checked like a resume checks it), and the parameters of
``checkpoint.npz`` (``params="last"``: the latest state, normally after the last epoch) or of
``best.npz`` (``params="best"``: the epoch with the lowest validation error, with
``--val-size``). :meth:`Run.evaluate` relaxes freely exactly as the run's own evaluation did —
same iteration count, schedule, dtype and evaluation batch size — so on the run's test split
it reproduces the recorded test error to the last digit (on the same device).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import checkpoint
from .backend import Backend, get_backend
from .checkpoint import CheckpointError
from .config import Config, ConfigError, resolve
from .data import dataset_sizes, get_spec, load_dataset
from .network import DCHN
from .resume import resume_config
from .runfiles import BEST, CHECKPOINT, is_run_dir
from .splits import cache_setting, load_splits
from .state import build_network, check_compatible, describe, seeded_state
from .convolution import conv_path
from .train import evaluate
from .values import UsageError

PARAMS = ("last", "best")
SPLITS = ("test", "val", "train")


@dataclass
class Run:
    """A run folder's settings and trained parameters.

    Attributes
    ----------
    path : the run folder
    config : its :class:`~ebl_ref.config.Config` (``device`` as asked of :func:`load_run`)
    net : the :class:`~ebl_ref.network.DCHN` (widths, channels, classes)
    params : parameter dict ``b1..b5, W1..W5`` on ``backend`` (``W1`` (C1, C0, 3, 3), ...)
    backend : the :class:`~ebl_ref.backend.Backend` the parameters live on
    which : ``"last"`` or ``"best"``
    epoch : epochs trained when the parameters were saved
    position : examples of epoch ``epoch + 1`` already trained (0 at an epoch's end)
    history : the metrics of the evaluated epochs up to then (``metrics.jsonl`` records)
    """

    path: Path
    config: Config
    net: DCHN
    params: dict
    backend: Backend
    which: str
    epoch: int
    position: int
    history: list

    def recorded(self) -> dict | None:
        """The metrics the run recorded for these very parameters (None if it recorded none:
        they were saved inside an epoch, or before the epoch's evaluation)."""
        if self.position or not self.history or self.history[-1]["epoch"] != self.epoch:
            return None
        return self.history[-1]

    def evaluate(self, split: str = "test", dataset: str | None = None,
                 data_dir=None, subset: int | None = None, progress=None) -> dict:
        """Error, top-5 error and mean cost of these parameters on a split.

        Parameters
        ----------
        split : "test", "val" (the run's held-out examples) or "train" (its training
            examples, not augmented)
        dataset : another dataset with the same image channels and classes (default: the
            run's); its full splits are used (no validation split)
        data_dir : where that dataset lives (default: the run's ``data_dir``)
        subset : the first N examples only (default: the run's ``test_subset`` for its own
            test split, else all)
        progress : ``progress(done, total)`` called after each evaluation batch

        Returns ``{"split", "dataset", "examples", "error", "top5_error", "cost"}``. Raises
        :class:`~ebl_ref.values.UsageError` for an impossible request,
        :class:`~ebl_ref.data.DataError` for missing data.
        """
        data = self._split(split, dataset, data_dir, subset)
        with conv_path(self.config.conv):  # the run's own convolution code: the same rounding
            m = evaluate(self.config, self.net, self.backend, self.params, data,
                         get_spec(dataset or self.config.dataset), progress)
        return {"split": split, "dataset": dataset or self.config.dataset, **m}

    def _split(self, split, dataset, data_dir, subset):
        c = self.config
        if split not in SPLITS:
            raise UsageError(f"--split: unknown split {split!r}: choose one of "
                             f"{', '.join(SPLITS)}")
        own = dataset in (None, c.dataset)
        if not own:
            spec, mine = get_spec(dataset), get_spec(c.dataset)
            if (spec.channels, spec.classes) != (mine.channels, mine.classes):
                raise UsageError(f"--dataset {dataset}: {spec.channels} channel(s) and "
                                 f"{spec.classes} classes, but the run was trained on "
                                 f"{c.dataset} ({mine.channels} channel(s), {mine.classes} "
                                 "classes)")
            if split == "val":
                raise UsageError(f"--split val: the validation split belongs to the run's own "
                                 f"dataset ({c.dataset}); use --split test or train with "
                                 f"--dataset {dataset}")
        elif split == "val" and not c.val_size:
            raise UsageError("--split val: the run held out no validation examples "
                             "(--val-size 0); use --split test or train")
        if subset is None and own and split == "test":
            subset = c.test_subset
        if subset:  # checked before any image is read
            size = self._size(split, dataset or c.dataset, data_dir or c.data_dir, own)
            if subset > size:
                raise UsageError(f"--subset {subset} exceeds the {size} examples of the "
                                 f"{split} split")
        if own:
            data = self._own_split(split, data_dir)
        else:
            train, test = load_dataset(dataset, data_dir or c.data_dir,
                                       cache_dir=cache_setting(c))
            data = test if split == "test" else train
        return data.take(np.arange(subset)) if subset else data

    def _size(self, split, dataset, data_dir, own) -> int:
        c = self.config
        n_train, n_test = dataset_sizes(dataset, data_dir)
        if split == "test":
            return n_test
        if not own:
            return n_train
        return c.val_size if split == "val" else (c.train_subset or n_train) - c.val_size

    def _own_split(self, split, data_dir):
        c = self.config
        if data_dir is not None:
            c = replace(c, data_dir=str(data_dir))
        splits = load_splits(replace(c, test_subset=0))
        if split == "test":
            return splits.test
        # replay the run's seeding: the parameters are drawn first, then the split is held out
        _, train, val = seeded_state(c, self.net, self.backend, splits.train)
        return val if split == "val" else train


def load_run(path, params: str = "last", device: str | None = None,
             dtype: str | None = None) -> Run:
    """Read the run in folder ``path``: settings, network and parameters.

    Parameters
    ----------
    path : a run folder (with ``config.json``)
    params : "last" (``checkpoint.npz``) or "best" (``best.npz``, needs ``--val-size``)
    device : "cpu" or "gpu" (default: the run's)
    dtype : "float64", "float32" or "float16" (default: the run's; another dtype changes the
        evaluation's rounding, so the recorded errors are no longer reproduced exactly)

    Raises
    ------
    BadFileError
        ``path`` is not a run folder, or its config.json or checkpoint is damaged or
        incompatible (the message names the file).
    UsageError, BackendError
        An unknown ``params``, a device that cannot be used.
    """
    path = Path(path)
    if params not in PARAMS:
        raise UsageError(f"--params: unknown choice {params!r}: choose one of "
                         f"{', '.join(PARAMS)}")
    if not is_run_dir(path):
        raise CheckpointError(f"{path} is not a run folder (no config.json there)")
    config, _ = resume_config(path, {})
    changes = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    if changes:
        try:
            config = resolve(config.preset, **{**config.to_dict(), **changes})
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    name = CHECKPOINT if params == "last" else BEST
    file = path / name
    if not file.is_file():
        why = ("the run was made without --val-size, so no epoch was selected"
               if params == "best" and not config.val_size
               else "no epoch has been trained yet" if params == "last"
               else "no epoch has been evaluated yet")
        raise CheckpointError(f"{file} does not exist: {why}; use --params "
                              f"{'last' if params == 'best' else 'best'} or train the run")
    arrays, meta = checkpoint.load(file)
    check_compatible(file, meta, config)
    backend = get_backend(config.device, config.dtype, config.matmul)
    net = build_network(config, get_spec(config.dataset))
    names = sorted(net.param_shapes())
    missing = [k for k in names if f"param/{k}" not in arrays]
    if missing:
        raise CheckpointError(f"{file}: parameters {', '.join(missing)} are missing; the file "
                              "is damaged or from another run")
    point = {"epoch": int(meta.get("epoch", 0)), "position": int(meta.get("position", 0)),
             "pending": meta.get("pending") is not None}
    return Run(path=path, config=config, net=net, backend=backend, which=params,
               params={k: backend.asarray(arrays[f"param/{k}"]) for k in names},
               epoch=point["epoch"], position=point["position"],
               history=list(meta.get("history") or []))


def describe_params(run: Run) -> str:
    """Which parameters these are, in words (for the ``eval`` command's line)."""
    return describe(run.path / (CHECKPOINT if run.which == "last" else BEST),
                    {"epoch": run.epoch, "position": run.position, "pending": False})

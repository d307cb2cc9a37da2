"""A run's plan and its expected duration: printed before any work starts, refined as it runs.

The work is counted by the study runner's cost model (:mod:`ebl_ref.study.cost`: FLOPs per
training and per evaluated example from :meth:`ebl_ref.network.DCHN.flops_per_iteration`,
examples per epoch, evaluated epochs). The rate comes from a **calibration** of about half a
second: free phases of the run's own network, widths, dtype and schedule, on random inputs of
``min(batch_size, 32)`` examples, on the run's device and BLAS threads (:func:`calibrate`).
Duration = remaining FLOPs / rate. Once training runs, :class:`Eta` replaces the calibrated
rate by the measured one, for the whole-run ETA of the progress lines.

The calibration times the relaxation only: gradients, augmentation and Python overhead are
counted at the relaxation's rate, so at small widths (where that overhead is a larger share)
the first estimate is low; the ETA of the progress lines corrects it within the first batches.
A CPU run projected to take more than :data:`LONG_RUN_HOURS` is warned about, naming the
faster alternatives (:func:`long_run_warning`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .backend import GPU_INSTALL_HINT
from .config import Config
from .data import get_spec
from .minimize import free_phase
from .network import DCHN, init_params
from .study.cost import CellCost, cell_cost, conv_macs, evaluated_epochs

LONG_RUN_HOURS = 3.0       # "more than a few hours" on a CPU: warn, naming the alternatives
CALIBRATION_BATCH = 32     # examples of the calibration's free phases (or the batch, if smaller)
CALIBRATION_FLOP = 4e9     # ... or fewer, so that one iteration is at most this much work
CALIBRATION_SECONDS = 0.25  # the timed part stops once one measurement takes this long


@dataclass(frozen=True)
class Calibration:
    """A measured relaxation rate: ``gflops`` over ``iterations`` free-phase iterations of
    ``batch`` examples, which took ``seconds``."""

    gflops: float
    batch: int
    iterations: int
    seconds: float

    def describe(self) -> str:
        its = "iteration" if self.iterations == 1 else "iterations"
        return (f"relaxation measured at {self.gflops:.3g} GFLOP/s: {self.iterations} {its} "
                f"of {self.batch} examples in {self.seconds:.2f} s")


def network_of(config: Config) -> DCHN:
    spec = get_spec(config.dataset)
    return DCHN(in_channels=spec.channels, widths=tuple(config.widths), n_classes=spec.classes)


def calibrate(config: Config, backend, target: float = CALIBRATION_SECONDS) -> Calibration:
    """Time free phases of the run's network on random inputs (a Generator of its own: the
    run's randomness is untouched). One warm-up iteration, then 1, 2, 4, ... iterations (at
    most ``free_iters``) until one measurement takes ``target`` seconds. The batch is
    ``min(batch_size, 32)`` examples, fewer for a wide network (at most
    :data:`CALIBRATION_FLOP` per iteration, e.g. 5 at the paper's widths), so that even a
    slow machine answers within seconds."""
    net = network_of(config)
    rng = np.random.default_rng(0)
    params = init_params(net, rng, config.gains, backend)
    batch = max(2, min(config.batch_size, CALIBRATION_BATCH,
                       int(CALIBRATION_FLOP // net.flops_per_iteration())))
    x = backend.asarray(rng.standard_normal((net.in_channels, net.image_size, net.image_size,
                                             batch)))
    c1 = 2.0 * conv_macs(net)[1]  # the clamped input's convolution, once per free phase
    free_phase(params, net, x, 1, config.mode)  # warm-up (allocations, CuPy kernels)
    backend.synchronize()
    iterations = 1
    while True:
        t0 = time.perf_counter()
        free_phase(params, net, x, iterations, config.mode)
        backend.synchronize()
        seconds = time.perf_counter() - t0
        if seconds >= target or iterations >= config.free_iters:
            break
        iterations = min(2 * iterations, config.free_iters)
    flops = batch * (c1 + iterations * net.flops_per_iteration())
    return Calibration(flops / max(seconds, 1e-9) / 1e9, batch, iterations, seconds)


@dataclass(frozen=True)
class Plan:
    """What a run will compute: its :class:`~ebl_ref.study.cost.CellCost` and schedule."""

    config: Config
    cost: CellCost

    @classmethod
    def of(cls, config: Config, sizes) -> "Plan":
        """``sizes``: the dataset's ``(n_train, n_test)`` (from
        :func:`ebl_ref.splits.check_sizes_early`)."""
        return cls(config, cell_cost(config.to_dict(), sizes))

    def remaining_flops(self, trained: int = 0, position: int = 0, evaluated: bool = True,
                        eval_done: int = 0) -> float:
        """FLOPs left when ``trained`` epochs are trained and ``position`` examples of the next
        one; ``evaluated=False``: epoch ``trained`` still awaits (the rest of) its evaluation,
        of which ``eval_done`` examples are done."""
        k, c = self.cost, self.config
        train = ((c.epochs - trained) * k.train_examples - position) * k.train_flops
        evals = len(evaluated_epochs(c.epochs, c.eval_every, trained)) * k.eval_examples
        if not evaluated:
            evals += k.eval_examples - eval_done
        return train + evals * k.eval_flops

    def lines(self) -> list:
        """The plan in words: examples, batches, iterations, FLOPs."""
        k, c = self.cost, self.config
        batches = -(-k.train_examples // c.batch_size)
        phases = {"c-ep": "2", "c-cpl": "2"}.get(c.algo, "2" if c.zero_term == "relaxed" else "1")
        second = (f"{c.train_iters} unrolled" if c.algo in ("tbp", "rbp")
                  else f"{phases}×{c.train_iters}")
        every = "each epoch" if c.eval_every == 1 else f"every {c.eval_every} epochs and the last"
        n_eval = k.eval_examples
        return [
            f"plan: {c.epochs} epoch{'' if c.epochs == 1 else 's'} × {k.train_examples:,} "
            f"training examples ({batches:,} batch{'' if batches == 1 else 'es'} of "
            f"{c.batch_size}); {c.free_iters} free + {second} second-phase "
            f"iterations, {k.train_flops / 1e9:.3g} GFLOP per training example",
            f"      evaluation of {n_eval:,} examples ({c.free_iters} iterations, "
            f"{k.eval_flops / 1e9:.3g} GFLOP each) after {every}; {k.flops:.3g} FLOP in all",
        ]


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.4 h"``, ``"29 days"``, ``"3.2 years"``."""
    if seconds >= 365 * 86400:
        return f"{seconds / (365.25 * 86400):.1f} years"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def long_run_warning(config: Config, seconds: float, prog: str) -> str | None:
    """The warning for a CPU run projected to take more than :data:`LONG_RUN_HOURS`, naming
    ``--preset quick`` and ``--device gpu``; None otherwise (or on a GPU)."""
    if config.device != "cpu" or seconds <= LONG_RUN_HOURS * 3600:
        return None
    subset = "" if config.dataset == "fashion-mnist-sample" else " --train-subset 10000"
    return (f"warning: this run is projected to take about {format_duration(seconds)} on this "
            f"CPU (preset {config.preset}: {config.epochs} epochs at widths "
            f"{','.join(map(str, config.widths))}). For minutes: {prog} --preset quick "
            f"--dataset {config.dataset}{subset}; for the full settings: --device gpu "
            f"(with CuPy: {GPU_INSTALL_HINT}). Ctrl-C stops it cleanly; --resume continues it.")


class Eta:
    """Whole-run time left, from the plan's FLOPs and the latest measured rate (FLOP/s).

    Starts from the calibrated rate; :meth:`training` replaces it by the training rate
    measured in this session (examples/s × FLOPs per training example).
    """

    def __init__(self, plan: Plan, gflops: float):
        self.plan, self.rate = plan, gflops * 1e9

    def training(self, epoch: int, done: int, examples_per_s: float) -> float:
        """Seconds left while training epoch ``epoch`` (``done`` examples of it done)."""
        if examples_per_s > 0:
            self.rate = examples_per_s * self.plan.cost.train_flops
        return self.plan.remaining_flops(epoch - 1, done) / self.rate

    def after(self, epoch: int) -> float:
        """Seconds left once epoch ``epoch`` is trained and recorded."""
        return self.plan.remaining_flops(epoch, 0) / self.rate

    def evaluating(self, epoch: int, done: int) -> float:
        """Seconds left while evaluating epoch ``epoch`` (``done`` examples of it done)."""
        return self.plan.remaining_flops(epoch, 0, evaluated=False, eval_done=done) / self.rate

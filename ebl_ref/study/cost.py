"""Estimated cost of a study's cells: FLOPs from the network's FLOP model, and hours at a rate.

FLOP = 2 × multiply–accumulate; the convolutions and dense products only (pooling, clipping,
augmentation, data loading and Python overhead are not counted). With ``I`` the minimum-work
FLOPs of one relaxation iteration per example (:meth:`ebl_ref.network.DCHN.flops_per_iteration`:
the forward convolutions 2..4, their transposes and the two dense products), ``c1`` the input's
convolution (computed once per free phase: the input is clamped), ``G`` the parameter gradient
∂E/∂θ at one state (the weight gradients of all four convolutions and of the dense layer) and
``T_f``, ``T_t`` the free and second-phase iteration counts, one training example costs

==========================  ==========================================================
algorithm                   FLOPs per training example
==========================  ==========================================================
c-ep, c-cpl                 ``c1 + T_f·I + 2·T_t·I + 2·G`` (two second phases, eq. 6, 9)
p-/n-ep, p-/n-cpl, cl       the same with ``zero_term="relaxed"`` (the β = 0 state is
                            relaxed for ``T_t`` more iterations); ``c1 + T_f·I + T_t·I +
                            2·G`` with ``"free"``
tbp                         ``c1 + T_f·I + T_t·(I + I + P)``: ``T_t`` unrolled iterations,
                            then per iteration one state VJP (≈ ``I``: each convolution's
                            transpose) and one parameter VJP ``P``
rbp                         ``c1 + T_f·I + I + (T_t − 1)·I + P``: one synchronous step, its
                            ``T_t − 1`` state VJPs, one parameter VJP
==========================  ==========================================================

``P`` = the weight gradients of every convolution as a bottom-up drive (1..4) and as top-down
feedback (2..4) plus the dense layer twice. Clamped phases (CL, CpL) are counted as full
iterations (they skip only the output's dense product). Every epoch also evaluates the
validation and test splits: ``c1 + T_f·I`` per example.

Hours = FLOPs / rate. A measured rate comes from ``python -m ebl_ref.bench --widths ...
--batch ... --free-iters ... --train-iters ... --json`` (``cep_step.gflops``) at the study's
widths, batch and iteration counts: the benchmark divides the relaxation FLOPs only by the time
of a whole C-EP step (gradients included), so hours from it slightly overestimate (by the share
of ``2·G``, a few per cent). The rate at small widths is far below the rate at full width.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.registry import get_spec
from ..network import DCHN

ONE_SIDED = ("cl", "p-ep", "n-ep", "p-cpl", "n-cpl")
CENTRED = ("c-ep", "c-cpl")


@dataclass(frozen=True)
class CellCost:
    """Work of one cell. FLOP counts are floats (they exceed 2**53 only beyond 10^15)."""

    epochs: int
    train_examples: int        # per epoch
    eval_examples: int         # per evaluation (validation + test)
    train_flops: float         # per training example
    eval_flops: float          # per evaluated example
    eval_epochs: int | None = None  # evaluated epochs (None: every epoch)

    @property
    def flops(self) -> float:
        evaluations = self.epochs if self.eval_epochs is None else self.eval_epochs
        return (self.epochs * self.train_examples * self.train_flops
                + evaluations * self.eval_examples * self.eval_flops)

    def hours(self, gflops: float) -> float:
        """Wall-clock hours at a sustained ``gflops`` GFLOP/s."""
        return self.flops / (gflops * 1e9) / 3600


def conv_macs(net: DCHN) -> list:
    """MACs per example of convolution k = 1..4 (3×3, same padding) and of the dense layer,
    as ``[None, m1, m2, m3, m4, m_dense]``."""
    C, S = net.channels, net.image_size
    convs = [C[k] * C[k - 1] * 9 * (S >> (k - 1)) ** 2 for k in (1, 2, 3, 4)]
    return [None] + convs + [net.widths[3] * (S >> 4) ** 2 * net.n_classes]


def train_flops(algo: str, net: DCHN, free_iters: int, train_iters: int,
                zero_term: str = "relaxed") -> float:
    """FLOPs of one training example (see the module docstring)."""
    m = conv_macs(net)
    I = net.flops_per_iteration()  # noqa: E741 - the docstring's name
    c1 = 2 * m[1]
    G = 2 * (sum(m[1:5]) + m[5])
    P = 2 * (sum(m[1:5]) + sum(m[2:5]) + 2 * m[5])
    free = c1 + free_iters * I
    if algo in CENTRED:
        return free + 2 * train_iters * I + 2 * G
    if algo in ONE_SIDED:
        phases = 2 if zero_term == "relaxed" else 1
        return free + phases * train_iters * I + 2 * G
    if algo == "tbp":
        return free + train_iters * (2 * I + P)
    if algo == "rbp":
        return free + train_iters * I + P
    raise ValueError(f"no cost model for algorithm {algo!r}")


def evaluated_epochs(epochs: int, every: int = 1, after: int = 0) -> list:
    """The epochs in ``after + 1 .. epochs`` that are evaluated: every ``every``-th and the
    last (``--eval-every``)."""
    return [e for e in range(after + 1, epochs + 1) if e % every == 0 or e == epochs]


def cell_cost(config: dict, sizes=None) -> CellCost:
    """The :class:`CellCost` of a resolved configuration (``Config.to_dict()``).

    ``sizes`` = ``(n_train, n_test)`` of the dataset as it will be read (e.g. from
    :func:`ebl_ref.data.dataset_sizes` with a data folder); default: the original
    distribution's sizes from the registry.
    """
    spec = get_spec(config["dataset"])
    net = DCHN(in_channels=spec.channels, widths=tuple(config["widths"]),
               n_classes=spec.classes)
    n_train, n_test = sizes or (spec.train_split.size, spec.test_split.size)
    if config.get("train_subset"):
        n_train = min(n_train, config["train_subset"])
    if config.get("test_subset"):
        n_test = min(n_test, config["test_subset"])
    val = config.get("val_size") or 0
    return CellCost(epochs=config["epochs"], train_examples=n_train - val,
                    eval_examples=n_test + val,
                    eval_epochs=len(evaluated_epochs(config["epochs"],
                                                     config.get("eval_every") or 1)),
                    train_flops=train_flops(config["algo"], net, config["free_iters"],
                                            config["train_iters"], config["zero_term"]),
                    eval_flops=2 * conv_macs(net)[1]
                    + config["free_iters"] * net.flops_per_iteration())

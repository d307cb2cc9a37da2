"""The nine algorithms of Table 1 by name, and the per-batch driver.

:data:`ALGORITHMS` maps each name to a function ``fn(ph, beta) -> grads`` over a
:class:`~ebl_ref.rules.Phases`: the seven rules of :mod:`ebl_ref.rules` as they are, and the
two baselines of :mod:`ebl_ref.backprop` adapted here (they take explicit arrays and know
nothing of rules). :func:`estimate_gradient` relaxes the free phase and applies one by name.
"""
from __future__ import annotations

from .backprop import rbp_gradient, tbp_gradient
from .convolution import prepare
from .minimize import Equilibrium, free_phase
from .rules import RULES, Phases


def tbp(ph: Phases, beta: float | None = None) -> dict:
    """TBP through ``ph.iterations`` iterations of ``ph.mode`` from s* (``beta`` is ignored):
    :func:`ebl_ref.backprop.tbp_gradient`."""
    return tbp_gradient(ph.params, ph.free.s, ph.y, ph.iterations, ph.mode, ph.free.drives)[0]


def rbp(ph: Phases, beta: float | None = None) -> dict:
    """RBP with ``ph.iterations`` terms at s* (``beta`` and ``ph.mode`` are ignored: its
    half-step is synchronous): :func:`ebl_ref.backprop.rbp_gradient`."""
    return rbp_gradient(ph.params, ph.free.s, ph.y, ph.iterations, ph.free.drives)[0]


BASELINES = {"tbp": tbp, "rbp": rbp}
ALGORITHMS = {**RULES, **BASELINES}


def get_rule(name: str):
    """The function of :data:`ALGORITHMS` for ``name``; ValueError listing the choices
    otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}: choose one of {', '.join(ALGORITHMS)}") from None


def estimate_gradient(rule: str, params: dict, net, x, y, *, beta: float = 0.25,
                      free_iters: int = 60, train_iters: int = 15, mode: str = "async",
                      free: Equilibrium | None = None, zero_term: str = "relaxed",
                      analog=None):
    """Relax freely, then apply ``rule`` by name.

    Parameters
    ----------
    rule : a key of :data:`ALGORITHMS` (the seven rules, ``tbp`` or ``rbp``)
    net : the :class:`~ebl_ref.network.DCHN`
    x : input in the state layout (C0, S, S, B); y : one-hot targets (B, M)
    beta : the nudging strength β > 0 (the rule chooses its sign); CL, TBP, RBP ignore it
    free_iters, train_iters : iterations of the free phase and of each second phase (the
        Table 1 runs: 60 and 15, docs/DEVIATIONS.md §2)
    free : a free equilibrium to reuse instead of relaxing again
    zero_term : the β = 0 state, "relaxed" (as the authors' code) or "free" (s* itself); see
        :mod:`ebl_ref.rules`
    analog : an :class:`~ebl_ref.analog.AnalogDevice` with its Generator, or None (ideal): every
        phase relaxes on it and the seven rules contrast its read-out states; TBP and RBP get
        its free phase (their backward pass is digital)

    Returns
    -------
    grads : dict name -> array, the estimate of +∂L/∂θ (apply as θ ← θ − η·grads)
    free : the free equilibrium (its output o* is the prediction)

    Raises ValueError for an unknown rule, β ≤ 0 or an unknown zero_term.
    """
    fn = get_rule(rule)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (the rule picks the sign), got {beta}")
    params = prepare(params)  # fast path: kernels transformed once for all the phases
    if free is None:
        free = free_phase(params, net, x, free_iters, mode, analog=analog)
    return fn(Phases(params, y, free, train_iters, mode, zero_term=zero_term, analog=analog),
              beta), free

"""The two baselines of Table 1: truncated backpropagation (TBP) and recurrent backpropagation
(RBP, Almeida 1987; Pineda 1987), by hand-written reverse mode (:mod:`ebl_ref.vjp`).

Both estimate **+∂L/∂θ** for ``L = mean_b C(o, y) = mean_b ½‖o − y‖²`` (the batch-mean cost,
docs/DEVIATIONS.md §4), with the parameters' keys and shapes, like the rules of
:mod:`ebl_ref.rules`; the optimiser subtracts it. Both take the free equilibrium s* as a
constant: no gradient flows into the free phase. Their signatures are explicit —
``(params, state, y, iterations, …)`` — and :mod:`ebl_ref.algorithms` adapts them to the rules'
``fn(phases, beta)``; this module knows nothing of rules.

TBP (docs/DEVIATIONS.md §5): from s*, run T more iterations of the minimiser (β = 0, all
layers, output included; asynchronous: 2T half-steps), then backpropagate L(o_T) through all of
them::

    s_0 = s*,  s_{n+1} = F_n(θ, s_n),  λ_N = ∂L/∂s_N,
    λ_n = (∂F_n/∂s)ᵀ λ_{n+1},  g_θ = Σ_n (∂F_n/∂θ)ᵀ λ_{n+1}

The parameters are shared across half-steps, so their gradient sums over time. o_T comes from
the last odd half-step, so it depends on s_4 before the final even half-step.

RBP (docs/DEVIATIONS.md §5): F is one **synchronous** half-step, linearised once at s*::

    λ_0 = ∂L/∂s(s*)  (only the output entry: (o* − y)/B)
    λ_t = (∂F/∂s)ᵀ λ_{t−1},   g_θ = Σ_{t=1..T} (∂F/∂θ)ᵀ λ_{t−1}

a T-term truncated Neumann series of the implicit gradient
``(∂F/∂θ)ᵀ (I − ∂F/∂s)^{−ᵀ} ∂L/∂s``. (∂F/∂θ)ᵀ is linear and evaluated at the same s*, so we
apply it once to ``Σ_t λ_{t−1}`` instead of T times (identical up to rounding; T − 1 state VJPs
+ 1 parameter VJP).

Both linearise the records that the relaxation loop :func:`ebl_ref.minimize.relax` writes when
observed, so the map differentiated is exactly the one the minimiser runs.
"""
from __future__ import annotations

from .minimize import relax
from .network import OUTPUT
from .vjp import half_step_vjp, zero_grads


def loss_cotangent(o, y):
    """∂L/∂o for ``L = mean_b ½‖o − y‖²``: ``(o − y)/B``, shape (B, M)."""
    return (o - y) / o.shape[0]


def unroll(params: dict, s: list, iterations: int, mode: str = "async",
           drives: list | None = None) -> tuple:
    """Run ``iterations`` free iterations (β = 0, all free layers) from ``s``, recording them.

    Returns
    -------
    s : the final state
    tape : list of :class:`~ebl_ref.minimize.HalfStep`, one per half-step, in order

    Memory grows linearly with the iterations: per iteration and example the tape keeps every
    free layer's new state (itemsize × units), one byte per hidden unit (clamp mask) and one per
    unit of s2, s3, s4 (arg-maxes of conv 2..4) — :func:`tape_nbytes`. At the paper's widths,
    MNIST, float32: 4·59,402 + 59,392 + 26,624 = 323,624 bytes, i.e. 5.2 MB per iteration at
    batch 16 and 41.4 MB at batch 128 (621 MB for T = 15).
    """
    tape = []
    eq = relax(params, s, iterations, mode=mode, drives=drives, observe=tape.append)
    return eq.s, tape


def backprop_tape(params: dict, tape: list, lam: list) -> tuple:
    """Reverse pass through a tape: ``(g_θ, λ_0)`` for the final-state cotangent ``lam``."""
    grads = zero_grads(params)
    for rec in reversed(tape):
        lam = half_step_vjp(params, rec, lam, grads)
    return grads, lam


def tbp_gradient(params: dict, s0: list, y, iterations: int, mode: str = "async",
                 drives: list | None = None) -> tuple:
    """TBP: ∂L/∂θ of the ``iterations``-iteration unrolled map from the constant state ``s0``.

    Parameters
    ----------
    params : parameter dict
    s0 : the starting state (s*, the free equilibrium), list of 6
    y : one-hot targets (B, M)
    iterations : T, the iterations unrolled (the Table 1 runs: 15, docs/DEVIATIONS.md §2)
    mode : "async" (the paper) or "sync"
    drives : pooled drives valid at ``s0`` (e.g. ``free.drives``), or None

    Returns
    -------
    ``(grads, lam0, s_T)``: the estimate of +∂L/∂θ, ∂L/∂s_0 (list, ``lam0[0]`` None) and the
    final state.
    """
    s_T, tape = unroll(params, s0, iterations, mode, drives)
    lam = [None] * OUTPUT + [loss_cotangent(s_T[OUTPUT], y)]
    grads, lam0 = backprop_tape(params, tape, lam)
    return grads, lam0, s_T


def rbp_subset_gradient(params: dict, s_star: list, lam_sum: list, examples,
                        drives: list | None = None) -> dict:
    """RBP's estimate restricted to the examples ``examples`` (indices into the batch), from
    the whole batch's ``lam_sum`` (:func:`rbp_gradient`'s second result): the series is per
    example, so zeroing ``lam_sum`` outside the subset and rescaling by B/|subset| gives, with
    one parameter VJP, exactly the batch mean over the subset. Raises ValueError for an empty
    subset."""
    if len(examples) == 0:
        raise ValueError("rbp_subset_gradient needs at least one example")
    o = lam_sum[OUTPUT]
    batch = o.shape[0]
    w = o[:, 0] * 0
    w[list(examples)] = batch / len(examples)
    masked = [None if a is None else a * (w[:, None] if k == OUTPUT else w)
              for k, a in enumerate(lam_sum)]
    (rec,) = unroll(params, s_star, 1, "sync", drives)[1]
    grads = zero_grads(params)
    half_step_vjp(params, rec, masked, grads, states=False)
    return grads


def rbp_gradient(params: dict, s_star: list, y, iterations: int,
                 drives: list | None = None) -> tuple:
    """RBP: the ``iterations``-term Neumann series of the implicit gradient at ``s_star``.

    Parameters
    ----------
    params : parameter dict
    s_star : the free equilibrium, list of 6
    y : one-hot targets (B, M)
    iterations : T ≥ 1, the terms of the series (the Table 1 runs: 15, docs/DEVIATIONS.md §2)
    drives : pooled drives valid at ``s_star``, or None

    Returns
    -------
    ``(grads, lam_sum)``: the estimate of +∂L/∂θ and ``Σ_{t=1..T} λ_{t−1}`` (list of 6).
    Raises ValueError if ``iterations`` < 1.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    (rec,) = unroll(params, s_star, 1, "sync", drives)[1]           # F linearised at s*
    lam = [None] * OUTPUT + [loss_cotangent(s_star[OUTPUT], y)]     # λ_0
    lam_sum = list(lam)
    for _ in range(1, iterations):
        lam = half_step_vjp(params, rec, lam)                       # λ_t = (∂F/∂s)ᵀ λ_{t−1}
        lam_sum = [u if v is None else v if u is None else u + v for u, v in zip(lam_sum, lam)]
    grads = zero_grads(params)
    half_step_vjp(params, rec, lam_sum, grads, states=False)        # Σ_t (∂F/∂θ)ᵀ λ_{t−1}
    return grads, lam_sum


def tape_nbytes(tape: list, exclude=()) -> int:
    """Bytes held by a tape's arrays (each counted once), not counting those in ``exclude``
    (e.g. the starting state, which exists anyway)."""
    seen = {id(a) for a in exclude if a is not None}
    total = 0
    for rec in tape:
        for a in list(rec.s) + list(rec.s_new) + list(rec.idx) + list(rec.active.values()):
            if a is not None and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total

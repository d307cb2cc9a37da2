"""The two baselines of Table 1: truncated backpropagation (TBP) and recurrent backpropagation
(RBP, Almeida 1987; Pineda 1987), by hand-written reverse mode (:mod:`ebl_ref.vjp`).

Both return an estimate of **+∂L/∂θ** for ``L = mean_b ½‖o − y‖²`` (the batch-mean cost,
REFERENCE-CODE §5), with the parameters' keys and shapes, like the rules of
:mod:`ebl_ref.rules`; the optimiser subtracts it. Both take the free equilibrium s* as a
constant: no gradient flows into the free phase.

TBP (REFERENCE-CODE §4.4): from s*, run T more iterations of the minimiser (β = 0, all layers,
output included; asynchronous: 2T half-steps), then backpropagate L(o_T) through all of them::

    s_0 = s*,  s_{n+1} = F_n(θ, s_n),  λ_N = ∂L/∂s_N,
    λ_n = (∂F_n/∂s)ᵀ λ_{n+1},  g_θ = Σ_n (∂F_n/∂θ)ᵀ λ_{n+1}

The parameters are shared across steps, so their gradient sums over time. o_T comes from the
last odd half-step, so it depends on s_4 before the final even half-step.

RBP (REFERENCE-CODE §4.5): F is one **synchronous** step, linearised once at s*::

    λ_0 = ∂L/∂s(s*)  (only the output entry: (o* − y)/B)
    λ_t = (∂F/∂s)ᵀ λ_{t−1},   g_θ = Σ_{t=1..T} (∂F/∂θ)ᵀ λ_{t−1}

a T-term truncated Neumann series of the implicit gradient
``(∂F/∂θ)ᵀ (I − ∂F/∂s)^{−ᵀ} ∂L/∂s``. (∂F/∂θ)ᵀ is linear and evaluated at the same s*, so we
apply it once to ``Σ_t λ_{t−1}`` instead of T times (identical up to rounding; T − 1 state VJPs
+ 1 parameter VJP). The reference's RBP crashes at HEAD because it calls
``Minimizer.step()`` without a layer group (TypeError); the fix that matches its intent —
ours — is the synchronous group of all free layers.
"""
from __future__ import annotations

from .minimize import groups
from .network import OUTPUT
from .vjp import step, step_vjp, zero_grads


def loss_cotangent(o, y):
    """∂L/∂o for ``L = mean_b ½‖o − y‖²``: ``(o − y)/B``, shape (B, M)."""
    return (o - y) / o.shape[0]


def unroll(params: dict, s: list, iterations: int, mode: str = "async",
           drives: list | None = None) -> tuple:
    """Run ``iterations`` free iterations (β = 0, all free layers) from ``s``, recording them.

    Returns
    -------
    s : the final state
    tape : list of :class:`~ebl_ref.vjp.StepRecord`, one per half-step (async) or step (sync)
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    drives = [None] * 5 if drives is None else drives
    tape = []
    for _ in range(iterations):
        for group in groups(mode):
            s, drives, rec = step(params, s, drives, group)
            tape.append(rec)
    return s, tape


def backprop_tape(params: dict, tape: list, lam: list) -> tuple:
    """Reverse pass through a tape: ``(g_θ, λ_0)`` for the final-state cotangent ``lam``."""
    grads = zero_grads(params)
    for rec in reversed(tape):
        lam = step_vjp(params, rec, lam, grads)
    return grads, lam


def tbp_gradient(params: dict, s0: list, y, iterations: int, mode: str = "async",
                 drives: list | None = None) -> tuple:
    """∂L/∂θ of the T-iteration unrolled map from the constant state ``s0``.

    Returns ``(grads, lam0, s_T)``: the parameter gradient, ∂L/∂s_0 (list, ``lam0[0]`` None)
    and the final state.
    """
    s_T, tape = unroll(params, s0, iterations, mode, drives)
    lam = [None] * OUTPUT + [loss_cotangent(s_T[OUTPUT], y)]
    grads, lam0 = backprop_tape(params, tape, lam)
    return grads, lam0, s_T


def tbp(ph, beta=None) -> dict:
    """TBP (REFERENCE-CODE §4.4): backprop through ``ph.iterations`` iterations from s*.

    ``ph`` is a :class:`ebl_ref.rules.Phases` (duck-typed: ``params, y, free, iterations,
    mode``); ``beta`` is ignored.

    Memory grows linearly with T: per iteration and example the tape keeps every free layer's
    new state (itemsize × units), one byte per hidden unit (clamp mask) and one per unit of
    s2, s3, s4 (arg-maxes of conv 2..4) — :func:`tape_nbytes`. At the paper's widths, MNIST,
    float32: 4·59,402 + 59,392 + 26,624 = 323,624 bytes, i.e. 5.2 MB per iteration at batch 16
    and 41.4 MB at batch 128 (621 MB for T = 15).
    """
    return tbp_gradient(ph.params, ph.free.s, ph.y, ph.iterations, ph.mode, ph.free.drives)[0]


def rbp_gradient(params: dict, s_star: list, y, iterations: int,
                 drives: list | None = None) -> tuple:
    """The T-term Neumann series of the implicit gradient at ``s_star`` (see module doc).

    Returns ``(grads, lam_sum)``: g_θ and ``Σ_{t=1..T} λ_{t−1}`` (list of 6).
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    drives = [None] * 5 if drives is None else drives
    _, _, rec = step(params, s_star, drives, groups("sync")[0])  # F linearised at s*
    lam = [None] * OUTPUT + [loss_cotangent(s_star[OUTPUT], y)]  # λ_0
    lam_sum = list(lam)
    for _ in range(1, iterations):
        lam = step_vjp(params, rec, lam)                            # λ_t = (∂F/∂s)ᵀ λ_{t−1}
        lam_sum = [u if v is None else v if u is None else u + v for u, v in zip(lam_sum, lam)]
    grads = zero_grads(params)
    step_vjp(params, rec, lam_sum, grads, states=False)             # Σ_t (∂F/∂θ)ᵀ λ_{t−1}
    return grads, lam_sum


def rbp(ph, beta=None) -> dict:
    """RBP (REFERENCE-CODE §4.5): ``ph.iterations`` VJPs through one synchronous step at s*.

    ``ph`` is duck-typed like :func:`tbp` (``ph.mode`` is not used: F is synchronous, as the
    reference sets); ``beta`` is ignored.
    """
    return rbp_gradient(ph.params, ph.free.s, ph.y, ph.iterations, ph.free.drives)[0]


def tape_nbytes(tape: list, exclude=()) -> int:
    """Bytes held by a tape's arrays (each counted once), not counting those in ``exclude``
    (e.g. the starting state, which exists anyway)."""
    seen = {id(a) for a in exclude if a is not None}
    total = 0
    for rec in tape:
        for a in list(rec.s) + list(rec.idx) + list(rec.active.values()):
            if a is not None and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total

"""The seven energy-based learning rules of paper §2, over one contrast helper.

**Sign convention.** Every rule returns ``g``, an estimate of **+∂L/∂θ** (batch mean), for the
optimiser to *subtract*: the paper's update is ``Δθ = −η g``. E.g. eq. (5),
``Δθ = η/β (∂E/∂θ(s*) − ∂E/∂θ(s_β))``, is ``g = (∂E/∂θ(s_β) − ∂E/∂θ(s*)) / β``.

Every rule is one :func:`contrast` of two states, ``(∂E/∂θ(s_b) − ∂E/∂θ(s_a)) / (β_b − β_a)``,
with ``s_0`` the "β = 0" state (below):

========  =======================  ==========================
rule      states (β_a, β_b)        equation
========  =======================  ==========================
cl        s_0, (h_cl, y)           (3), divide by 1
p-ep      s_0, s_β^EP              (5), β > 0
n-ep      s_−β^EP, s_0             (5), β < 0 written as −β
c-ep      s_−β^EP, s_β^EP          (6)
p-cpl     s_0, s_β^CpL             (8), β > 0
n-cpl     s_−β^CpL, s_0            (8), β < 0 written as −β
c-cpl     s_−β^CpL, s_β^CpL        (9)
========  =======================  ==========================

**The β = 0 state** (``zero_term``). In eqs. (3), (5), (8) it is the free equilibrium s*. A
relaxation of finitely many iterations never quite reaches it, and the second phase keeps
relaxing from s*: contrasting s_β with s* then adds that drift, divided by β, to the estimate.
The reference code (REFERENCE-CODE §4.2–4.3) therefore re-relaxes the β = 0 state for the same
number of iterations as the other phase — the EP phase at β = 0, or for CL/CpL the hidden
layers with the output clamped at o* — so that the drift cancels, as it does in the centred
rules. That is our default, ``zero_term="relaxed"``; ``"free"`` uses s* itself, the paper's
literal equations. At a converged s* the two agree. Measured with the quick preset on 10,000
MNIST images, P-EP with ``"free"`` stays at ≈ 90% error; see README "Measured".

Other deviations from the reference code:

* the free phase starts from zero for every batch (the reference warm-starts training from
  the previous, unrelated batch's second-phase state);
* the EP output update is the exact block minimiser (see :mod:`ebl_ref.minimize`).
"""
from __future__ import annotations

from dataclasses import dataclass

from .backprop import rbp, tbp
from .minimize import Equilibrium, initial_state, relax
from .network import OUTPUT, param_grads

ZERO_TERMS = ("relaxed", "free")


@dataclass(frozen=True)
class Phases:
    """What a rule needs: parameters, target, free equilibrium and the second-phase settings.

    Attributes
    ----------
    params : parameter dict
    y : one-hot targets (B, M)
    free : the free equilibrium s* (eq. 1)
    iterations : iterations of each second phase
    mode : "async" or "sync"
    tol : optional early stop of each second phase (see :func:`ebl_ref.minimize.relax`)
    zero_term : "relaxed" or "free", the β = 0 state (see the module docstring)
    """

    params: dict
    y: object
    free: Equilibrium
    iterations: int = 15
    mode: str = "async"
    tol: float | None = None
    zero_term: str = "relaxed"

    def __post_init__(self):
        if self.zero_term not in ZERO_TERMS:
            raise ValueError(f"unknown zero_term {self.zero_term!r}: choose one of "
                             f"{', '.join(ZERO_TERMS)}")

    def nudged(self, beta: float) -> Equilibrium:
        """s_β^EP = argmin (E + βC), relaxed from s* (eq. 4)."""
        return relax(self.params, self.free.s, self.iterations, beta=beta, y=self.y,
                     mode=self.mode, tol=self.tol, drives=self.free.drives)

    def clamped(self, o) -> Equilibrium:
        """h = argmin_h E(θ, x, h, o) with the output clamped to ``o``, relaxed from h* (eq. 2)."""
        s = list(self.free.s)
        s[OUTPUT] = o
        return relax(self.params, s, self.iterations, clamp_output=True, mode=self.mode,
                     tol=self.tol, drives=self.free.drives)

    def coupled(self, beta: float) -> Equilibrium:
        """s_β^CpL: output clamped to o_β = (1 − β) o* + β y (eq. 7)."""
        o_star = self.free.s[OUTPUT]
        return self.clamped((1.0 - beta) * o_star + beta * self.y)

    def nudged_zero(self) -> Equilibrium:
        """The β = 0 state of the EP rules: s*, or s* relaxed further at β = 0."""
        return self.free if self.zero_term == "free" else self.nudged(0.0)

    def coupled_zero(self) -> Equilibrium:
        """The β = 0 state of CL/CpL: s*, or h relaxed further with the output clamped at o*."""
        return self.free if self.zero_term == "free" else self.coupled(0.0)

    def dE_dtheta(self, eq: Equilibrium) -> dict:
        """∂E/∂θ at an equilibrium (batch mean), reusing its cached pooled drives."""
        return param_grads(self.params, eq.s, eq.drives)


def contrast(ph: Phases, eq_a: Equilibrium, beta_a: float, eq_b: Equilibrium, beta_b: float):
    """``(∂E/∂θ(s_b) − ∂E/∂θ(s_a)) / (β_b − β_a)``: the shared form of eqs. (3)–(9)."""
    g_a, g_b = ph.dE_dtheta(eq_a), ph.dE_dtheta(eq_b)
    return {name: (g_b[name] - g_a[name]) / (beta_b - beta_a) for name in g_a}


def cl(ph: Phases, beta: float = 1.0) -> dict:
    """CL, eq. (3): Δθ = η (∂E/∂θ(h*, o*) − ∂E/∂θ(h_cl, y)). ``beta`` is ignored."""
    return contrast(ph, ph.coupled_zero(), 0.0, ph.clamped(ph.y), 1.0)


def p_ep(ph: Phases, beta: float) -> dict:
    """P-EP, eq. (5) with β > 0: Δθ = η/β (∂E/∂θ(s*) − ∂E/∂θ(s_β))."""
    return contrast(ph, ph.nudged_zero(), 0.0, ph.nudged(beta), beta)


def n_ep(ph: Phases, beta: float) -> dict:
    """N-EP, eq. (5) with −β < 0: Δθ = η/β (∂E/∂θ(s_−β) − ∂E/∂θ(s*))."""
    return contrast(ph, ph.nudged(-beta), -beta, ph.nudged_zero(), 0.0)


def c_ep(ph: Phases, beta: float) -> dict:
    """C-EP, eq. (6): Δθ = η/(2β) (∂E/∂θ(s_−β) − ∂E/∂θ(s_β))."""
    return contrast(ph, ph.nudged(-beta), -beta, ph.nudged(beta), beta)


def p_cpl(ph: Phases, beta: float) -> dict:
    """P-CpL, eq. (8) with β > 0: Δθ = η/β (∂E/∂θ(s*) − ∂E/∂θ(h_β, o_β))."""
    return contrast(ph, ph.coupled_zero(), 0.0, ph.coupled(beta), beta)


def n_cpl(ph: Phases, beta: float) -> dict:
    """N-CpL, eq. (8) with −β < 0: Δθ = η/β (∂E/∂θ(h_−β, o_−β) − ∂E/∂θ(s*))."""
    return contrast(ph, ph.coupled(-beta), -beta, ph.coupled_zero(), 0.0)


def c_cpl(ph: Phases, beta: float) -> dict:
    """C-CpL, eq. (9): Δθ = η/(2β) (∂E/∂θ(h_−β, o_−β) − ∂E/∂θ(h_β, o_β))."""
    return contrast(ph, ph.coupled(-beta), -beta, ph.coupled(beta), beta)


RULES = {
    "cl": cl,
    "p-ep": p_ep,
    "n-ep": n_ep,
    "c-ep": c_ep,
    "p-cpl": p_cpl,
    "n-cpl": n_cpl,
    "c-cpl": c_cpl,
}


# The baselines of Table 1 (:mod:`ebl_ref.backprop`), same signature: ``fn(ph, beta) -> grads``
# (beta ignored). backprop.py never imports this module.
BASELINES = {"tbp": tbp, "rbp": rbp}
ALGORITHMS = {**RULES, **BASELINES}


def get_rule(name: str):
    """The rule (or baseline) function for ``name``; a clear error listing the choices otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}: choose one of {', '.join(ALGORITHMS)}") from None


def free_phase(params: dict, net, x, iterations: int = 60, mode: str = "async",
               tol: float | None = None) -> Equilibrium:
    """s* = argmin_s F(θ, x, s) (eq. 1), relaxed from zero; x in the state layout (C0, S, S, B)."""
    return relax(params, initial_state(net, x), iterations, mode=mode, tol=tol)


def estimate_gradient(rule: str, params: dict, net, x, y, *, beta: float = 0.25,
                      free_iters: int = 60, train_iters: int = 15, mode: str = "async",
                      free: Equilibrium | None = None, zero_term: str = "relaxed"):
    """Relax freely, then apply ``rule`` by name.

    Parameters
    ----------
    rule : a key of :data:`ALGORITHMS` (the seven rules, ``tbp`` or ``rbp``)
    x : input in the state layout (C0, S, S, B); y : one-hot targets (B, M)
    beta : the nudging strength β > 0 (the rule chooses its sign); CL ignores it
    free : a free equilibrium to reuse instead of relaxing again
    zero_term : the β = 0 state, "relaxed" (reference code) or "free" (s* itself)

    Returns
    -------
    grads : dict name -> array, the estimate of +∂L/∂θ (apply as θ ← θ − η·grads)
    free : the free equilibrium (its output o* is the prediction)
    """
    fn = get_rule(rule)
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (the rule picks the sign), got {beta}")
    if free is None:
        free = free_phase(params, net, x, free_iters, mode)
    return fn(Phases(params, y, free, train_iters, mode, zero_term=zero_term), beta), free

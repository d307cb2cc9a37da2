"""Paper §2: the seven energy-based learning rules over one contrast helper, and the functions
of §2.4 (Theorems 1–3) that they descend.

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

**Energy minima are minima of F.** The relaxation minimises F = E + ½Σ‖s_k‖² + box
(:func:`ebl_ref.network.total_energy`), so "argmin E" in eqs. (1), (2), (4), (7) and "min" in
the surrogate functions are of F. ∂F/∂θ = ∂E/∂θ, so the rules are unchanged.

**The β = 0 state** (``zero_term``). In eqs. (3), (5), (8) it is the free equilibrium s*. A
relaxation of finitely many iterations never quite reaches it, and the second phase keeps
relaxing from s*: contrasting s_β with s* then adds that drift, divided by β, to the estimate.
By default (``zero_term="relaxed"``, as the authors' code does, docs/DEVIATIONS.md §2) the
β = 0 state is re-relaxed for as many iterations as the other phase — the EP phase at β = 0,
or for CL/CpL the hidden layers with the output clamped at o* — so that the drift cancels, as
it does in the centred rules. ``"free"`` uses s* itself, the paper's literal equations. At a
converged s* the two agree. Measured with the quick preset on 10,000 MNIST images, P-EP with
``"free"`` stays at ≈ 90% error; see README "Measured".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .minimize import Equilibrium, equilibrium_subset, relax
from .network import OUTPUT, cost, param_grads, total_energy

ZERO_TERMS = ("relaxed", "free")


@dataclass(frozen=True)
class Phases:
    """What a rule needs: parameters, target, free equilibrium and the second-phase settings.

    The second phases are relaxed on first use and remembered (a Phases is one batch's
    bookkeeping): P-EP, N-EP and C-EP at one β share the two nudged relaxations.

    Attributes
    ----------
    params : parameter dict
    y : one-hot targets (B, M)
    free : the free equilibrium s* (eq. 1, :func:`ebl_ref.minimize.free_phase`)
    iterations : iterations of each second phase (the Table 1 runs: 15, docs/DEVIATIONS.md §2)
    mode : "async" or "sync"
    tol : optional early stop of each second phase (see :func:`ebl_ref.minimize.relax`)
    zero_term : "relaxed" or "free", the β = 0 state (see the module docstring); any other
        value raises ValueError
    analog : an :class:`~ebl_ref.analog.AnalogDevice`, or None (ideal): every phase relaxes on
        it, and the rules contrast the states as it reads them out (:meth:`read`)
    """

    params: dict
    y: object
    free: Equilibrium
    iterations: int = 15
    mode: str = "async"
    tol: float | None = None
    zero_term: str = "relaxed"
    analog: object = None
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.zero_term not in ZERO_TERMS:
            raise ValueError(f"unknown zero_term {self.zero_term!r}: choose one of "
                             f"{', '.join(ZERO_TERMS)}")

    def _remember(self, key, compute) -> Equilibrium:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def subset(self, idx) -> "Phases":
        """The same phases restricted to the examples ``idx`` (index array on the batch): the
        second phases already relaxed are sliced, not relaxed again, so a rule evaluated on the
        subset is the batch mean over those examples of the same per-example contrasts (each
        example relaxes independently). Used by :mod:`ebl_ref.gradcheck`'s breakdown."""
        sub = Phases(self.params, self.y[idx], equilibrium_subset(self.free, idx),
                     self.iterations, self.mode, self.tol, self.zero_term)
        for key, eq in self._memo.items():
            sub._memo[key] = equilibrium_subset(eq, idx)
        return sub

    def nudged(self, beta: float) -> Equilibrium:
        """s_β^EP = argmin (F + βC), relaxed from s* (eq. 4); remembered per β."""
        return self._remember(("ep", beta), lambda: relax(
            self.params, self.free.s, self.iterations, beta=beta, y=self.y, mode=self.mode,
            tol=self.tol, drives=self.free.drives, analog=self.analog))

    def clamped(self, o) -> Equilibrium:
        """h = argmin_h F(θ, x, h, o) with the output clamped to ``o`` (B, M), relaxed from h*
        (eq. 2 with ``o = y``); not remembered."""
        s = list(self.free.s)
        s[OUTPUT] = o
        return relax(self.params, s, self.iterations, clamp_output=True, mode=self.mode,
                     tol=self.tol, drives=self.free.drives, analog=self.analog)

    def coupled(self, beta: float) -> Equilibrium:
        """s_β^CpL: output clamped to o_β = (1 − β) o* + β y (eq. 7); remembered per β."""
        o_star = self.free.s[OUTPUT]
        return self._remember(("cpl", beta),
                              lambda: self.clamped((1.0 - beta) * o_star + beta * self.y))

    def read_through(self, analog) -> "Phases":
        """These phases (the same relaxed states, shared) read out through ``analog``: what
        read-out noise alone does to a rule, the relaxations held fixed (``run.py gradcheck
        --read-noise``)."""
        other = dataclasses.replace(self, analog=analog)
        object.__setattr__(other, "_memo", self._memo)
        return other

    def read(self, eq: Equilibrium) -> Equilibrium:
        """``eq`` as the learning rule sees it: itself on an ideal machine, else its states
        through the analog read-out (ADC, read noise, repeated reads; fresh noise at every
        call) with the arg-maxes of the relaxed state (the pooling the machine settled in)."""
        if self.analog is None or not self.analog.cfg.reads_states:
            return eq
        return Equilibrium(s=self.analog.read_state(eq.s), drives=eq.drives,
                           iterations=eq.iterations, residual=eq.residual)

    def nudged_zero(self) -> Equilibrium:
        """The β = 0 state of the EP rules: s*, or s* relaxed further at β = 0."""
        return self.free if self.zero_term == "free" else self.nudged(0.0)

    def coupled_zero(self) -> Equilibrium:
        """The β = 0 state of CL/CpL: s*, or h relaxed further with the output clamped at o*."""
        return self.free if self.zero_term == "free" else self.coupled(0.0)


def contrast(params: dict, eq_a: Equilibrium, beta_a: float, eq_b: Equilibrium,
             beta_b: float) -> dict:
    """``(∂E/∂θ(s_b) − ∂E/∂θ(s_a)) / (β_b − β_a)``: the shared form of eqs. (3), (5), (6), (8),
    (9), as a dict name -> array shaped like ``params``. ∂E/∂θ is the batch mean
    (:func:`ebl_ref.network.param_grads`), reusing each equilibrium's cached pooled drives."""
    g_a = param_grads(params, eq_a.s, eq_a.drives)
    g_b = param_grads(params, eq_b.s, eq_b.drives)
    return {name: (g_b[name] - g_a[name]) / (beta_b - beta_a) for name in g_a}


# --------------------------------------------------------------------------- the rules


def cl(ph: Phases, beta: float = 1.0) -> dict:
    """CL, eq. (3): Δθ = η (∂E/∂θ(h*, o*) − ∂E/∂θ(h_cl, y)). ``beta`` is ignored."""
    return contrast(ph.params, ph.read(ph.coupled_zero()), 0.0, ph.read(ph.clamped(ph.y)), 1.0)


def p_ep(ph: Phases, beta: float) -> dict:
    """P-EP, eq. (5) with β > 0: Δθ = η/β (∂E/∂θ(s*) − ∂E/∂θ(s_β))."""
    return contrast(ph.params, ph.read(ph.nudged_zero()), 0.0, ph.read(ph.nudged(beta)), beta)


def n_ep(ph: Phases, beta: float) -> dict:
    """N-EP, eq. (5) with −β < 0: Δθ = η/β (∂E/∂θ(s_−β) − ∂E/∂θ(s*))."""
    return contrast(ph.params, ph.read(ph.nudged(-beta)), -beta, ph.read(ph.nudged_zero()), 0.0)


def c_ep(ph: Phases, beta: float) -> dict:
    """C-EP, eq. (6): Δθ = η/(2β) (∂E/∂θ(s_−β) − ∂E/∂θ(s_β))."""
    return contrast(ph.params, ph.read(ph.nudged(-beta)), -beta, ph.read(ph.nudged(beta)), beta)


def p_cpl(ph: Phases, beta: float) -> dict:
    """P-CpL, eq. (8) with β > 0: Δθ = η/β (∂E/∂θ(s*) − ∂E/∂θ(h_β, o_β))."""
    return contrast(ph.params, ph.read(ph.coupled_zero()), 0.0, ph.read(ph.coupled(beta)), beta)


def n_cpl(ph: Phases, beta: float) -> dict:
    """N-CpL, eq. (8) with −β < 0: Δθ = η/β (∂E/∂θ(h_−β, o_−β) − ∂E/∂θ(s*))."""
    return contrast(ph.params, ph.read(ph.coupled(-beta)), -beta, ph.read(ph.coupled_zero()), 0.0)


def c_cpl(ph: Phases, beta: float) -> dict:
    """C-CpL, eq. (9): Δθ = η/(2β) (∂E/∂θ(h_−β, o_−β) − ∂E/∂θ(h_β, o_β))."""
    return contrast(ph.params, ph.read(ph.coupled(-beta)), -beta, ph.read(ph.coupled(beta)), beta)


RULES = {
    "cl": cl,
    "p-ep": p_ep,
    "n-ep": n_ep,
    "c-ep": c_ep,
    "p-cpl": p_cpl,
    "n-cpl": n_cpl,
    "c-cpl": c_cpl,
}


# --------------------------------------------------------------------------- §2.4, Theorems 1–3
# Per example, shape (B,). Each is evaluated at the states its rule contrasts, so that the
# rule's g is its gradient (batch mean) to the accuracy of the relaxations.


def true_loss(ph: Phases):
    """C(o(θ, x), y) = ½‖o* − y‖², the cost at the free equilibrium's output: the middle of
    eq. (11), what eqs. (12)–(13) approximate, and what TBP and RBP descend."""
    return cost(ph.free.s[OUTPUT], ph.y)


def contrastive_function(ph: Phases):
    """J(θ, x, y) = F(θ, x, h_cl, y) − F(θ, x, h*, o*), eq. (10): CL (eq. 3) is its gradient
    (Theorem 1). The second state is CL's β = 0 state (:meth:`Phases.coupled_zero`)."""
    return (total_energy(ph.params, ph.clamped(ph.y).s)
            - total_energy(ph.params, ph.coupled_zero().s))


def _min_nudged(ph: Phases, beta: float):
    """min_s [F + βC] at the relaxed state: F(s_β) + β C(o_β, y), with s_0 the β = 0 state."""
    eq = ph.nudged(beta) if beta else ph.nudged_zero()
    return total_energy(ph.params, eq.s, eq.drives) + beta * cost(eq.s[OUTPUT], ph.y)


def surrogate_loss(ph: Phases, beta: float):
    """L_β(θ, x, y) = (min_s [F + βC] − min_s F) / β, β ≠ 0: P-EP (β > 0) and N-EP (β < 0) are
    its gradient (Theorem 2); L_β ≤ C(o*, y) ≤ L_−β for β > 0 (eq. 11) and
    L_β = C(o*, y) + O(β) (eq. 12). Raises ValueError for β = 0."""
    if beta == 0:
        raise ValueError("surrogate_loss needs beta != 0 (L_0 is the limit C(o*, y))")
    return (_min_nudged(ph, beta) - _min_nudged(ph, 0.0)) / beta


def centred_surrogate_loss(ph: Phases, beta: float):
    """L_{−β,+β}(θ, x, y) = (min_s [F + βC] − min_s [F − βC]) / (2β), β > 0: C-EP (eq. 6) is
    its gradient and L_{−β,+β} = C(o*, y) + O(β²) (Theorem 3, eq. 13). Raises ValueError for
    β ≤ 0."""
    if not beta > 0:
        raise ValueError(f"centred_surrogate_loss needs beta > 0, got {beta}")
    return (_min_nudged(ph, beta) - _min_nudged(ph, -beta)) / (2 * beta)

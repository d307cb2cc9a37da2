"""The energy minimiser: relax the DCHN to equilibrium — free (eq. 1), nudged (eq. 4), or with
the output clamped (eqs. 2 and 7). One loop, :func:`relax`, serves inference, training, the
backprop baselines (their tape) and the golden traces (their records), through ``observe``.

Each layer update is the exact minimiser of F (:func:`ebl_ref.network.total_energy`) with the
other layers fixed, the pre-layer max-pool term linearised at the current arg-max (a
majorise–minimise update; docs/DEVIATIONS.md §1)::

    s_k ← clip(a_k, 0, 1)                       hidden layers, a_k = −∂E/∂s_k
    o   ← (a_5 + β y) / (1 + β)                 output: exact block minimiser of F + βC

Output update under nudging (our choice, docs/DEVIATIONS.md §1): the authors' code iterates
``o ← a_5 − β(o − y)``, a fixed-point iteration whose fixed point is the same ``(a_5 + βy)/(1 + β)``
but which only converges geometrically (rate |β|) and oscillates at |β| = 1. We use the exact
block minimiser, so every half-step provably does not increase F + βC for any β > −1, and the
nudged state does not depend on how many iterations the output had to catch up. For β = 0 both
are identical.

Vocabulary. A **half-step** updates one *group* of layers, every layer of the group computed
from the state before it (Jacobi within the group). An **iteration** runs every group of the
schedule once. Schedules (paper §3; docs/DEVIATIONS.md §2): ``"async"`` — the odd group
{s1, s3, o} then the even group {s2, s4} (independent sets, so each half-step is an exact block
update); ``"sync"`` — one group of all layers (a Jacobi sweep: the iteration is a single
half-step, and F may increase). With the output clamped (CL/CpL) ``o`` is left out.

Work discipline: each conv's pooled drive ``P(W_k ⋆ s_{k−1})`` and its arg-max are computed once
per change of ``s_{k−1}`` and reused for both the drive of s_k and the feedback to s_{k−1};
``P(W1 ⋆ x)`` once per batch. That is 3 convolutions + 3 transposed convolutions per iteration,
the minimum (:meth:`ebl_ref.network.DCHN.flops_per_iteration`; docs/DEVIATIONS.md §6). A free
phase starts with the zero state's drives known (:func:`zero_drives`).
Observing costs nothing when ``observe`` is None.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .backend import array_module, to_host
from .convolution import prepare
from .network import HIDDEN, OUTPUT, DCHN, pooled_drive, preactivation

SCHEDULES = {
    "async": ((1, 3, OUTPUT), (2, 4)),
    "sync": ((1, 2, 3, 4, OUTPUT),),
}


@dataclass
class Equilibrium:
    """The result of a relaxation.

    Attributes
    ----------
    s : list of arrays, the state ``[x, s1, s2, s3, s4, o]`` after the last half-step
    drives : list, ``drives[k]`` = ``(P(W_k ⋆ s_{k−1}), arg-max)`` valid at ``s``, or None
    iterations : iterations run
    residual : max over the updated layers of max |s_k(t) − s_k(t−1)| in the last iteration
        (a host float)
    """

    s: list
    drives: list
    iterations: int
    residual: float


@dataclass(frozen=True)
class HalfStep:
    """The record of one half-step, as :func:`relax` hands it to ``observe``: what the
    half-step read and wrote, and all that its derivatives (:mod:`ebl_ref.vjp`) need.

    Attributes
    ----------
    group : the layers updated, e.g. ``(1, 3, 5)``
    s : the state ``[x, s1, …, o]`` *before* the half-step (arrays shared, not copied)
    s_new : the state after it (arrays shared with ``s`` outside ``group``)
    idx : list of 5, ``idx[k]`` = int8 arg-max of ``W_k ⋆ s_{k−1}`` at ``s`` for every conv
        the half-step reads (:func:`convs_read`), else None
    active : dict k -> bool mask ``0 ≤ a_k ≤ 1`` (:func:`clamp_mask`) for each hidden layer
        of ``group``, ``a_k`` the pre-activation the update read
    beta : the nudging strength of the half-step (0 in free and clamped phases)
    """

    group: tuple
    s: list
    s_new: list
    idx: list
    active: dict
    beta: float = 0.0


def zero_state(net: DCHN, x) -> list:
    """``[x, 0, 0, 0, 0, 0]``: every free layer at zero, where every free phase starts
    (docs/DEVIATIONS.md §2: also in training).

    ``x`` is the input in the state layout (C0, S, S, B) (:func:`ebl_ref.ops.channel_major`);
    the zeros take its dtype and array module.
    """
    xp = array_module(x)
    batch = x.shape[-1]
    return [x] + [xp.zeros(net.state_shape(k, batch), dtype=x.dtype) for k in range(1, 6)]


def zero_drives(s: list) -> list:
    """The pooled drives of convs 2..4 at a :func:`zero_state` ``s``: ``P(W_k ⋆ 0) = 0`` (the
    shape of s_k) with the arg-max at the first position of every window (a four-way tie, which
    the first position wins on both convolution paths, :func:`ebl_ref.ops.pool_window`), for
    any finite weights. Passed to :func:`relax`, they save the first iteration three
    convolutions of zeros and give the same numbers. Conv 1's drive depends on the input and is
    left None. Only for a state whose layers s1..s3 are zero (it is not checked, which would
    cost a pass over the state and, on the GPU, a host synchronisation): from any other state
    the drives would be wrong."""
    xp = array_module(s[0])
    return [None, None] + [(xp.zeros_like(s[k]), xp.zeros(s[k].shape, dtype=xp.int8))
                           for k in (2, 3, 4)]


def groups(mode: str, clamp_output: bool = False) -> tuple:
    """The layer groups of one iteration, e.g. ``((1, 3, 5), (2, 4))`` for ``"async"``.

    Raises ValueError for a mode not in :data:`SCHEDULES`.
    """
    if mode not in SCHEDULES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(SCHEDULES)}")
    if not clamp_output:
        return SCHEDULES[mode]
    return tuple(tuple(k for k in g if k != OUTPUT) for g in SCHEDULES[mode])


def update_layer(k: int, a, beta: float = 0.0, y=None):
    """The layer update (paper §3): exact block minimiser of F + βC in layer k given its
    pre-activation ``a_k`` (hidden (C_k, H, W, B), output (B, M))."""
    if k == OUTPUT:
        if beta == 0.0:
            return a                          # o = a_5
        return (a + beta * y) / (1.0 + beta)  # argmin_o ½‖o‖² − a·o + β·½‖o − y‖²
    xp = array_module(a)
    return xp.clip(a, 0.0, 1.0)               # hard sigmoid = argmin over [0,1] of ½s² − a·s


def clamp_mask(a):
    """∂ clip(a, 0, 1)/∂a as a bool mask: True where 0 ≤ a ≤ 1, edges **included** (as
    PyTorch's clamp backward, docs/DEVIATIONS.md §5; the edges matter on a measure-zero set)."""
    return (a >= 0) & (a <= 1)


def convs_read(group) -> list:
    """The convs k whose pooled drive or arg-max updating ``group`` reads, sorted: layer k
    reads conv k ("post": its drive) and conv k+1 ("pre": the arg-max routing its feedback)."""
    return sorted({k for k in group if k in HIDDEN} | {k + 1 for k in group if k + 1 in HIDDEN})


def drives_for(params: dict, s: list, drives: list, group) -> list:
    """A copy of ``drives`` with every pooled drive that ``group`` reads computed at ``s``
    (only those that are missing)."""
    drives = list(drives)
    for k in convs_read(group):
        if drives[k] is None:
            drives[k] = pooled_drive(params, s, k)
    return drives


def drop_stale(drives: list, group) -> list:
    """Drop (in place) the drives whose pre layer ``group`` just updated; returns ``drives``."""
    for k in group:
        if k + 1 in HIDDEN:
            drives[k + 1] = None
    return drives


def half_step(params: dict, s: list, drives: list, group: tuple, beta: float = 0.0, y=None,
              observe: Callable[[HalfStep], object] | None = None, analog=None):
    """Update every layer of ``group`` from the current state ``s`` (Jacobi within the group).

    Returns the new ``(s, drives)``; pooled drives are computed only where missing, and those
    whose pre layer changed are dropped. If ``observe`` is given it is called with the
    :class:`HalfStep` record (the clamp masks are computed only then). ``analog`` (an
    :class:`~ebl_ref.analog.AnalogDevice`, or None) adds its relaxation noise to each
    pre-activation, ``a_k + σ ξ``, before the layer update.
    """
    drives = drives_for(params, s, drives, group)
    a = {k: preactivation(params, s, drives, k) for k in group}
    if analog is not None:
        a = {k: analog.perturb(v) for k, v in a.items()}
    s_new = list(s)
    for k in group:
        s_new[k] = update_layer(k, a[k], beta, y)
    if observe is not None:
        read = convs_read(group)
        observe(HalfStep(group=tuple(group), s=list(s), s_new=s_new,
                         idx=[drives[k][1] if k in read else None for k in range(5)],
                         active={k: clamp_mask(a[k]) for k in group if k in HIDDEN},
                         beta=beta))
    return s_new, drop_stale(drives, group)


def _change(s_new: list, s_old: list, layers) -> float:
    """max_k max |s_new[k] − s_old[k]| as a host float: one device→host transfer."""
    xp = array_module(s_new[layers[0]])
    return float(xp.stack([abs(s_new[k] - s_old[k]).max() for k in layers]).max())


def relax(params: dict, s: list, iterations: int, *, beta: float = 0.0, y=None,
          clamp_output: bool = False, mode: str = "async", tol: float | None = None,
          drives: list | None = None,
          observe: Callable[[HalfStep], object] | None = None, analog=None) -> Equilibrium:
    """Run the minimiser from state ``s``: the one relaxation loop of the package.

    Parameters
    ----------
    params : parameter dict
    s : starting state ``[x, s1, s2, s3, s4, o]``; with ``clamp_output`` its ``o`` is kept
    iterations : maximum number of iterations (each updates every free layer once)
    beta, y : nudging β·C(o, y) on the output (eq. 4); y is one-hot (B, M)
    clamp_output : keep ``o`` fixed and relax the hidden layers only (eqs. 2, 7)
    mode : "async" or "sync" (:data:`SCHEDULES`)
    tol : stop early once an iteration changes no unit by more than ``tol`` (checks every
        iteration, a host sync on the GPU); None runs exactly ``iterations``
    drives : pooled drives valid at ``s`` (e.g. from a previous :class:`Equilibrium`)
    observe : called after every half-step with its :class:`HalfStep` record (the tape of
        :func:`ebl_ref.backprop.unroll`, the records of :mod:`ebl_ref.trace`)
    analog : an :class:`~ebl_ref.analog.AnalogDevice` or None (ideal). The phase computes with
        the weights it reads once, at its start (device gains and read noise: one draw per
        phase, so ``drives`` from another phase are dropped), and every layer update gets its
        relaxation noise (:func:`half_step`)

    Raises
    ------
    ValueError : iterations < 1, an unknown mode, β ≠ 0 without ``y``, or β ≤ −1 (F + βC is
        then unbounded below in o)
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if beta != 0.0 and not clamp_output:
        if y is None:
            raise ValueError("a nudged relaxation (beta != 0) needs the target y")
        if beta <= -1.0:
            raise ValueError(f"beta must be > -1 (F + βC is unbounded below in o), got {beta}")
    schedule = groups(mode, clamp_output)
    layers = sorted({k for g in schedule for k in g})
    if analog is not None and analog.cfg.reads_weights:
        params, drives = analog.read(params), None  # this phase's weights, read once
    params = prepare(params)  # fast path: kernels transformed once, buffers kept (θ is fixed)
    drives = [None] * 5 if drives is None else drives  # filled lazily by half_step
    for t in range(1, iterations + 1):
        previous = s
        for group in schedule:
            s, drives = half_step(params, s, drives, group, beta, y, observe, analog)
        if tol is not None or t == iterations:
            residual = _change(s, previous, layers)
            if tol is not None and residual <= tol:
                break
    return Equilibrium(s=s, drives=drives, iterations=t, residual=residual)


def take_examples(s: list, idx) -> list:
    """The state ``[x, s1, …, o]`` restricted to the examples ``idx`` (an index array or
    slice on the batch axis: last for x, s1..s4, first for o). Copies for an index array."""
    return [a[..., idx] for a in s[:OUTPUT]] + [s[OUTPUT][idx]]


def equilibrium_subset(eq: Equilibrium, idx) -> Equilibrium:
    """``eq`` restricted to the examples ``idx``; the pooled drives are dropped (recomputed
    lazily where needed), ``iterations`` and ``residual`` are kept (the whole batch's)."""
    return Equilibrium(s=take_examples(eq.s, idx), drives=[None] * 5,
                       iterations=eq.iterations, residual=eq.residual)


def distance(s_a: list, s_b: list, layers=(1, 2, 3, 4, OUTPUT)):
    """Per example, max over ``layers`` of max |s_a[k] − s_b[k]|: a host float64 array (B,).

    The metric of the equilibria checks (:mod:`ebl_ref.gradcheck`, :mod:`ebl_ref.converge`):
    the same unit scale as :attr:`Equilibrium.residual`, which is this distance between two
    successive iterations, maximised over the batch.
    """
    xp = array_module(s_a[OUTPUT])
    per = [abs(s_a[k] - s_b[k]).max(axis=1) if k == OUTPUT
           else abs(s_a[k] - s_b[k]).max(axis=(0, 1, 2)) for k in layers]
    return to_host(xp.stack(per).max(axis=0)).astype("float64")


def free_phase(params: dict, net: DCHN, x, iterations: int = 60, mode: str = "async",
               tol: float | None = None, analog=None) -> Equilibrium:
    """s* = argmin_s F(θ, x, s) (eq. 1), relaxed from :func:`zero_state`.

    ``x`` is the input in the state layout (C0, S, S, B); the default of 60 iterations is the
    free phase of the paper's Table 1 runs (docs/DEVIATIONS.md §2). The prediction is
    ``free_phase(...).s[OUTPUT]``, o* of shape (B, M). ``analog``: see :func:`relax`.
    """
    s = zero_state(net, x)
    return relax(params, s, iterations, mode=mode, tol=tol, drives=zero_drives(s),
                 analog=analog)

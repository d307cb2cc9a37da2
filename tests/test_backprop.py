"""TBP and RBP against independent oracles: the half-step's JVP against finite differences of
the half-step map, each VJP against that JVP (⟨J v, w⟩ = ⟨v, Jᵀ w⟩), TBP against finite
differences of the unrolled map, RBP against the implicit-function gradient solved directly,
the EP rules approaching RBP as β → 0 with the orders of Theorems 2–3, the memory of TBP's
tape, the refusal of a nudged record."""
from dataclasses import replace

import numpy as np
import pytest
from helpers import (CONVERGED, TINY, fd_true_loss, random_state, record,
                     smooth_converged_phases, tiny_problem)
from hypothesis import assume, given
from hypothesis import strategies as st

from ebl_ref.algorithms import tbp
from ebl_ref.backprop import loss_cotangent, rbp_gradient, tape_nbytes, tbp_gradient, unroll
from ebl_ref.minimize import free_phase, groups
from ebl_ref.network import HIDDEN, OUTPUT, cost
from ebl_ref.ops import gather2x2, unpool2x2
from ebl_ref.rules import RULES, Phases
from ebl_ref.vjp import half_step_jvp, half_step_vjp, zero_grads

seeds = st.integers(0, 2**32 - 1)
GROUPS = [(1, 3, 5), (2, 4), (1, 2, 3, 4, 5)]  # the two async half-steps, the sync one


def rand_like(rng, arrays):
    return [None] + [rng.standard_normal(a.shape) for a in arrays[1:]]


def rand_params(rng, params):
    return {k: rng.standard_normal(p.shape) for k, p in params.items()}


def same_structure(recs_a, recs_b):
    """Same arg-maxes and clamp masks along two tapes: the map is smooth between them."""
    for ra, rb in zip(recs_a, recs_b):
        if any(not np.array_equal(u, v) for u, v in zip(ra.idx, rb.idx) if u is not None):
            return False
        if any(not np.array_equal(ra.active[k], rb.active[k]) for k in ra.active):
            return False
    return True


def flat(g):
    return np.concatenate([g[k].ravel() for k in sorted(g)])


# --------------------------------------------------------------------------- one step


def test_gather_is_the_adjoint_of_unpool():
    rng = np.random.default_rng(0)
    z, s = rng.standard_normal((3, 6, 4, 2)), rng.standard_normal((3, 3, 2, 2))
    idx = rng.integers(0, 4, (3, 3, 2, 2)).astype(np.int8)
    assert np.isclose(np.vdot(gather2x2(z, idx), s), np.vdot(z, unpool2x2(s, idx)), rtol=1e-13)


@given(seeds, st.sampled_from(GROUPS))
def test_half_step_jvp_matches_finite_differences(seed, group):
    """ṡ' = ∂s'/∂s·v + ∂s'/∂θ·dθ equals (s'(θ+εdθ, s+εv) − s'(θ−εdθ, s−εv))/2ε."""
    params, x, _, _ = tiny_problem(seed, gain=1.5)
    s = random_state(seed + 1, x)
    rng = np.random.default_rng(seed)
    v, dtheta = rand_like(rng, s), rand_params(rng, params)
    rec = record(params, s, group)
    eps = 1e-6

    def moved(sign):
        theta = {k: params[k] + sign * eps * dtheta[k] for k in params}
        return record(theta, [x] + [a + sign * eps * b for a, b in zip(s[1:], v[1:])], group)

    rec_p, rec_m = moved(1), moved(-1)
    assume(same_structure([rec, rec_p], [rec_m, rec_m]))
    jv = half_step_jvp(params, rec, v, dtheta)
    for j in range(1, 6):
        fd = (rec_p.s_new[j] - rec_m.s_new[j]) / (2 * eps)
        np.testing.assert_allclose(jv[j], fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max(),
                                   err_msg=f"group {group}, layer {j}")


@given(seeds, st.sampled_from(GROUPS))
def test_half_step_vjp_is_the_adjoint_of_the_jvp(seed, group):
    """⟨J (v, dθ), w⟩ = ⟨v, J_sᵀ w⟩ + ⟨dθ, J_θᵀ w⟩ for random v, dθ, w."""
    params, x, _, _ = tiny_problem(seed, gain=1.5)
    s = random_state(seed + 1, x)
    rng = np.random.default_rng(seed)
    v, dtheta, w = rand_like(rng, s), rand_params(rng, params), rand_like(rng, s)
    rec = record(params, s, group)
    grads = zero_grads(params)
    lam = half_step_vjp(params, rec, w, grads)
    lhs = sum(np.vdot(a, b) for a, b in zip(half_step_jvp(params, rec, v, dtheta)[1:], w[1:]))
    rhs = (sum(np.vdot(v[j], lam[j]) for j in range(1, 6) if lam[j] is not None)
           + sum(np.vdot(dtheta[k], grads[k]) for k in params))
    assert lam[0] is None
    scale = sum(np.linalg.norm(a) * np.linalg.norm(b) for a, b in zip(v[1:], w[1:]))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12 * scale)  # cancellation-safe
    # the parameter-only and state-only passes are the two halves of the same product
    g2 = zero_grads(params)
    assert half_step_vjp(params, rec, w, g2, states=False) is None
    np.testing.assert_allclose(flat(g2), flat(grads), rtol=1e-14)


def test_clamp_mask_is_inclusive_at_both_edges():
    """a = 0 and a = 1 pass the gradient (as PyTorch's clamp backward); a < 0, a > 1 do not."""
    params, x, _, _ = tiny_problem(0)
    params = {k: np.zeros_like(p) for k, p in params.items()}
    for k, b in zip(HIDDEN, (1.0, 0.0, 1.5, -0.5)):
        params[f"b{k}"][:] = b  # a_k = b_k exactly (all weights zero)
    rec = record(params, random_state(0, x), (1, 2, 3, 4, 5))
    assert [bool(rec.active[k].all()) for k in HIDDEN] == [True, True, False, False]
    assert [bool(rec.active[k].any()) for k in HIDDEN] == [True, True, False, False]


# --------------------------------------------------------------------------- TBP


@given(seeds, st.integers(1, 3), st.sampled_from(["async", "sync"]))
def test_tbp_matches_finite_differences_of_the_unrolled_map(seed, iterations, mode):
    """TBP = ∂/∂θ and ∂/∂s_0 of L(θ) = mean_b ½‖o_T(θ, s_0) − y‖², tensor by tensor, from a
    random interior state (continuous values: no ties, no unit on a clamp edge)."""
    params, x, _, y = tiny_problem(seed, gain=1.5)
    s0 = random_state(seed + 1, x)
    grads, lam0, _ = tbp_gradient(params, s0, y, iterations, mode)
    _, tape = unroll(params, s0, iterations, mode)
    rng = np.random.default_rng(seed)
    eps = 1e-6

    def loss(theta, s):
        s_T, tape_e = unroll(theta, s, iterations, mode)
        assume(same_structure(tape, tape_e))
        return cost(s_T[OUTPUT], y).mean()

    for name in params:
        d = rng.standard_normal(params[name].shape)
        f = [loss({**params, name: params[name] + sign * eps * d}, s0) for sign in (1, -1)]
        fd = (f[0] - f[1]) / (2 * eps)
        np.testing.assert_allclose(np.vdot(grads[name], d), fd, rtol=1e-6, atol=1e-9,
                                   err_msg=f"∂L/∂{name}")
    v = rand_like(rng, s0)
    f = [loss(params, [x] + [a + sign * eps * b for a, b in zip(s0[1:], v[1:])])
         for sign in (1, -1)]
    directional = sum(np.vdot(lam0[j], v[j]) for j in range(1, 6) if lam0[j] is not None)
    np.testing.assert_allclose(directional, (f[0] - f[1]) / (2 * eps), rtol=1e-6, atol=1e-9,
                               err_msg="∂L/∂s_0")


def test_tbp_memory_per_iteration():
    """The tape grows by a fixed amount per iteration: every free layer's new state (float),
    one byte per hidden unit (clamp mask) and one per unit of s2, s3, s4 (arg-max of conv
    2..4; conv 1's is reused from the free phase)."""
    params, x, _, _ = tiny_problem(0)
    free = free_phase(params, TINY, x, 5)
    exclude = list(free.s) + [d[1] for d in free.drives if d is not None]
    size = [tape_nbytes(unroll(params, free.s, t, "async", free.drives)[1], exclude)
            for t in (1, 2, 3, 4)]
    B = x.shape[-1]
    units = [int(np.prod(TINY.state_shape(k, B))) for k in range(1, 6)]
    per_iteration = 8 * sum(units) + sum(units[:4]) + sum(units[1:4])
    assert np.diff(size).tolist() == [per_iteration] * 3
    assert size[0] <= per_iteration


# --------------------------------------------------------------------------- RBP


def batch_axis(j):
    return 0 if j == OUTPUT else -1


def jacobian(params, rec):
    """∂F/∂s (n × n) of a one-example step, all n columns in one JVP: the record is tiled n
    times along the batch axis and example i of the tangent is the i-th unit vector."""
    s = rec.s
    shapes = [s[j].shape for j in range(1, 6)]
    sizes = [int(np.prod(sh)) for sh in shapes]
    n = sum(sizes)

    def tile(a, j):
        return None if a is None else np.repeat(a, n, axis=batch_axis(j))
    big = replace(rec, s=[tile(a, j) for j, a in enumerate(s)], s_new=None,
                  idx=[tile(a, j) for j, a in enumerate(rec.idx)],
                  active={k: tile(m, k) for k, m in rec.active.items()})
    eye = np.split(np.eye(n), np.cumsum(sizes)[:-1], axis=1)  # blocks (n, size_j)
    v = [None] + [e if j == OUTPUT else np.moveaxis(e.reshape((n,) + sh[:-1]), 0, -1)
                  for j, (e, sh) in enumerate(zip(eye, shapes), start=1)]
    zero = {k: np.zeros_like(p) for k, p in params.items()}
    out = half_step_jvp(params, big, v, zero)
    cols = [out[j] if j == OUTPUT else np.moveaxis(out[j], -1, 0).reshape(n, -1)
            for j in range(1, 6)]
    return np.concatenate(cols, axis=1).T, sizes


def implicit_gradient(params, s_star, y):
    """(∂F/∂θ)ᵀ (I − ∂F/∂s)^{−ᵀ} ∂L/∂s at a one-example s*, solving the linear system."""
    rec = record(params, s_star, groups("sync")[0])
    jac, sizes = jacobian(params, rec)
    n = jac.shape[0]
    dl_ds = np.zeros(n)
    dl_ds[-sizes[-1]:] = loss_cotangent(s_star[OUTPUT], y).ravel()
    lam = np.split(np.linalg.solve((np.eye(n) - jac).T, dl_ds), np.cumsum(sizes)[:-1])
    lam = [None] + [u.reshape(s_star[j].shape) for j, u in enumerate(lam, start=1)]
    grads = zero_grads(params)
    half_step_vjp(params, rec, lam, grads, states=False)
    return grads, jac


def neumann_terms(jac, tol=1e-13, max_doublings=11):
    """The smallest power of two T with ‖J^T‖_F < tol (then the series tail is negligible),
    by repeated squaring; None if above 2^max_doublings (spectral radius too close to 1)."""
    power = jac
    for m in range(max_doublings + 1):
        if np.linalg.norm(power) < tol:
            return 2**m
        power = power @ power
    return None


def test_batched_jacobian_matches_column_by_column_jvps():
    params, x, _, _ = tiny_problem(1, batch=1)
    s = random_state(1, x)
    rec = record(params, s, groups("sync")[0])
    jac, sizes = jacobian(params, rec)
    zero = {k: np.zeros_like(p) for k, p in params.items()}
    rng = np.random.default_rng(0)
    for i in rng.choice(jac.shape[0], 5, replace=False):
        e = np.split(np.eye(jac.shape[0])[i], np.cumsum(sizes)[:-1])
        v = [None] + [u.reshape(s[j].shape) for j, u in enumerate(e, start=1)]
        col = np.concatenate([t.ravel() for t in half_step_jvp(params, rec, v, zero)[1:]])
        np.testing.assert_array_equal(jac[:, i], col)


@given(seeds)
def test_rbp_and_tbp_with_large_T_equal_the_implicit_gradient(seed):
    """On a converged tiny net, RBP and TBP with large T equal the implicit-function gradient
    (linear system solved directly), which equals finite differences of the true loss C(o*(θ)).
    T is chosen from ∂F/∂s so that the series tail is negligible."""
    params, x, _, y = tiny_problem(seed, batch=1, gain=1.0)
    free = free_phase(params, TINY, x, **CONVERGED)
    g_imp, jac = implicit_gradient(params, free.s, y)
    terms = neumann_terms(jac)
    assume(terms is not None)  # the series converges iff the spectral radius is < 1
    ref = flat(g_imp)
    # async sweeps contract about like rho² (Gauss–Seidel vs Jacobi on a layered net)
    for name, g in (("rbp", rbp_gradient(params, free.s, y, terms)[0]),
                    ("tbp", tbp_gradient(params, free.s, y, terms // 2 + 20)[0])):
        np.testing.assert_allclose(flat(g), ref, rtol=1e-8, atol=1e-10 * np.abs(ref).max(),
                                   err_msg=name)
    rng = np.random.default_rng(seed)
    d = rand_params(rng, params)
    fd = fd_true_loss(params, x, y, free.s, d)
    np.testing.assert_allclose(np.vdot(ref, flat(d)), fd, rtol=1e-5, atol=1e-8)


def test_rbp_sums_the_neumann_series_term_by_term():
    """Applying (∂F/∂θ)ᵀ once to Σ_t λ_{t−1} equals the literal g_θ += (∂F/∂θ)ᵀ λ_{t−1}."""
    params, x, _, y = tiny_problem(3, gain=1.5)
    free = free_phase(params, TINY, x, 40)
    T = 7
    rec = record(params, free.s, groups("sync")[0])
    lam, literal = [None] * OUTPUT + [loss_cotangent(free.s[OUTPUT], y)], zero_grads(params)
    for _ in range(T):
        lam = half_step_vjp(params, rec, lam, literal)
    g = rbp_gradient(params, free.s, y, T)[0]
    np.testing.assert_allclose(flat(g), flat(literal), rtol=1e-12, atol=1e-15)
    one = rbp_gradient(params, free.s, y, 1)[0]  # T = 1: only the output's parameters
    assert all(not one[k].any() for k in one if k not in ("b5", "W5"))
    np.testing.assert_allclose(one["b5"], (free.s[OUTPUT] - y).mean(axis=0), rtol=1e-14)


@given(seeds)
def test_ep_approaches_rbp_with_the_orders_of_theorems_2_and_3(seed):
    """‖g_EP(β) − g_RBP‖ halves (P-, N-EP) or quarters (C-EP) when β halves. Examples whose
    nudged states change an arg-max or a saturation are discarded (the map is not smooth)."""
    betas = (0.02, 0.01, 0.005)
    ph, _ = smooth_converged_phases(seed, betas[0])
    ref = flat(rbp_gradient(ph.params, ph.free.s, ph.y, 500)[0])
    for rule, order in (("p-ep", 1), ("n-ep", 1), ("c-ep", 2)):
        errors = [np.linalg.norm(flat(RULES[rule](ph, b)) - ref) for b in betas]
        ratios = [errors[i] / errors[i + 1] for i in range(len(betas) - 1)]
        for r in ratios:
            assert 0.8 * 2**order < r < 1.25 * 2**order, (
                f"{rule}: error ratios {ratios} when β halves, expected ≈ {2**order}")


# --------------------------------------------------------------------------- refusals, sign


def test_derivatives_of_a_nudged_output_update_are_refused():
    """The VJP and JVP are of the free half-step: a record whose output update was nudged is
    refused; one that left the output alone (clamped phases) is accepted."""
    params, x, _, y = tiny_problem(0)
    s = random_state(0, x)
    nudged = record(params, s, (1, 3, 5), beta=0.2, y=y)
    lam = [None] * OUTPUT + [np.ones_like(s[OUTPUT])]
    with pytest.raises(ValueError, match="nudged"):
        half_step_vjp(params, nudged, lam)
    with pytest.raises(ValueError, match="nudged"):
        half_step_jvp(params, nudged, [None] * 6, zero_grads(params))
    hidden_only = record(params, s, (2, 4), beta=0.2, y=y)
    assert half_step_vjp(params, hidden_only, lam)[OUTPUT] is lam[OUTPUT]


def test_a_small_tbp_step_lowers_the_unrolled_loss():
    """Sign convention: θ ← θ − η g with g from TBP lowers L of the same unrolled map."""
    params, x, _, y = tiny_problem(4, gain=1.5)
    free = free_phase(params, TINY, x, 30)

    def loss(theta):
        return cost(unroll(theta, free.s, 5)[0][OUTPUT], y).mean()

    g = tbp(Phases(params, y, free, 5))
    assert loss({k: params[k] - 1e-3 * g[k] for k in params}) < loss(params)

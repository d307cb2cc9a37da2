"""The seven rules against the paper's claims: CpL(β=1) ≡ CL, centred = mean of one-sided,
the orders of Theorems 2–3 against finite differences of the true loss, the sandwich (11),
the sign convention, determinism."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebl_ref.minimize import initial_state
from ebl_ref.network import cost, total_energy
from ebl_ref.rules import RULES, Phases, contrast, estimate_gradient, free_phase, get_rule
from helpers import CONVERGED, TINY, fd_true_loss, smooth_converged_phases, tiny_problem

seeds = st.integers(0, 2**32 - 1)


def phases(seed, gain=1.5, iterations=20, tol=None):
    params, x, _, y = tiny_problem(seed, gain=gain)
    free = free_phase(params, TINY, x, 5000 if tol else 30, tol=tol)
    return Phases(params, y, free, iterations, tol=tol)


def assert_grads_equal(a, b, exact=True, msg=""):
    assert a.keys() == b.keys()
    for name in a:
        if exact:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{msg} {name}")
        else:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{msg} {name}")


@given(seeds)
def test_cpl_with_beta_one_is_cl(seed):
    """Paper §2.3: "for β = 1, CpL boils down to CL" — bit for bit."""
    ph = phases(seed)
    assert_grads_equal(RULES["p-cpl"](ph, 1.0), RULES["cl"](ph), msg="P-CpL(β=1) vs CL")


@given(seeds, st.floats(0.01, 0.9))
def test_centred_rules_are_the_mean_of_one_sided_rules(seed, beta):
    """(6) = ½[(5) with +β + (5) with −β], and (9) likewise, from the same free state."""
    ph = phases(seed)
    for centred, pos, neg in (("c-ep", "p-ep", "n-ep"), ("c-cpl", "p-cpl", "n-cpl")):
        g_p, g_n = RULES[pos](ph, beta), RULES[neg](ph, beta)
        mean = {k: (g_p[k] + g_n[k]) / 2 for k in g_p}
        assert_grads_equal(RULES[centred](ph, beta), mean, exact=False, msg=centred)


def true_loss(params, x, y):
    """C(o*(θ, x), y), batch mean, at a converged free state."""
    return cost(free_phase(params, TINY, x, **CONVERGED).s[5], y).mean()


@given(seeds)
def test_ep_bias_orders_against_finite_differences(seed):
    """Theorems 2–3: the P-/N-EP error is O(β) (halves with β), the C-EP error O(β²)
    (quarters with β), measured against central differences of the true loss along random
    directions. Theory needs a smooth equilibrium map: examples whose nudged or perturbed
    states change an arg-max or a saturation are discarded (assume)."""
    betas = (0.02, 0.01, 0.005)
    ph, x = smooth_converged_phases(seed, betas[0])
    params, y, free = ph.params, ph.y, ph.free
    rng = np.random.default_rng(seed)
    directions = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(3)]
    fd = np.array([fd_true_loss(params, x, y, free.s, d) for d in directions])

    def error(rule, beta):
        g = RULES[rule](ph, beta)
        estimate = np.array([sum(np.vdot(g[k], d[k]) for k in g) for d in directions])
        return np.linalg.norm(estimate - fd)

    for rule, order in (("p-ep", 1), ("n-ep", 1), ("c-ep", 2)):
        errors = [error(rule, b) for b in betas]
        ratios = [errors[i] / errors[i + 1] for i in range(len(betas) - 1)]
        for r in ratios:
            assert 0.8 * 2**order < r < 1.25 * 2**order, (
                f"{rule}: error ratios {ratios} when β halves, expected ≈ {2**order}; "
                f"errors {errors}")


@given(seeds, st.floats(0.02, 0.9))
def test_sandwich_of_eq_11(seed, beta):
    """L_β ≤ C(o*, y) ≤ L_−β for β > 0, L_β = [min(F + βC) − min F]/β, per example."""
    ph = phases(seed, iterations=200, tol=1e-13)
    f_star = total_energy(ph.params, ph.free.s)
    c_star = cost(ph.free.s[5], ph.y)

    def surrogate(b):
        s = ph.nudged(b).s
        return (total_energy(ph.params, s) + b * cost(s[5], ph.y) - f_star) / b

    slack = 1e-9 * (1 + np.abs(f_star)) / beta
    assert np.all(surrogate(beta) <= c_star + slack), "L_β > C(o*): lower bound broken"
    assert np.all(c_star <= surrogate(-beta) + slack), "L_−β < C(o*): upper bound broken"


def test_zero_term_free_is_s_star_and_relaxed_is_one_more_phase():
    """zero_term="free" contrasts with s* itself (eqs. 3, 5, 8); "relaxed" with s* relaxed as
    long as the other phase (at β = 0, or with o clamped at o*), as the reference code does."""
    ph = phases(5)
    literal = Phases(ph.params, ph.y, ph.free, ph.iterations, zero_term="free")
    assert_grads_equal(RULES["p-ep"](literal, 0.2),
                       contrast(literal, ph.free, 0.0, ph.nudged(0.2), 0.2), msg="free P-EP")
    assert_grads_equal(RULES["n-cpl"](ph, 0.2),
                       contrast(ph, ph.coupled(-0.2), -0.2, ph.clamped(ph.free.s[5]), 0.0),
                       msg="relaxed N-CpL")
    assert_grads_equal(RULES["n-ep"](ph, 0.2),
                       contrast(ph, ph.nudged(-0.2), -0.2, ph.nudged(0.0), 0.0), msg="relaxed N-EP")
    with pytest.raises(ValueError, match="zero_term"):
        Phases(ph.params, ph.y, ph.free, zero_term="exact")


@given(seeds)
def test_zero_terms_agree_at_a_converged_free_state(seed):
    ph = phases(seed, iterations=200, tol=1e-14)
    literal = Phases(ph.params, ph.y, ph.free, ph.iterations, tol=ph.tol, zero_term="free")
    for rule in ("cl", "p-ep", "n-ep", "p-cpl", "n-cpl"):
        a, b = RULES[rule](ph, 0.1), RULES[rule](literal, 0.1)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-7, atol=1e-9, err_msg=f"{rule} {k}")


@pytest.mark.parametrize("rule", ["c-ep", "n-ep", "c-cpl"])
def test_sign_convention_step_lowers_the_loss(rule):
    """θ ← θ − η g with a small η lowers the batch loss C(o*): g estimates +∂L/∂θ."""
    params, x, _, y = tiny_problem(4, gain=1.5)
    before = true_loss(params, x, y)
    g, _ = estimate_gradient(rule, params, TINY, x, y, beta=0.05, free_iters=300,
                             train_iters=300)
    after = true_loss({k: params[k] - 1e-3 * g[k] for k in params}, x, y)
    assert after < before, f"{rule}: loss went from {before} to {after}"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_same_seed_gives_bitwise_identical_gradients(rule):
    runs = []
    for _ in range(2):
        params, x, _, y = tiny_problem(11)
        runs.append(estimate_gradient(rule, params, TINY, x, y, beta=0.25, free_iters=12,
                                      train_iters=6)[0])
    assert_grads_equal(*runs, msg=rule)


def test_rules_table_and_errors():
    assert sorted(RULES) == sorted(["cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl"])
    with pytest.raises(ValueError, match="choose one of"):
        get_rule("ep")
    params, x, _, y = tiny_problem(0)
    with pytest.raises(ValueError, match="beta"):
        estimate_gradient("c-ep", params, TINY, x, y, beta=0.0)


def test_estimate_gradient_returns_free_state_and_grads_of_every_parameter():
    params, x, _, y = tiny_problem(2)
    g, free = estimate_gradient("c-ep", params, TINY, x, y, free_iters=5, train_iters=3)
    assert g.keys() == params.keys()
    assert all(g[k].shape == params[k].shape for k in params)
    assert free.iterations == 5 and free.s[5].shape == (2, TINY.n_classes)
    assert initial_state(TINY, x)[5].shape == free.s[5].shape

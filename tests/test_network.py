"""The DCHN: energy against a loop-built oracle, ∂E/∂s and ∂E/∂θ against finite differences,
initialisation as the reference, FLOP count."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import naive_ops as naive
from ebl_ref.network import (DCHN, OUTPUT, PARAM_NAMES, all_drives, energy, init_params,
                             param_grads, preactivation, total_energy)
from helpers import TINY, random_state, tiny_problem

seeds = st.integers(0, 2**32 - 1)


def naive_energy(params, s):
    """E per example from the loop oracles (docs/DEVIATIONS.md §1)."""
    o = s[OUTPUT]
    e = -(params["b5"] * o).sum(1) - (naive.dense(s[4], params["W5"]) * o).sum(1)
    for k in (1, 2, 3, 4):
        p, _ = naive.maxpool2x2(naive.conv2d(s[k - 1], params[f"W{k}"], 1))
        e -= ((params[f"b{k}"][:, None, None, None] + p) * s[k]).sum(axis=(0, 1, 2))
    return e


def same_argmax(params, s, params_b, *states):
    """True if no pooling arg-max differs between ``s`` and ``states`` (under ``params_b``):
    E is then bilinear along the segment and central differences are exact."""
    ref = [d[1] for d in all_drives(params, s)[1:]]
    return all(np.array_equal(u, d[1]) for st_ in states
               for u, d in zip(ref, all_drives(params_b, st_)[1:]))


def test_energy_matches_loop_oracle():
    params, x, _, _ = tiny_problem(0)
    s = random_state(1, x)
    np.testing.assert_allclose(energy(params, s), naive_energy(params, s), rtol=1e-12)


@given(seeds, st.sampled_from([1, 2, 3, 4, 5]))
def test_state_gradient_finite_differences(seed, k):
    """−a_k = ∂(Σ_b E)/∂s_k, checked along a random direction (E is piecewise bilinear, so
    central differences are exact away from pooling switches)."""
    params, x, _, _ = tiny_problem(seed)
    s = random_state(seed + 1, x)
    a = preactivation(params, s, all_drives(params, s), k)
    d = np.random.default_rng(seed + 2).standard_normal(s[k].shape)
    eps = 1e-5
    shifted = lambda t: [v + t * d if i == k else v for i, v in enumerate(s)]  # noqa: E731
    assume(same_argmax(params, s, params, shifted(eps), shifted(-eps)))
    fd = (energy(params, shifted(eps)).sum() - energy(params, shifted(-eps)).sum()) / (2 * eps)
    np.testing.assert_allclose(-np.vdot(a, d), fd, rtol=1e-6, atol=1e-8,
                               err_msg=f"∂E/∂s_{k}")


@given(seeds, st.sampled_from(PARAM_NAMES))
def test_param_gradient_finite_differences(seed, name):
    """∂E/∂θ (batch mean) along a random direction in one parameter."""
    params, x, _, _ = tiny_problem(seed)
    s = random_state(seed + 1, x)
    g = param_grads(params, s)[name]
    d = np.random.default_rng(seed + 2).standard_normal(params[name].shape)
    eps = 1e-5
    shifted = lambda t: {**params, name: params[name] + t * d}  # noqa: E731
    assume(same_argmax(params, s, shifted(eps), s) and same_argmax(params, s, shifted(-eps), s))
    fd = (energy(shifted(eps), s).mean() - energy(shifted(-eps), s).mean()) / (2 * eps)
    np.testing.assert_allclose(np.vdot(g, d), fd, rtol=1e-6, atol=1e-8, err_msg=f"∂E/∂{name}")


def test_total_energy_adds_self_energy_and_box():
    params, x, _, _ = tiny_problem(0)
    s = random_state(1, x)
    half_sq = sum((s[k] ** 2).sum(axis=(0, 1, 2)) for k in (1, 2, 3, 4)) / 2
    half_sq = half_sq + (s[OUTPUT] ** 2).sum(1) / 2
    np.testing.assert_allclose(total_energy(params, s), energy(params, s) + half_sq)
    s[2] = s[2] + 1.0  # leaves the box [0, 1]
    assert np.isinf(total_energy(params, s)).all()


def test_init_matches_reference_bounds():
    """docs/DEVIATIONS.md §3: W bound g/√fan_in, b bound 0.5/√fan_in (C0 = 3, gain 0.5)."""
    net = DCHN()
    params = init_params(net, np.random.default_rng(0))
    bounds = {"W1": 0.096225, "W2": 0.014731, "W3": 0.010417, "W4": 0.0073657, "W5": 0.011049,
              "b1": 0.096225, "b2": 0.014731, "b3": 0.010417, "b4": 0.0073657, "b5": 0.011049}
    assert list(params) == list(PARAM_NAMES)
    for name, bound in bounds.items():
        m = np.abs(params[name]).max()
        assert m <= bound * 1.0001, f"{name}: max |θ| = {m} exceeds the bound {bound}"
        if params[name].size > 1000:  # enough draws to come close to the bound
            assert m > 0.99 * bound, f"{name}: max |θ| = {m}, far below the bound {bound}"
    assert sum(p.size for p in params.values()) == 3_859_210


def test_bias_scale_ignores_gains():
    a = init_params(TINY, np.random.default_rng(3), gains=(0.5,) * 5)
    b = init_params(TINY, np.random.default_rng(3), gains=(2.0,) * 5)
    np.testing.assert_array_equal(a["b3"], b["b3"])
    np.testing.assert_allclose(b["W3"], 4 * a["W3"])


def test_flop_count_matches_reference():
    """docs/DEVIATIONS.md §6: minimum work 0.7551 GFLOP per example per iteration (C0=3, M=10)."""
    assert DCHN().flops_per_iteration() == 2 * 377_528_320


@pytest.mark.parametrize("kwargs", [dict(widths=(1, 2, 3)), dict(image_size=20),
                                    dict(widths=(0, 1, 1, 1))])
def test_bad_architecture_is_refused(kwargs):
    with pytest.raises(ValueError):
        DCHN(**kwargs)

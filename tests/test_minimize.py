"""The minimiser: descent of F after every asynchronous half-step (free, nudged, clamped), the
exact output update, the pooled-drive cache against a cache-free relaxation, the work count,
the records the loop hands to ``observe``."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebl_ref import network
from ebl_ref.convolution import conv_path
from ebl_ref.minimize import (clamp_mask, free_phase, groups, half_step, relax, update_layer,
                              zero_drives, zero_state)
from ebl_ref.network import HIDDEN, OUTPUT, all_drives, cost, preactivation, total_energy
from helpers import TINY, tiny_problem

seeds = st.integers(0, 2**32 - 1)
gains = st.floats(0.5, 3.0)
TOL = 1e-10  # float64 round-off allowance on F, relative


def objective(params, s, beta, y):
    """F + βC per example (β = 0: the free objective)."""
    return total_energy(params, s) + beta * cost(s[OUTPUT], y)


def assert_descends(params, s, schedule, beta, y, steps=12):
    drives = [None] * 5
    f = objective(params, s, beta, y)
    for t in range(steps):
        for group in schedule:
            s, drives = half_step(params, s, drives, group, beta, y)
            f_new = objective(params, s, beta, y)
            assert np.all(f_new <= f + TOL * np.abs(f) + TOL), (
                f"F increased at iteration {t}, group {group}: {f} -> {f_new}")
            f = f_new
    return s


@given(seeds, gains)
def test_free_phase_descends_every_half_step(seed, gain):
    params, x, _, y = tiny_problem(seed, gain=gain)
    assert_descends(params, zero_state(TINY, x), groups("async"), 0.0, y)


@given(seeds, gains, st.floats(-0.95, 0.95).filter(lambda b: abs(b) > 1e-3))
def test_nudged_phase_descends_every_half_step(seed, gain, beta):
    """EP second phase (eq. 4): F + βC non-increasing for |β| < 1, from the free state."""
    params, x, _, y = tiny_problem(seed, gain=gain)
    s_free = relax(params, zero_state(TINY, x), 10).s
    assert_descends(params, s_free, groups("async"), beta, y)


@given(seeds, gains, st.floats(-1.0, 1.0))
def test_clamped_phase_descends_every_half_step(seed, gain, beta):
    """CL/CpL second phase (eqs. 2, 7): hidden layers relax with o clamped to (1−β)o* + βy."""
    params, x, _, y = tiny_problem(seed, gain=gain)
    s = relax(params, zero_state(TINY, x), 10).s
    s[OUTPUT] = (1 - beta) * s[OUTPUT] + beta * y
    o_clamped = s[OUTPUT].copy()
    s = assert_descends(params, s, groups("async", clamp_output=True), 0.0, y)
    np.testing.assert_array_equal(s[OUTPUT], o_clamped, err_msg="the clamped output moved")


def test_synchronous_mode_need_not_descend():
    """Documented: a Jacobi sweep updates neighbouring layers together, so F can go up."""
    params, x, _, y = tiny_problem(1, gain=4.0)
    s, drives = zero_state(TINY, x), [None] * 5
    f = [total_energy(params, s).sum()]
    for _ in range(20):
        s, drives = half_step(params, s, drives, groups("sync")[0])
        f.append(total_energy(params, s).sum())
    assert np.diff(f).max() > 1e-3


@given(seeds, st.floats(-0.9, 3.0).filter(lambda b: abs(b) > 1e-3))
def test_output_update_is_exact_block_minimiser(seed, beta):
    """o ← (a5 + βy)/(1 + β) zeroes ∂(F + βC)/∂o = o − a5 + β(o − y)."""
    params, x, _, y = tiny_problem(seed)
    s = relax(params, zero_state(TINY, x), 3).s
    a5 = preactivation(params, s, all_drives(params, s), OUTPUT)
    o = update_layer(OUTPUT, a5, beta, y)
    np.testing.assert_allclose(o - a5 + beta * (o - y), 0.0, atol=1e-12)


def relax_without_cache(params, s, iterations, schedule, beta=0.0, y=None):
    """The same schedule, recomputing every pooled drive at every half-step."""
    for _ in range(iterations):
        for group in schedule:
            d = all_drives(params, s)
            a = {k: preactivation(params, s, d, k) for k in group}
            s = [update_layer(k, a[k], beta, y) if k in group else v for k, v in enumerate(s)]
    return s


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("beta", [0.0, 0.3, -0.3])
def test_cached_drives_give_the_same_relaxation(mode, beta):
    params, x, _, y = tiny_problem(7, gain=1.5)
    s0 = zero_state(TINY, x)
    eq = relax(params, s0, 9, beta=beta, y=y, mode=mode)
    ref = relax_without_cache(params, s0, 9, groups(mode), beta, y)
    for k in range(1, 6):
        np.testing.assert_array_equal(eq.s[k], ref[k], err_msg=f"layer {k}")
    fresh = all_drives(params, eq.s)
    for k in range(1, 5):
        if eq.drives[k] is not None:  # a cached drive must be valid at the final state
            np.testing.assert_array_equal(eq.drives[k][0], fresh[k][0])
            np.testing.assert_array_equal(eq.drives[k][1], fresh[k][1])


def test_work_discipline(monkeypatch):
    """3 convolutions and 3 transposed convolutions per iteration; conv1(x) once per batch."""
    calls = {"conv": 0, "transpose": 0}

    def counting(fn, key):
        def wrapped(*args, **kwargs):
            calls[key] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(network, "pooled_conv", counting(network.pooled_conv, "conv"))
    monkeypatch.setattr(network, "feedback", counting(network.feedback, "transpose"))
    params, x, _, y = tiny_problem(0)
    n = 10
    free = relax(params, zero_state(TINY, x), n)
    # iteration 1 also pools conv1..conv4 at the zero state: 3 extra convs in all
    assert calls == {"conv": 3 * n + 3, "transpose": 3 * n}, calls
    calls.update(conv=0, transpose=0)
    relax(params, free.s, n, beta=0.5, y=y, drives=free.drives)  # a nudged phase reuses conv1
    assert calls == {"conv": 3 * n, "transpose": 3 * n}, calls
    calls.update(conv=0, transpose=0)
    free_phase(params, TINY, x, n)  # knows the zero state's drives: iteration 1 pools conv1
    assert calls == {"conv": 3 * n, "transpose": 3 * n}, calls  # instead of conv3(s2 = 0)


@pytest.mark.parametrize("path", ["winograd", "im2col"])
def test_zero_drives_are_the_drives_of_the_zero_state(path):
    params, x, _, _ = tiny_problem(7)
    s0 = zero_state(TINY, x)
    with conv_path(path):
        computed = all_drives(params, s0)
    known = zero_drives(s0)
    assert known[0] is None and known[1] is None
    for k in (2, 3, 4):
        np.testing.assert_array_equal(known[k][0], computed[k][0])
        np.testing.assert_array_equal(known[k][1], computed[k][1])
        assert known[k][1].dtype == computed[k][1].dtype == np.int8


def test_tolerance_stops_early_and_reports_residual():
    params, x, _, _ = tiny_problem(3)
    eq = relax(params, zero_state(TINY, x), 1000, tol=1e-12)
    assert eq.iterations < 1000 and eq.residual <= 1e-12
    again = relax(params, eq.s, 1, drives=eq.drives)
    assert again.residual <= 1e-11, "a converged state should be a fixed point"
    assert np.isfinite(relax(params, zero_state(TINY, x), 5).residual)


@pytest.mark.parametrize("kwargs, message", [
    (dict(iterations=0), "iterations"),
    (dict(beta=0.5), "target y"),
    (dict(beta=-1.0, y=np.zeros((2, 3))), "beta"),
    (dict(mode="gauss"), "mode"),
])
def test_bad_arguments_are_refused(kwargs, message):
    params, x, _, _ = tiny_problem(0)
    kwargs = {"iterations": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        relax(params, zero_state(TINY, x), **kwargs)


def test_free_phase_relaxes_from_the_zero_state():
    params, x, _, _ = tiny_problem(6)
    s0 = zero_state(TINY, x)
    assert s0[0] is x and all(not s0[k].any() for k in range(1, 6))
    assert [s0[k].shape for k in range(1, 6)] == [TINY.state_shape(k, 2) for k in range(1, 6)]
    free, ref = free_phase(params, TINY, x, 7), relax(params, s0, 7)
    for k in range(1, 6):
        np.testing.assert_array_equal(free.s[k], ref.s[k])


@pytest.mark.parametrize("mode, clamp", [("async", False), ("sync", False), ("async", True)])
def test_observe_sees_every_half_step_and_changes_nothing(mode, clamp):
    """One record per half-step, chained (each starts where the previous ended, the last ends
    at the equilibrium); its arg-maxes and clamp masks are those of the state it started from;
    the relaxation is bit for bit the unobserved one."""
    params, x, _, y = tiny_problem(8, gain=1.5)
    s0, beta = zero_state(TINY, x), 0.0 if clamp else 0.3
    records = []
    eq = relax(params, s0, 4, beta=beta, y=y, mode=mode, clamp_output=clamp,
               observe=records.append)
    plain = relax(params, s0, 4, beta=beta, y=y, mode=mode, clamp_output=clamp)
    schedule = groups(mode, clamp)
    assert [r.group for r in records] == list(schedule) * 4
    for k in range(1, 6):
        np.testing.assert_array_equal(eq.s[k], plain.s[k])
        assert records[-1].s_new[k] is eq.s[k]
    for before, after in zip(records, records[1:]):
        assert all(u is v for u, v in zip(before.s_new, after.s))
    for rec in records:
        assert rec.beta == beta
        fresh = all_drives(params, rec.s)
        for k in range(1, 5):
            reads = k in rec.group or k - 1 in rec.group
            assert (rec.idx[k] is not None) == reads, (rec.group, k)
            if reads:
                np.testing.assert_array_equal(rec.idx[k], fresh[k][1])
        assert sorted(rec.active) == [k for k in rec.group if k in HIDDEN]
        for k, mask in rec.active.items():
            a = preactivation(params, rec.s, fresh, k)
            np.testing.assert_array_equal(mask, (a >= 0) & (a <= 1))
            np.testing.assert_array_equal(rec.s_new[k], np.clip(a, 0, 1))


def test_clamp_mask_includes_both_edges():
    a = np.array([-1e-300, 0.0, 0.5, 1.0, 1.0 + 1e-15])
    assert clamp_mask(a).tolist() == [False, True, True, True, False]

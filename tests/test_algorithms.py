"""The table of the nine algorithms and the per-batch driver: names, the adapted baselines,
what estimate_gradient returns, its refusals."""
import numpy as np
import pytest

from ebl_ref.algorithms import (ALGORITHMS, BASELINES, estimate_gradient, get_rule, rbp, tbp)
from ebl_ref.backprop import rbp_gradient, tbp_gradient
from ebl_ref.minimize import free_phase, zero_state
from ebl_ref.network import OUTPUT
from ebl_ref.rules import RULES, Phases
from helpers import TINY, tiny_problem


def test_the_table_holds_the_seven_rules_and_the_two_baselines():
    assert list(ALGORITHMS) == ["cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl",
                                "tbp", "rbp"]
    assert all(ALGORITHMS[name] is RULES[name] for name in RULES)
    assert get_rule("tbp") is tbp and get_rule("rbp") is rbp and set(BASELINES) == {"tbp", "rbp"}
    with pytest.raises(ValueError, match="choose one of cl, p-ep"):
        get_rule("bptt")


def test_baselines_are_the_backprop_gradients_at_the_free_state():
    params, x, _, y = tiny_problem(5)
    for name, direct in (("tbp", lambda f: tbp_gradient(params, f.s, y, 4, "async", f.drives)),
                         ("rbp", lambda f: rbp_gradient(params, f.s, y, 4, f.drives))):
        g, free = estimate_gradient(name, params, TINY, x, y, free_iters=10, train_iters=4)
        assert g.keys() == params.keys()
        assert all(g[k].shape == params[k].shape for k in params)
        for k in params:
            np.testing.assert_array_equal(g[k], direct(free)[0][k], err_msg=f"{name} {k}")
            np.testing.assert_array_equal(g[k], get_rule(name)(Phases(params, y, free, 4))[k])


def test_estimate_gradient_returns_free_state_and_grads_of_every_parameter():
    params, x, _, y = tiny_problem(2)
    g, free = estimate_gradient("c-ep", params, TINY, x, y, free_iters=5, train_iters=3)
    assert g.keys() == params.keys()
    assert all(g[k].shape == params[k].shape for k in params)
    assert free.iterations == 5 and free.s[OUTPUT].shape == (2, TINY.n_classes)
    assert zero_state(TINY, x)[OUTPUT].shape == free.s[OUTPUT].shape
    again, same = estimate_gradient("c-ep", params, TINY, x, y, train_iters=3, free=free)
    assert same is free
    for k in g:
        np.testing.assert_array_equal(again[k], g[k])
    relaxed = free_phase(params, TINY, x, 5)
    np.testing.assert_array_equal(relaxed.s[OUTPUT], free.s[OUTPUT])


@pytest.mark.parametrize("kwargs, message", [
    (dict(rule="ep"), "choose one of"),
    (dict(beta=0.0), "beta"),
    (dict(beta=-0.1), "beta"),
    (dict(zero_term="exact"), "zero_term"),
])
def test_bad_arguments_are_refused(kwargs, message):
    params, x, _, y = tiny_problem(0)
    kwargs = {"rule": "c-ep", **kwargs}
    with pytest.raises(ValueError, match=message):
        estimate_gradient(kwargs.pop("rule"), params, TINY, x, y, free_iters=2, train_iters=2,
                          **kwargs)

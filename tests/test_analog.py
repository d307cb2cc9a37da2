"""Analog non-idealities (ebl_ref.analog): each model against its formula, and the hooks.

Off ≡ exact: a machine whose every model is off changes no bit of any rule's gradient. The
quantiser lies on its grid and is idempotent; noise has the mean and variance specified
(fixed seeds; tolerances of 5 standard errors of the estimate); read-out noise on a rule's
contrast scales as 1/β; pulsed updates respect the bounds and the asymmetry; every rule runs
with every model on."""
import dataclasses

import numpy as np
import pytest
from helpers import TINY, tiny_problem

from ebl_ref.algorithms import ALGORITHMS, estimate_gradient
from ebl_ref.analog import IDEAL, PRESETS, AnalogConfig, AnalogConfigError, build, preset
from ebl_ref.analog import models
from ebl_ref.minimize import free_phase
from ebl_ref.rules import Phases

N = 200_000  # draws for the statistical checks: the standard error of a std estimate is
# σ/√(2N) ≈ 0.16% of σ, so rtol 1% is > 5 standard errors


def machine(seed=0, **settings):
    params, *_ = tiny_problem(seed)
    cfg = AnalogConfig(**settings)
    return build(cfg, TINY, (1.0,) * 5, seed, params).with_rng(np.random.default_rng(seed))


# --------------------------------------------------------------------------- models

@pytest.mark.parametrize("levels,lo,hi", [(2, -1, 1), (5, -1, 1), (16, -0.75, 1.25),
                                          (255, -1, 1)])
def test_quantizer_lies_on_its_grid_and_is_idempotent(levels, lo, hi):
    w = np.random.default_rng(1).uniform(-2, 2, 5000)
    q = models.quantize(w, levels, lo, hi)
    i = (q - lo) / ((hi - lo) / (levels - 1))
    np.testing.assert_allclose(i, np.rint(i), atol=1e-9, err_msg="off the grid")
    assert i.min() >= -1e-9 and i.max() <= levels - 1 + 1e-9, "outside [w_min, w_max]"
    np.testing.assert_array_equal(models.quantize(q, levels, lo, hi), q, err_msg="idempotent")
    inside = (w >= lo) & (w <= hi)
    assert np.abs(q - w)[inside].max() <= (hi - lo) / (levels - 1) / 2 + 1e-12, "not nearest"


def test_quantizer_off_and_one_level():
    w = np.arange(3.0)
    assert models.quantize(w, 0, -1, 1) is w
    with pytest.raises(ValueError, match="levels"):
        models.quantize(w, 1, -1, 1)


@pytest.mark.parametrize("model", ["program", "read_weights", "perturb", "read_out"])
def test_noise_has_mean_zero_and_the_specified_std(model):
    rng, sigma = np.random.default_rng(2), 0.05
    x = np.full(N, 0.3)
    out = {"program": lambda: models.program(x, rng, 0, -1, 1, sigma),
           "read_weights": lambda: models.read_weights(x, rng, 2.0, None, sigma / 2.0),
           "perturb": lambda: models.perturb(x, rng, sigma),
           "read_out": lambda: models.read_out(x, rng, 0.0, sigma, 1)}[model]()
    noise = out - x
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(N), f"{model}: biased"
    np.testing.assert_allclose(noise.std(), sigma, rtol=0.01, err_msg=model)


def test_repeated_reads_divide_the_variance():
    rng, sigma = np.random.default_rng(3), 0.1
    x = np.full(N, 0.5)
    for n in (1, 4, 16):
        std = (models.read_out(x, rng, 0.0, sigma, n) - x).std()
        np.testing.assert_allclose(std, sigma / np.sqrt(n), rtol=0.01, err_msg=f"{n} reads")


def test_adc_read_out_is_on_the_grid_and_unbiased_with_noise():
    rng = np.random.default_rng(4)
    s = rng.uniform(0, 1, 1000)
    q = models.read_out(s, rng, 1 / 16, 0.0, 1)
    np.testing.assert_allclose(q * 16, np.rint(q * 16), atol=1e-12)
    assert np.abs(q - s).max() <= 1 / 32 + 1e-12
    x = np.full(N, 0.4)  # noise much larger than the step dithers the ADC: unbiased mean
    assert abs(models.read_out(x, rng, 1 / 16, 0.2, 1).mean() - 0.4) < 5 * 0.2 / np.sqrt(N)


def test_pulsed_update_is_unbiased_and_respects_the_bounds():
    rng, dw_min = np.random.default_rng(5), 0.01
    w = np.zeros(N)
    dw = np.full(N, 0.0234)  # 2.34 steps: stochastic rounding gives 2 or 3 pulses
    out = models.pulsed_update(w, dw, rng, dw_min, dw_min, dw_min, 0.0, -1, 1)
    np.testing.assert_allclose(np.unique(out), [0.02, 0.03])
    assert abs(out.mean() - 0.0234) < 5 * 0.005 / np.sqrt(N)
    near = np.full(N, 0.995)
    big = models.pulsed_update(near, np.full(N, 0.5), rng, dw_min, dw_min, dw_min, 0.3, -1, 1)
    assert big.max() <= 1 and big.min() >= -1 and (big == 1).mean() > 0.99


def test_cycle_to_cycle_noise_grows_as_the_square_root_of_the_pulses():
    rng, dw_min, c2c = np.random.default_rng(6), 0.001, 0.3
    out = models.pulsed_update(np.zeros(N), np.full(N, 0.1), rng, dw_min, dw_min, dw_min, c2c,
                               -1, 1)  # exactly 100 pulses
    np.testing.assert_allclose(out.mean(), 0.1, rtol=1e-3)
    np.testing.assert_allclose(out.std(), dw_min * c2c * 10, rtol=0.01)


def test_up_down_asymmetry_makes_up_steps_larger():
    dev = machine(dw_min=0.01, up_down=0.2)
    params = {k: np.zeros(3) for k in dev.scales}
    up = dev.update(params, {k: np.full(3, 0.01 * dev.scales[k]) for k in params})
    down = dev.update(params, {k: np.full(3, -0.01 * dev.scales[k]) for k in params})
    for k in params:  # one pulse each way: +1.2 dw_min, −0.8 dw_min
        np.testing.assert_allclose(up[k] / dev.scales[k], 0.012)
        np.testing.assert_allclose(down[k] / dev.scales[k], -0.008)


def test_device_spreads_are_drawn_once_per_seed():
    a, b = machine(0, w_gain_dtod=0.1), machine(0, w_gain_dtod=0.1)
    for k in a.gain:
        np.testing.assert_array_equal(a.gain[k], b.gain[k])
    c = machine(1, w_gain_dtod=0.1)
    assert not np.array_equal(a.gain["W1"], c.gain["W1"])


# --------------------------------------------------------------------------- configuration

def test_presets_are_valid_and_cite_aihwkit_names():
    assert preset("ideal") == IDEAL and IDEAL.is_ideal
    for name in PRESETS:
        assert preset(name).is_ideal == (name == "ideal")
    assert preset("gokmen-vlasov").dw_min == 0.0016


@pytest.mark.parametrize("settings,message", [
    ({"out_noise": -0.1}, "--analog-out-noise must be"),
    ({"levels": 1}, "--analog-levels must be 0"),
    ({"up_down": 1.0}, "--analog-up-down must be"),
    ({"n_reads": 0}, "--analog-n-reads must be"),
])
def test_out_of_range_settings_are_one_line_errors(settings, message):
    with pytest.raises(AnalogConfigError, match=message):
        preset("ideal", **settings)


# --------------------------------------------------------------------------- hooks

ALL_ON = dict(levels=64, prog_noise=0.01, w_gain_dtod=0.05, w_noise=0.01, relax_noise=0.01,
              out_res=1 / 254, out_noise=0.01, n_reads=2)
PULSED = dict(dw_min=0.002, dw_min_dtod=0.3, dw_min_std=0.3, up_down=0.1)
MODELS = {"programming": dict(levels=16, prog_noise=0.02), "gain spread": dict(w_gain_dtod=0.1),
          "weight read": dict(w_noise=0.02), "relaxation": dict(relax_noise=0.02),
          "read-out": dict(out_res=1 / 62, out_noise=0.02, n_reads=3), "pulsed": PULSED}


@pytest.mark.parametrize("rule", list(ALGORITHMS))
def test_an_ideal_machine_changes_no_bit(rule):
    params, x, _, y = tiny_problem(0)
    ideal = build(IDEAL, TINY, (1.0,) * 5, 0, params).with_rng(np.random.default_rng(0))
    kw = dict(beta=0.2, free_iters=8, train_iters=4)
    g0, f0 = estimate_gradient(rule, params, TINY, x, y, **kw)
    g1, f1 = estimate_gradient(rule, ideal.stored(params), TINY, x, y, analog=ideal, **kw)
    for k in g0:
        np.testing.assert_array_equal(g0[k], g1[k], err_msg=k)
    for a, b in zip(f0.s, f1.s):
        np.testing.assert_array_equal(a, b)
    new = {k: params[k] - 0.1 * g0[k] for k in params}
    assert all(ideal.update(params, new)[k] is new[k] for k in new)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("rule", list(ALGORITHMS))
def test_every_rule_runs_with_every_model(rule, model):
    params, x, _, y = tiny_problem(0)
    dev = machine(0, **MODELS[model])
    stored = dev.stored(params)
    g, free = estimate_gradient(rule, stored, TINY, x, y, beta=0.2, free_iters=8,
                                train_iters=4, analog=dev)
    assert all(np.isfinite(v).all() for v in g.values()), f"{rule} with {model}"
    new = dev.update(stored, {k: stored[k] - 0.05 * g[k] for k in g})
    assert all(np.isfinite(v).all() and v.shape == params[k].shape for k, v in new.items())
    if dev.cfg.pulsed:
        for k, v in new.items():
            w = v / dev.scales[k]
            assert w.min() >= dev.cfg.w_min - 1e-12 and w.max() <= dev.cfg.w_max + 1e-12


def test_the_same_seed_gives_the_same_noisy_gradient():
    params, x, _, y = tiny_problem(0)
    out = []
    for _ in range(2):
        dev = machine(0, **ALL_ON)
        out.append(estimate_gradient("c-ep", dev.stored(params), TINY, x, y, beta=0.2,
                                     free_iters=8, train_iters=4, analog=dev)[0])
    for k in out[0]:
        np.testing.assert_array_equal(out[0][k], out[1][k])


def test_read_noise_on_the_contrast_scales_as_one_over_beta():
    """With only read-out noise, the rule's estimate minus the ideal one is the contrast of two
    independent read errors, std σ√2/(β_b − β_a) times that of one read of ∂E/∂b1: b1's entry
    is −Σ_{h,w} s1 averaged over the batch B, so σ√(HW/B) per read; for C-EP σ√2·√(HW/B)/(2β)."""
    params, x, _, y = tiny_problem(0, batch=4)
    free = free_phase(params, TINY, x, 10)
    ideal = Phases(params, y, free, 6)
    sigma, stds = 0.05, {}
    for beta in (0.4, 0.1, 0.025):
        g0 = ALGORITHMS["c-ep"](ideal, beta)["b1"]
        dev = machine(0, out_noise=sigma)
        ph = Phases(params, y, free, 6, analog=dev)
        ph._memo.update(ideal._memo)  # the same relaxed states: only the read differs
        err = np.stack([ALGORITHMS["c-ep"](ph, beta)["b1"] - g0 for _ in range(300)])
        stds[beta] = err.std()
        hw = TINY.state_shape(1, 1)[1] * TINY.state_shape(1, 1)[2]
        expected = sigma * np.sqrt(2) / (2 * beta) * np.sqrt(hw / 4)
        np.testing.assert_allclose(stds[beta], expected, rtol=0.1, err_msg=f"beta {beta}")
    np.testing.assert_allclose(stds[0.025] / stds[0.4], 16, rtol=0.1)


def test_weight_read_noise_is_one_draw_per_phase():
    params, *_ = tiny_problem(0)
    dev = machine(0, w_noise=0.05)
    a, b = dev.read(params), dev.read(params)
    assert not np.array_equal(a["W1"], b["W1"])  # a fresh draw for each phase
    noise = (a["W2"] - params["W2"]) / dev.scales["W2"]
    assert abs(noise.std() - 0.05) < 0.05 * 5 / np.sqrt(2 * noise.size)


def test_config_records_defaults_as_ideal():
    from ebl_ref.analog import from_config
    from ebl_ref.config import resolve
    assert from_config(resolve("quick")).is_ideal
    c = resolve("quick", analog="reram-gong", analog_out_noise=0.0)
    assert c.analog_dw_min == 0.002 and c.analog_out_noise == 0.0  # the flag wins
    assert dataclasses.asdict(from_config(c))["dw_min_std"] == 3.75


def test_hooks_keep_the_parameter_dtype():
    params, x, _, y = tiny_problem(0)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    dev = machine(0, **ALL_ON, **PULSED)
    for hook in (dev.stored, dev.read, lambda p: dev.update(p, p), lambda p: dev.initial(p, 0)):
        assert all(v.dtype == np.float32 for v in hook(params).values())

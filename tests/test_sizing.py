"""The sizing tool: the footprint counts pinned to hand-computed values at the paper's widths,
the quantisers' grids, the quantised relaxation's limit, update sizes, and one tiny run."""
import numpy as np
import pytest

from ebl_ref.minimize import relax, zero_state
from ebl_ref.network import DCHN, init_params
from ebl_ref.sizing import (DEFAULTS, footprint, measure, quantise_params, quantise_symmetric,
                            quantise_unit, relax_quantised, update_sizes)

PAPER = DCHN(3, (128, 256, 512, 512), 10, 32)


def test_footprint_at_the_paper_widths():
    f = footprint(PAPER, 60, 15)
    assert f["params"]["total"] == 3_859_210                      # docs/DEVIATIONS.md §3
    assert f["units"] == {"s0": 3072, "s1": 32768, "s2": 16384, "s3": 8192, "s4": 2048, "o": 10}
    it = f["per_iteration"]
    assert it["macs"] == 377_528_320 == PAPER.flops_per_iteration() // 2
    # conv inputs s1+s2+s3, transposed-conv inputs s2+s3+s4, dense s4 and o, updates 2*hidden+o
    assert it["values_read"] == 57_344 + 26_624 + 2_058 + 118_784 + 10
    # drives s2+s3+s4, feedbacks s1+s2+s3, a5 and the feedback into s4, the state
    assert it["values_written"] == 26_624 + 57_344 + 2_058 + 59_402
    assert it["route_codes_read"] == it["route_codes_written"] == 26_624
    assert it["weight_values_read_per_batch"] == 2 * (294_912 + 1_179_648 + 2_359_296 + 20_480)
    step = f["per_cep_step"]
    assert step["iterations"] == 90
    assert step["macs"] == 90 * 377_528_320 + 3_538_944 + 2 * (192_282_624 + 20_480)
    assert f["held_per_example"]["values"] == 3072 + 2 * 59_402 + 59_392


def test_quantisers_lie_on_their_grids_and_are_idempotent():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 1000)
    q = quantise_unit(a, 4)
    np.testing.assert_allclose(q * 15, np.round(q * 15), atol=1e-12)
    assert np.abs(q - a).max() <= 0.5 / 15 + 1e-12
    np.testing.assert_array_equal(quantise_unit(q, 4), q)
    w = rng.standard_normal(1000)
    qs = quantise_symmetric(w, 8, 2.0)
    assert np.abs(qs).max() <= 2.0 and len(np.unique(qs)) <= 255
    np.testing.assert_array_equal(quantise_symmetric(qs, 8, 2.0), qs)
    params = quantise_params({"W": w}, 3)
    assert set(np.round(params["W"] / (np.abs(w).max() / 3), 9)) <= {-3, -2, -1, 0, 1, 2, 3}


def test_many_bits_relaxation_is_the_plain_one():
    net = DCHN(1, (2, 3, 4, 4), 3, 16)
    rng = np.random.default_rng(1)
    params = init_params(net, rng, (1.0,) * 5)
    x = rng.standard_normal((1, 16, 16, 2))
    exact = relax(params, zero_state(net, x), 6)
    held = relax_quantised(params, zero_state(net, x), 6, bits=40)
    for k in range(1, 6):
        np.testing.assert_allclose(held.s[k], exact.s[k], atol=1e-9)


def test_update_sizes():
    before = {"W1": np.array([1.0, -2.0, 0.5, 4.0])}
    after = {"W1": before["W1"] - np.array([0.0, 4e-3, 4e-4, 4e-2])}
    out = update_sizes(before, after)["W1"]
    assert out["relative_update"]["max"] == pytest.approx(1e-2)
    assert out["bits_for_median_update"] == pytest.approx(1 + np.log2(1e3))
    # an 8-bit grid over ±4 has a step of 4/127: half of it is 0.0157 > 4e-3
    assert out["lost_below_half_step"]["8"] == 0.75


def test_measure_runs_on_the_embedded_sample():
    cfg = {**DEFAULTS, "widths": (2, 2, 2, 2), "free_iters": 3, "train_iters": 2,
           "probe_batch": 2, "train_examples": 4, "batch": 2, "eval_examples": 2, "bits": [4]}
    r = measure("fashion-mnist-sample", None, cfg, log=lambda m: None)
    for stage in ("init", "trained"):
        assert set(r[stage]["precision"]) == {"states", "readout", "weights"}
        assert 0 <= r[stage]["value_ranges"]["saturation_free"]["s1"]["at_0"] <= 1
    assert r["training"]["steps"] == 2


def test_tables_from_a_tiny_run(tmp_path):
    import json  # noqa: PLC0415

    from ebl_ref.sizing import main, write_tables  # noqa: PLC0415
    assert write_tables(tmp_path) == 2                       # no footprint.json yet
    assert main(["--datasets", "", "--out", str(tmp_path)]) == 0
    cfg = {**DEFAULTS, "widths": (2, 2, 2, 2), "free_iters": 2, "train_iters": 1,
           "probe_batch": 2, "train_examples": 2, "batch": 2, "eval_examples": 2, "bits": [4]}
    r = measure("fashion-mnist-sample", None, cfg, log=lambda m: None)
    (tmp_path / "sample.json").write_text(json.dumps(r))
    assert write_tables(tmp_path) == 0
    text = (tmp_path / "tables.md").read_text()
    assert "## sample" in text and "b-bit weights" in text and "| cifar10 | 3,859,210 |" in text

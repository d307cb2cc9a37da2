"""Equilibria: two schedules, two fixed points; a nudge that jumps to another basin, flagged by
gradcheck's detector and excluded by its breakdown; the subset tools the breakdown rests on.

Small seeded networks on the embedded sample (no real data): the seeds were chosen because
they show the mechanism, and the assertions check the mechanism, not just the numbers.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ebl_ref import cli, converge, gradcheck
from ebl_ref.backprop import rbp_gradient, rbp_subset_gradient
from ebl_ref.minimize import distance, free_phase, relax, take_examples
from ebl_ref.network import DCHN, init_params, one_hot
from ebl_ref.rules import RULES, Phases

CONVERGE_ARGS = ["--widths", "4,6,8,8", "--batch", "3", "--iters", "200", "--rbp-iters", "30",
                 "--betas", "0.25"]


@pytest.fixture(scope="module")
def two_schedules():
    return converge.run_converge(converge.parse_args(CONVERGE_ARGS))


def test_async_and_sync_reach_different_fixed_points_of_both_maps(two_schedules):
    r = two_schedules
    assert r["different"] == [0, 1, 2]                # every example: two equilibria
    assert min(r["apart"]) > 1e-2                     # far apart, not round-off
    for check, change in r["fixed_point_check"].items():
        assert max(change) < 1e-12, check             # each is a fixed point of both maps
    for m, s in r["schedules"].items():
        assert max(s["final_residual"]) <= 1e-13, m
    a, s = r["schedules"]["async"], r["schedules"]["sync"]
    assert all(ta < ts for ta, ts in zip(a["settles_at"], s["settles_at"]))  # async faster...
    fa, fs = np.array(r["F"]["async"]), np.array(r["F"]["sync"])
    assert (fs < fa).all()                            # ... to the higher-F point here
    # the distance to the schedule's own final state shrinks to round-off
    assert max(a["distance_to_final"][-1]) < 1e-12 and max(s["distance_to_final"][-1]) < 1e-12
    rbp = next(g for g in r["gradients"] if g["estimate"] == "rbp")
    assert rbp["async_vs_sync"] > 1e-3                # the true gradients differ too


def test_converge_writes_json_and_csv_and_is_a_command(tmp_path, capsys):
    js, cs = tmp_path / "c.json", tmp_path / "c.csv"
    assert cli.main(["converge", "--widths", "2,3,3,2", "--batch", "2", "--iters", "30",
                     "--rbp-iters", "5", "--train-iters", "3", "--json", str(js),
                     "--csv", str(cs)]) == 0
    out = capsys.readouterr().out
    assert "different equilibria" in out and "fixed-point check" in out
    report = json.loads(js.read_text())
    assert set(report["schedules"]) == {"async", "sync"}
    rows = list(csv.DictReader(cs.open()))
    assert {r["schedule"] for r in rows} == {"async", "sync"}
    iters = report["schedules"]["sync"]["iterations"]
    assert sum(r["schedule"] == "sync" for r in rows) == 2 * iters


@pytest.mark.parametrize("argv, message", [
    (["--batch", "0"], "--batch must be an integer >= 1"),
    (["--iters", "x"], "--iters"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["--eq-tol", "-1"], "--eq-tol"),
])
def test_converge_bad_input_is_one_line(argv, message, capsys):
    assert cli.main(["converge", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- a jump

JUMP_ARGS = ["--widths", "4,6,8,8", "--batch", "6", "--free-iters", "100", "--train-iters",
             "30", "--rbp-iters", "100", "--betas", "0.01", "--seed", "0", "--gains", "1.5",
             "--ref-tbp-iters", "0"]


@pytest.fixture(scope="module")
def jump_report():
    return gradcheck.run_check(gradcheck.parse_args(JUMP_ARGS))


def test_a_small_negative_nudge_jumps_and_is_flagged(jump_report):
    """At β = 0.01, example 4's −β relaxation lands in another equilibrium: the detector flags
    it (and only it), its nudged state is O(1), not O(β), away from s*, and it stays there when
    relaxed at β = 0; the +β side of the same example does not jump."""
    j = jump_report["jumps"]["0.01"]
    assert j["ep-"]["jumped"] == [4] and j["ep+"]["jumped"] == []
    d = np.array(j["ep-"]["distance"])
    others = np.delete(d, 4)
    assert d[4] > 10 * others.max()                    # O(1) against O(β)
    back = np.array(j["ep-"]["returned"])
    assert back[4] > 1e-2 and np.delete(back, 4).max() < 1e-6   # 1e-6: --jump-tol
    assert j["ep-"]["delta_F"][4] != pytest.approx(0, abs=1e-9)   # another fixed point


def test_the_jump_dominates_the_estimate_and_the_breakdown_removes_it(jump_report):
    rows = {r["rule"]: r for r in jump_report["rows"] if r["beta"] == 0.01}
    smooth = {r["rule"]: r for r in jump_report["smooth_rows"] if r["beta"] == 0.01}
    # N-EP and C-EP contrast the −β state: the one jumped example makes them O(1)/β off
    assert rows["n-ep"]["rel_error"]["all"] > 5 and rows["c-ep"]["rel_error"]["all"] > 2
    assert rows["p-ep"]["rel_error"]["all"] < 0.5     # P-EP does not use it
    for rule in ("p-ep", "n-ep", "c-ep"):
        assert smooth[rule]["examples"] == 5            # example 4 excluded
        assert smooth[rule]["rel_error"]["all"] < 0.3
    assert smooth["n-ep"]["rel_error"]["all"] < rows["n-ep"]["rel_error"]["all"] / 50
    text = gradcheck.format_report(jump_report)
    assert "ep- 1 [4]" in text and "no jump" in text


# --------------------------------------------------------------------------- subsets

def _tiny(batch=4, seed=3):
    rng = np.random.default_rng(seed)
    net = DCHN(in_channels=1, widths=(2, 3, 3, 2), n_classes=10, image_size=16)
    params = init_params(net, rng)
    x = rng.uniform(0, 1, (1, 16, 16, batch))
    y = one_hot(rng.integers(0, 10, batch), 10, x)
    return net, params, x, y


def test_a_subset_of_phases_is_the_same_rule_on_those_examples():
    net, params, x, y = _tiny()
    free = free_phase(params, net, x, 80)
    ph = Phases(params, y, free, 20)
    full = {r: RULES[r](ph, 0.1) for r in ("p-ep", "n-ep", "c-ep", "p-cpl", "c-cpl")}
    keep = np.array([0, 2, 3])
    sub = ph.subset(keep)                              # sliced, not relaxed again
    free_k = free_phase(params, net, x[..., keep], 80)
    ph_k = Phases(params, y[keep], free_k, 20)         # relaxed from scratch on the subset
    for rule in full:
        a, b = RULES[rule](sub, 0.1), RULES[rule](ph_k, 0.1)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-9, atol=1e-12)
    assert np.array_equal(take_examples(free.s, keep)[5], free.s[5][keep])


def test_rbp_subset_gradient_equals_rbp_on_the_subset():
    net, params, x, y = _tiny()
    free = free_phase(params, net, x, 80)
    g, lam_sum = rbp_gradient(params, free.s, y, 40, free.drives)
    keep = [1, 3]
    sub = rbp_subset_gradient(params, free.s, lam_sum, keep, free.drives)
    direct = rbp_gradient(params, take_examples(free.s, np.array(keep)), y[keep], 40)[0]
    for name in g:
        np.testing.assert_allclose(sub[name], direct[name], rtol=1e-10, atol=1e-14)
    whole = rbp_subset_gradient(params, free.s, lam_sum, range(4), free.drives)
    for name in g:
        np.testing.assert_allclose(whole[name], g[name], rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError):
        rbp_subset_gradient(params, free.s, lam_sum, [], free.drives)


def test_distance_is_per_example_max_abs():
    net, params, x, y = _tiny(batch=3)
    a = free_phase(params, net, x, 30)
    b = relax(params, a.s, 1)
    d = distance(a.s, b.s)
    assert d.shape == (3,) and d.max() == pytest.approx(b.residual)
    assert (distance(a.s, a.s) == 0).all()


# --------------------------------------------------------------------------- committed summary

SUMMARY = Path(__file__).resolve().parent.parent / "scripts" / "equilibria_summary.py"


def test_committed_summary_is_the_scripts_output_on_the_committed_reports():
    """results/equilibria/summary.md cannot drift from the JSONs it summarises."""
    proc = subprocess.run([sys.executable, str(SUMMARY)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    committed = SUMMARY.parent.parent / "results" / "equilibria" / "summary.md"
    assert proc.stdout == committed.read_text()


def test_summary_bad_file_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    proc = subprocess.run([sys.executable, str(SUMMARY), str(bad)], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "x.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr

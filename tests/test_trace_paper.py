"""The paper-geometry golden trace (data/golden/paper-geometry) and the comparison tool: the
code still reproduces the committed trace; the trace exercises what it claims (W5's flatten
order, partial pooling ties, two different fixed points, the default β = 0 state, the
optimiser's formulas, the input pipeline); ``--compare`` names the first divergence."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ebl_ref.minimize import Equilibrium, half_step, relax, zero_state
from ebl_ref.network import DCHN
from ebl_ref.ops import batch_first, channel_major, conv2d
from ebl_ref.rules import Phases, contrast, p_ep
from ebl_ref.trace import PAPER_SETTINGS, make_paper_trace, manifest_text
from ebl_ref.trace import main as trace_main
from ebl_ref.trace_compare import compare_arrays, fixed_point_residual, load_golden
from ebl_ref.trace_compare import main as compare_main

FOLDER = Path(__file__).resolve().parent.parent / "data" / "golden" / "paper-geometry"
PHASES = ("free", "nudged_plus", "nudged_minus", "nudged_zero")
LAYERS = ("s1", "s2", "s3", "s4", "o")


@pytest.fixture(scope="module")
def golden():
    return load_golden(FOLDER)  # checks every sha256 against the manifest


@pytest.fixture(scope="module")
def now():
    return make_paper_trace()


def params_of(trace):
    return {k[6:]: v for k, v in trace.items() if k.startswith("param/")}


def test_files_are_intact_small_and_typed(golden):
    manifest, arrays = golden
    assert manifest["settings"] == PAPER_SETTINGS
    assert list(manifest["arrays"]) == list(arrays)
    for k, v in arrays.items():
        entry = manifest["arrays"][k]
        assert entry["shape"] == list(v.shape) and entry["dtype"] == str(v.dtype), k
        assert hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() == entry["sha256"]
        assert ("tolerance" in entry) == (v.dtype.kind == "f"), k
    assert arrays["labels"].dtype == np.int64 and arrays["free/01/argmax2"].dtype == np.int8
    assert (FOLDER / "trace.npz").stat().st_size < 3_000_000
    assert json.loads(manifest_text(manifest)) == manifest


def test_code_reproduces_the_trace(golden, now):
    manifest, arrays = golden
    assert list(now) == list(arrays)
    bad = [r for r in compare_arrays(manifest, arrays, now, "float64") if not r["ok"]]
    assert not bad, bad[:3]


def test_paper_geometry_and_w5_flatten_order(golden):
    _, g = golden
    assert g["x"].shape == (2, 3, 32, 32) and g["y"].shape == (2, 10)
    assert g["param/W5"].shape == (6, 2, 2, 10) and g["free/02/s4"].shape == (2, 6, 2, 2)
    s4, w5 = g["free/02/s4"], g["param/W5"]
    a5 = g["param/b5"] + np.einsum("bcyx,cyxj->bj", s4, w5)      # flatten in (c, y, x) order
    np.testing.assert_allclose(g["free/03/a5"], a5, rtol=1e-12, atol=1e-14)
    wrong = g["param/b5"] + s4.transpose(0, 1, 3, 2).reshape(2, -1) @ w5.reshape(-1, 10)
    assert np.abs(wrong - a5).max() > 1e-3, "the trace would not catch a (c, x, y) flatten"


def test_input_has_partial_pooling_ties(golden):
    """Exact-zero blocks make whole and partial ties in conv1's windows, at an exact 0."""
    _, g = golden
    z = conv2d(channel_major(g["x"]), g["param/W1"])  # (C, 32, 32, B)
    w = z.reshape(3, 16, 2, 16, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    top = (w == w.max(axis=1, keepdims=True)).sum(axis=1)
    assert ((top == 2) | (top == 3)).sum() >= 10 and (top == 4).sum() >= 100
    assert (w.max(axis=1)[top > 1] == 0).all()
    first = np.argmax(w, axis=1)                          # NumPy's argmax: first maximum
    last = 3 - np.argmax(w[:, ::-1], axis=1)              # a "last maximum wins" port
    assert (first != last).sum() == ((top > 1)).sum()     # every tie tells the rules apart
    z2 = conv2d(channel_major(g["free/08/s1"]), g["param/W2"])  # s1 partly 0: conv2 ties
    w2 = z2.reshape(4, 8, 2, 8, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    top2 = (w2 == w2.max(axis=1, keepdims=True)).sum(axis=1)
    assert ((top2 == 2) | (top2 == 3)).any()


def test_objective_descends_in_every_phase(golden):
    _, g = golden
    for phase in PHASES:
        f = np.array([g[k] for k in g if k.startswith(f"{phase}/") and k.endswith("F_plus_betaC")])
        assert len(f) == 2 * (12 if phase == "free" else 4)
        assert (np.diff(f, axis=0) <= 1e-9 * np.abs(f[1:])).all(), phase


def test_p_ep_uses_the_default_beta_zero_state(golden):
    """The trace's P-EP is the library's default rule: β = 0 state relaxed 4 more iterations."""
    _, g = golden
    params, net = params_of(g), DCHN(3, (3, 4, 5, 6), 10, 32)
    s = [channel_major(g["x"])] + [channel_major(g[f"free/24/s{k}"]) for k in (1, 2, 3, 4)]
    free = Equilibrium(s=s + [g["free/24/o"]], drives=[None] * 5, iterations=12, residual=0.0)
    grads = p_ep(Phases(params, g["y"], free, iterations=4), 0.25)
    for k, v in grads.items():
        np.testing.assert_allclose(g[f"grad_p_ep/{k}"], v, rtol=1e-9, atol=1e-13, err_msg=k)
    assert net.n_classes == 10


def test_converged_references_are_fixed_points_of_different_schedules(golden):
    _, g = golden
    params, x, y = params_of(g), channel_major(g["x"]), g["y"]
    for mode in ("async", "sync"):
        for phase, beta in (("free", 0.0), ("nudged_plus", 0.25), ("nudged_minus", -0.25)):
            pre = f"converged/{mode}/{phase}/"
            s = [x] + [channel_major(g[pre + f"s{k}"]) for k in (1, 2, 3, 4)] + [g[pre + "o"]]
            assert (fixed_point_residual(params, s, beta, y) < 1e-12).all(), pre
    d = [np.abs(g["converged/async/free/s1"][b] - g["converged/sync/free/s1"][b]).max()
         for b in range(2)]
    assert min(d) > 1e-3, "both examples end at different fixed points by schedule"
    per = g["converged/async/grad_c_ep_per_example/W1"]
    np.testing.assert_allclose(per.mean(axis=0), g["converged/async/grad_c_ep/W1"], atol=1e-12)


def test_optimiser_segment_follows_the_formulas(golden):
    """d = g + λθ (biases too), v = μv + d (v = d first), θ ← θ − η_layer v, η cosine per
    epoch to 2e-6 over 3 epochs — recomputed here from the guide's formulas."""
    _, g = golden
    lr0, eta_min = np.array([0.0625, 0.0375, 0.025, 0.02, 0.0125]), 2e-6
    theta, v = params_of(g), None
    for n in (1, 2, 3):
        lr = eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * (n - 1) / 3)) / 2
        np.testing.assert_allclose(g[f"optim/{n:02d}/lr"], lr, rtol=1e-15)
        grad = {k: g[f"optim/{n:02d}/grad/{k}"] for k in theta}
        d = {k: grad[k] + 0.01 * theta[k] for k in theta}
        v = d if v is None else {k: 0.9 * v[k] + d[k] for k in theta}
        theta = {k: theta[k] - lr[int(k[1]) - 1] * v[k] for k in theta}
        for k in theta:
            np.testing.assert_allclose(g[f"optim/{n:02d}/param/{k}"], theta[k], rtol=1e-14,
                                       atol=1e-16)
    np.testing.assert_array_equal(g["optim/01/grad/W1"], g["grad_c_ep/W1"])


def test_pipeline_arrays_follow_the_guide(golden):
    _, g = golden
    raw = g["pipeline/mnist/raw"].astype(np.float64)                 # (2, 28, 28) uint8
    x = (np.pad(raw, ((0, 0), (2, 2), (2, 2))) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(g["pipeline/mnist/x"][:, 0], x, rtol=1e-15)
    raw = g["pipeline/cifar10/raw"].astype(np.float64)               # (2, 32, 32, 3)
    mean, std = np.array([0.4914, 0.4822, 0.4465]), 3 * np.array([0.2023, 0.1994, 0.2010])
    np.testing.assert_allclose(g["pipeline/cifar10/x"], ((raw / 255 - mean) / std).transpose(
        0, 3, 1, 2), rtol=1e-14)
    off, flips = g["pipeline/cifar10/crop_offsets"], g["pipeline/cifar10/flips"]
    padded = np.pad(raw, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="edge")
    for b in range(2):
        crop = padded[b, off[b, 0]:off[b, 0] + 32, off[b, 1]:off[b, 1] + 32]
        crop = crop[:, ::-1] if flips[b] else crop
        np.testing.assert_allclose(g["pipeline/cifar10/x_train"][b],
                                   ((crop / 255 - mean) / std).transpose(2, 0, 1), rtol=1e-14)
    assert g["pipeline/mnist/flips"].tolist() == [0, 0]


def test_float32_round_off_of_the_bottom_gradients_is_cancellation(golden):
    """The guide's tolerance story: float32 states hold to ~1e-6 of their scale, the C-EP
    gradient of layer 1 only to ~1e-4 (a difference of two nearby ∂E/∂θ, over 2β)."""
    manifest, g = golden

    def rel(name):
        return manifest["arrays"][name]["tolerance"]["float32"] / np.abs(g[name]).max()

    assert rel("free/24/s1") < 1e-5 and rel("grad_c_ep/W5") < 1e-5
    assert rel("grad_c_ep/b1") > 1e-4 and rel("grad_c_ep/W1") > 1e-5


def test_compare_accepts_a_float32_run_and_names_the_first_divergence(tmp_path, golden,
                                                                       capsys):
    manifest, g = golden
    mine = make_paper_trace(dtype=np.float32)
    np.savez(tmp_path / "mine.npz", **mine)
    assert trace_main(["--compare", str(tmp_path / "mine.npz")]) == 0
    assert "all within tolerance" in capsys.readouterr().out
    bad = {k: v for k, v in g.items() if k.startswith(("param/", "x", "free/"))}
    bad["free/08/a2"] = bad["free/08/a2"].copy()
    bad["free/08/a2"][1, 2, 3, 4] += 1e-3
    bad["free/09/s1"] = bad["free/09/s1"].transpose(1, 2, 3, 0)
    np.savez(tmp_path / "bad.npz", **bad)
    assert compare_main([str(tmp_path / "bad.npz")]) == 1
    out = capsys.readouterr().out
    assert "FIRST DIVERGENCE: free/08/a2" in out and "[b=1, c=2, y=3, x=4]" in out
    assert "iteration 4, group s2, s4" in out and "drive2, argmax3, feedback2" in out


def test_compare_reports_a_flipped_route_with_its_margin(tmp_path, golden, capsys):
    _, g = golden
    flip = {"free/09/argmax4": g["free/09/argmax4"].copy()}
    flip["free/09/argmax4"][0, 1, 1, 1] = (flip["free/09/argmax4"][0, 1, 1, 1] + 1) % 4
    np.savez(tmp_path / "flip.npz", **flip)
    assert compare_main([str(tmp_path / "flip.npz"), "--trace", "paper-geometry"]) == 1
    assert "golden margin of the first flipped windows" in capsys.readouterr().out


def test_compare_matches_another_relaxation_against_both_fixed_points(tmp_path, golden,
                                                                      capsys):
    """A port whose relaxation is neither schedule: example 0 at the async fixed point,
    example 1 at the sync one, both accepted and named."""
    _, g = golden
    mine = {}
    for layer in ("s1", "s2", "s3", "s4", "o"):
        a, s = g[f"converged/async/free/{layer}"], g[f"converged/sync/free/{layer}"]
        mine[f"converged/other/free/{layer}"] = np.stack([a[0], s[1]])
    np.savez(tmp_path / "other.npz", **mine)
    assert compare_main([str(tmp_path / "other.npz"), "--trace", "paper-geometry"]) == 0
    out = capsys.readouterr().out
    assert "example 0: free state = the async fixed point" in out
    assert "example 1: free state = the sync fixed point" in out
    mine = {k: v + 0.01 for k, v in mine.items()}
    np.savez(tmp_path / "moved.npz", **mine)
    assert compare_main([str(tmp_path / "moved.npz"), "--trace", "paper-geometry"]) == 1
    assert "ABOVE" in capsys.readouterr().out


def test_compare_accepts_a_third_fixed_point_on_its_residuals_and_own_gradient(tmp_path,
                                                                               golden, capsys):
    """A damped synchronous relaxation, s ← s + ½(update(s) − s), ends at neither recorded
    fixed point on this trace: accepted as a fixed point whose gradient is C-EP of its own
    nudged states; a wrong gradient there is refused."""
    _, g = golden
    params, x, y = params_of(g), channel_major(g["x"]), g["y"]
    net = DCHN(3, (3, 4, 5, 6), 10, 32)

    def damped(s, beta):
        for _ in range(3000):
            t, _ = half_step(params, s, [None] * 5, (1, 2, 3, 4, 5), beta, y)
            new = [s[0]] + [s[k] + 0.5 * (t[k] - s[k]) for k in range(1, 6)]
            if max(np.abs(new[k] - s[k]).max() for k in range(1, 6)) < 1e-14:
                return new
            s = new
        raise AssertionError("the damped relaxation did not converge")

    free = damped(zero_state(net, x), 0.0)
    states = {"free": free, "nudged_plus": damped(free, 0.25),
              "nudged_minus": damped(free, -0.25)}
    mine = {f"converged/other/{ph}/{name}": s[k] if k == 5 else batch_first(s[k])
            for ph, s in states.items() for k, name in enumerate(LAYERS, start=1)}

    def one(s, b):  # example b as a batch of one
        return Equilibrium([a[..., b:b + 1] for a in s[:5]] + [s[5][b:b + 1]], [None] * 5, 0, 0)

    per = [contrast(params, one(states["nudged_minus"], b), -0.25,
                    one(states["nudged_plus"], b), 0.25) for b in range(2)]
    for k in per[0]:
        mine[f"converged/other/grad_c_ep_per_example/{k}"] = np.stack([p[k] for p in per])
    np.savez(tmp_path / "third.npz", **mine)
    assert compare_main([str(tmp_path / "third.npz"), "--trace", "paper-geometry"]) == 0
    assert capsys.readouterr().out.count("a third fixed point") == 2
    mine["converged/other/grad_c_ep_per_example/W2"] = mine[
        "converged/other/grad_c_ep_per_example/W2"] * 1.01
    np.savez(tmp_path / "wrong.npz", **mine)
    assert compare_main([str(tmp_path / "wrong.npz"), "--trace", "paper-geometry"]) == 1
    assert "gradient W2 DIFFERS" in capsys.readouterr().out


def test_compare_of_converged_other_alone_says_what_it_checked(tmp_path, golden, capsys):
    """A file holding only converged/other/ states is not reported as 'compared 0 … all
    within tolerance'; one holding no complete state there is refused with one line."""
    _, g = golden
    mine = {f"converged/other/free/{layer}": g[f"converged/async/free/{layer}"]
            for layer in LAYERS}
    np.savez(tmp_path / "other.npz", **mine)
    assert compare_main([str(tmp_path / "other.npz"), "--trace", "paper-geometry"]) == 0
    out = capsys.readouterr().out
    assert "compared 0" not in out and "all within tolerance" not in out
    assert "only your converged/other/ states are checked" in out
    assert "example 0: free state = the async fixed point" in out
    del mine["converged/other/free/o"]
    np.savez(tmp_path / "partial.npz", **mine)
    assert compare_main([str(tmp_path / "partial.npz"), "--trace", "paper-geometry"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no complete state" in err and "Traceback" not in err


def test_compare_of_a_lone_transposition_has_no_empty_next(tmp_path, golden, capsys):
    _, g = golden
    np.savez(tmp_path / "t.npz", **{"free/09/s1": g["free/09/s1"].transpose(1, 2, 3, 0)})
    assert compare_main([str(tmp_path / "t.npz"), "--trace", "paper-geometry"]) == 1
    out = capsys.readouterr().out
    assert "a transposed layout?" in out
    assert "the next:" not in out and "1 array outside tolerance in all" in out


def test_compare_hints_at_float32_when_float64_tolerances_were_inferred(tmp_path, golden,
                                                                       capsys):
    """A float32 computation judged by float64 tolerances (one stray float64 array, or
    float32 values saved as float64) is told to pass --dtype float32; with --dtype given,
    no hint."""
    _, g = golden
    names = [k for k in g if k.startswith("free/0") and g[k].dtype == np.float64]
    f32 = {k: g[k].astype(np.float32) for k in names}
    np.savez(tmp_path / "pure32.npz", **f32)
    assert compare_main([str(tmp_path / "pure32.npz"), "--trace", "paper-geometry"]) == 0
    assert "tolerances: float32, inferred from your file" in capsys.readouterr().out
    np.savez(tmp_path / "mixed.npz", **f32, **{"optim/01/lr": g["optim/01/lr"]})
    assert compare_main([str(tmp_path / "mixed.npz"), "--trace", "paper-geometry"]) == 1
    out = capsys.readouterr().out
    assert "hint:" in out and "--dtype float32" in out and "optim/01/lr" in out
    np.savez(tmp_path / "as64.npz", **{k: v.astype(np.float64) for k, v in f32.items()})
    assert compare_main([str(tmp_path / "as64.npz"), "--trace", "paper-geometry"]) == 1
    out = capsys.readouterr().out
    assert "hint:" in out and "within its float32 tolerance" in out
    assert compare_main([str(tmp_path / "as64.npz"), "--trace", "paper-geometry",
                         "--dtype", "float64"]) == 1
    assert "hint:" not in capsys.readouterr().out


def test_compare_refuses_unusable_files(tmp_path, capsys):
    assert compare_main([str(tmp_path / "missing.npz")]) == 2
    (tmp_path / "junk.npz").write_text("not a zip")
    assert compare_main([str(tmp_path / "junk.npz")]) == 2
    np.savez(tmp_path / "other.npz", unrelated=np.zeros(3))
    assert compare_main([str(tmp_path / "other.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 3 and "Traceback" not in err


def test_relax_reaches_the_recorded_async_fixed_point(golden):
    """The converged reference is what the library's own loop reaches (a guard on the tol)."""
    _, g = golden
    params, x = params_of(g), channel_major(g["x"])
    eq = relax(params, zero_state(DCHN(3, (3, 4, 5, 6), 10, 32), x), 3000, tol=1e-13)
    np.testing.assert_allclose(channel_major(g["converged/async/free/s2"]), eq.s[2], atol=1e-12)

"""``run.py gradcheck``: how close is each rule's gradient estimate to the true gradient?

On one batch and one free equilibrium s*, every algorithm's estimate of +∂L/∂θ is compared,
parameter tensor by parameter tensor, with RBP run for many iterations (the implicit gradient,
up to a Neumann-series tail that the report measures)::

    cosine = ⟨g, g_RBP⟩ / (‖g‖ ‖g_RBP‖),   norm ratio = ‖g‖ / ‖g_RBP‖,
    relative error = ‖g − g_RBP‖ / ‖g_RBP‖

for the seven energy-based rules at each β of ``--betas`` and for TBP and CL (β-free). By
Theorems 2–3 the relative error of P/N-EP falls like β and that of C-EP like β² (slopes 1 and 2
on ``--plot``'s log–log axes) until the active set (arg-maxes, saturated units) changes.

The default dtype is float64 so that the differences measured are the rules', not round-off.

Example::

    python run.py gradcheck --betas 0.5,0.25,0.1,0.05,0.01 --json check.json --plot check.png
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from .algorithms import ALGORITHMS
from .analog.tradeoff import tradeoff_rows, write_csv
from .atomic import write_outputs
from .backend import DEVICES, DTYPES, BackendError, get_backend, to_host
from .backprop import rbp_gradient, rbp_subset_gradient, tbp_gradient
from .data import DATASETS, DataError, load_dataset, load_sample, preprocess
from .minimize import distance, free_phase, relax
from .network import (DCHN, HIDDEN, OUTPUT, PARAM_NAMES, all_drives, init_params, one_hot,
                      total_energy)
from .flags import Parser
from .jsonfile import write_json
from .rules import Phases
from .values import (AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UsageError, choice_arg, list_arg,
                     number_arg)

BETA_RULES = ("p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl")  # depend on β
FREE_RULES = ("cl", "tbp")                                        # do not
SLOPES = {"p-ep": 1, "n-ep": 1, "c-ep": 2, "p-cpl": 1, "n-cpl": 1, "c-cpl": 2}
DEFAULT_BETAS = (0.5, 0.25, 0.1, 0.05, 0.01)
FAMILIES = {"ep": ("p-ep", "n-ep", "c-ep"), "cpl": ("p-cpl", "n-cpl", "c-cpl")}
SIGNS = (("+", 1), ("-", -1))
PLOT_HINT = "pip install 'ebl-ref[plot]'"


# --------------------------------------------------------------------------- arguments


def add_arguments(p) -> None:
    """The flags of ``run.py gradcheck`` (parsed and range-checked by :mod:`ebl_ref.values`)."""
    a = p.add_argument
    a("--dataset", default=None, type=choice_arg(DATASETS, "dataset"), metavar="NAME",
      help=f"dataset name ({', '.join(DATASETS)}); default: the embedded Fashion-MNIST sample")
    a("--data-dir", default=None, metavar="DIR", help="data folder for --dataset")
    a("--no-download", action="store_true", help="never download --dataset")
    a("--widths", type=list_arg(int, "widths", 4, within=AT_LEAST_ONE), default=(16, 32, 64, 64),
      metavar="V,...", help="four hidden widths (default 16,32,64,64: the quick preset; paper: "
                            "128,256,512,512)")
    a("--batch", type=number_arg(int, "batch", AT_LEAST_ONE), default=32, metavar="N",
      help="batch size (default 32)")
    a("--betas", type=list_arg(float, "betas", within=POSITIVE), default=DEFAULT_BETAS,
      metavar="V,...", help="comma-separated nudging strengths > 0 (default "
                            f"{','.join(map(str, DEFAULT_BETAS))})")
    a("--free-iters", type=number_arg(int, "free-iters", AT_LEAST_ONE), default=60, metavar="N",
      help="free-phase iterations (default 60)")
    a("--train-iters", type=number_arg(int, "train-iters", AT_LEAST_ONE), default=15,
      metavar="N", help="iterations of each second phase and of TBP (default 15)")
    a("--rbp-iters", type=number_arg(int, "rbp-iters", AT_LEAST_ONE), default=100, metavar="N",
      help="RBP iterations of the reference gradient (default 100)")
    a("--jump-iters", type=number_arg(int, "jump-iters", AT_LEAST_ONE), default=200,
      metavar="N", help="iterations at beta = 0 that decide whether a nudged state returns to "
                        "the free equilibrium (default 200)")
    a("--jump-tol", type=number_arg(float, "jump-tol", POSITIVE), default=1e-6, metavar="X",
      help="an example whose re-relaxed nudged state ends farther than X (max |ds|) from the "
           "re-relaxed free state jumped to another equilibrium (default 1e-6)")
    a("--ref-tbp-iters", type=number_arg(int, "ref-tbp-iters", NON_NEGATIVE), default=60,
      metavar="N", help="TBP iterations of the reference's cross-check (default 60; 0: skip)")
    a("--seed", type=number_arg(int, "seed", NON_NEGATIVE), default=0, metavar="N",
      help="seed of the batch and the parameters (default 0)")
    a("--gains", type=list_arg(float, "gains", 5, broadcast=True, within=POSITIVE),
      default=(0.5,) * 5, metavar="V,...", help="weight gains, one or five numbers (default 0.5)")
    a("--device", default="cpu", type=choice_arg(DEVICES, "device"), metavar="NAME",
      help="cpu or gpu (default cpu)")
    a("--dtype", default="float64", type=choice_arg(DTYPES, "dtype"), metavar="NAME",
      help="float64 (default: the check measures the rules, not round-off), float32 or "
           "float16 (gpu only)")
    a("--read-noise", type=list_arg(float, "read-noise", within=NON_NEGATIVE), default=None,
      metavar="V,...", help="also measure the read-noise / beta trade-off: analog read-out "
                            "noise std of the states each rule contrasts (ebl_ref.analog, "
                            "out_noise), e.g. 0,0.001,0.01")
    a("--draws", type=number_arg(int, "draws", AT_LEAST_ONE), default=20, metavar="N",
      help="independent read-outs per (rule, beta, noise) with --read-noise (default 20)")
    a("--csv", default=None, metavar="PATH", help="write the --read-noise rows as CSV")
    a("--json", default=None, metavar="PATH", help="also write the results as JSON")
    a("--plot", default=None, metavar="PATH",
      help=f"draw relative error vs beta, log-log (needs matplotlib: {PLOT_HINT})")


# --------------------------------------------------------------------------- data and model


def load_batch(args, rng: np.random.Generator):
    """``(x, labels, spec)``: ``batch`` test images (C, 32, 32, N) float32 drawn by ``rng``."""
    try:
        if args.dataset is None:
            _, test = load_sample()
            spec = DATASETS["fashion-mnist"]
        else:
            if args.dataset not in DATASETS:
                raise SystemExit(f"gradcheck: unknown dataset {args.dataset!r}: choose one of "
                                 f"{', '.join(DATASETS)}")
            _, test = load_dataset(args.dataset, data_dir=args.data_dir,
                                   download=not args.no_download)
            spec = DATASETS[args.dataset]
        if args.batch > len(test):
            raise SystemExit(f"gradcheck: --batch {args.batch} exceeds the {len(test)} test "
                             "examples")
        idx = np.sort(rng.choice(len(test), size=args.batch, replace=False))
        return preprocess(test.x[idx], spec, train=False), test.y[idx], spec
    except DataError as exc:
        raise SystemExit(f"gradcheck: {exc}") from None


# --------------------------------------------------------------------------- metrics


def compare(g: dict, ref: dict) -> dict:
    """Per tensor and over all of them ("all"): cosine, norm ratio, relative error to ``ref``."""
    out = {"cosine": {}, "norm_ratio": {}, "rel_error": {}}
    names = list(PARAM_NAMES) + ["all"]
    for name in names:
        if name == "all":
            a = np.concatenate([g[k].ravel() for k in PARAM_NAMES])
            b = np.concatenate([ref[k].ravel() for k in PARAM_NAMES])
        else:
            a, b = g[name].ravel(), ref[name].ravel()
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        out["cosine"][name] = float(a @ b) / (na * nb) if na > 0 and nb > 0 else math.nan
        out["norm_ratio"][name] = na / nb if nb > 0 else math.nan
        out["rel_error"][name] = float(np.linalg.norm(a - b)) / nb if nb > 0 else math.nan
    return out


def active_set(params: dict, s: list, drives: list | None = None) -> list:
    """What makes the equilibrium map non-smooth at state ``s``: each conv's arg-maxes and
    each hidden layer's units at 0 and at 1 (host arrays)."""
    drives = all_drives(params, s, drives)
    return ([to_host(drives[k][1]) for k in HIDDEN] + [to_host(s[k] == 0) for k in HIDDEN]
            + [to_host(s[k] == 1) for k in HIDDEN])


def changes_per_example(a: list, b: list) -> np.ndarray:
    """Per example (B,), how many arg-maxes and saturations differ (batch is the last axis)."""
    return sum((u != v).reshape(-1, u.shape[-1]).sum(axis=0) for u, v in zip(a, b))


def changes(a: list, b: list) -> int:
    """How many arg-maxes and saturations differ between two :func:`active_set` results."""
    return int(sum((u != v).sum() for u, v in zip(a, b)))


def fitted_slope(betas, errors) -> float:
    """Least-squares slope of log(error) against log(β) (nan if fewer than two finite points)."""
    pts = [(math.log(b), math.log(e)) for b, e in zip(betas, errors) if e > 0 and math.isfinite(e)]
    if len(pts) < 2:
        return math.nan
    u, v = np.array(pts).T
    return float(np.polyfit(u, v, 1)[0])


# --------------------------------------------------------------------------- jumps


def second_phase(ph: Phases, family: str, beta: float):
    """The state a rule of ``family`` ("ep" or "cpl") contrasts at ``beta`` (remembered)."""
    return ph.nudged(beta) if family == "ep" else ph.coupled(beta)


def relax_at_zero(ph: Phases, eq, family: str, iterations: int, tol: float | None = None):
    """``eq`` relaxed up to ``iterations`` more iterations by ``family``'s β = 0 map: the free
    relaxation (EP), or the hidden layers with the output clamped at o* (CpL, eq. 7 at β = 0);
    stopping early once an iteration changes no unit by more than ``tol``."""
    if family == "ep":
        return relax(ph.params, eq.s, iterations, mode=ph.mode, tol=tol, drives=eq.drives)
    s = list(eq.s)
    s[OUTPUT] = ph.free.s[OUTPUT]
    return relax(ph.params, s, iterations, clamp_output=True, mode=ph.mode, tol=tol,
                 drives=eq.drives)


def detect_jumps(ph: Phases, betas, iterations: int = 200, tol: float = 1e-6,
                 anchors: dict | None = None) -> dict:
    """Per β, family and sign: which examples' second phase left the free equilibrium's basin.

    Criterion. The second-phase state s_±β is relaxed up to ``iterations`` further iterations
    (stopping once an iteration moves no unit by more than tol/100) by the family's β = 0 map
    (:func:`relax_at_zero`), and so is s* (the "anchor"). In the smooth regime s_±β − s* = O(β)
    and the β = 0 relaxation brings s_±β back onto the anchor (to the relaxation's accuracy: the
    map is a contraction there). If it ends more than ``tol`` (per example, max |Δs| over all
    layers, :func:`ebl_ref.minimize.distance`) from the anchor, s_±β lay in the basin of
    **another** fixed point of the β = 0 map (F is non-convex through max-pooling): the example
    *jumped*: its second phase drifts toward that other point, and the contrast divides the
    drift by β — it breaks the β → 0 orders of Theorems 2–3, which assume one smooth branch s_β.

    Returns ``{f"{beta:g}": {f"{family}{sign}": record}}`` with, per record (lists over the
    batch unless said): ``jumped`` (indices), ``distance`` (d(s_±β, s*)), ``returned``
    (d(relaxed s_±β, anchor)), ``delta_F`` (F of the relaxed s_±β minus F of the anchor: < 0
    where the other equilibrium is lower), ``residual`` (the last iteration's change, a float),
    ``events`` (arg-maxes and saturations of s_±β that differ from s*'s, :func:`active_set`).
    ``anchors`` (family -> relaxed s*) may be passed to reuse them.
    """
    stop = tol / 100  # converged well inside the criterion's tolerance
    anchors = anchors or {f: relax_at_zero(ph, ph.free, f, iterations, stop) for f in FAMILIES}
    f_anchor = {f: to_host(total_energy(ph.params, a.s, a.drives)) for f, a in anchors.items()}
    free_set = active_set(ph.params, ph.free.s, ph.free.drives)
    out = {}
    for beta in betas:
        rec = {}
        for family in FAMILIES:
            for sign, factor in SIGNS:
                eq = second_phase(ph, family, factor * beta)
                back = relax_at_zero(ph, eq, family, iterations, stop)
                returned = distance(back.s, anchors[family].s)
                d_f = to_host(total_energy(ph.params, back.s, back.drives)) - f_anchor[family]
                rec[f"{family}{sign}"] = {
                    "jumped": [int(i) for i in np.flatnonzero(returned > tol)],
                    "distance": distance(eq.s, ph.free.s).tolist(),
                    "returned": returned.tolist(),
                    "delta_F": np.asarray(d_f, dtype=np.float64).tolist(),
                    "residual": back.residual,
                    "events": changes_per_example(
                        free_set, active_set(ph.params, eq.s, eq.drives)).tolist()}
        out[f"{beta:g}"] = rec
    return out


def smooth_examples(jumps_at_beta: dict, family: str, batch: int, quiet: bool = False) -> list:
    """The examples with no jump in either sign of ``family`` at one β (sorted indices); with
    ``quiet``, also no changed arg-max or saturation (``events``) in either sign."""
    bad = set()
    for sign, _ in SIGNS:
        rec = jumps_at_beta[f"{family}{sign}"]
        bad |= set(rec["jumped"])
        if quiet:
            bad |= {i for i, n in enumerate(rec["events"]) if n}
    return [i for i in range(batch) if i not in bad]


def run_check(args) -> dict:
    """Compute every estimate and compare it with RBP; returns a JSON-ready report."""
    try:
        backend = get_backend(args.device, args.dtype)
    except BackendError as exc:
        raise SystemExit(f"gradcheck: {exc}") from None
    rng = np.random.default_rng(args.seed)
    xb, labels, spec = load_batch(args, rng)
    net = DCHN(in_channels=spec.channels, widths=args.widths, n_classes=spec.classes,
               image_size=xb.shape[1])
    params = backend.compute(init_params(net, rng, args.gains, backend))
    x = backend.asarray(xb)                          # (C, S, S, B), the state layout
    y = one_hot(labels, net.n_classes, x)

    def host(g):
        return {k: to_host(v).astype(np.float64) for k, v in g.items()}

    t0 = time.perf_counter()
    free = free_phase(params, net, x, args.free_iters)
    ref, lam_sum = rbp_gradient(params, free.s, y, args.rbp_iters, free.drives)
    ref = host(ref)
    half = host(rbp_gradient(params, free.s, y, max(1, args.rbp_iters // 2), free.drives)[0])
    ph = Phases(params, y, free, args.train_iters)  # remembers its phases: shared by rules
    rows = []
    for rule in FREE_RULES:
        rows.append({"rule": rule, "beta": None, **compare(host(ALGORITHMS[rule](ph)), ref)})
    for beta in args.betas:
        for rule in BETA_RULES:
            g = ALGORITHMS[rule](ph, beta)
            rows.append({"rule": rule, "beta": beta, **compare(host(g), ref)})
    anchors = {f: relax_at_zero(ph, free, f, args.jump_iters, args.jump_tol / 100)
               for f in FAMILIES}
    jumps = detect_jumps(ph, args.betas, args.jump_iters, args.jump_tol, anchors)
    refs = {}

    def reference_on(keep):  # RBP on a subset of the batch (remembered per subset)
        if tuple(keep) not in refs:
            refs[tuple(keep)] = host(rbp_subset_gradient(params, free.s, lam_sum, keep,
                                                         free.drives))
        return refs[tuple(keep)]

    smooth_rows, quiet_rows = [], []
    for beta in args.betas:
        for family, rules in FAMILIES.items():
            for quiet, table in ((False, smooth_rows), (True, quiet_rows)):
                keep = smooth_examples(jumps[f"{beta:g}"], family, args.batch, quiet)
                sub = ph.subset(np.asarray(keep)) if keep else None
                for rule in rules:
                    metrics = (compare(host(ALGORITHMS[rule](sub, beta)), reference_on(keep))
                               if keep else {m: {n: math.nan for n in list(PARAM_NAMES) + ["all"]}
                                             for m in ("cosine", "norm_ratio", "rel_error")})
                    table.append({"rule": rule, "beta": beta, "examples": len(keep), **metrics})
    tbp_check = None
    if args.ref_tbp_iters:
        tbp_long = host(tbp_gradient(params, free.s, y, args.ref_tbp_iters, drives=free.drives)[0])
        tbp_check = compare(tbp_long, ref)["rel_error"]
    free_set = active_set(params, free.s, free.drives)

    def moved_from_free(eq):
        return changes(free_set, active_set(params, eq.s, eq.drives))

    moved = {f"{beta:g}": {f"{name}{sign}": moved_from_free(phase(b))
                           for name, phase in (("ep", ph.nudged), ("cpl", ph.coupled))
                           for sign, b in (("+", beta), ("-", -beta))}
             for beta in args.betas}
    def slopes_of(table):
        return {rule: fitted_slope(args.betas, [r["rel_error"]["all"] for r in table
                                                if r["rule"] == rule])
                for rule in BETA_RULES}
    tradeoff = None
    if args.read_noise:
        tradeoff = tradeoff_rows(ph, ref, compare, host, net, args.read_noise, args.betas,
                                 args.draws, args.seed)
    return {
        "tradeoff": tradeoff,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
        "dataset": spec.name if args.dataset else "fashion-mnist (embedded sample)",
        "free_residual": free.residual,
        "reference": {"algorithm": "rbp", "iterations": args.rbp_iters,
                      "tail": compare(half, ref)["rel_error"]["all"],
                      "tbp_iterations": args.ref_tbp_iters,
                      "tbp_rel_difference": tbp_check,
                      "free_drift": float(distance(free.s, anchors["ep"].s).max()),
                      "anchor_iterations": anchors["ep"].iterations,
                      "anchor_residual": anchors["ep"].residual},
        "params": list(PARAM_NAMES),
        "rows": rows,
        "slopes": slopes_of(rows),
        "jump_criterion": {"iterations": args.jump_iters, "tol": args.jump_tol},
        "jumps": jumps,
        "smooth_rows": smooth_rows,
        "smooth_slopes": slopes_of(smooth_rows),
        "quiet_rows": quiet_rows,
        "quiet_slopes": slopes_of(quiet_rows),
        "active_set_changes": moved,
        "active_units": sum(int(a.size) for a in free_set),
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- output


def format_metric_table(report: dict, metric: str, title: str, key: str = "rows") -> str:
    cols = report["params"] + ["all"]
    n = key == "smooth_rows"  # the breakdown says on how many examples
    lines = [title, f"{'rule':<7}{'beta':>7}" + (f"{'n':>4}" if n else "") + " "
             + "".join(f"{c:>8}" for c in cols)]
    for r in report[key]:
        beta = "-" if r["beta"] is None else f"{r['beta']:g}"
        lines.append(f"{r['rule']:<7}{beta:>7}" + (f"{r['examples']:>4}" if n else "") + " "
                     + "".join(f"{r[metric][c]:>8.4f}" for c in cols))
    return "\n".join(lines)


def format_breakdown(report: dict) -> str:
    """One line per rule and β: the relative error (all parameters) on every example, on those
    without a jump, and on those without any event (jump, changed arg-max or saturation)."""
    lines = ["relative error (all parameters) by subset of the batch: every example | no jump "
             "in either sign | no event at all (no jump, arg-max or saturation change)",
             f"{'rule':<7}{'beta':>7}{'all':>9}{'n':>5}{'no jump':>9}{'n':>5}{'no event':>9}"]
    for r, s, q in zip((r for r in report["rows"] if r["beta"] is not None),
                       report["smooth_rows"], report["quiet_rows"]):
        lines.append(f"{r['rule']:<7}{r['beta']:>7g}{r['rel_error']['all']:>9.4f}"
                     f"{s['examples']:>5}{s['rel_error']['all']:>9.4f}"
                     f"{q['examples']:>5}{q['rel_error']['all']:>9.4f}")
    lines.append("fitted slopes (all / no jump / no event): " + ", ".join(
        f"{k} {report['slopes'][k]:.2f}/{report['smooth_slopes'][k]:.2f}/"
        f"{report['quiet_slopes'][k]:.2f}" for k in BETA_RULES))
    return "\n".join(lines)


def format_jumps(report: dict) -> str:
    """Per β and sign: jumped examples (count and indices) and the gap between the returned and
    the jumped distances, which shows how sharp the criterion is."""
    crit, batch = report["jump_criterion"], report["config"]["batch"]
    lines = [f"jumps to another equilibrium, of {batch} examples (an example jumped if its "
             f"second-phase state, relaxed up to {crit['iterations']} more iterations at beta = 0 "
             "(EP: free; CpL: output clamped at o*), ends more than "
             f"{crit['tol']:g} (max |ds|) from s* relaxed alike):"]
    returned, jumped, d_f = [], [], []
    for b, rec in report["jumps"].items():
        cells = []
        for k, r in rec.items():
            cells.append(f"{k} {len(r['jumped'])}"
                         + (f" {r['jumped']}" if 0 < len(r["jumped"]) <= 6 else ""))
            out = set(r["jumped"])
            returned += [d for i, d in enumerate(r["returned"]) if i not in out]
            jumped += [r["returned"][i] for i in out]
            d_f += [r["delta_F"][i] for i in out]
        lines.append(f"  beta {b:>6}: " + ", ".join(cells))
    gap = f"returned to s* within {max(returned):.1e}" if returned else "none returned"
    if jumped:
        gap += (f"; jumped ones stayed {min(jumped):.1e} to {max(jumped):.1e} away, at "
                f"F - F(s*) from {min(d_f):.3g} to {max(d_f):.3g}")
    return "\n".join(lines + [f"  ({gap})"])


def format_report(report: dict) -> str:
    ref = report["reference"]
    tbp = ref["tbp_rel_difference"]
    tbp = ("" if tbp is None else f"; TBP with {ref['tbp_iterations']} iterations differs by "
           f"{tbp['all']:.2e} (worst tensor {max(v for k, v in tbp.items() if k != 'all'):.2e})")
    head = (f"gradcheck on {report['dataset']}: batch {report['config']['batch']}, widths "
            f"{','.join(map(str, report['config']['widths']))}, {report['config']['dtype']}; "
            f"free phase {report['config']['free_iters']} it (residual "
            f"{report['free_residual']:.2e}), second phases and TBP "
            f"{report['config']['train_iters']} it\n"
            f"reference: RBP with {ref['iterations']} iterations; relative change from "
            f"{max(1, ref['iterations'] // 2)} iterations: {ref['tail']:.2e}{tbp}; s* moves "
            f"{ref['free_drift']:.1e} (max |ds|) in {ref['anchor_iterations']} more iterations "
            f"(then residual {ref['anchor_residual']:.1e})")
    slopes = ("fitted slope of log(rel. error) vs log(beta) (theory as beta -> 0: P/N-EP 1, "
              "C-EP 2; CpL has no such guarantee): "
              + ", ".join(f"{k} {v:.2f}" for k, v in report["slopes"].items()))
    moved = "\n".join(
        [(f"arg-maxes and saturations changed from s* (of {report['active_units']}), the "
          "non-smooth events that break the beta -> 0 orders:")]
        + [f"  beta {b:>6}: " + ", ".join(f"{k} {v}" for k, v in c.items())
           for b, c in report["active_set_changes"].items()])
    return "\n\n".join([
        head,
        format_metric_table(report, "cosine", "cosine similarity to RBP"),
        format_metric_table(report, "norm_ratio", "norm ratio |g| / |g_RBP|"),
        format_metric_table(report, "rel_error", "relative error |g - g_RBP| / |g_RBP|"),
        slopes,
        format_jumps(report),
        format_metric_table(report, "rel_error", "relative error without the examples that "
                            "jumped in either sign (n examples; RBP on the same ones)",
                            "smooth_rows"),
        format_breakdown(report),
        moved,
        *([format_tradeoff(report["tradeoff"])] if report.get("tradeoff") else []),
        f"({report['seconds']:.1f} s)"])


def format_tradeoff(rows: list) -> str:
    """The --read-noise rows: cosine to RBP, mean ± std over the draws."""
    lines = ["cosine to RBP with state read-out noise sigma (mean ± std over draws)",
             f"{'rule':<7}{'beta':>7}{'sigma':>8}  cosine"]
    for r in rows:
        beta = "-" if r["beta"] is None else f"{r['beta']:g}"
        lines.append(f"{r['rule']:<7}{beta:>7}{r['sigma']:>8g}  {r['cosine_mean']:.4f} ± "
                     f"{r['cosine_std']:.4f}")
    return "\n".join(lines)


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit(f"gradcheck: --plot needs matplotlib, which is not installed: "
                         f"{PLOT_HINT}") from None
    return plt


def plot(report: dict, path: str) -> None:
    """Relative error (all parameters) vs β on log–log axes, with slope-1 and slope-2 guides."""
    plt = _pyplot()
    betas = np.array(report["config"]["betas"], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for rule in BETA_RULES:
        err = [r["rel_error"]["all"] for r in report["rows"] if r["rule"] == rule]
        ax.loglog(betas, err, "o-" if SLOPES[rule] == 2 else "s--", label=rule)
    b0 = betas.min()
    for order, style in ((1, ":"), (2, "-.")):
        anchor = min(r["rel_error"]["all"] for r in report["rows"] if r["beta"] == b0)
        ax.loglog(betas, anchor * (betas / b0) ** order, "k" + style, lw=0.8,
                  label=f"slope {order}")
    ax.set_xlabel("β")
    ax.set_ylabel("‖g − g_RBP‖ / ‖g_RBP‖")
    ax.set_title("distance to the RBP gradient")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    """The parsed flags; bad input raises ``SystemExit("gradcheck: <one line>")``."""
    p = Parser(prog="run.py gradcheck",
               description="Cosine similarity and norm ratio of every rule's gradient to RBP's "
                           "(many iterations) on one batch, per parameter tensor and per beta.")
    add_arguments(p)
    try:
        return p.parse_args(argv)
    except UsageError as exc:
        raise SystemExit(f"gradcheck: {exc}") from None


def main(argv=None) -> int:
    """Entry point of ``python run.py gradcheck [options]``; returns 0 on success.

    Bad input raises SystemExit with one message (``run.py`` turns it into exit status 2).
    """
    args = parse_args(argv)
    if args.plot:
        _pyplot()  # fail before the computation, not after
    report = run_check(args)
    print(format_report(report))
    outputs = [(args.json, write_json), (args.plot, lambda p, r: plot(r, p))]
    if args.csv and report["tradeoff"]:
        outputs.append((args.csv, lambda p, r: write_csv(p, r["tradeoff"])))
    write_outputs("gradcheck", outputs, report)
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["gradcheck", *sys.argv[1:]]))

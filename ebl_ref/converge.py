"""``run.py converge``: where do the asynchronous and the synchronous relaxation go?

Both schedules (paper §3; :data:`ebl_ref.minimize.SCHEDULES`) relax the same network from the
zero state (:func:`ebl_ref.minimize.zero_state`) on the same batch, through the one relaxation
loop :func:`ebl_ref.minimize.relax` (observed, never re-implemented). Reported per schedule and
example:

* the residual of every iteration (max |s(t) − s(t−1)|, the unit of
  :attr:`ebl_ref.minimize.Equilibrium.residual`) and the distance max |s(t) − s(T)| to the
  schedule's own final state s(T) at a grid of iterations; the iteration after which the
  residual stays ≤ ``--settle-tol`` ("settles");
* between the two final states: their distance (per layer), F of each
  (:func:`ebl_ref.network.total_energy`), and whether each is a fixed point of **both** maps
  (the change one iteration of the other schedule makes). An example "ends in different
  equilibria" when the two final states are farther apart than ``--eq-tol``;
* the rules' gradients with each final state as the free equilibrium s* (second phases
  asynchronous, as in the paper's Table 1): each rule's relative difference between the two,
  and each one's relative error against RBP at its own s*.

F is non-convex (the max-pool term, docs/DEVIATIONS.md §1), so a schedule selects an
equilibrium; the paper's "asynchronous needs fewer iterations" compares convergence to what
can be different points.

Example::

    python run.py converge --dataset fashion-mnist --batch 4 --json converge.json
"""
from __future__ import annotations

import sys
import time

import numpy as np

from . import gradcheck
from .algorithms import ALGORITHMS
from .atomic import atomic_write_csv, write_outputs
from .backend import DEVICES, DTYPES, BackendError, get_backend, to_host
from .backprop import rbp_gradient
from .data import DATASETS
from .flags import Parser
from .jsonfile import write_json
from .minimize import SCHEDULES, distance, relax, zero_state
from .network import DCHN, HIDDEN, OUTPUT, init_params, one_hot, total_energy
from .rules import Phases
from .values import (AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UsageError, choice_arg, list_arg,
                     number_arg)

MODES = tuple(SCHEDULES)  # ("async", "sync")
RULES = ("p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl")


def grid(iterations: int) -> list:
    """Iterations at which the distance to the final state is measured: every one up to 40,
    then every 5 to 100, every 20 to 400, every 100 beyond, and the last."""
    pts = set(range(1, min(iterations, 40) + 1)) | set(range(45, min(iterations, 100) + 1, 5))
    pts |= set(range(120, min(iterations, 400) + 1, 20)) | set(range(500, iterations + 1, 100))
    return sorted(pts | {iterations})


def trajectory(params: dict, net: DCHN, x, mode: str, iterations: int,
               tol: float | None = None) -> dict:
    """Relax from the zero state with schedule ``mode``, observing every iteration.

    Returns ``{"eq": Equilibrium, "residual": (T, B) float64, "grid": [t...],
    "distance": (len(grid), B) float64}``: the per-example residual of each iteration and the
    per-example distance to the final state at the grid iterations. With ``tol`` the relaxation
    stops once an iteration changes no unit by more than ``tol`` (then T < ``iterations``).
    """
    schedule = SCHEDULES[mode]
    marks = set(grid(iterations))
    residuals, snaps, start = [], {}, {}

    def observe(rec):
        if rec.group == schedule[0]:
            start["s"] = rec.s                      # the state before the iteration
        if rec.group == schedule[-1]:
            t = len(residuals) + 1
            residuals.append(distance(rec.s_new, start["s"]))
            if t in marks:
                snaps[t] = list(rec.s_new)          # arrays are never mutated in place

    eq = relax(params, zero_state(net, x), iterations, mode=mode, tol=tol, observe=observe)
    ts = sorted(t for t in snaps if t <= eq.iterations)
    dist = np.array([distance(snaps[t], eq.s) for t in ts])
    return {"eq": eq, "residual": np.array(residuals), "grid": ts, "distance": dist}


def settled(residual: np.ndarray, tol: float) -> list:
    """Per example, the first iteration after which every residual is ≤ ``tol`` (None if the
    last one is above it)."""
    out = []
    for r in residual.T:
        above = np.flatnonzero(r > tol)
        out.append(None if above.size and above[-1] == len(r) - 1
                   else int(above[-1] + 2) if above.size else 1)
    return out


def per_layer(s_a: list, s_b: list) -> dict:
    """Per example, max |Δs| in each layer: {"s1": [...], ..., "o": [...]}."""
    return {("o" if k == OUTPUT else f"s{k}"): distance(s_a, s_b, (k,)).tolist()
            for k in list(HIDDEN) + [OUTPUT]}


def fixed_point_check(params: dict, eq, mode: str) -> list:
    """Per example, the change one iteration of schedule ``mode`` makes to ``eq.s``."""
    return distance(relax(params, eq.s, 1, mode=mode, drives=eq.drives).s, eq.s).tolist()


def rule_gradients(params, y, eq, betas, train_iters: int, rbp_iters: int) -> dict:
    """The rules' estimates (host float64) with ``eq`` as s*, and RBP's ("rbp")."""
    ph = Phases(params, y, eq, train_iters)

    def host(g):
        return {k: to_host(v).astype(np.float64) for k, v in g.items()}

    out = {"rbp": host(rbp_gradient(params, eq.s, y, rbp_iters, eq.drives)[0])}
    for beta in betas:
        for rule in RULES:
            out[f"{rule}@{beta:g}"] = host(ALGORITHMS[rule](ph, beta))
    return out


def run_converge(args) -> dict:
    """The study; returns a JSON-ready report (and keeps the trajectories for the CSV)."""
    try:
        backend = get_backend(args.device, args.dtype)
    except BackendError as exc:
        raise SystemExit(f"converge: {exc}") from None
    rng = np.random.default_rng(args.seed)
    try:
        xb, labels, spec = gradcheck.load_batch(args, rng)
    except SystemExit as exc:
        raise SystemExit(str(exc.code).replace("gradcheck:", "converge:", 1)) from None
    net = DCHN(in_channels=spec.channels, widths=args.widths, n_classes=spec.classes,
               image_size=xb.shape[1])
    params = backend.compute(init_params(net, rng, args.gains, backend))
    x = backend.asarray(xb)
    y = one_hot(labels, net.n_classes, x)
    t0 = time.perf_counter()
    runs = {m: trajectory(params, net, x, m, args.iters, args.tol) for m in MODES}
    ea, es = runs["async"]["eq"], runs["sync"]["eq"]
    apart = distance(ea.s, es.s)
    energies = {m: np.asarray(to_host(total_energy(params, r["eq"].s, r["eq"].drives)),
                              dtype=np.float64).tolist() for m, r in runs.items()}
    fixed = {f"{m} under {n}": fixed_point_check(params, runs[m]["eq"], n)
             for m in MODES for n in MODES}
    grads = {m: rule_gradients(params, y, runs[m]["eq"], args.betas, args.train_iters,
                               args.rbp_iters) for m in MODES}
    gradients = []
    for name in grads["async"]:
        ga, gs = grads["async"][name], grads["sync"][name]
        row = {"estimate": name,
               "async_vs_sync": gradcheck.compare(ga, gs)["rel_error"]["all"],
               "cosine": gradcheck.compare(ga, gs)["cosine"]["all"]}
        if name != "rbp":
            for m, g in (("async", ga), ("sync", gs)):
                row[f"{m}_vs_own_rbp"] = gradcheck.compare(g, grads[m]["rbp"])["rel_error"]["all"]
        gradients.append(row)
    schedules = {}
    for m, r in runs.items():
        schedules[m] = {
            "iterations": r["eq"].iterations,
            "final_residual": r["residual"][-1].tolist(),
            "settles_at": settled(r["residual"], args.settle_tol),
            "grid": r["grid"],
            "distance_to_final": r["distance"].tolist(),
            "residual": r["residual"].tolist()}
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
        "dataset": spec.name if args.dataset else "fashion-mnist (embedded sample)",
        "labels": [int(v) for v in labels],
        "schedules": schedules,
        "apart": apart.tolist(),
        "apart_per_layer": per_layer(ea.s, es.s),
        "different": [int(i) for i in np.flatnonzero(apart > args.eq_tol)],
        "F": energies,
        "fixed_point_check": fixed,
        "gradients": gradients,
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- output


def _fmt(v) -> str:
    return "-" if v is None else str(v)


def format_report(report: dict) -> str:
    c = report["config"]
    lines = [f"converge on {report['dataset']}: batch {c['batch']}, widths "
             f"{','.join(map(str, c['widths']))}, gains {','.join(f'{g:g}' for g in c['gains'])}, "
             f"{c['dtype']}, from the zero state, up to {c['iters']} iterations"
             + (f" (stop at residual <= {c['tol']:g})" if c["tol"] else ""), ""]
    for m, s in report["schedules"].items():
        lines.append(f"{m:>5}: {s['iterations']} iterations, final residual "
                     f"{max(s['final_residual']):.1e}; settles (residual <= {c['settle_tol']:g} "
                     f"from then on) at iteration " + ", ".join(map(_fmt, s["settles_at"])))
    lines += ["", "distance max |s(t) - s(T)| to the schedule's own final state (max over the "
              "batch):", f"{'t':>6}" + "".join(f"{m:>10}" for m in report["schedules"])]
    g = {m: dict(zip(s["grid"], np.max(s["distance_to_final"], axis=1)))
         for m, s in report["schedules"].items()}
    for t in (1, 2, 5, 10, 15, 20, 30, 40, 60, 100, 200, 400, 1000):
        if any(t in v for v in g.values()):
            lines.append(f"{t:>6}" + "".join(f"{g[m][t]:>10.1e}" if t in g[m] else f"{'-':>10}"
                                             for m in g))
    lines += ["", f"async vs sync final states, per example (different equilibria: "
              f"{len(report['different'])} of {c['batch']}, distance > {c['eq_tol']:g}):",
              f"{'ex':>4}{'label':>6}{'max|ds|':>10}"
              + "".join(f"{k:>9}" for k in report["apart_per_layer"])
              + f"{'F async':>14}{'F sync':>14}{'F a - F s':>11}"]
    for i, d in enumerate(report["apart"]):
        fa, fs = report["F"]["async"][i], report["F"]["sync"][i]
        lines.append(f"{i:>4}{report['labels'][i]:>6}{d:>10.1e}"
                     + "".join(f"{v[i]:>9.1e}" for v in report["apart_per_layer"].values())
                     + f"{fa:>14.6f}{fs:>14.6f}{fa - fs:>11.2e}")
    lines += ["", "fixed-point check, max over the batch of the change one iteration makes: "
              + ", ".join(f"{k} {max(v):.1e}" for k, v in report["fixed_point_check"].items()),
              "", "gradients with each final state as s* (second phases async, "
              f"{c['train_iters']} it; RBP {c['rbp_iters']} terms):",
              f"{'estimate':<14}{'|g_a - g_s|/|g_s|':>18}{'cosine':>9}{'async vs RBP':>14}"
              f"{'sync vs RBP':>13}"]
    for r in report["gradients"]:
        own = (f"{r['async_vs_own_rbp']:>14.4f}{r['sync_vs_own_rbp']:>13.4f}"
               if "async_vs_own_rbp" in r else "")
        lines.append(f"{r['estimate']:<14}{r['async_vs_sync']:>18.4f}{r['cosine']:>9.4f}" + own)
    lines.append(f"\n({report['seconds']:.1f} s)")
    return "\n".join(lines)


def write_csv(path: str, report: dict) -> None:
    """One row per schedule, iteration and example: residual, and the distance to the final
    state where the grid measured it (empty elsewhere); written atomically."""
    rows = []
    for m, s in report["schedules"].items():
        dist = dict(zip(s["grid"], s["distance_to_final"]))
        for t, row in enumerate(s["residual"], start=1):
            rows += [[m, t, i, f"{r:.6e}", f"{dist[t][i]:.6e}" if t in dist else ""]
                     for i, r in enumerate(row)]
    atomic_write_csv(path, ["schedule", "iteration", "example", "residual",
                            "distance_to_final"], rows)


# --------------------------------------------------------------------------- command line


def add_arguments(p) -> None:
    """The flags of ``run.py converge``."""
    a = p.add_argument
    a("--dataset", default=None, type=choice_arg(DATASETS, "dataset"), metavar="NAME",
      help=f"dataset name ({', '.join(DATASETS)}); default: the embedded Fashion-MNIST sample")
    a("--data-dir", default=None, metavar="DIR", help="data folder for --dataset")
    a("--no-download", action="store_true", help="never download --dataset")
    a("--widths", type=list_arg(int, "widths", 4, within=AT_LEAST_ONE),
      default=(128, 256, 512, 512), metavar="V,...",
      help="four hidden widths (default 128,256,512,512: the paper's)")
    a("--batch", type=number_arg(int, "batch", AT_LEAST_ONE), default=4, metavar="N",
      help="test examples (default 4)")
    a("--iters", type=number_arg(int, "iters", AT_LEAST_ONE), default=300, metavar="N",
      help="maximum iterations of each schedule (default 300)")
    a("--tol", type=number_arg(float, "tol", NON_NEGATIVE), default=1e-13, metavar="X",
      help="stop a schedule once an iteration changes no unit by more than X (default 1e-13; "
           "0: run all --iters)")
    a("--settle-tol", type=number_arg(float, "settle-tol", POSITIVE), default=1e-8,
      metavar="X", help="residual below which a schedule counts as settled (default 1e-8)")
    a("--eq-tol", type=number_arg(float, "eq-tol", POSITIVE), default=1e-6, metavar="X",
      help="final states farther apart than X (max |ds|) are different equilibria "
           "(default 1e-6)")
    a("--betas", type=list_arg(float, "betas", within=POSITIVE), default=(0.25,),
      metavar="V,...", help="nudging strengths of the rules' gradients (default 0.25)")
    a("--train-iters", type=number_arg(int, "train-iters", AT_LEAST_ONE), default=15,
      metavar="N", help="iterations of each second phase (default 15)")
    a("--rbp-iters", type=number_arg(int, "rbp-iters", AT_LEAST_ONE), default=100, metavar="N",
      help="RBP terms of the reference gradient (default 100)")
    a("--seed", type=number_arg(int, "seed", NON_NEGATIVE), default=0, metavar="N",
      help="seed of the batch and the parameters (default 0)")
    a("--gains", type=list_arg(float, "gains", 5, broadcast=True, within=POSITIVE),
      default=(0.5,) * 5, metavar="V,...", help="weight gains, one or five numbers (default 0.5)")
    a("--device", default="cpu", type=choice_arg(DEVICES, "device"), metavar="NAME",
      help="cpu or gpu (default cpu)")
    a("--dtype", default="float64", type=choice_arg(DTYPES, "dtype"), metavar="NAME",
      help="float64 (default), float32 or float16 (gpu only)")
    a("--json", default=None, metavar="PATH", help="also write the report as JSON")
    a("--csv", default=None, metavar="PATH",
      help="also write the trajectories (schedule, iteration, example, residual, distance)")


def parse_args(argv=None):
    p = Parser(prog="run.py converge",
               description="Asynchronous vs synchronous relaxation from the zero state: "
                           "convergence, the equilibria reached, their F and the rules' "
                           "gradients at each.")
    add_arguments(p)
    try:
        args = p.parse_args(argv)
    except UsageError as exc:
        raise SystemExit(f"converge: {exc}") from None
    args.tol = args.tol or None
    return args


def main(argv=None) -> int:
    """Entry point of ``python run.py converge [options]``; bad input raises SystemExit with
    one line (exit status 2 through ``run.py``)."""
    args = parse_args(argv)
    report = run_converge(args)
    print(format_report(report))
    write_outputs("converge", ((args.json, write_json), (args.csv, write_csv)), report)
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["converge", *sys.argv[1:]]))

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
from .backend import DEVICES, DTYPES, BackendError, get_backend, to_host
from .backprop import rbp_gradient
from .data import DATASETS, DataError, load_dataset, load_sample, preprocess
from .minimize import free_phase
from .network import DCHN, HIDDEN, PARAM_NAMES, all_drives, init_params, one_hot
from .flags import Parser
from .jsonfile import write_json
from .rules import Phases
from .values import (AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, UsageError, choice_arg, list_arg,
                     number_arg)

BETA_RULES = ("p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl")  # depend on β
FREE_RULES = ("cl", "tbp")                                        # do not
SLOPES = {"p-ep": 1, "n-ep": 1, "c-ep": 2, "p-cpl": 1, "n-cpl": 1, "c-cpl": 2}
DEFAULT_BETAS = (0.5, 0.25, 0.1, 0.05, 0.01)
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
    ref = host(rbp_gradient(params, free.s, y, args.rbp_iters, free.drives)[0])
    half = host(rbp_gradient(params, free.s, y, max(1, args.rbp_iters // 2), free.drives)[0])
    ph = Phases(params, y, free, args.train_iters)  # remembers its phases: shared by rules
    rows = []
    for rule in FREE_RULES:
        rows.append({"rule": rule, "beta": None, **compare(host(ALGORITHMS[rule](ph)), ref)})
    for beta in args.betas:
        for rule in BETA_RULES:
            g = ALGORITHMS[rule](ph, beta)
            rows.append({"rule": rule, "beta": beta, **compare(host(g), ref)})
    free_set = active_set(params, free.s, free.drives)

    def moved_from_free(eq):
        return changes(free_set, active_set(params, eq.s, eq.drives))

    moved = {f"{beta:g}": {f"{name}{sign}": moved_from_free(phase(b))
                           for name, phase in (("ep", ph.nudged), ("cpl", ph.coupled))
                           for sign, b in (("+", beta), ("-", -beta))}
             for beta in args.betas}
    slopes = {rule: fitted_slope(args.betas, [r["rel_error"]["all"] for r in rows
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
                      "tail": compare(half, ref)["rel_error"]["all"]},
        "params": list(PARAM_NAMES),
        "rows": rows,
        "slopes": slopes,
        "active_set_changes": moved,
        "active_units": sum(int(a.size) for a in free_set),
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- output


def format_metric_table(report: dict, metric: str, title: str) -> str:
    cols = report["params"] + ["all"]
    lines = [title, f"{'rule':<7}{'beta':>7} " + "".join(f"{c:>8}" for c in cols)]
    for r in report["rows"]:
        beta = "-" if r["beta"] is None else f"{r['beta']:g}"
        lines.append(f"{r['rule']:<7}{beta:>7} "
                     + "".join(f"{r[metric][c]:>8.4f}" for c in cols))
    return "\n".join(lines)


def format_report(report: dict) -> str:
    ref = report["reference"]
    head = (f"gradcheck on {report['dataset']}: batch {report['config']['batch']}, widths "
            f"{','.join(map(str, report['config']['widths']))}, {report['config']['dtype']}; "
            f"free phase {report['config']['free_iters']} it (residual "
            f"{report['free_residual']:.2e}), second phases and TBP "
            f"{report['config']['train_iters']} it\n"
            f"reference: RBP with {ref['iterations']} iterations; relative change from "
            f"{max(1, ref['iterations'] // 2)} iterations: {ref['tail']:.2e}")
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
    for path, write in outputs:
        if path:
            try:
                write(path, report)
            except OSError as exc:
                raise SystemExit(f"gradcheck: cannot write {path}: {exc}") from None
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["gradcheck", *sys.argv[1:]]))

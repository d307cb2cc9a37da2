"""One Markdown table over seeds and gains from committed ``run.py gradcheck --json`` reports.

Reads the JSON files (default: the repository's ``results/equilibria/gradcheck-*.json``) and
recomputes nothing: per weight gain and β it prints the relative error (all parameters, against
RBP) of P-EP, N-EP and C-EP over every example (the report's ``rows``) and without the examples
that jumped in either sign (``smooth_rows``), as mean ± std (sample std, ddof 1) over the seeds
present; the jumped counts of EP per sign and seed (``jumps[β]["ep+"/"ep-"]["jumped"]``); and
the fitted slope of log(error) against log(β) without jumps (``smooth_slopes``, see
``ebl_ref.gradcheck.fitted_slope``). Theory for one smooth branch (paper Theorems 2–3): slope 1
for P/N-EP, 2 for C-EP.

Usage::

    python scripts/equilibria_summary.py [REPORT.json ...] > results/equilibria/summary.md

Errors: a missing or unreadable file, or reports whose settings other than seed and gain differ,
print one line naming the file and exit 2.
"""

from __future__ import annotations

import glob
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

RULES = ("p-ep", "n-ep", "c-ep")
RESULTS = Path(__file__).resolve().parent.parent / "results" / "equilibria"
# Settings that must agree across the reports combined in one table.
SHARED = ("dataset", "widths", "batch", "betas", "free_iters", "train_iters", "rbp_iters",
          "jump_iters", "jump_tol", "dtype")


def fail(msg: str):
    print(f"equilibria_summary: {msg}", file=sys.stderr)
    sys.exit(2)


def load(paths: list) -> list:
    """The reports, each as the parsed JSON dict; exits 2 on a bad file or mixed settings."""
    reports = []
    for path in paths:
        try:
            with open(path) as fh:
                rep = json.load(fh)
            rep["config"]["gains"], rep["config"]["seed"]  # noqa: B018 (presence check)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"{path}: not a gradcheck --json report ({exc}); pass reports written by "
                 "`run.py gradcheck --json`")
        rep["_path"] = path
        reports.append(rep)
    if not reports:
        fail(f"no reports found in {RESULTS}; pass gradcheck --json files as arguments")
    first = reports[0]["config"]
    for rep in reports[1:]:
        for key in SHARED:
            if rep["config"].get(key) != first.get(key):
                fail(f"{rep['_path']}: setting {key}={rep['config'].get(key)!r} differs from "
                     f"{reports[0]['_path']} ({first.get(key)!r}); combine like runs only")
    return reports


def mean_std(values: list) -> str:
    """'m ± s' over the finite values (s: sample std; '–' with none, no ± with one)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "–"
    m = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{m:.3g}"
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return f"{m:.3g} ± {s:.2g}"


def error(rows: list, rule: str, beta: float) -> float:
    """Relative error (all parameters) of ``rule`` at ``beta`` in a report's row list."""
    for r in rows:
        if r["rule"] == rule and r["beta"] is not None and math.isclose(r["beta"], beta):
            v = r["rel_error"]["all"]
            return math.nan if v is None else float(v)
    return math.nan


def examples(rows: list, beta: float) -> int:
    """Examples kept in the EP rows of ``smooth_rows`` at ``beta``."""
    for r in rows:
        if r["rule"] == "p-ep" and math.isclose(r["beta"], beta):
            return r["examples"]
    return 0


def jump_gap(rep: dict) -> tuple:
    """(largest distance of a returned example, smallest and largest of a jumped one, jumps at
    lower F, jumps) over every β, sign and family of one report's ``jumps``."""
    back, away, lower, total = [], [], 0, 0
    for by_phase in rep["jumps"].values():
        for rec in by_phase.values():
            jumped = set(rec["jumped"])
            for i, d in enumerate(rec["returned"]):
                (away if i in jumped else back).append(d)
            lower += sum(1 for i in jumped if rec["delta_F"][i] < 0)
            total += len(jumped)
    return (max(back, default=math.nan), min(away, default=math.nan),
            max(away, default=math.nan), lower, total)


def table(reports: list) -> str:
    cfg = reports[0]["config"]
    betas = cfg["betas"]
    by_gain = defaultdict(list)
    for rep in reports:
        by_gain[tuple(rep["config"]["gains"])].append(rep)
    lines = [
        f"gradcheck on {cfg['dataset']}: widths {'-'.join(map(str, cfg['widths']))}, batch "
        f"{cfg['batch']}, {cfg['dtype']}, {cfg['free_iters']} free / {cfg['train_iters']} "
        f"second-phase iterations, RBP {cfg['rbp_iters']} terms, jump criterion "
        f"{cfg['jump_iters']} iterations at β = 0, tolerance {cfg['jump_tol']:g}. Relative error "
        "of all parameters against RBP, P-EP / N-EP / C-EP, mean ± std (ddof 1) over the seeds; "
        "'jumped' counts EP examples per seed (+β / −β); 'n kept' the examples with no jump in "
        "either sign, per seed. Files: " + ", ".join(sorted(r["_path"].split("/")[-1]
                                                          for r in reports)) + ".",
        "",
        "| gain | seeds | β | every example | jumped +β / −β per seed | n kept per seed "
        "| without jumped examples |",
        "|---|---|---|---|---|---|---|",
    ]
    for gains in sorted(by_gain):
        reps = sorted(by_gain[gains], key=lambda r: r["config"]["seed"])
        gain = gains[0] if len(set(gains)) == 1 else ",".join(f"{g:g}" for g in gains)
        seeds = ",".join(str(r["config"]["seed"]) for r in reps)
        for beta in betas:
            key = f"{beta:g}"
            every = " / ".join(mean_std([error(r["rows"], k, beta) for r in reps]) for k in RULES)
            smooth = " / ".join(mean_std([error(r["smooth_rows"], k, beta) for r in reps])
                                for k in RULES)
            plus = [len(r["jumps"][key]["ep+"]["jumped"]) for r in reps]
            minus = [len(r["jumps"][key]["ep-"]["jumped"]) for r in reps]
            jumped = ", ".join(f"{p}/{m}" for p, m in zip(plus, minus))
            jumped += f" (Σ {sum(plus)}/{sum(minus)})"
            kept = ", ".join(str(examples(r["smooth_rows"], beta)) for r in reps)
            lines.append(f"| {gain:g} | {seeds} | {beta:g} | {every} | {jumped} | {kept} "
                         f"| {smooth} |")
        slope = " / ".join(mean_std([r["smooth_slopes"][k] for r in reps]) for k in RULES)
        slope_all = " / ".join(mean_std([r["slopes"][k] for r in reps]) for k in RULES)
        lines.append(f"| {gain:g} | {seeds} | slope | {slope_all} | | | {slope} |")
    lines += ["", "| gain | seed | s* residual | RBP 100 vs 50 terms | TBP vs RBP | returned "
              "examples within | jumped examples stayed | jumped with F < F(s*) |",
              "|---|---|---|---|---|---|---|---|"]
    for rep in sorted(reports, key=lambda r: (r["config"]["gains"], r["config"]["seed"])):
        ref, gap = rep["reference"], jump_gap(rep)
        tbp = ref["tbp_rel_difference"]["all"] if ref["tbp_rel_difference"] else math.nan
        lines.append(f"| {rep['config']['gains'][0]:g} | {rep['config']['seed']} "
                     f"| {rep['free_residual']:.2g} | {ref['tail']:.2g} | {tbp:.2g} "
                     f"| {gap[0]:.2g} | {gap[1]:.2g} to {gap[2]:.2g} | {gap[3]} of {gap[4]} |")
    lines += ["", "'returned' / 'stayed': max |Δs| from s* after relaxing each second-phase "
              "state further at β = 0, over every β, sign and family (EP and CpL); 'F < F(s*)': "
              "jumps (example, β, sign, family) whose other fixed point has the lower F."]
    lines += ["", "'slope': least-squares slope of log(error) against log(β) over the β above "
              "(theory for one smooth branch: P/N-EP 1, C-EP 2); without jumps, each β keeps its "
              "own subset of examples, so the slope mixes a change of subset with the change of "
              "β."]
    return "\n".join(lines)


def main(argv: list) -> None:
    paths = argv or sorted(glob.glob(str(RESULTS / "gradcheck-*.json")))
    print(table(load(paths)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Side-by-side benchmark of two revisions: ``python -m ebl_ref.compare REV [-- BENCH FLAGS]``.

A speed-up is only a number when both sides ran on the same machine, in the same environment, at
the same time. This checks revision ``REV`` out into a temporary git worktree (side A) and runs
the benchmark of A and of this checkout (side B, the working tree as it is) alternately,
A B A B …, each as a fresh process ``python -m ebl_ref.bench --json FLAGS`` with the same
environment (only ``PYTHONPATH`` differs, pointing at each side's tree). Each process times
in-process (one warm-up, then the median of ``--repeats`` calls, see :mod:`ebl_ref.bench`);
this prints, per measurement, the median over the rounds of each side, the spread, and the
ratio B/A of the medians, with the machine, BLAS library, kernel and threads named
(:mod:`ebl_ref.machine`). Alternation makes a machine shared with other jobs slow both sides
alike; medians ignore the odd disturbed round.

Example (the environment's kernel override unset for the benchmark only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m ebl_ref.compare 29f3fb3 \\
        --rounds 5 -- --batch 16 --free-iters 60 --train-iters 15 --repeats 3
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .machine import describe, machine_info
from .provenance import git_revision

ROOT = Path(__file__).resolve().parent.parent  # this checkout: side B
METRICS = ("free_phase", "cep_step")


class CompareError(RuntimeError):
    """A revision that cannot be checked out or a benchmark that failed, with the reason."""


@contextlib.contextmanager
def worktree(rev: str, repo: Path = ROOT):
    """A temporary detached git worktree of ``rev`` (removed afterwards); yields its path."""
    with tempfile.TemporaryDirectory(prefix="ebl-compare-") as tmp:
        path = Path(tmp) / "tree"
        r = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet",
                            str(path), rev], capture_output=True, text=True)
        if r.returncode:
            raise CompareError(f"cannot check out {rev!r} from {repo}: {r.stderr.strip()}")
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
                           capture_output=True)


def describe_tree(root: Path = ROOT) -> str:
    """``root``'s commit, short, with ``+changes`` if its work tree differs from it (what side B
    measured; :func:`ebl_ref.provenance.git_revision`), e.g. ``436a5e8`` or
    ``436a5e8+changes``; ``unknown`` outside a git checkout."""
    rev = git_revision(root)
    if rev is None:
        return "unknown"
    return rev.removesuffix("-dirty")[:7] + ("+changes" if rev.endswith("-dirty") else "")


def run_side(root: Path, flags: list, command=None) -> dict:
    """One benchmark process in tree ``root``: its JSON result (the last line of stdout)."""
    command = command or [sys.executable, "-m", "ebl_ref.bench", "--json"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]]
                                                        if env.get("PYTHONPATH") else []))
    r = subprocess.run(command + list(flags), cwd=root, env=env, capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode or not lines:
        raise CompareError(f"benchmark in {root} failed (exit {r.returncode}): "
                           f"{(r.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(lines[-1])


def alternate(sides: dict, rounds: int, run=run_side) -> dict:
    """Run every side once per round, in the order given (A B A B …).

    ``sides`` maps a label to ``(root, flags)``. Returns ``{label: [result, …]}``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    results = {label: [] for label in sides}
    for i in range(rounds):
        for label, (root, flags) in sides.items():
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            r = run(root, flags)
            r["load_before"] = load  # 1-minute load average as this side started
            results[label].append(r)
            print(f"round {i + 1}/{rounds} {label}: " + ", ".join(
                f"{m} {r[m]['examples_per_s']:.3f} ex/s" for m in METRICS if m in r),
                file=sys.stderr, flush=True)
    return results


def summarise(results: dict, a: str = "A", b: str = "B") -> dict:
    """Per metric: each side's median examples/s, min and max over rounds, and B/A."""
    out = {}
    for m in METRICS:
        med = {}
        for label in (a, b):
            rates = [r[m]["examples_per_s"] for r in results[label]]
            med[label] = {"median": statistics.median(rates), "min": min(rates),
                          "max": max(rates), "rounds": rates}
        out[m] = {**med, "ratio": med[b]["median"] / med[a]["median"]}
    return out


def _parse(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_flags = []
    if "--" in argv:
        i = argv.index("--")
        argv, bench_flags = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m ebl_ref.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rev", help="git revision of side A (the baseline), e.g. 29f3fb3 or main")
    p.add_argument("--rounds", type=int, default=3, help="A B rounds (default 3)")
    p.add_argument("--a-flags", default="", help="extra benchmark flags for side A only")
    p.add_argument("--b-flags", default="", help="extra benchmark flags for side B only, "
                   "e.g. \"--conv im2col\"")
    p.add_argument("--out", help="also write the whole comparison as JSON to this file")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be >= 1, got {args.rounds}")
    return args, bench_flags


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds, so the temporary worktree is removed


def main(argv=None) -> int:
    args, flags = _parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    info = machine_info()
    for w in info["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    try:
        with worktree(args.rev) as tree_a:
            sides = {"A": (tree_a, flags + shlex.split(args.a_flags)),
                     "B": (ROOT, flags + shlex.split(args.b_flags))}
            results = alternate(sides, args.rounds)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = summarise(results)
    head = results["B"][0]
    rev_b = describe_tree()
    print(f"A = {args.rev} {args.a_flags}".rstrip() + "; "
          + f"B = this checkout ({rev_b}) {args.b_flags}".rstrip())
    rounds = f"{args.rounds} round{'s' if args.rounds > 1 else ''}"
    print(f"widths {head['widths']}, batch {head['batch']}, {head['device']} {head['dtype']}, "
          f"conv {head.get('conv', '?')}, {head['free_iters']}/{head['train_iters']} iterations; "
          f"{rounds} A B, in-process median of each process's timed repeats")
    print(describe(info))
    loads = [r["load_before"] for side in results.values() for r in side
             if r.get("load_before") is not None]
    if loads:
        print(f"1-minute load average before each side: {min(loads):.1f}–{max(loads):.1f} "
              f"on {info['cores']} logical CPUs")
    for m, s in summary.items():
        print(f"{m:10s}  A {s['A']['median']:8.3f} ex/s [{s['A']['min']:.3f}–{s['A']['max']:.3f}]"
              f"  B {s['B']['median']:8.3f} ex/s [{s['B']['min']:.3f}–{s['B']['max']:.3f}]"
              f"  B/A {s['ratio']:.3f}")
    if args.out:
        record = {"rev_a": args.rev, "rev_b": rev_b, "a_flags": args.a_flags,
                  "b_flags": args.b_flags,
                  "bench_flags": flags, "rounds": args.rounds, "machine": info,
                  "summary": summary, "results": results}
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python run.py study {plan,show,run,status,table,plot,export}``: a comparative study.

    python run.py study plan table1 --gflops 20          # the 135 cells and their cost
    python run.py study run cpu-small --out runs/cpu-small --data-dir ~/datasets --workers 2
    python run.py study status runs/cpu-small
    python run.py study table runs/cpu-small --paper
    python run.py study plot runs/cpu-small
    python run.py study export runs/cpu-small results/cpu-small   # no checkpoints

A STUDY is a built-in name (table1, table2, cpu-small, smoke) or a .toml/.json study file
(docs/STUDY.md; ``study show NAME`` prints a built-in one as a file to start from).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path

from ..config import ConfigError
from ..flags import plain
from .spec import StudyError

EXECUTORS = ("local", "slurm", "submitit-local")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python run.py study", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="list the cells of a study and their estimated cost")
    plan.add_argument("study", help="built-in study name or study file")
    plan.add_argument("--gflops", type=float,
                      help="sustained GFLOP/s of one worker, e.g. cep_step.gflops of "
                           "'python -m ebl_ref.bench' at the study's widths: adds hours")
    plan.add_argument("--workers", type=int, default=1,
                      help="workers running cells at once (for the wall-clock estimate)")
    plan.add_argument("--data-dir", help="count the examples of the datasets found there "
                                         "(default: the original distributions' sizes)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    show = sub.add_parser("show", help="print a study as a JSON study file")
    show.add_argument("study")

    run = sub.add_parser("run", help="run (or continue) a study into a folder")
    run.add_argument("study", help="built-in study name or study file")
    run.add_argument("--out", required=True, help="the study folder (created, or continued)")
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="local: worker processes here (default); slurm: one SLURM job array "
                          "through submitit; submitit-local: the slurm code path on this "
                          "machine (submitit's LocalExecutor)")
    run.add_argument("--workers", type=int, default=1, help="local: cells at once (default 1)")
    run.add_argument("--threads", type=int,
                     help="BLAS threads per worker (local default: usable cores / workers; "
                          "slurm default: --cpus)")
    run.add_argument("--retry-failed", action="store_true",
                     help="run failed cells again (resumed from their checkpoint if any)")
    run.add_argument("--only", metavar="GLOB", action="append",
                     help="run only the cells whose key matches, e.g. 'mnist/*' (repeatable)")
    run.add_argument("--device", choices=["cpu", "gpu"], help="passed to every cell")
    run.add_argument("--data-dir", help="passed to every cell (a path valid where cells run)")
    run.add_argument("--log-every", type=int, help="passed to every cell")
    slurm = run.add_argument_group("slurm (--executor slurm or submitit-local)")
    slurm.add_argument("--partition")
    slurm.add_argument("--time", type=int, metavar="MIN",
                       help="time limit of each job in minutes (a cell longer than this is "
                            "requeued and resumed)")
    slurm.add_argument("--gpus", type=int, help="GPUs per job")
    slurm.add_argument("--cpus", type=int, help="CPUs per job (also its BLAS threads)")
    slurm.add_argument("--mem", type=int, metavar="GB", help="memory per job in GB")
    slurm.add_argument("--max-parallel", type=int, metavar="N",
                       help="at most N jobs of the array at once (#SBATCH --array=...%%N)")
    slurm.add_argument("--signal-delay", type=int, default=120, metavar="S",
                       help="seconds before the time limit at which the job is signalled to "
                            "save and requeue (default 120)")
    slurm.add_argument("--max-requeues", type=int, default=10,
                       help="requeues after a time-out before a cell is given up (default 10)")
    slurm.add_argument("--setup", action="append", metavar="CMD",
                       help="shell line run before each job (e.g. 'source .venv/bin/activate')")
    slurm.add_argument("--sbatch", action="append", metavar="KEY=VALUE",
                       help="any other #SBATCH option, e.g. --sbatch qos=high")
    slurm.add_argument("--wait", action="store_true", help="wait for the jobs and report")

    status = sub.add_parser("status", help="one line per cell: done, running, interrupted, "
                                           "failed, pending")
    status.add_argument("dir", help="the study folder")
    status.add_argument("--json", action="store_true")

    table = sub.add_parser("table", help="Table 1 layout, the paper beside, the lessons")
    table.add_argument("dir", help="the study folder")
    table.add_argument("--paper", action="store_true", help="the paper's numbers beside ours")
    fmt = table.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")

    plot = sub.add_parser("plot", help="learning curves: a panel per dataset, a line per "
                                       "algorithm (needs matplotlib)")
    plot.add_argument("dir", help="the study folder")
    plot.add_argument("--out", help="PNG file (default DIR/curves.png)")
    plot.add_argument("--train", action="store_true", help="also draw the training error")

    export = sub.add_parser("export", help="copy the committable record (configs, metrics, "
                                           "summaries, status, table, curves; no checkpoints)")
    export.add_argument("dir", help="the study folder")
    export.add_argument("out", help="the folder to write (absent, empty, or an earlier export)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"plan": _plan, "show": _show, "run": _run, "status": _status, "table": _table,
                "plot": _plot, "export": _export}
    try:
        return commands[args.command](args)
    except (StudyError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _cells(name):
    from .plan import expand  # noqa: PLC0415
    from .spec import load_study  # noqa: PLC0415
    study = load_study(name)
    return study, expand(study)


def _positive(value, flag):
    if value is not None and value < 1:
        raise StudyError(f"{flag} must be >= 1, got {value}")


# --------------------------------------------------------------------------- plan, show

def _plan(args) -> int:
    from .cost import cell_cost  # noqa: PLC0415
    from .executors import format_seconds  # noqa: PLC0415

    _positive(args.workers, "--workers")
    if args.gflops is not None and not args.gflops > 0:
        raise StudyError(f"--gflops must be > 0, got {args.gflops}")
    study, cells = _cells(args.study)
    sizes = {}
    if args.data_dir:
        from ..data import DataError, dataset_sizes  # noqa: PLC0415
        try:
            sizes = {d: dataset_sizes(d, args.data_dir)
                     for d in {c.config["dataset"] for c in cells}}
        except DataError as exc:
            raise StudyError(str(exc)) from None
    costs = [cell_cost(c.config, sizes.get(c.config["dataset"])) for c in cells]
    hours = [k.hours(args.gflops) for k in costs] if args.gflops else None
    if args.json:
        print(json.dumps({"study": study.to_dict(), "gflops": args.gflops, "cells": [
            {"key": c.key, "argv": list(c.argv), "epochs": k.epochs,
             "train_examples": k.train_examples, "eval_examples": k.eval_examples,
             "flops": k.flops, **({"hours": h} if hours else {})}
            for c, k, h in zip(cells, costs, hours or [None] * len(cells))]}, indent=1))
        return 0
    print(f"study {study.name}: {study.description} ({len(cells)} cells)")
    width = max(len(c.key) for c in cells)
    head = f"{'cell':<{width}}  epochs  train/epoch  eval/epoch      FLOP"
    print(head + ("    hours" if hours else ""))
    for i, (c, k) in enumerate(zip(cells, costs)):
        line = (f"{c.key:<{width}}  {k.epochs:>6}  {k.train_examples:>11}  "
                f"{k.eval_examples:>10}  {flops_text(k.flops):>8}")
        print(line + (f"  {hours[i]:7.2f}" if hours else ""))
    total = sum(k.flops for k in costs)
    print(f"total: {flops_text(total)}FLOP")
    if hours:
        span = makespan(hours, args.workers)
        print(f"at {args.gflops:g} GFLOP/s per worker: {sum(hours):.2f} worker-hours; "
              f"{format_seconds(span * 3600)} wall-clock with {args.workers} worker(s) "
              "taking cells in plan order")
    else:
        print("hours: pass --gflops (e.g. cep_step.gflops of 'python -m ebl_ref.bench "
              "--widths W --batch B --free-iters F --train-iters T --json')")
    print("counted: relaxation iterations (free phase, second phases, TBP/RBP's VJPs), the "
          "parameter gradients, and the evaluation of the validation and test splits after "
          "every epoch; convolutions and dense products only (ebl_ref/study/cost.py)")
    return 0


def flops_text(x: float) -> str:
    """``12.3 T``, ``521.2 P``: FLOPs with an SI prefix."""
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9)):
        if x >= scale:
            return f"{x / scale:.1f} {prefix}"
    return f"{x:.3g} "


def makespan(durations, workers: int) -> float:
    """Finish time of ``durations`` taken in order by ``workers`` (each takes the next cell
    when it becomes free), as the local executor does."""
    free = [0.0] * max(1, workers)
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def _show(args) -> int:
    study, _ = _cells(args.study)
    print(json.dumps(study.to_dict(), indent=2))
    return 0


# --------------------------------------------------------------------------- run

def _runtime_argv(args) -> list:
    out = []
    if args.device:
        out += ["--device", args.device]
    if args.device == "gpu" and args.executor != "slurm":  # the cells run on this machine
        from ..backend import BackendError, get_backend  # noqa: PLC0415
        try:
            get_backend("gpu")
        except BackendError as exc:
            raise StudyError(f"{exc} (--executor {args.executor} runs the cells here)") from None
    if args.data_dir:
        if not Path(args.data_dir).is_dir():
            raise StudyError(f"--data-dir {args.data_dir} is not a folder: give the folder "
                             "that holds <dataset>/")
        out += ["--data-dir", args.data_dir]
    if args.log_every is not None:
        _positive(args.log_every, "--log-every")
        out += ["--log-every", str(args.log_every)]
    return out


def _run(args) -> int:
    from .cells import study_states  # noqa: PLC0415
    from .folder import save_plan  # noqa: PLC0415
    from .status import counts  # noqa: PLC0415

    _positive(args.workers, "--workers")
    _positive(args.threads, "--threads")
    study, cells = _cells(args.study)
    runtime = _runtime_argv(args)
    out = Path(args.out)
    if args.executor == "slurm":
        out = out.resolve()  # jobs may start elsewhere
    save_plan(out, study, cells)
    states = study_states(out, cells)
    wanted = {"pending", "interrupted"} | ({"failed"} if args.retry_failed else set())
    todo = [s.key for s in states if s.state in wanted
            and (not args.only or any(fnmatch.fnmatchcase(s.key, g) for g in args.only))]
    c = counts(states)
    print(f"study {study.name} in {out}: {len(cells)} cells, " +
          ", ".join(f"{c[k]} {k}" for k in c) + f"; running {len(todo)}")
    for s in states:
        if s.state == "failed" and not args.retry_failed:
            print(f"  not retried (failed; --retry-failed): {s.key}: {s.last_error}")
        if s.state == "running":
            print(f"  skipped (running elsewhere): {s.key}")
    if not todo:
        print("nothing to run")
        return 1 if c["failed"] else 0
    if args.executor == "local":
        code = _run_local(args, out, todo, runtime)
    else:
        code = _run_submitit(args, study, out, todo, runtime)
    if code in (130, 143) or (args.executor != "local" and not args.wait):
        return code
    after = study_states(out, cells)
    final = counts(after)
    print(f"study {study.name}: " + ", ".join(f"{final[k]} {k}" for k in final))
    unfinished = [s for s in after if s.key in todo and s.state != "done"]
    if any(s.state != "failed" for s in unfinished):
        print("some cells did not finish: re-run the same command to continue them")
    return 1 if unfinished else 0


def _run_local(args, out, todo, runtime) -> int:
    from .executors import default_threads, run_local  # noqa: PLC0415
    threads = args.threads or default_threads(args.workers)
    print(f"local executor: {min(args.workers, len(todo))} worker(s) x {threads} BLAS "
          f"thread(s); logs in {out / 'logs'}")
    return run_local(out, todo, runtime, args.workers, threads)


def _run_submitit(args, study, out, todo, runtime) -> int:
    try:
        from . import slurm  # noqa: PLC0415
    except ImportError:
        raise StudyError("--executor slurm needs submitit: pip install 'ebl-ref[cluster]'") \
            from None
    extra = {}
    for item in args.sbatch or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StudyError(f"--sbatch {item}: write KEY=VALUE, e.g. --sbatch qos=high")
        extra[key] = value
    for flag in ("time", "gpus", "cpus", "mem", "max_parallel", "max_requeues"):
        if flag != "max_requeues":
            _positive(getattr(args, flag), f"--{flag.replace('_', '-')}")
    if args.signal_delay < 1:
        raise StudyError(f"--signal-delay must be >= 1, got {args.signal_delay}")
    if args.max_requeues < 0:
        raise StudyError(f"--max-requeues must be >= 0, got {args.max_requeues}")
    threads = args.threads
    if threads is None and args.executor == "submitit-local":
        from .executors import default_threads  # noqa: PLC0415 - all jobs run at once here
        threads = default_threads(len(todo))
    params = slurm.slurm_parameters(study.name, partition=args.partition, time_min=args.time,
                                    gpus=args.gpus, cpus=args.cpus, mem_gb=args.mem,
                                    max_parallel=args.max_parallel,
                                    signal_delay_s=args.signal_delay, setup=args.setup or (),
                                    extra=extra)
    jobs = slurm.submit(out, todo, runtime, params, local=args.executor == "submitit-local",
                        max_requeues=args.max_requeues, threads=threads)
    if not args.wait:
        print(f"follow with: python run.py study status {out}")
        return 0
    return slurm.wait(jobs, todo, out)


# --------------------------------------------------------------------------- status, table, plot

def _status(args) -> int:
    from .cells import study_states  # noqa: PLC0415
    from .folder import load_plan  # noqa: PLC0415
    from .status import counts, format_status  # noqa: PLC0415
    _, cells = load_plan(Path(args.dir))
    states = study_states(Path(args.dir), cells)
    if args.json:
        print(json.dumps({"cells": [s.to_dict() for s in states], "counts": counts(states)},
                         indent=1))
    else:
        print(format_status(states))
    return 0


def _table(args) -> int:
    from .folder import load_plan  # noqa: PLC0415
    from .table import build, format_text  # noqa: PLC0415
    _, cells = load_plan(Path(args.dir))
    built = build(Path(args.dir), cells, paper=args.paper)
    if args.json:
        print(json.dumps(built, indent=1))
    else:
        print(format_text(built, paper=args.paper, markdown=args.markdown))
    return 0


def plot_study(study_dir: Path, out: Path, study, cells, train: bool = False) -> Path:
    """Draw the study's learning curves into ``out`` (ImportError without matplotlib)."""
    import matplotlib  # noqa: PLC0415, F401
    from ..plot import draw  # noqa: PLC0415
    from ..tables import read_runs  # noqa: PLC0415
    from .table import study_groups  # noqa: PLC0415
    runs, _ = read_runs([study_dir / c.key for c in cells if (study_dir / c.key).is_dir()])
    groups, keys = study_groups(runs, cells)
    return draw(groups, keys, out, train=train,
                title=f"study {study.name}: mean test error over seeds; band: lowest to "
                      "highest seed")


def _plot(args) -> int:
    from ..plot import PlotError  # noqa: PLC0415
    from .folder import load_plan  # noqa: PLC0415
    study_dir = Path(args.dir)
    study, cells = load_plan(study_dir)
    out = Path(args.out) if args.out else study_dir / "curves.png"
    try:
        plot_study(study_dir, out, study, cells, train=args.train)
    except ImportError:
        print("error: plotting needs matplotlib: pip install 'ebl-ref[plot]'", file=sys.stderr)
        return 2
    except PlotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def _export(args) -> int:
    from .export import export  # noqa: PLC0415
    export(Path(args.dir), Path(args.out))
    return 0

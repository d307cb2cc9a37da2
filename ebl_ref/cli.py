"""The command line: ``python run.py [COMMAND] ...`` (also ``ebl-ref``, ``python -m ebl_ref``).

    python run.py                                   # train: quick preset, embedded sample, CPU
    python run.py --algo n-ep --dataset fashion-mnist --device gpu   # Table 1 settings
    python run.py --resume runs/<folder>            # continue a stopped run (or extend it)
    python run.py eval runs/<folder>                # its test error again, or --split val ...
    python run.py config comparative                # a preset's settings (or a run folder's)
    python run.py plot runs/a runs/b --out curves.png
    python run.py table runs/*                      # Table-1 style mean ± std over seeds
    python run.py gradcheck                         # each rule vs RBP, layer by layer
    python run.py bench                             # throughput of the relaxation
    python run.py trace --out DIR                   # golden reference trace for ports

Without a command name the arguments are ``train``'s. :func:`main` returns the exit status
and never calls ``sys.exit``: 0 done, 1 an unexpected error, 2 bad input or a damaged file
(one line, no traceback), 3 the run diverged, 130 / 143 / 138 stopped by SIGINT / SIGTERM /
SIGUSR1 (continue with ``--resume``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

from . import bench, configcmd, converge, evalcmd, gradcheck, plot, runner, tables, trace
from .backend import BackendError
from .config import RESUMABLE, flag, resolve
from .data import DataError
from .flags import Parser, add_config_flags, given_settings
from .jsonfile import BadFileError
from .presets import default_preset
from .progname import program
from .runner import RunStopped
from .study import cli as study_cli
from .values import UsageError


@dataclass(frozen=True)
class Command:
    summary: str
    run: Callable[[list], int]   # argv (after the command name) -> exit status


def prog() -> str:
    """How this program was started, for usage lines and advice (:mod:`ebl_ref.progname`)."""
    return program()


# --------------------------------------------------------------------------- train

def train_parser() -> Parser:
    """The parser of ``train``: ``--out``, ``--resume`` and one flag per Config field."""
    commands = "\n".join(f"  {name:<10} {c.summary}" for name, c in COMMANDS.items())
    p = Parser(
        prog=prog(),
        description="Train a deep convolutional Hopfield network with an energy-based "
                    "learning rule (Scellier et al., NeurIPS 2023). Flags left out take the "
                    "preset's value; config.json in the run folder records every resolved "
                    "value.",
        epilog=f"commands ({prog()} COMMAND --help for each; without one: train):\n{commands}"
               "\n\nexit status: 0 done, 1 unexpected error, 2 bad input or damaged file, 3 "
               "diverged,\n130 / 143 / 138 stopped by SIGINT / SIGTERM / SIGUSR1 (continue "
               "with --resume).")
    p.add_argument("--out", metavar="DIR",
                   help="run folder to create (absent or empty; default: a fresh folder under "
                        "./runs)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its checkpoint; only "
                        f"{', '.join(flag(k) for k in RESUMABLE)} may change (recorded in its "
                        "config.json)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the settings, the machine, the plan and the estimated duration "
                        "(a calibration of about a second), then stop: no folder is made")
    add_config_flags(p)
    return p


def train(argv: list) -> int:
    """``train``: a new run (``--out``) or a resumed one (``--resume``)."""
    args = train_parser().parse_args(argv)
    settings = given_settings(args)
    if args.resume:
        if args.out:
            raise UsageError(f"--out and --resume exclude each other: --resume {args.resume} "
                             "continues that run in its own folder")
        return runner.resume(args.resume, settings)
    config = resolve(default_preset(args.preset, args.dataset), **settings)
    if args.dry_run:
        return runner.dry_run(config)
    return runner.start(config, out=args.out)


# --------------------------------------------------------------------------- the table

COMMANDS = {
    "train": Command("train a network (the default command)", train),
    "eval": Command("evaluate a trained run again (its test, val or train split, or another "
                    "dataset)", lambda argv: evalcmd.main(argv, prog())),
    "config": Command("print a preset's or a run folder's resolved settings and plan",
                      lambda argv: configcmd.main(argv, prog())),
    "plot": Command("learning curves of run folders (needs the plot extra)", plot.main),
    "table": Command("Table 1 layout of run folders: mean ± std over seeds", tables.main),
    "gradcheck": Command("each rule's gradient against RBP's, per tensor and β",
                         gradcheck.main),
    "converge": Command("asynchronous vs synchronous relaxation: the equilibria reached",
                        converge.main),
    "bench": Command("throughput of the free phase and of a C-EP step", bench.main),
    "trace": Command("write a golden reference trace for ports", trace.main),
    "study": Command("a comparative study: plan, run, status, table, plot", study_cli.main),
}


def _fail(message, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run one command; returns its exit status (never calls ``sys.exit``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name, rest = (argv[0], argv[1:]) if argv and argv[0] in COMMANDS else ("train", argv)
    try:
        return COMMANDS[name].run(rest)
    except SystemExit as exc:  # argparse's --help (0), a command's own usage exit
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return _fail(exc.code)
    except RunStopped as exc:
        return _fail(exc, exc.exit_code)
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (UsageError, BadFileError, DataError, BackendError, FileExistsError) as exc:
        return _fail(exc)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) not in str(exc) else ""
        return _fail(f"{exc}{where}", 1)


def run_py_main() -> None:
    """Entry point of ``run.py`` and ``python -m ebl_ref.cli``."""
    sys.exit(main())


if __name__ == "__main__":
    run_py_main()


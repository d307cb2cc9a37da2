"""``run.py``: train a DCHN with any rule on any dataset, into a run folder that can be resumed,
plotted and aggregated.

    python run.py                                   # quick preset, embedded sample, CPU
    python run.py --algo n-ep --dataset fashion-mnist --device gpu   # Table 1 settings
    python run.py --resume runs/<folder>            # continue an interrupted run
    python run.py plot runs/a runs/b --out curves.png
    python run.py table runs/*                      # Table-1 style mean ± std over seeds
    python run.py gradcheck                         # each rule vs RBP, layer by layer
"""
from __future__ import annotations

import argparse
import sys

from .backend import BackendError
from .checkpoint import CheckpointError
from .config import ConfigError
from .presets import PRESETS
from .train import NonFiniteError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python run.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a deep convolutional Hopfield network with an energy-based learning "
                    "rule (Scellier et al., NeurIPS 2023).",
        epilog="Other commands: 'python run.py plot RUN_DIR...', 'python run.py table "
               "RUN_DIR...', 'python run.py gradcheck --help'. Flags left out take the "
               "preset's value; config.json in the run folder records every resolved value.")
    a = p.add_argument
    a("--algo", help="learning rule: cl, p-ep, n-ep, c-ep, p-cpl, n-cpl, c-cpl, tbp, rbp")
    a("--dataset", help="mnist, fashion-mnist, svhn, cifar10, cifar100 or "
                        "fashion-mnist-sample (embedded, offline)")
    a("--preset", choices=sorted(PRESETS),
      help="settings to start from: comparative = Table 1 (the default when --dataset names a "
           "real dataset), quick = minutes on a CPU (the default otherwise: the embedded "
           "sample), sota-cifar10 / sota-cifar100 = Table 2, speedup-fp32-sync = Laborieux "
           "et al.'s 250/30 synchronous iterations")
    a("--device", choices=["cpu", "gpu"], help="cpu (NumPy, default) or gpu (CuPy)")
    a("--dtype", choices=["float64", "float32", "float16"],
      help="floating type of states and parameters (default float32; float16 on gpu only)")
    a("--epochs", type=int, help="number of epochs (also the cosine schedule's length)")
    a("--batch-size", type=int, help="training mini-batch size")
    a("--seed", type=int, help="seed of the one Generator behind init, split, shuffle, "
                               "augmentation (default 0)")
    a("--beta", type=float, help="nudging strength β > 0 (the rule picks its sign; CL: 1)")
    a("--free-iters", type=int, help="iterations of the free phase (training and inference)")
    a("--train-iters", type=int, help="iterations of each second (nudged/clamped) phase")
    a("--mode", choices=["async", "sync"], help="minimiser schedule (default async)")
    a("--zero-term", choices=["relaxed", "free"],
      help="β = 0 state of CL and the one-sided rules: relaxed = s* relaxed as long as the "
           "other phase, so unfinished relaxation cancels (reference code, default); free = "
           "s* itself (the paper's equations)")
    a("--widths", help="four hidden-layer widths, e.g. 128,256,512,512")
    a("--gains", help="weight-init gains: five values, or one for all layers")
    a("--lr", help="learning rates per layer: five values, or one for all layers")
    a("--momentum", type=float, help="SGD momentum μ")
    a("--weight-decay", type=float, help="coupled L2 weight decay λ (all parameters)")
    a("--train-subset", type=int, help="train on the first N training examples only")
    a("--val-size", type=int,
      help="hold out N training examples for model selection (the test set never picks)")
    a("--data-dir", help="folder holding <dataset>/ (else $EBL_DATA_DIR, else a user cache)")
    a("--out", help="run folder to create (default: a fresh folder under ./runs)")
    a("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    a("--log-every", type=int, help="progress line every N batches (default 20)")
    return p


def _fail(message: str, code: int = 2):
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"plot": _plot, "table": _table, "gradcheck": _gradcheck, "study": _study}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    from .runner import run  # noqa: PLC0415
    from .data import DataError  # noqa: PLC0415
    try:
        return run(args)
    except (ConfigError, BackendError, CheckpointError, NonFiniteError, DataError,
            FileExistsError) as exc:
        return _fail(str(exc))


def _plot(argv) -> int:
    from .plot import main as plot_main  # noqa: PLC0415
    return plot_main(argv)


def _table(argv) -> int:
    from .tables import main as table_main  # noqa: PLC0415
    return table_main(argv)


def _study(argv) -> int:
    from .study.cli import main as study_main  # noqa: PLC0415
    return study_main(argv)


def _gradcheck(argv) -> int:
    from .gradcheck import main as gradcheck_main  # noqa: PLC0415
    return gradcheck_main(argv)


def run_py_main() -> None:
    """Entry point of ``run.py``."""
    sys.exit(main())


if __name__ == "__main__":
    run_py_main()

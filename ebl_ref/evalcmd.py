"""``ebl-ref eval RUN_DIR``: evaluate a trained run's parameters again, on its own test split
(reproducing the recorded test error exactly), its validation or training examples, or
another dataset of the same shape (:func:`ebl_ref.load_run`)."""
from __future__ import annotations

import sys
from dataclasses import replace

from .backend import DEVICES
from .data import DATASETS
from .flags import Parser
from .jsonfile import dumps
from .loadrun import PARAMS, SPLITS, describe_params, load_run
from .progress import make_eval_progress
from .report import pct
from .threads import blas_threads
from .values import AT_LEAST_ONE, NON_NEGATIVE, choice_arg, number_arg


def parser(prog: str) -> Parser:
    p = Parser(prog=f"{prog} eval",
               description="Evaluate a trained run again: free phases from zero with the "
                           "run's settings (iterations, schedule, dtype, evaluation batch), "
                           "so on its own test split the recorded test error is reproduced "
                           "exactly.")
    a = p.add_argument
    a("run_dir", metavar="RUN_DIR", help="a run folder (made by train)")
    a("--split", default="test", type=choice_arg(SPLITS, "split"), metavar="NAME",
      help="test, val (the run's held-out examples) or train (its training examples, not "
           "augmented) (default: test)")
    a("--params", default="last", type=choice_arg(PARAMS, "params"), metavar="NAME",
      help="last (checkpoint.npz: the latest parameters) or best (best.npz: the epoch of "
           "lowest validation error, with --val-size) (default: last)")
    a("--dataset", type=choice_arg(DATASETS, "dataset"), metavar="NAME",
      help="another dataset with the same channels and classes (default: the run's)")
    a("--data-dir", metavar="DIR", help="folder holding <dataset>/ (default: the run's)")
    a("--subset", type=number_arg(int, "subset", NON_NEGATIVE), metavar="N",
      help="the first N examples only, 0: all (default: the run's --test-subset on its own "
           "test split, else all)")
    a("--device", type=choice_arg(DEVICES, "device"), metavar="NAME",
      help="cpu or gpu (default: the run's)")
    a("--eval-batch-size", type=number_arg(int, "eval-batch-size", AT_LEAST_ONE), metavar="N",
      help="evaluation batch size (default: the run's; another one may change the last digit)")
    a("--threads", type=number_arg(int, "threads", NON_NEGATIVE), default=0, metavar="N",
      help="BLAS threads, as train's --threads (default: 0)")
    a("--json", action="store_true", help="print one JSON object instead of the line")
    return p


def main(argv, prog: str = "ebl-ref") -> int:
    args = parser(prog).parse_args(argv)
    run = load_run(args.run_dir, args.params, device=args.device)
    if args.eval_batch_size:
        run.config = replace(run.config, eval_batch_size=args.eval_batch_size)
    name = args.split if args.dataset in (None, run.config.dataset) else \
        f"{args.dataset} {args.split}"
    with blas_threads(args.threads):
        shown = None if args.json else make_eval_progress(run.config, _err, run.epoch, name)
        result = run.evaluate(args.split, args.dataset, args.data_dir, args.subset, shown)
    recorded = run.recorded()
    same = (args.split == "test" and args.dataset in (None, run.config.dataset)
            and args.subset in (None, run.config.test_subset or None) and recorded is not None)
    result.update(params=args.params, epoch=run.epoch, position=run.position,
                  recorded_test_error=recorded.get("test_error") if same else None)
    if same:
        result["reproduced"] = result["error"] == recorded.get("test_error")
    if args.json:
        print(dumps(result))
        return 0
    line = (f"{result['dataset']} {args.split}: error {pct(result['error'])} "
            f"({round(result['error'] * result['examples'])}/{result['examples']}), top-5 "
            f"{pct(result['top5_error'])}, cost {result['cost']:.4f}; parameters "
            f"{describe_params(run)}")
    if same:
        verdict = ("identical" if result["reproduced"]
                   else "DIFFERENT (another device, dtype, batch size or BLAS?)")
        line += f"; the run recorded {pct(recorded['test_error'])}: {verdict}"
    print(line)
    return 0


def _err(line: str) -> None:
    print(line, file=sys.stderr)

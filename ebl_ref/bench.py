"""Throughput benchmark: ``python -m ebl_ref.bench [--json]``.

Measures, on random inputs and freshly initialised parameters:

* ``free_phase`` — one free relaxation of ``--free-iters`` iterations from zero;
* ``cep_step`` — a whole C-EP gradient: free phase + two nudged phases of ``--train-iters`` +
  the parameter gradients at both nudged states;
* ``gemm`` — the float GEMM rate of the same array library (square matrices, same dtype),
  measured in the same run, as the yardstick.

Achieved GFLOP/s count the minimum-work FLOPs of the direct method
(:meth:`ebl_ref.network.DCHN.flops_per_iteration` per iteration per example; the gradient
convolutions are not counted). The Winograd path multiplies 2.25× less than that count says,
so its "fraction of GEMM" can exceed 1: it compares work done with the yardstick's rate, not
the path's own multiplications. Each measurement is warmed up once, repeated, and the median
reported. This is a benchmark, not a test: nothing here asserts a speed.

Every result names its machine (:func:`ebl_ref.machine.machine_info`: CPU, host, BLAS library,
version, kernel and threads); a BLAS kernel forced by the environment (``OPENBLAS_CORETYPE``…)
is warned about on stderr. Speed-ups are measured side by side against another revision with
``python -m ebl_ref.compare REV`` (:mod:`ebl_ref.compare`).
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from .algorithms import estimate_gradient
from .backend import DEVICES, DTYPES, MATMULS, get_backend
from .convolution import CONV_PATHS, conv_path, get_conv_path
from .convolution import DEFAULT as DEFAULT_CONV
from .flags import Parser
from .jsonfile import dumps
from .machine import describe, machine_info
from .minimize import free_phase
from .network import DCHN, init_params, one_hot
from .ops import channel_major
from .values import AT_LEAST_ONE, UsageError, choice_arg, list_arg, number_arg


def _median_seconds(fn, backend, repeats: int) -> float:
    fn()  # warm-up
    backend.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_gflops(backend, n: int = 2048, repeats: int = 5) -> float:
    """Rate of an n×n by n×n matrix product in the backend's dtype, GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = (backend.asarray(rng.standard_normal((n, n))) for _ in range(2))
    seconds = _median_seconds(lambda: a @ b, backend, repeats)
    return 2 * n ** 3 / seconds / 1e9


def run(widths=(128, 256, 512, 512), batch=16, free_iters=60, train_iters=15, device="cpu",
        dtype="float32", in_channels=3, n_classes=10, beta=0.25, repeats=3,
        conv: str | None = None, matmul: str = "ieee") -> dict:
    """Run the benchmark and return its results as a dict.

    ``conv`` names the convolution path (:data:`ebl_ref.convolution.CONV_PATHS`; default the
    one in use) for this run only.
    """
    with conv_path(conv or get_conv_path()):
        return _run(widths, batch, free_iters, train_iters, device, dtype, in_channels,
                    n_classes, beta, repeats, matmul)


def _run(widths, batch, free_iters, train_iters, device, dtype, in_channels, n_classes, beta,
         repeats, matmul) -> dict:
    backend = get_backend(device, dtype, matmul)
    net = DCHN(in_channels=in_channels, widths=tuple(widths), n_classes=n_classes)
    rng = np.random.default_rng(0)
    params = backend.compute(init_params(net, rng, backend=backend))  # fp16: float16 copies
    images = rng.standard_normal((batch, in_channels, 32, 32))
    x = channel_major(backend.asarray(images))  # (B, C, 32, 32) -> (C, 32, 32, B)
    y = one_hot(rng.integers(0, n_classes, batch), n_classes, x)

    t_free = _median_seconds(lambda: free_phase(params, net, x, free_iters), backend, repeats)
    t_cep = _median_seconds(
        lambda: estimate_gradient("c-ep", params, net, x, y, beta=beta, free_iters=free_iters,
                                  train_iters=train_iters), backend, repeats)
    gemm = gemm_gflops(backend)
    flop_iter = net.flops_per_iteration() * batch
    free_gflops = free_iters * flop_iter / t_free / 1e9
    cep_gflops = (free_iters + 2 * train_iters) * flop_iter / t_cep / 1e9
    return {
        "device": device, "dtype": dtype, "matmul": matmul, "precision": backend.precision,
        "conv": get_conv_path(), "widths": list(widths),
        "batch": batch,
        "free_iters": free_iters, "train_iters": train_iters,
        "gflop_per_example_per_iteration": net.flops_per_iteration() / 1e9,
        "free_phase": {"seconds": t_free, "examples_per_s": batch / t_free,
                       "gflops": free_gflops, "fraction_of_gemm": free_gflops / gemm},
        "cep_step": {"seconds": t_cep, "examples_per_s": batch / t_cep,
                     "gflops": cep_gflops, "fraction_of_gemm": cep_gflops / gemm},
        "gemm_gflops": gemm,
        "machine": machine_info(backend),
    }


def add_arguments(p) -> None:
    """The flags of ``run.py bench`` (parsed and range-checked by :mod:`ebl_ref.values`)."""
    a = p.add_argument
    a("--widths", type=list_arg(int, "widths", 4, within=AT_LEAST_ONE),
      default=(128, 256, 512, 512), metavar="V,...",
      help="four hidden widths (default 128,256,512,512: the paper's)")
    a("--batch", type=number_arg(int, "batch", AT_LEAST_ONE), default=16, metavar="N",
      help="examples per batch (default 16)")
    a("--free-iters", type=number_arg(int, "free-iters", AT_LEAST_ONE), default=60, metavar="N",
      help="free-phase iterations (default 60, Table 1)")
    a("--train-iters", type=number_arg(int, "train-iters", AT_LEAST_ONE), default=15,
      metavar="N", help="iterations of each nudged phase (default 15, Table 1)")
    a("--device", default="cpu", type=choice_arg(DEVICES, "device"), metavar="NAME",
      help="cpu (NumPy) or gpu (CuPy) (default cpu)")
    a("--dtype", default="float32", type=choice_arg(DTYPES, "dtype"), metavar="NAME",
      help="float64, float32 or float16 (gpu only) (default float32)")
    a("--matmul", default="ieee", type=choice_arg(MATMULS, "matmul"), metavar="NAME",
      help="float32 products: ieee, or tf32 (gpu only) (default ieee)")
    a("--conv", default=DEFAULT_CONV, type=choice_arg(CONV_PATHS, "conv"), metavar="NAME",
      help=f"convolution code: auto (the faster per convolution), winograd or im2col (the "
           f"reference) (default {DEFAULT_CONV})")
    a("--repeats", type=number_arg(int, "repeats", AT_LEAST_ONE), default=3, metavar="N",
      help="timed repeats after one warm-up; the median is reported (default 3)")
    a("--json", action="store_true", help="print one JSON line instead of the table")


def _parse(argv):
    p = Parser(prog="run.py bench",
               description="Throughput on random inputs: one free phase, one C-EP gradient "
                           "(free + two nudged phases + parameter gradients) and the GEMM "
                           "yardstick of the same array library; medians of --repeats after a "
                           "warm-up. A benchmark: it asserts nothing.")
    add_arguments(p)
    try:
        return p.parse_args(argv)
    except UsageError as exc:
        raise SystemExit(f"bench: {exc}") from None


def main(argv=None) -> int:
    args = _parse(argv)
    r = run(args.widths, args.batch, args.free_iters, args.train_iters, args.device, args.dtype,
            repeats=args.repeats, conv=args.conv, matmul=args.matmul)
    for w in r["machine"]["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(dumps(r))  # strict JSON
        return 0
    print(f"DCHN widths {r['widths']}, batch {r['batch']}, {args.device} {args.dtype}, "
          f"conv {r['conv']}")
    print(describe(r["machine"]))
    print(f"GEMM yardstick: {r['gemm_gflops']:.1f} GFLOP/s")
    for name, iters in (("free_phase", f"{args.free_iters} it"),
                        ("cep_step", f"{args.free_iters}+2x{args.train_iters} it")):
        m = r[name]
        print(f"{name:10s} ({iters}): {m['seconds']:.3f} s, {m['examples_per_s']:.2f} ex/s, "
              f"{m['gflops']:.1f} GFLOP/s = {100 * m['fraction_of_gemm']:.0f}% of GEMM")
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["bench", *sys.argv[1:]]))

"""How many threads the matrix-product library (BLAS) runs: ``--threads N``.

A CPU run spends its time in BLAS; OpenBLAS, MKL and BLIS start one thread per core by default,
and when another process competes for those cores their threads wait for each other, so fewer
threads than cores can be faster on a shared machine. ``--threads N`` sets the count at run
time through threadpoolctl (the ``threads`` extra), for the duration of the run only.

``--threads 0`` (the default) means: if the environment sets a thread count
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``BLIS_NUM_THREADS``, as the
study runner's local executor does for each of its workers), keep it; otherwise use every core
this process may run on (its CPU affinity, which a scheduler such as SLURM restricts to the
allocated cores). The thread count may change a float32 run's rounding, so a bit-exact resume
needs the same count.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from .values import UsageError

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
INSTALL_HINT = "pip install 'ebl-ref[threads]' (threadpoolctl)"


def available_cores() -> int:
    """The number of CPUs this process may run on (its affinity mask; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _controller():
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 (optional extra)
    except ImportError:
        return None
    return ThreadpoolController()


def check_threads(threads: int) -> None:
    """Refuse ``--threads N`` (N > 0) without threadpoolctl, before anything is written.

    Raises :class:`~ebl_ref.values.UsageError` naming the extra to install.
    """
    if threads and _controller() is None:
        raise UsageError(f"--threads {threads} needs threadpoolctl, which is not installed: "
                         f"{INSTALL_HINT}, or leave --threads out and set OMP_NUM_THREADS="
                         f"{threads} in the environment before starting")


def plan_threads(threads: int, environ=None) -> tuple:
    """``(count, why)``: the thread count to set (None: leave the library as it is) and a few
    words saying where it comes from, for the run header and ``env.json``."""
    environ = os.environ if environ is None else environ
    if threads:
        return threads, f"--threads {threads}"
    given = [f"{k}={environ[k]}" for k in THREAD_ENV if environ.get(k)]
    if given:
        return None, "set by the environment (" + ", ".join(given) + ")"
    cores = available_cores()
    return cores, "every core this process may use"


@contextmanager
def only(count: int):
    """The block with ``count`` BLAS threads (nothing changes without threadpoolctl)."""
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=count, user_api="blas"):
        yield


@contextmanager
def blas_threads(threads: int, environ=None):
    """Run the block with ``threads`` BLAS threads (0: see the module docstring); restore the
    previous count afterwards. Yields a dict ``{"requested", "set", "why"}`` (``set``: the
    count imposed, None when left to the environment or without threadpoolctl)."""
    check_threads(threads)
    count, why = plan_threads(threads, environ)
    controller = _controller()
    if count is None or controller is None:
        if controller is None:
            why += "; threadpoolctl not installed: the library's own default"
        yield {"requested": threads, "set": None, "why": why}
        return
    with controller.limit(limits=count, user_api="blas"):
        yield {"requested": threads, "set": count, "why": why}

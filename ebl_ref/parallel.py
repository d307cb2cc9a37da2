"""Independent pieces of NumPy work spread over the CPU's threads (the fast path's helper;
the BLAS thread count of ``--threads`` is :mod:`ebl_ref.threads`).

NumPy runs an elementwise operation on one thread and hands each matrix product to the BLAS
library's threads. The Winograd path (:mod:`ebl_ref.winograd`) does 16 independent products
per convolution and a few dozen elementwise passes over independent channels. Run one after
another, every product hands its work over to the BLAS threads and waits for all of them: on a
machine shared with other jobs that costs up to a scheduler time slice per product (measured on
the 2-core development machine under load: the 16 products of an iteration 5–10× slower), and
the elementwise passes leave all but one core idle.

:func:`map_slices` runs the pieces on a pool of as many threads as the BLAS library would use,
with the BLAS library itself single-threaded meanwhile (through threadpoolctl); NumPy releases
the GIL inside both, so the pieces run in parallel. Every piece is computed exactly as it would
be in one thread, so results do not depend on the thread count. Without threadpoolctl (an
optional extra), with one thread, or for CuPy arrays, the whole range runs in the calling
thread. ``EBL_THREADS`` (environment) or :func:`set_threads` overrides the thread count.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_state = {"threads": None, "pool": None, "controller": None}


def _controller():
    if _state["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # noqa: PLC0415 (optional extra)
        except ImportError:
            _state["controller"] = False
        else:
            _state["controller"] = ThreadpoolController()
    return _state["controller"]


def threads() -> int:
    """Threads :func:`map_slices` uses: ``EBL_THREADS`` if set, else the BLAS library's thread
    count (threadpoolctl), else 1."""
    if _state["threads"] is None:
        env = os.environ.get("EBL_THREADS")
        if env:
            n = int(env)
        else:
            ctl = _controller()
            n = max((lib.num_threads for lib in ctl.lib_controllers
                     if lib.user_api == "blas"), default=1) if ctl else 1
        set_threads(n)
    return _state["threads"]


def set_threads(n: int | None) -> int | None:
    """Use ``n`` ≥ 1 threads from now on (None: detect again, as at start); returns the
    previous setting."""
    if n is not None and n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    previous, _state["threads"] = _state["threads"], None if n is None else int(n)
    if _state["pool"] is not None:
        _state["pool"].shutdown()
        _state["pool"] = None
    return previous


# Below this many array elements in all, handing pieces to threads costs more than it saves.
MIN_PARALLEL = 1 << 17


def map_slices(fn, n: int, xp=None, size: int = MIN_PARALLEL) -> None:
    """Call ``fn(slice)`` on contiguous slices that cover ``range(n)``, in parallel on the CPU.

    ``fn`` must write its results (into preallocated arrays) and touch only its slice;
    ``size`` is how many array elements the whole call touches (small work runs inline). With
    CuPy (``xp`` not NumPy) ``fn(slice(0, n))`` runs once: the GPU parallelises by itself.
    """
    k = min(threads(), n)
    ctl = _controller()
    if (k <= 1 or size < MIN_PARALLEL or not ctl or (xp is not None and xp.__name__ != "numpy")
            or threading.current_thread().name.startswith("ebl-ref")):  # no nesting
        fn(slice(0, n))
        return
    if _state["pool"] is None:
        _state["pool"] = ThreadPoolExecutor(max_workers=_state["threads"],
                                            thread_name_prefix="ebl-ref")
    bounds = [n * i // k for i in range(k + 1)]
    with ctl.limit(limits=1, user_api="blas"):
        futures = [_state["pool"].submit(fn, slice(a, b)) for a, b in zip(bounds, bounds[1:])]
        for f in futures:
            f.result()  # re-raises a piece's exception here

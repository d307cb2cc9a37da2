"""What a number was measured on: CPU, host, BLAS library, its kernel and thread count.

A throughput means little without the machine and the matrix-product library behind it: on the
same CPU, OpenBLAS's AVX-512 kernel runs float32 GEMMs about twice as fast as its AVX2 one, and
an environment variable such as ``OPENBLAS_CORETYPE=Haswell`` silently selects the older kernel.
:func:`machine_info` collects what is needed to name the machine in a benchmark or a run folder
(``env.json``); :func:`kernel_warnings` says when the environment overrides the BLAS library's
own choice.

The BLAS library, version, kernel ("architecture") and thread count come from threadpoolctl
(an optional extra) when installed, which asks the loaded library itself; without it only the
library's name and version from NumPy's build configuration are known, and the kernel is
reported as None (NumPy's build configuration names the build's *baseline* target, not the
kernel chosen at run time).
"""
from __future__ import annotations

import os
import platform

import numpy as np

# Environment variables that change which BLAS kernel or how many threads run (OpenBLAS, MKL,
# BLIS, OpenMP), or the GPU's matrix-product mode (CuPy, CUDA). Recorded when set.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OPENBLAS_VERBOSE", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "BLIS_NUM_THREADS",
            "BLIS_ARCH_TYPE", "CUPY_TF32", "NVIDIA_TF32_OVERRIDE", "CUPY_ACCELERATORS")

# Variables that force a kernel other than the one the library would pick for this CPU.
KERNEL_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MKL_ENABLE_INSTRUCTIONS",
                    "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "BLIS_ARCH_TYPE")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def blas_info() -> list:
    """The BLAS libraries NumPy uses, one dict each.

    Keys: ``library`` (e.g. "openblas", "mkl"), ``version``, ``kernel`` (the architecture the
    library chose at run time, e.g. "SkylakeX", "Haswell"; None if unknown), ``threads``
    (None if unknown), ``threading``, ``source`` ("threadpoolctl" or "numpy config").
    """
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 (optional extra)
    except ImportError:
        return _blas_from_numpy_config()
    libs = [{"library": d.get("internal_api"), "version": d.get("version"),
             "kernel": d.get("architecture"), "threads": d.get("num_threads"),
             "threading": d.get("threading_layer"), "source": "threadpoolctl"}
            for d in threadpool_info() if d.get("user_api") == "blas"]
    return libs or _blas_from_numpy_config()


def _blas_from_numpy_config() -> list:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # NumPy < 1.25 has no dict mode; keep going without
        return [{"library": None, "version": None, "kernel": None, "threads": None,
                 "threading": None, "source": "unknown (install threadpoolctl)"}]
    return [{"library": blas.get("name"), "version": blas.get("version"), "kernel": None,
             "threads": None, "threading": None,
             "source": "numpy config (install threadpoolctl for kernel and threads)"}]


def blas_env(environ=None) -> dict:
    """The BLAS-related environment variables that are set (:data:`BLAS_ENV`)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in BLAS_ENV if k in environ}


def kernel_warnings(environ=None, blas=None, flags=None) -> list:
    """One line per environment override that forces a BLAS kernel or may slow it down.

    Parameters
    ----------
    environ : mapping, default ``os.environ``
    blas : list from :func:`blas_info`, default measured now
    flags : CPU flags, default :func:`cpu_flags`

    Returns
    -------
    list of str: e.g. that ``OPENBLAS_CORETYPE=Haswell`` selects the AVX2 kernel on a CPU with
    AVX-512, with the fix (unset it for the benchmark command).
    """
    environ = os.environ if environ is None else environ
    blas = blas_info() if blas is None else blas
    flags = cpu_flags() if flags is None else flags
    out = []
    for k in KERNEL_OVERRIDES:
        if k in environ:
            out.append(f"{k}={environ[k]} is set: it overrides the BLAS library's choice of "
                       f"kernel for this CPU; for benchmarks run with `env -u {k} ...`")
    avx512 = "avx512f" in flags
    for lib in blas:
        kernel = str(lib.get("kernel") or "")
        if avx512 and kernel.lower() in ("haswell", "zen", "sandybridge", "nehalem", "prescott"):
            out.append(f"{lib['library']} runs its {kernel} kernel although this CPU has "
                       "AVX-512 (an override, or an old library): matrix products may run at "
                       "half speed")
    return out


def machine_info(backend=None) -> dict:
    """Where and with what a measurement runs, as a JSON-ready dict.

    Keys: ``host``, ``cpu`` (model name), ``cores`` (logical CPUs visible), ``machine``,
    ``system``, ``python``, ``numpy``, ``blas`` (:func:`blas_info`), ``blas_env``
    (:func:`blas_env`), ``warnings`` (:func:`kernel_warnings`), and with a GPU
    :class:`~ebl_ref.backend.Backend`, ``gpu`` (name, memory in GiB, CuPy and CUDA versions).
    """
    blas = blas_info()
    info = {"host": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "machine": platform.machine(), "system": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "blas_env": blas_env(), "warnings": kernel_warnings(blas=blas)}
    if backend is not None and backend.device == "gpu":
        info["gpu"] = gpu_info(backend.xp)
    return info


def gpu_info(xp) -> dict:
    """Name, memory, CuPy and CUDA runtime versions of the current CuPy device."""
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name),
            "memory_gib": round(props["totalGlobalMem"] / 2 ** 30, 1),
            "compute_capability": f"{props['major']}.{props['minor']}",
            "cupy": xp.__version__, "cuda_runtime": xp.cuda.runtime.runtimeGetVersion()}


def describe(info: dict) -> str:
    """One line naming the machine and BLAS, e.g. for a benchmark's printout."""
    libs = ", ".join(f"{b['library']} {b['version']} kernel {b['kernel']}, "
                     f"{b['threads']} threads" for b in info["blas"])
    return f"{info['cpu']} ({info['cores']} logical CPUs, host {info['host']}); BLAS: {libs}"

"""The array backend: one handle ``xp`` (NumPy on ``cpu``, CuPy on ``gpu``) and a dtype.

This is the only module that imports CuPy. Everything else receives a :class:`Backend`
(or reads ``xp`` off an array with :func:`array_module`) and calls ``xp.`` functions only.
Host <-> device copies happen here, at I/O boundaries, never inside the relaxation loop.
All randomness is drawn on the host from a ``numpy.random.Generator`` and copied over, so a CPU
and a GPU run with the same seed start from identical numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEVICES = ("cpu", "gpu")
# The one install hint for the GPU extras (both install the `cupy` module: pick one).
GPU_INSTALL_HINT = "pip install 'ebl-ref[cuda12]' for CUDA 12, or 'ebl-ref[cuda13]' for CUDA 13"
DTYPES = ("float64", "float32", "float16")


class BackendError(RuntimeError):
    """A device or dtype that cannot be used here, with the fix in the message."""


@dataclass(frozen=True)
class Backend:
    """An array module and a floating dtype.

    Attributes
    ----------
    device : {"cpu", "gpu"}
    xp : module
        ``numpy`` or ``cupy``.
    dtype : numpy.dtype
        Floating dtype of states and parameters.
    """

    device: str
    xp: Any
    dtype: np.dtype

    def asarray(self, a) -> Any:
        """Copy a host array (or scalar) to this backend, cast to its dtype."""
        return self.xp.asarray(np.asarray(a), dtype=self.dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU); used by benchmarks only."""
        if self.device == "gpu":
            self.xp.cuda.Device().synchronize()


def _import_cupy():
    try:
        import cupy  # noqa: PLC0415  (the one place CuPy is imported)
    except ImportError as exc:
        raise BackendError(f"--device gpu needs CuPy, which is not installed: "
                           f"{GPU_INSTALL_HINT} (the one your driver supports)") from exc
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(f"--device gpu: CuPy is installed but no usable CUDA device ({exc}). "
                           "Use --device cpu.") from exc
    if n < 1:
        raise BackendError("--device gpu: CuPy is installed but no CUDA device is visible. "
                           "Use --device cpu.")
    return cupy


def get_backend(device: str = "cpu", dtype: str = "float32") -> Backend:
    """Return the backend for ``device`` ("cpu" or "gpu") and ``dtype``.

    float16 is allowed on the GPU only (NumPy has no fast float16 GEMM).
    """
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if str(dtype) not in DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if device == "cpu" and str(dtype) == "float16":
        raise BackendError("float16 is supported on --device gpu only; use float32 on the CPU")
    xp = np if device == "cpu" else _import_cupy()
    return Backend(device=device, xp=xp, dtype=np.dtype(dtype))


def array_module(a) -> Any:
    """``numpy`` or ``cupy``, whichever owns array ``a`` (like ``cupy.get_array_module``)."""
    if isinstance(a, np.ndarray) or type(a).__module__.split(".")[0] != "cupy":
        return np
    import cupy  # noqa: PLC0415

    return cupy


def to_host(a) -> np.ndarray:
    """A NumPy copy of ``a`` (a no-op view for NumPy arrays)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)

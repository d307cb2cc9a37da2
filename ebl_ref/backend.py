"""The array backend: one handle ``xp`` (NumPy on ``cpu``, CuPy on ``gpu``), a dtype and a
matrix-product mode.

Precision, named honestly (:data:`PRECISIONS`): ``dtype`` is the floating type of states,
inputs and the operands of every matrix product; ``matmul="tf32"`` lets float32 products round
their operands to TF32 (10-bit significand) on the tensor cores of an NVIDIA GPU — what the
authors' "16-bit" runs are (float32 storage, TF32 convolutions). With float16 states the
parameters, momentum and weight decay stay float32 (*master* parameters, ``param_dtype``):
each step computes with a float16 copy (:meth:`Backend.compute`), and the reductions that
overflow or lose float16's 11 bits (bias gradients, weight gradients, energies) accumulate in
float32 (:func:`ebl_ref.network.param_grads`). On the GPU, a float16 product accumulates in
float32 (cuBLAS's default compute type in CuPy).

This is the only module that imports CuPy. Everything else receives a :class:`Backend`
(or reads ``xp`` off an array with :func:`array_module`) and calls ``xp.`` functions only.
Host <-> device copies happen here, at I/O boundaries, never inside the relaxation loop.
All randomness is drawn on the host from a ``numpy.random.Generator`` and copied over, so a CPU
and a GPU run with the same seed start from identical numbers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

DEVICES = ("cpu", "gpu")
# The one install hint for the GPU extras (both install the `cupy` module: pick one).
GPU_INSTALL_HINT = "pip install 'ebl-ref[cuda12]' for CUDA 12, or 'ebl-ref[cuda13]' for CUDA 13"
DTYPES = ("float64", "float32", "float16")
MATMULS = ("ieee", "tf32")
# name -> (dtype, matmul): the precisions of the benchmark and the GPU check
PRECISIONS = {"fp64": ("float64", "ieee"), "fp32": ("float32", "ieee"),
              "tf32": ("float32", "tf32"), "fp16": ("float16", "ieee")}


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
        Floating dtype of states, inputs and matrix-product operands.
    matmul : {"ieee", "tf32"}
        "tf32": float32 products on TF32 tensor cores (GPU only).
    """

    device: str
    xp: Any
    dtype: np.dtype
    matmul: str = "ieee"

    @property
    def param_dtype(self) -> np.dtype:
        """Dtype of the (master) parameters, momentum and gradients: float32 under float16
        states, else ``dtype``."""
        return np.dtype(np.float32) if self.dtype == np.float16 else self.dtype

    @property
    def precision(self) -> str:
        """The name of this dtype and matmul mode in :data:`PRECISIONS`."""
        return next(k for k, v in PRECISIONS.items() if v == (str(self.dtype), self.matmul))

    def asarray(self, a) -> Any:
        """Copy a host array (or scalar) to this backend, cast to its dtype."""
        return self.xp.asarray(np.asarray(a), dtype=self.dtype)

    def asparam(self, a) -> Any:
        """Copy a host array to this backend as a (master) parameter: ``param_dtype``."""
        return self.xp.asarray(np.asarray(a), dtype=self.param_dtype)

    def compute(self, tensors: dict) -> dict:
        """``tensors`` (e.g. master parameters) cast to ``dtype`` for computing (the same
        arrays where they already have it)."""
        return {k: v if v.dtype == self.dtype else v.astype(self.dtype)
                for k, v in tensors.items()}

    def master(self, tensors: dict) -> dict:
        """``tensors`` (e.g. a gradient) cast to ``param_dtype`` for the optimiser."""
        return {k: v if v.dtype == self.param_dtype else v.astype(self.param_dtype)
                for k, v in tensors.items()}

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


def get_backend(device: str = "cpu", dtype: str = "float32", matmul: str = "ieee") -> Backend:
    """Return the backend for ``device`` ("cpu" or "gpu"), ``dtype`` and ``matmul`` mode.

    float16 and TF32 are allowed on the GPU only (NumPy has no fast float16 GEMM, CPUs no
    TF32). Raises :class:`BackendError` naming the fix.
    """
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    if str(dtype) not in DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if matmul not in MATMULS:
        raise BackendError(f"unknown matmul {matmul!r}: choose one of {', '.join(MATMULS)}")
    if device == "cpu" and str(dtype) == "float16":
        raise BackendError("float16 is supported on --device gpu only; use float32 on the CPU")
    if matmul == "tf32" and (device == "cpu" or str(dtype) != "float32"):
        raise BackendError("--matmul tf32 needs --device gpu and --dtype float32 (TF32 is a "
                           "tensor-core mode for float32 products); use --matmul ieee")
    xp = np if device == "cpu" else _import_cupy()
    if device == "gpu":
        _set_tf32(xp, matmul == "tf32")
    return Backend(device=device, xp=xp, dtype=np.dtype(dtype), matmul=matmul)


def _set_tf32(cupy, on: bool) -> None:
    """Let CuPy's float32 matrix products use TF32 tensor cores, or not. CuPy reads
    ``CUPY_TF32`` at its first float32 product; later changes go through its compute-type
    setting where this CuPy version has one. ``NVIDIA_TF32_OVERRIDE=0`` (recorded in env.json)
    disables TF32 in every NVIDIA library whatever is asked here."""
    os.environ["CUPY_TF32"] = "1" if on else "0"
    linalg = getattr(getattr(cupy, "_core", None), "_routines_linalg", None)
    setter = getattr(linalg, "set_compute_type", None)
    mode = getattr(linalg, "COMPUTE_TYPE_TF32" if on else "COMPUTE_TYPE_DEFAULT", None)
    if setter is not None and mode is not None:
        setter(np.float32, mode)


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

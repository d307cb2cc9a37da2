"""Which code computes the network's 3×3 convolutions: Winograd (fast) or im2col (reference).

Both compute the same maps (paper §3's ``P(W_k ⋆ s_{k−1})``, its arg-max, the feedback
``W_k ⋆ᵀ U(s_k)`` and the weight gradient); they differ only in rounding (≤1e-10 relative in
float64, see :mod:`ebl_ref.winograd`), like two BLAS libraries. So the choice is a process-wide
setting, like a BLAS library's, not an argument threaded through every function:

* ``"auto"`` (default, :data:`DEFAULT`): per convolution, Winograd where it is the faster —
  when ``C_in · C_out ≥`` :data:`AUTO_MIN_PAIRS` — and im2col below (:func:`uses_winograd`);
  at the paper's widths (128, 256, 512, 512) that is Winograd for conv2..4 and im2col for
  conv1 of the image;
* ``"winograd"``: :mod:`ebl_ref.winograd` for every convolution, F(2×2, 3×3) fused with the
  pooling and unpooling — 2.25× fewer multiplications;
* ``"im2col"``: :mod:`ebl_ref.ops`, the readable reference and the tests' oracle.

``set_conv_path(name)`` sets it (the runner, from the configuration's ``conv``),
``with conv_path(name):`` sets it for a block (tests). A relaxation first calls
:func:`prepare`, which unless the path is im2col returns the parameters together with their
transformed kernels and a :class:`~ebl_ref.winograd.Workspace` (:class:`Prepared`): the kernels
are transformed once per relaxation (the parameters do not change during it), not once per
iteration. The network's ops (:func:`pooled_conv`, :func:`feedback`, :func:`weight_grad`) take
plain or prepared parameters.
"""
from __future__ import annotations

import contextlib

from . import ops, winograd

CONV_PATHS = ("auto", "winograd", "im2col")
DEFAULT = "auto"
_current = [DEFAULT]

# "auto" takes Winograd for a convolution with at least this many channel pairs C_in·C_out.
# Measured per operation (pooled conv; unpooled transposed conv; weight gradient) on the 2-core
# development VM (AMD EPYC, OpenBLAS SkylakeX kernel, 2 threads), float32, batch 16 and 32:
# Winograd was 0.4–0.9× as fast as im2col at 16·32, 32·64 and 64·64 channel pairs (the quick
# preset's widths 16-32-64-64), 1.0–1.6× at 64·128, 1.3–2.0× from 128·128 on (the paper's
# conv2..4); at conv1 of an RGB image (3·128) 0.5× for the pooled conv and 0.3–0.4× for the
# weight gradient (at 1·128, MNIST's conv1, 1.25× for the pooled conv, computed once per batch).
AUTO_MIN_PAIRS = 64 * 128


def get_conv_path() -> str:
    """The convolution path in use, one of :data:`CONV_PATHS`."""
    return _current[0]


def set_conv_path(name: str) -> str:
    """Use ``name`` (one of :data:`CONV_PATHS`) from now on; returns the previous path.

    Raises ValueError for an unknown name.
    """
    if name not in CONV_PATHS:
        raise ValueError(f"unknown convolution path {name!r}: choose one of "
                         f"{', '.join(CONV_PATHS)}")
    previous, _current[0] = _current[0], name
    return previous


@contextlib.contextmanager
def conv_path(name: str):
    """``with conv_path("im2col"): ...`` runs the block with that path, then restores."""
    previous = set_conv_path(name)
    try:
        yield
    finally:
        set_conv_path(previous)


class Prepared(dict):
    """The parameters of one relaxation (a dict, name -> array, as given) plus, for the
    Winograd path, the transformed kernels ``U[k]`` (16, C_k, C_{k−1}) of every conv k = 1..4
    and ``Ut[k]`` (16, C_{k−1}, C_k) of convs k = 2..4 (conv 1's input is clamped: no feedback),
    and a workspace for the intermediates (the thread's,
    :func:`~ebl_ref.winograd.thread_workspace`).

    Valid only while the arrays it was made from are not changed in place: make one per
    relaxation (or per training step), never keep it across an optimiser step.
    """

    def __init__(self, params: dict):
        super().__init__(params)
        self.U = {k: winograd.kernel_transform(params[f"W{k}"]) for k in (1, 2, 3, 4)}
        self.Ut = {k: winograd.transpose_kernel(self.U[k]) for k in (2, 3, 4)}
        self.ws = winograd.thread_workspace()


def uses_winograd(c_in: int, c_out: int) -> bool:
    """Whether a 3×3 convolution between ``c_in`` and ``c_out`` channels (and its transpose and
    weight gradient) is computed by Winograd under the path in use: always with "winograd",
    never with "im2col", with "auto" when ``c_in · c_out ≥`` :data:`AUTO_MIN_PAIRS`."""
    path = get_conv_path()
    return path == "winograd" or (path == "auto" and c_in * c_out >= AUTO_MIN_PAIRS)


def prepare(params: dict) -> dict:
    """``params`` ready for a relaxation: a :class:`Prepared` unless the path is im2col
    (``params`` itself if it already is one), ``params`` unchanged with im2col."""
    if get_conv_path() == "im2col" or isinstance(params, Prepared):
        return params
    return Prepared(params)


def _U(params, k):
    if isinstance(params, Prepared):
        return params.U[k], params.ws
    return winograd.kernel_transform(params[f"W{k}"]), None


def pooled_conv(params: dict, x, k: int):
    """``(P(W_k ⋆ x), arg-max)`` for conv k (3×3, padding 1, then 2×2 max-pool).

    Parameters
    ----------
    params : parameter dict or :class:`Prepared`
    x : array (C_{k−1}, H, W, B), H and W even: the conv's input s_{k−1}
    k : 1..4

    Returns
    -------
    p : (C_k, H/2, W/2, B); idx : int8, as :func:`ebl_ref.ops.maxpool2x2`
    """
    if not uses_winograd(x.shape[0], params[f"W{k}"].shape[0]):
        return ops.maxpool2x2(ops.conv2d(x, params[f"W{k}"]))
    U, ws = _U(params, k)
    return winograd.pooled_conv2d(x, U, ws)


def feedback(params: dict, s_k, idx, k: int, in_shape: tuple):
    """``W_k ⋆ᵀ U(s_k; idx)``: layer k's feedback to the conv's input s_{k−1}.

    Parameters
    ----------
    params : parameter dict or :class:`Prepared`
    s_k : array (C_k, H/2, W/2, B); idx : its pooling arg-max (int8, same shape)
    k : 1..4
    in_shape : (C_{k−1}, H, W, B), the shape of s_{k−1}

    Returns
    -------
    array (C_{k−1}, H, W, B)
    """
    w = params[f"W{k}"]
    if not uses_winograd(in_shape[0], s_k.shape[0]):
        return ops.conv2d_transpose(ops.unpool2x2(s_k, idx), w, in_shape)
    if isinstance(params, Prepared) and k in params.Ut:
        Ut, ws = params.Ut[k], params.ws
    else:
        Ut, ws = winograd.transpose_kernel(winograd.kernel_transform(w)), None
    return winograd.unpool_conv2d_transpose(s_k, idx, Ut, ws=ws)


def weight_grad(x, s_k, idx, kernel_shape: tuple):
    """``Σ_b x ⋆ U(s_k; idx)``: ∂⟨s_k, P(W ⋆ x)⟩/∂W at a fixed arg-max (summed over the batch).

    Parameters
    ----------
    x : array (C_{k−1}, H, W, B); s_k, idx : (C_k, H/2, W/2, B)
    kernel_shape : (C_k, C_{k−1}, 3, 3)

    Returns
    -------
    array ``kernel_shape``
    """
    if not uses_winograd(kernel_shape[1], kernel_shape[0]):
        return ops.conv2d_weight_grad(x, ops.unpool2x2(s_k, idx), kernel_shape)
    return winograd.conv2d_weight_grad(x, winograd.Unpooled(s_k, idx))

"""Fast 3×3 convolutions by Winograd minimal filtering F(2×2, 3×3), fused with the 2×2 pooling.

The same maps as :mod:`ebl_ref.ops` (``conv2d``, ``conv2d_transpose``, ``conv2d_weight_grad``
with a 3×3 kernel and padding 1; ``maxpool2x2``, ``unpool2x2``), computed with 2.25× fewer
multiplications; :mod:`ebl_ref.ops` stays the readable reference and the tests' oracle
(``tests/test_winograd.py``: equal to ≤1e-10 relative in float64).

F(2×2, 3×3) (A. Lavin, S. Gray, *Fast Algorithms for Convolutional Neural Networks*, CVPR
2016, whose matrices Bᵀ, G, Aᵀ are used here). Every 2×2 block of output is computed from the
4×4 input tile around it as ``Y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A``: 16 products per block and
channel pair instead of 36. Over all channels, the 16 elementwise products become 16 matrix
products (the batched GEMM of :func:`conv2d_phases`)::

    U[ξ] = (G w Gᵀ)[ξ]        (C_out, C_in)        kernel transform, once per relaxation
    V[ξ] = (Bᵀ d B)[ξ]        (C_in, tiles·B)      input transform
    M[ξ] = U[ξ] @ V[ξ]        (C_out, tiles·B)     ξ = 0..15
    Y    = (Aᵀ ⊗ Aᵀ) M        (4, C_out, tiles·B)  output transform

Layout. The output blocks are aligned on even rows and columns, so the 4 entries of a block are
exactly the 4 positions of a 2×2 pooling window: the output transform yields the conv's output
as its four **phases** ``Y[2i+j][c, Y, X, b] = z[c, 2Y+i, 2X+j, b]`` (:func:`phases`), from
which the pooled drive and its arg-max are read without assembling ``z``
(:func:`pooled_conv2d`). Likewise the input of a transposed convolution, ``unpool2x2(s, idx)``,
*is* four phases ``s · [idx = k]``, fed straight to the input transform
(:func:`unpool_conv2d_transpose`): the unpooled map is never built. All slices are along whole
rows or tiles of the (C, H, W, B) layout, no scatter or fancy indexing, so the code is the same
on NumPy and CuPy.

Memory. NumPy's cost for an elementwise pass over a strided view is per contiguous run, and a
phase view of a (C, H, W, B) array has runs of only B elements (16 at the paper's batch):
written over such views, the input transform alone took 16% of a C-EP step at batch 16 (2
threads, the 2-core development VM; the transforms, pooling and unpooling together 32%). So
the input transform first copies the phases into contiguous memory and applies each tap of Bᵀ
to whole flat arrays, a shift by one tile being a shift by a fixed number of elements
(:func:`_taps`); the output transform works on the contiguous products. Each pass runs over
blocks of channels on the CPU threads (:func:`ebl_ref.parallel.map_slices`), and the work done
with a block's result — copying or unpooling the input phases, pooling or interleaving the
output phases — happens in the same block while it is in cache.

The transposed convolution with padding 1 is the convolution with the flipped, channel-
transposed kernel ``w'[i, o, u, v] = w[o, i, 2−u, 2−v]``; since ``G J = P G`` (J reverses
the 3 taps, P swaps rows 0 and 3 of G), its transformed kernel is ``U'[(a,b)] =
U[(P a, P b)]ᵀ``: one kernel transform serves both directions (:func:`transpose_kernel`).

Rounding. The transforms use only 0, ±1 and ±½, so in float64 the result equals the im2col
reference to a few ulps of the largest term (tests: ≤1e-10 relative); in float32 to ≈1e-6
relative to the output's largest entry (tests: ≤2e-5). Ties inside a pooling window: a
constant input tile (an image's uniform background) transforms to a single nonzero entry, so
its four outputs are bitwise equal here too and the first position wins, as in the reference;
an exact tie of any other origin may be broken by rounding, differently from the reference.
"""
from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numpy as np

from .backend import array_module
from .ops import pool_window
from .parallel import map_slices

# F(2, 3) (Lavin & Gray 2016): y = Aᵀ[(G g) ⊙ (Bᵀ d)] for a 1-D correlation of 3 taps.
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
FLIP = (3, 1, 2, 0)  # G J = P G: the rows of G for the reversed taps


class Workspace:
    """Scratch arrays kept between calls, e.g. across the iterations of a relaxation.

    Every function below that takes ``ws`` draws its intermediate arrays (transformed input,
    products, output phases) from it instead of allocating them, so a buffer is reused by the
    next call. The convolutions (:func:`conv2d`, :func:`pooled_conv2d`, :func:`conv2d_transpose`,
    :func:`unpool_conv2d_transpose`) return fresh arrays; the building blocks
    (:func:`input_transform`, :func:`output_transform`, :func:`conv2d_phases`) return workspace
    buffers when given ``ws`` and no ``out``, valid until the next call with the same ``ws``.
    One workspace may serve every convolution of a network, one call at a time (not from
    several threads). Each named buffer is one flat
    array, grown to the largest size asked for: at full width (128, 256, 512, 512) and batch B
    the workspace holds 5·B MiB in float32 (measured), beside the transformed kernels' 52 MiB.
    """

    def __init__(self):
        self._arrays = {}

    def empty(self, xp, name: str, shape: tuple, dtype):
        """An uninitialised array of ``shape`` and ``dtype``, reused between calls by name."""
        size = math.prod(shape)
        key = (name, np.dtype(dtype).str, xp.__name__)
        buf = self._arrays.get(key)
        if buf is None or buf.size < size:
            buf = self._arrays[key] = xp.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def nbytes(self) -> int:
        """Bytes held."""
        return sum(int(a.nbytes) for a in self._arrays.values())


_thread = threading.local()


def thread_workspace() -> Workspace:
    """This thread's :class:`Workspace`, shared by every relaxation run in the thread
    (:class:`ebl_ref.convolution.Prepared`), so that a training step reuses the buffers of the
    step before instead of having fresh memory paged in (measured: 10–20 ms per 60-iteration
    free phase at full width, batch 16, on the 2-core development VM). Sharing is safe because
    the network's ops (:mod:`ebl_ref.convolution`) call only the convolutions, which use the
    buffers during the call and return fresh arrays; a caller of the building blocks must use
    their result before the next call in the thread. The buffers stay allocated at the largest
    size asked for, as long as the thread lives."""
    if not hasattr(_thread, "ws"):
        _thread.ws = Workspace()
    return _thread.ws


_CONSTANTS = {}


def _constant(xp, name: str, value, dtype=None):
    """``xp.asarray(value, dtype)`` copied to the device once and kept: a host→device copy
    waits for the device, so none happens per call."""
    device = getattr(getattr(xp, "cuda", None), "Device", None)
    key = (xp.__name__, device().id if device else None, name, np.dtype(dtype).str
           if dtype is not None else None)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = xp.asarray(value, dtype=dtype)
    return _CONSTANTS[key]


def _empty(ws, xp, name, shape, dtype):
    return xp.empty(shape, dtype=dtype) if ws is None else ws.empty(xp, name, shape, dtype)


def _check(shape, what):
    C, H, W, B = shape
    if H % 2 or W % 2:
        raise ValueError(f"Winograd F(2×2, 3×3) needs even height and width for {what}, "
                         f"got {H}×{W}; use conv='im2col'")


def kernel_transform(w):
    """``U[4a+b] = (G w Gᵀ)[a, b]``: the transformed 3×3 kernel.

    Parameters
    ----------
    w : array (C_out, C_in, 3, 3)

    Returns
    -------
    U : array (16, C_out, C_in), same dtype and array module as ``w``

    Raises ValueError for a kernel that is not 3×3.
    """
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise ValueError(f"Winograd F(2×2, 3×3) needs 3×3 kernels, got shape {w.shape}")
    xp = array_module(w)
    C_out, C_in = w.shape[:2]
    gg = _constant(xp, "GG", np.kron(G, G), w.dtype)  # (16, 9): (a,b) × (u,v)
    return (gg @ w.reshape(C_out * C_in, 9).T).reshape(16, C_out, C_in)


def transpose_kernel(U):
    """The transformed kernel of the transposed convolution (see the module docstring).

    Parameters
    ----------
    U : array (16, C_out, C_in) from :func:`kernel_transform`

    Returns
    -------
    Ut : array (16, C_in, C_out); C-contiguous on CuPy (whose batched matmul would copy a
        transposed view on every call), a transposed view on NumPy (as fast, one copy less)
    """
    xp = array_module(U)
    flip = _constant(xp, "flip", [4 * FLIP[a] + FLIP[b] for a in range(4) for b in range(4)])
    Ut = xp.take(U, flip, axis=0).transpose(0, 2, 1)
    return Ut if xp is np else xp.ascontiguousarray(Ut)


def phases(x):
    """The four phases of an image, ``q[2i+j] = x[:, i::2, j::2]`` (views).

    Parameters
    ----------
    x : array (C, H, W, B), H and W even

    Returns
    -------
    tuple of 4 arrays (C, H/2, W/2, B), in :data:`ebl_ref.ops.WINDOW` order
    """
    return x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]


def interleave(q, out=None):
    """The inverse of :func:`phases`: ``x[:, 2Y+i, 2X+j] = q[2i+j][:, Y, X]``.

    Parameters
    ----------
    q : 4 arrays (C, Ty, Tx, B) (or one array (4, C, Ty, Tx, B))
    out : optional array (C, 2Ty, 2Tx, B) to write into

    Returns
    -------
    x : array (C, 2Ty, 2Tx, B)
    """
    xp = array_module(q[0])
    C, Ty, Tx, B = q[0].shape
    if out is None:
        out = xp.empty((C, 2 * Ty, 2 * Tx, B), dtype=q[0].dtype)
    for k, ph in enumerate(phases(out)):
        ph[...] = q[k]
    return out


def _taps(even, odd, out, xp):
    """Bᵀ of F(2, 3) along the middle axis of ``(outer, T, inner)`` arrays whose tile t reads
    the rows ``odd[t−1], even[t], odd[t], even[t+1]`` (zero beyond the edges: the padding);
    writes the 4 results into ``out``.

    All operands are C-contiguous, so a shift by one along T is a shift by ``inner`` elements
    of the flat arrays: each output is one ufunc over the whole flat range (a long inner loop,
    whatever the shape), then its edge entries (t = 0 for ``d0``, t = T−1 for ``d3``, where
    the flat shift read across an ``outer`` boundary) are overwritten with the padded value.
    """
    d0, d1, d2, d3 = out
    s = even.shape[2]
    e, o = even.reshape(-1), odd.reshape(-1)
    xp.subtract(o[:-s], o[s:], out=d0.reshape(-1)[s:])   # d0 = odd[t−1] − odd[t]
    # Not xp.negative(..., out=): NumPy 2.4.6 reads the wrong elements for some strides
    # (np.negative(np.arange(16.)[::8], out=np.empty(4)[::2]) -> [-0, -1]).
    d0[:, 0] = -odd[:, 0]                                  # t = 0: odd[−1] is padding
    xp.add(e, o, out=d1.reshape(-1))                       # d1 = even[t] + odd[t]
    xp.subtract(o, e, out=d2.reshape(-1))                  # d2 = odd[t] − even[t]
    xp.subtract(e[:-s], e[s:], out=d3.reshape(-1)[:-s])   # d3 = even[t] − even[t+1]
    d3[:, -1] = even[:, -1]                                # t = T−1: even[T] is padding


class Unpooled(NamedTuple):
    """The phases of ``ops.unpool2x2(s, idx)``, ``s · [idx = k]`` for k = 0..3, not yet
    computed: :func:`input_transform` computes them channel block by channel block, where
    they are used (the unpooled map is never built).

    Attributes
    ----------
    s : array (C, Ty, Tx, B); idx : int8 array (C, Ty, Tx, B), positions in
        :data:`ebl_ref.ops.WINDOW` order
    """

    s: object
    idx: object

    @property
    def shape(self) -> tuple:
        """The shape of each phase, (C, Ty, Tx, B)."""
        return self.s.shape


def _first(q):
    """An array with the shape, dtype and array module of every phase of ``q`` (4 arrays or
    :class:`Unpooled`)."""
    return q.s if isinstance(q, Unpooled) else q[0]


def _phase_source(q, ws, xp):
    """A function ``c -> 4 C-contiguous arrays``: channels ``c`` of the phases ``q`` (4 arrays
    or :class:`Unpooled`), copied (views) or computed (:class:`Unpooled`) into a workspace
    buffer where needed, fresh contiguous phases used as they are."""
    if not isinstance(q, Unpooled) and all(p.flags.c_contiguous for p in q):
        return lambda c: [p[c] for p in q]
    ref = _first(q)
    buf = _empty(ws, xp, "phases", (4,) + ref.shape, ref.dtype)
    unpooled = isinstance(q, Unpooled)

    def source(c):
        for k in range(4):
            if unpooled:  # unpool_phases, block by block, into the buffer
                xp.multiply(q.s[c], q.idx[c] == k, out=buf[k, c])  # s where the max was
            else:
                buf[k, c] = q[k][c]
        return [buf[k, c] for k in range(4)]
    return source


def input_transform(q, out=None, ws=None):
    """``V = Bᵀ d B`` for every 4×4 tile (stride 2, zero padding 1) of an image given as phases.

    Tile ``(t, u)`` covers input rows ``2t−1 … 2t+2`` and columns ``2u−1 … 2u+2``. Phases
    that are views (:func:`phases` of an image) are first copied, block by block, into one
    contiguous buffer, so that every pass below runs over contiguous memory (:func:`_taps`).

    Parameters
    ----------
    q : 4 arrays (C, Ty, Tx, B), the image's phases (:func:`phases`), or :class:`Unpooled`
    out : optional C-contiguous array (16, C, Ty, Tx, B) to write into
    ws : optional :class:`Workspace` for the intermediates (and ``out`` if not given)

    Returns
    -------
    V : array (16, C, Ty, Tx, B), ``V[4a+b]`` the transform's entry (a, b) of every tile

    Raises ValueError for an ``out`` that is not C-contiguous.
    """
    ref = _first(q)
    xp = array_module(ref)
    C, Ty, Tx, B = ref.shape
    if out is None:
        out = _empty(ws, xp, "V", (16, C, Ty, Tx, B), ref.dtype)
    elif not out.flags.c_contiguous:
        raise ValueError("input_transform writes through flat views: out must be C-contiguous "
                         "(pass xp.empty(...) or leave out=None)")
    r = _empty(ws, xp, "rows", (4, 2, C, Ty, Tx, B), ref.dtype)  # rows done, per column phase
    source = _phase_source(q, ws, xp)

    def channels(c):
        p, n = source(c), c.stop - c.start
        rows = (n, Ty, Tx * B)  # along tile rows: a shift by one is Tx·B elements
        for j in (0, 1):  # even rows p[j], odd rows p[2+j], for column phase j
            _taps(p[j].reshape(rows), p[2 + j].reshape(rows),
                  [r[a, j, c].reshape(rows) for a in range(4)], xp)
        cols = (n * Ty, Tx, B)  # along tile columns: a shift by one is B elements
        for a in range(4):
            _taps(r[a, 0, c].reshape(cols), r[a, 1, c].reshape(cols),
                  [out[4 * a + b, c].reshape(cols) for b in range(4)], xp)

    map_slices(channels, C, xp, out.size)  # channels are independent: over the CPU threads
    return out


def output_transform(M, out=None, ws=None, finish=None):
    """``Y = Aᵀ m A`` for every tile: the four output phases.

    Parameters
    ----------
    M : array (16, C, …), ``M[4a+b]`` entry (a, b) of every tile's product
    out : optional array (4, C, …)
    ws : optional :class:`Workspace` for the intermediates (and ``out`` if not given)
    finish : optional ``finish(c, Y[:, c])``, called on each block of channels ``c`` as soon as
        its phases are done (in the same thread, while they are in cache): the pooling or the
        interleaving of :func:`pooled_conv2d` and :func:`unpool_conv2d_transpose`

    Returns
    -------
    Y : array (4, C, …), ``Y[2i+j]`` the output at position (i, j) of every 2×2 block
    """
    xp = array_module(M)
    m = M.reshape((4, 4) + M.shape[1:])
    if out is None:
        out = _empty(ws, xp, "Y", (4,) + M.shape[1:], M.dtype)
    t_all = _empty(ws, xp, "t", m.shape[1:], M.dtype)
    r0_all = _empty(ws, xp, "r0", m.shape[1:], M.dtype)

    def channels(c):
        mc = m[:, :, c]
        t = xp.add(mc[1], mc[2], out=t_all[:, c])
        r0 = xp.add(t, mc[0], out=r0_all[:, c])        # Aᵀ row 0: m0 + m1 + m2
        r1 = xp.subtract(mc[1], mc[2], out=t)           # Aᵀ row 1: m1 − m2 − m3
        r1 -= mc[3]
        o = out[:, c]
        for i, r in enumerate((r0, r1)):
            xp.add(r[0], r[1], out=o[2 * i])
            o[2 * i] += r[2]
            xp.subtract(r[1], r[2], out=o[2 * i + 1])
            o[2 * i + 1] -= r[3]
        if finish is not None:
            finish(c, o)

    map_slices(channels, M.shape[1], xp, M.size)  # independent channels: over the CPU threads
    return out


def conv2d_phases(q, U, ws=None, finish=None):
    """The convolution (3×3, padding 1) of the image with phases ``q``, as its output phases.

    Parameters
    ----------
    q : 4 arrays (C_in, Ty, Tx, B), the input's phases, or :class:`Unpooled`
    U : array (16, C_out, C_in), :func:`kernel_transform` of the kernel (or
        :func:`transpose_kernel` of it, for the transposed convolution)
    ws : optional :class:`Workspace`; then ``Y`` is one of its buffers, valid until the next
        call that uses ``ws``
    finish : optional, see :func:`output_transform`

    Returns
    -------
    Y : array (4, C_out, Ty, Tx, B), the phases of ``ops.conv2d(x, w, pad=1)``
    """
    xp = array_module(U)
    C_in, Ty, Tx, B = _first(q).shape
    if U.shape[0] != 16 or U.shape[2] != C_in:
        raise ValueError(f"transformed kernel {U.shape} does not fit {C_in} input channels")
    n = Ty * Tx * B
    V = input_transform(q, ws=ws).reshape(16, C_in, n)
    M = _products(xp, U, V, _empty(ws, xp, "M", (16, U.shape[1], n), V.dtype))
    Y = _empty(ws, xp, "Y", (4, U.shape[1], Ty, Tx, B), V.dtype)
    return output_transform(M.reshape(16, U.shape[1], Ty, Tx, B), Y, ws, finish)


def _products(xp, U, V, out, threads=True):
    """``out[ξ] = U[ξ] @ V[ξ]`` for ξ = 0..15, spread over the CPU threads (:func:`map_slices`)
    unless ``threads`` is False (one batched product: the BLAS library's threads). float16 as
    16 two-dimensional products: CuPy computes a batched float16 matmul in float32 through
    copies, while its 2-D float16 product runs on tensor cores with float32 accumulation."""
    if V.dtype == np.float16:
        for i in range(16):
            xp.matmul(U[i], V[i], out=out[i])
        return out
    if not threads:
        return xp.matmul(U, V, out=out)
    map_slices(lambda i: xp.matmul(U[i], V[i], out=out[i]), 16, xp,  # over the CPU threads
               U.size + V.size + out.size)
    return out


def conv2d(x, U, ws=None):
    """``ops.conv2d(x, w, pad=1)`` for a 3×3 kernel, by Winograd.

    Parameters
    ----------
    x : array (C_in, H, W, B), H and W even
    U : array (16, C_out, C_in), :func:`kernel_transform` of ``w``
    ws : optional :class:`Workspace` for the intermediates

    Returns
    -------
    z : array (C_out, H, W, B)
    """
    _check(x.shape, "the convolution's input")
    return interleave(conv2d_phases(phases(x), U, ws))


def pooled_conv2d(x, U, ws=None):
    """``ops.maxpool2x2(ops.conv2d(x, w, pad=1))``: the pooled drive and its arg-max, fused.

    Parameters
    ----------
    x : array (C_in, H, W, B), H and W even
    U : array (16, C_out, C_in), :func:`kernel_transform` of ``w``
    ws : optional :class:`Workspace` for the intermediates

    Returns
    -------
    p : array (C_out, H/2, W/2, B); idx : int8 array, as :func:`ebl_ref.ops.maxpool2x2`
    """
    _check(x.shape, "the convolution's input")
    xp, q = array_module(x), phases(x)
    shape = (U.shape[1],) + q[0].shape[1:]
    p, idx = xp.empty(shape, dtype=x.dtype), xp.empty(shape, dtype=xp.int8)
    conv2d_phases(q, U, ws, finish=lambda c, Y: pool_window(*Y, out=(p[c], idx[c])))
    return p, idx


def conv2d_transpose(g, Ut, ws=None):
    """``ops.conv2d_transpose(g, w, in_shape, pad=1)`` for a 3×3 kernel (same size out).

    Parameters
    ----------
    g : array (C_out, H, W, B), H and W even
    Ut : array (16, C_in, C_out), :func:`transpose_kernel` of ``kernel_transform(w)``
    ws : optional :class:`Workspace` for the intermediates

    Returns
    -------
    x : array (C_in, H, W, B)
    """
    _check(g.shape, "the transposed convolution's input")
    return interleave(conv2d_phases(phases(g), Ut, ws))


def unpool_phases(s, idx):
    """The phases of ``ops.unpool2x2(s, idx)``: ``s · [idx = k]`` for k = 0..3, as fresh
    arrays (the readable form of :class:`Unpooled`, which the transforms compute block by
    block instead; the tests check that both give the same bits)."""
    return tuple(s * (idx == k) for k in range(4))


def unpool_conv2d_transpose(s, idx, Ut, out=None, ws=None):
    """``ops.conv2d_transpose(ops.unpool2x2(s, idx), w, pad=1)``, the unpooling fused in.

    Parameters
    ----------
    s : array (C_out, H/2, W/2, B), e.g. the layer after the convolution
    idx : int8 array (C_out, H/2, W/2, B), the arg-max of the convolution's pooling
    Ut : array (16, C_in, C_out), :func:`transpose_kernel` of ``kernel_transform(w)``
    out : optional array (C_in, H, W, B) to write into
    ws : optional :class:`Workspace` for the intermediates

    Returns
    -------
    x : array (C_in, H, W, B), the feedback of ``s`` to the convolution's input
    """
    xp = array_module(s)
    C_out, Ty, Tx, B = s.shape
    if out is None:
        out = xp.empty((Ut.shape[1], 2 * Ty, 2 * Tx, B), dtype=s.dtype)
    conv2d_phases(Unpooled(s, idx), Ut, ws, finish=lambda c, Y: interleave(Y, out[c]))
    return out


def output_adjoint(g, out=None):
    """``dM = (A ⊗ A) g``: the adjoint of :func:`output_transform`, from the output phases.

    Parameters
    ----------
    g : 4 arrays (C, Ty, Tx, B), the phases of an output cotangent, or :class:`Unpooled`
    out : optional array (16, C, Ty, Tx, B) to write into

    Returns
    -------
    dM : array (16, C, Ty, Tx, B), ``dM[4a+b] = Σ_{i,j} Aᵀ[i,a] Aᵀ[j,b] g[2i+j]``
    """
    ref = _first(g)
    xp = array_module(ref)
    if out is None:
        out = xp.empty((16,) + ref.shape, dtype=ref.dtype)
    source = _phase_source(g, None, xp)

    def channels(c):
        e0, e1, o0, o1 = source(c)  # g at (0, j) and (1, j): even and odd rows
        # Aᵀ's columns are (1, 0), (1, 1), (1, −1), (0, −1): the rows a of (A g)...
        for a, (h0, h1) in enumerate(((e0, e1), (e0 + o0, e1 + o1), (e0 - o0, e1 - o1),
                                      (-o0, -o1))):
            d = out[4 * a:4 * a + 4, c]  # ...and the same along the columns b
            d[0] = h0
            xp.add(h0, h1, out=d[1])
            xp.subtract(h0, h1, out=d[2])
            d[3] = -h1

    map_slices(channels, ref.shape[0], xp, out.size)  # independent channels
    return out


def conv2d_weight_grad(x, g_phases):
    """``ops.conv2d_weight_grad(x, g, w.shape, pad=1)`` for a 3×3 kernel, by Winograd.

    The adjoint of :func:`conv2d_phases` in ``U`` followed by the adjoint of
    :func:`kernel_transform`: ``dU[ξ] = ((A ⊗ A) g)[ξ] @ V[ξ]ᵀ``, ``dw = Gᵀ dU G``.

    Parameters
    ----------
    x : array (C_in, H, W, B), H and W even, the convolution's input
    g_phases : 4 arrays (C_out, H/2, W/2, B), the phases of the output cotangent ``g``
        (:func:`phases`), or :class:`Unpooled` for ``g = unpool2x2(s, idx)``

    Returns
    -------
    dw : array (C_out, C_in, 3, 3), ``Σ_{y,x,b} g[o,y,x,b] · x_pad[i,y+u,x+v,b]``
    """
    _check(x.shape, "the convolution's input")
    xp = array_module(x)
    C_in, H, W, B = x.shape
    C_out = _first(g_phases).shape[0]
    n = (H // 2) * (W // 2) * B
    V = input_transform(phases(x)).reshape(16, C_in, n)
    dM = output_adjoint(g_phases).reshape(16, C_out, n)
    # threads=False: a transposed right operand runs ≈1.6× slower in the threads of map_slices
    # than in the BLAS library's own (measured, OpenBLAS 0.3.31, 2 cores).
    dU = _products(xp, dM, V.transpose(0, 2, 1), xp.empty((16, C_out, C_in), dtype=x.dtype),
                   threads=False)
    gg = _constant(xp, "GG", np.kron(G, G), x.dtype)     # (16, 9)
    return (gg.T @ dU.reshape(16, C_out * C_in)).T.reshape(C_out, C_in, 3, 3)

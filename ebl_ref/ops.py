"""Hand-written linear and pooling ops, each forward beside its transpose.

Layout: every image-like array is **channel-major, batch-last**, ``(C, H, W, B)`` — channels,
height, width, batch. With that layout a convolution is one GEMM, ``(C_out, C_in·kh·kw) @
(C_in·kh·kw, H·W·B)``, whose result already *is* the ``(C_out, H, W, B)`` output: no transposes
on the hot path (PyTorch's ``(B, C, H, W)`` would need one after every GEMM). Batch-last also
makes the innermost contiguous run of every shifted or pooled slice ``W·B`` long instead of
``W``, which makes im2col, col2im and pooling 2–4× faster on small feature maps. Conventional
``(B, C, H, W)`` images enter the layout once, by :func:`channel_major`, and leave it (e.g. for
a trace file) by :func:`batch_first`.

Convolution is PyTorch's ``conv2d`` semantics (cross-correlation, stride 1, zero padding
``pad``, no bias). im2col is a loop over the ``kh × kw`` kernel offsets assigning strided slices,
and col2im the same loop with ``+=`` — no fancy indexing or scatter-add, so the code is
identical on NumPy and CuPy and deterministic (after Chainer's ``utils/conv.py``).

Every op works on NumPy or CuPy arrays (the module is read off the argument). The loop-based
oracles live in ``tests/naive_ops.py``; ``tests/test_ops.py`` checks each op against them and
checks every adjoint identity ⟨A x, y⟩ = ⟨x, Aᵀ y⟩.
"""
from __future__ import annotations

from .backend import array_module

# --------------------------------------------------------------------------- layout


def channel_major(x):
    """``(B, C, H, W)`` -> ``(C, H, W, B)``: conventional images to the layout of every state.

    Returns a contiguous copy (NumPy or CuPy, like ``x``); :func:`batch_first` inverts it.
    """
    xp = array_module(x)
    return xp.ascontiguousarray(x.transpose(1, 2, 3, 0))  # (B, C, H, W) -> (C, H, W, B)


def batch_first(x):
    """``(C, H, W, B)`` -> ``(B, C, H, W)``: the inverse of :func:`channel_major` (a copy)."""
    xp = array_module(x)
    return xp.ascontiguousarray(x.transpose(3, 0, 1, 2))  # (C, H, W, B) -> (B, C, H, W)


# --------------------------------------------------------------------------- convolution


def _span(offset: int, pad: int, n_in: int, n_out: int):
    """Output positions ``y`` whose input ``y + offset − pad`` lies inside ``[0, n_in)``.

    Returns slices ``(out, in_)`` of equal length; positions outside read the zero padding.
    """
    start = max(0, pad - offset)
    stop = min(n_out, n_in + pad - offset)
    return slice(start, stop), slice(start + offset - pad, stop + offset - pad)


def im2col(x, kh: int, kw: int, pad: int):
    """Unfold kernel-sized patches of ``x`` into columns.

    Parameters
    ----------
    x : array (C, H, W, B)
    kh, kw : kernel height and width
    pad : zero padding on every side

    Returns
    -------
    cols : array (C·kh·kw, Ho·Wo·B), ``cols[(c,u,v), (y,x,b)] = x_pad[c, y+u, x+v, b]``
        with ``x_pad`` the zero-padded ``x`` and ``Ho = H + 2·pad − kh + 1`` (likewise ``Wo``).
    """
    xp = array_module(x)
    C, H, W, B = x.shape
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    cols = xp.zeros((C, kh, kw, Ho, Wo, B), dtype=x.dtype)
    for u in range(kh):
        ys, ys_in = _span(u, pad, H, Ho)
        for v in range(kw):
            xs, xs_in = _span(v, pad, W, Wo)
            cols[:, u, v, ys, xs] = x[:, ys_in, xs_in]  # the rest stays 0 (padding)
    return cols.reshape(C * kh * kw, Ho * Wo * B)


def col2im(cols, shape, kh: int, kw: int, pad: int):
    """Transpose of :func:`im2col`: fold columns back, summing overlapping patches.

    Parameters
    ----------
    cols : array (C·kh·kw, Ho·Wo·B)
    shape : (C, H, W, B) of the image ``im2col`` was applied to

    Returns
    -------
    x : array (C, H, W, B)
    """
    xp = array_module(cols)
    C, H, W, B = shape
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    cols = cols.reshape(C, kh, kw, Ho, Wo, B)
    x = xp.zeros(shape, dtype=cols.dtype)
    for u in range(kh):
        ys, ys_in = _span(u, pad, H, Ho)
        for v in range(kw):
            xs, xs_in = _span(v, pad, W, Wo)
            x[:, ys_in, xs_in] += cols[:, u, v, ys, xs]  # padding entries are dropped
    return x


def conv2d(x, w, pad: int = 1):
    """``Z = W ⋆ x``: 2-D cross-correlation, stride 1, zero padding ``pad``.

    Parameters
    ----------
    x : array (C_in, H, W, B)
    w : array (C_out, C_in, kh, kw)

    Returns
    -------
    z : array (C_out, Ho, Wo, B)
    """
    C_out, C_in, kh, kw = w.shape
    _, H, W, B = x.shape
    z = w.reshape(C_out, C_in * kh * kw) @ im2col(x, kh, kw, pad)  # (C_out, Ho·Wo·B)
    return z.reshape(C_out, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1, B)


def conv2d_transpose(g, w, in_shape, pad: int = 1):
    """``Wᵀ ⋆ g``: the adjoint of :func:`conv2d` in ``x`` (PyTorch's ``conv_transpose2d``).

    Parameters
    ----------
    g : array (C_out, Ho, Wo, B)
    w : array (C_out, C_in, kh, kw)
    in_shape : (C_in, H, W, B) of the convolution's input

    Returns
    -------
    x : array (C_in, H, W, B), with ⟨conv2d(x', w), g⟩ = ⟨x', conv2d_transpose(g, w)⟩
    """
    C_out, C_in, kh, kw = w.shape
    cols = w.reshape(C_out, C_in * kh * kw).T @ g.reshape(C_out, -1)  # (C_in·kh·kw, Ho·Wo·B)
    return col2im(cols, in_shape, kh, kw, pad)


def conv2d_weight_grad(x, g, kernel_shape, pad: int = 1):
    """``∂⟨g, W ⋆ x⟩/∂W``: the adjoint of :func:`conv2d` in ``w`` (summed over the batch).

    Parameters
    ----------
    x : array (C_in, H, W, B)
    g : array (C_out, Ho, Wo, B)
    kernel_shape : (C_out, C_in, kh, kw)

    Returns
    -------
    dw : array (C_out, C_in, kh, kw),
        ``dw[o,i,u,v] = Σ_{y,x,b} g[o,y,x,b] · x_pad[i,y+u,x+v,b]``
    """
    C_out, C_in, kh, kw = kernel_shape
    dw = g.reshape(C_out, -1) @ im2col(x, kh, kw, pad).T  # (C_out, C_in·kh·kw)
    return dw.reshape(kernel_shape)


# --------------------------------------------------------------------------- 2×2 max-pooling

# Window positions in row-major order; the authors' tie rule (PyTorch's max_pool2d with
# indices) keeps the FIRST maximum in this order: (0,0) > (0,1) > (1,0) > (1,1).
WINDOW = ((0, 0), (0, 1), (1, 0), (1, 1))


def _windows(z):
    """View ``(C, H, W, B)`` as ``(C, H/2, 2, W/2, 2, B)``; H and W must be even."""
    C, H, W, B = z.shape
    if H % 2 or W % 2:
        raise ValueError(f"2×2 max-pooling needs even height and width, got {H}×{W}")
    return z.reshape(C, H // 2, 2, W // 2, 2, B)


def maxpool2x2(z):
    """2×2 max-pooling, stride 2, with the arg-max of every window.

    Parameters
    ----------
    z : array (C, H, W, B), H and W even

    Returns
    -------
    p : array (C, H/2, W/2, B), the window maxima
    idx : int8 array (C, H/2, W/2, B), position of the maximum in :data:`WINDOW` order;
        on ties the first position wins, as in PyTorch (docs/DEVIATIONS.md §1).
    """
    zw = _windows(z)  # (C, H/2, 2, W/2, 2, B)
    return pool_window(zw[:, :, 0, :, 0], zw[:, :, 0, :, 1],   # top row of each window
                       zw[:, :, 1, :, 0], zw[:, :, 1, :, 1])   # bottom row


def pool_window(a, b, c, d, out=None):
    """Maximum and arg-max of the four entries of every window, given as four arrays in
    :data:`WINDOW` order (the core of :func:`maxpool2x2`, shared with the fused Winograd path).

    Parameters
    ----------
    a, b, c, d : arrays of one shape (e.g. (C, H/2, W/2, B)) and float dtype: the entries at
        window positions 0..3 (top left, top right, bottom left, bottom right)
    out : optional ``(p, idx)``, arrays of that shape (``p`` of the inputs' dtype, ``idx``
        int8), written and returned

    Returns
    -------
    ``(p, idx)`` as :func:`maxpool2x2`: the maxima and their positions 0..3 (int8). On ties the
    first position wins. A NaN entry makes ``p`` NaN (``maximum`` propagates it) and ``idx``
    whatever the strict comparisons give, which are all false with NaN: not meaningful, and a
    run stops at the first non-finite state anyway (its divergence check).
    """
    xp = array_module(a)
    top, bottom = xp.maximum(a, b), xp.maximum(c, d)
    p, idx = (None, None) if out is None else out
    p = xp.maximum(top, bottom, out=p)
    # Strict ">" keeps the first maximum: b beats a, bottom beats top, only if strictly larger.
    row = bottom > top                                   # the maximum is in the bottom row
    col = (row & (d > c)) | (~row & (b > a))             # ... and in the right column
    # idx = 2·row + col, in int8 (a bool is one byte, 0 or 1; NumPy's where is slow for int8)
    idx = xp.add(row.view(xp.int8), row.view(xp.int8), out=idx)
    idx += col.view(xp.int8)
    return (p, idx) if out is None else out


def unpool2x2(s, idx):
    """Adjoint of "pick the arg-max of each window": place ``s`` at the recorded positions.

    Parameters
    ----------
    s : array (C, H/2, W/2, B)
    idx : int8 array (C, H/2, W/2, B) from :func:`maxpool2x2`

    Returns
    -------
    u : array (C, H, W, B), zero except ``u[c, 2Y+i, 2X+j, b] = s[c, Y, X, b]`` where
        ``WINDOW[idx[c, Y, X, b]] == (i, j)``.
    """
    xp = array_module(s)
    C, H2, W2, B = s.shape
    u = xp.empty((C, H2, 2, W2, 2, B), dtype=s.dtype)
    for k, (i, j) in enumerate(WINDOW):
        xp.multiply(s, idx == k, out=u[:, :, i, :, j])  # s where the max was, else 0
    return u.reshape(C, 2 * H2, 2 * W2, B)


def gather2x2(z, idx):
    """Pick each 2×2 window's entry at the recorded arg-max: the adjoint of :func:`unpool2x2`.

    Parameters
    ----------
    z : array (C, H, W, B), H and W even
    idx : int8 array (C, H/2, W/2, B), positions in :data:`WINDOW` order

    Returns
    -------
    p : array (C, H/2, W/2, B), ``p[c,Y,X,b] = z[c,2Y+i,2X+j,b]`` with ``(i,j) = WINDOW[idx]``;
        ``⟨gather2x2(z, idx), s⟩ = ⟨z, unpool2x2(s, idx)⟩``.
    """
    xp = array_module(z)
    zw = _windows(z)  # (C, H/2, 2, W/2, 2, B)
    p = xp.zeros(idx.shape, dtype=z.dtype)
    for k, (i, j) in enumerate(WINDOW):
        p += zw[:, :, i, :, j] * (idx == k)
    return p


# --------------------------------------------------------------------------- dense


def dense(s, w):
    """``o = W5ᵀ vec(s)``: the dense interaction's drive on the output.

    Parameters
    ----------
    s : array (C, h, w, B), the last hidden layer
    w : array (C, h, w, M), index ``[c, y, x, j]`` (the pre layer flattened in (c, y, x) order)

    Returns
    -------
    o : array (B, M)
    """
    C, h, wd, B = s.shape
    return s.reshape(C * h * wd, B).T @ w.reshape(C * h * wd, -1)  # (B, C·h·w) @ (C·h·w, M)


def dense_transpose(o, w):
    """Adjoint of :func:`dense` in ``s``: ``W5 · o`` reshaped to the pre layer.

    Parameters
    ----------
    o : array (B, M)
    w : array (C, h, w, M)

    Returns
    -------
    s : array (C, h, w, B)
    """
    C, h, wd, M = w.shape
    return (w.reshape(C * h * wd, M) @ o.T).reshape(C, h, wd, -1)  # (C·h·w, M) @ (M, B)


def dense_weight_grad(s, o):
    """Adjoint of :func:`dense` in ``w``: ``∂⟨o', dense(s, W)⟩/∂W`` summed over the batch.

    Parameters
    ----------
    s : array (C, h, w, B)
    o : array (B, M)

    Returns
    -------
    dw : array (C, h, w, M), ``dw[c,y,x,j] = Σ_b s[c,y,x,b] · o[b,j]``
    """
    C, h, wd, B = s.shape
    return (s.reshape(C * h * wd, B) @ o).reshape(C, h, wd, -1)  # (C·h·w, B) @ (B, M)

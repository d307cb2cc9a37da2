"""Loop-based oracles for :mod:`ebl_ref.ops`, written straight from the definitions.

Same channel-major layout (C, B, H, W); nothing here shares code with the fast versions.
Slow by design: use small shapes.
"""
import numpy as np


def conv2d(x, w, pad):
    """z[o,b,y,x] = Σ_{i,u,v} w[o,i,u,v] · x[i, b, y+u−pad, x+v−pad] (zero outside)."""
    C_in, B, H, W = x.shape
    C_out, _, kh, kw = w.shape
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    z = np.zeros((C_out, B, Ho, Wo))
    for o in range(C_out):
        for b in range(B):
            for y in range(Ho):
                for xx in range(Wo):
                    acc = 0.0
                    for i in range(C_in):
                        for u in range(kh):
                            for v in range(kw):
                                r, c = y + u - pad, xx + v - pad
                                if 0 <= r < H and 0 <= c < W:
                                    acc += w[o, i, u, v] * x[i, b, r, c]
                    z[o, b, y, xx] = acc
    return z


def conv2d_transpose(g, w, in_shape, pad):
    """x[i,b,r,c] = Σ_{o,u,v} w[o,i,u,v] · g[o, b, r−u+pad, c−v+pad] (zero outside)."""
    C_in, B, H, W = in_shape
    C_out, _, kh, kw = w.shape
    _, _, Ho, Wo = g.shape
    x = np.zeros(in_shape)
    for i in range(C_in):
        for b in range(B):
            for r in range(H):
                for c in range(W):
                    acc = 0.0
                    for o in range(C_out):
                        for u in range(kh):
                            for v in range(kw):
                                y, xx = r - u + pad, c - v + pad
                                if 0 <= y < Ho and 0 <= xx < Wo:
                                    acc += w[o, i, u, v] * g[o, b, y, xx]
                    x[i, b, r, c] = acc
    return x


def conv2d_weight_grad(x, g, kernel_shape, pad):
    """dw[o,i,u,v] = Σ_{b,y,x} g[o,b,y,x] · x[i, b, y+u−pad, x+v−pad]."""
    C_out, C_in, kh, kw = kernel_shape
    _, B, H, W = x.shape
    _, _, Ho, Wo = g.shape
    dw = np.zeros(kernel_shape)
    for o in range(C_out):
        for i in range(C_in):
            for u in range(kh):
                for v in range(kw):
                    acc = 0.0
                    for b in range(B):
                        for y in range(Ho):
                            for xx in range(Wo):
                                r, c = y + u - pad, xx + v - pad
                                if 0 <= r < H and 0 <= c < W:
                                    acc += g[o, b, y, xx] * x[i, b, r, c]
                    dw[o, i, u, v] = acc
    return dw


def maxpool2x2(z):
    """Window maxima and arg-max (0..3 in row-major window order; first maximum wins)."""
    C, B, H, W = z.shape
    p = np.zeros((C, B, H // 2, W // 2))
    idx = np.zeros((C, B, H // 2, W // 2), dtype=np.int8)
    for c in range(C):
        for b in range(B):
            for Y in range(H // 2):
                for X in range(W // 2):
                    best, best_k = None, None
                    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                        value = z[c, b, 2 * Y + i, 2 * X + j]
                        if best is None or value > best:
                            best, best_k = value, k
                    p[c, b, Y, X], idx[c, b, Y, X] = best, best_k
    return p, idx


def unpool2x2(s, idx):
    """u[c,b,2Y+i,2X+j] = s[c,b,Y,X] at the recorded arg-max (i, j), 0 elsewhere."""
    C, B, H2, W2 = s.shape
    u = np.zeros((C, B, 2 * H2, 2 * W2))
    for c in range(C):
        for b in range(B):
            for Y in range(H2):
                for X in range(W2):
                    i, j = divmod(int(idx[c, b, Y, X]), 2)
                    u[c, b, 2 * Y + i, 2 * X + j] = s[c, b, Y, X]
    return u


def dense(s, w):
    """o[b,j] = Σ_{c,y,x} s[c,b,y,x] · w[c,y,x,j]."""
    C, B, h, wd = s.shape
    M = w.shape[3]
    o = np.zeros((B, M))
    for b in range(B):
        for j in range(M):
            o[b, j] = sum(s[c, b, y, x] * w[c, y, x, j]
                          for c in range(C) for y in range(h) for x in range(wd))
    return o

"""Loop-based oracles for :mod:`ebl_ref.ops`, written straight from the definitions.

Same layout as the fast ops, (C, H, W, B); nothing here shares code with them.
Slow by design: use small shapes.
"""
import numpy as np


def conv2d(x, w, pad):
    """z[o,y,x,b] = Σ_{i,u,v} w[o,i,u,v] · x[i, y+u−pad, x+v−pad, b] (zero outside)."""
    C_in, H, W, B = x.shape
    C_out, _, kh, kw = w.shape
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    z = np.zeros((C_out, Ho, Wo, B))
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
                                    acc += w[o, i, u, v] * x[i, r, c, b]
                    z[o, y, xx, b] = acc
    return z


def conv2d_transpose(g, w, in_shape, pad):
    """x[i,r,c,b] = Σ_{o,u,v} w[o,i,u,v] · g[o, r−u+pad, c−v+pad, b] (zero outside)."""
    C_in, H, W, B = in_shape
    C_out, _, kh, kw = w.shape
    _, Ho, Wo, _ = g.shape
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
                                    acc += w[o, i, u, v] * g[o, y, xx, b]
                    x[i, r, c, b] = acc
    return x


def conv2d_weight_grad(x, g, kernel_shape, pad):
    """dw[o,i,u,v] = Σ_{y,x,b} g[o,y,x,b] · x[i, y+u−pad, x+v−pad, b]."""
    C_out, C_in, kh, kw = kernel_shape
    _, H, W, B = x.shape
    _, Ho, Wo, _ = g.shape
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
                                    acc += g[o, y, xx, b] * x[i, r, c, b]
                    dw[o, i, u, v] = acc
    return dw


def maxpool2x2(z):
    """Window maxima and arg-max (0..3 in row-major window order; first maximum wins)."""
    C, H, W, B = z.shape
    p = np.zeros((C, H // 2, W // 2, B))
    idx = np.zeros((C, H // 2, W // 2, B), dtype=np.int8)
    for c in range(C):
        for b in range(B):
            for Y in range(H // 2):
                for X in range(W // 2):
                    best, best_k = None, None
                    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                        value = z[c, 2 * Y + i, 2 * X + j, b]
                        if best is None or value > best:
                            best, best_k = value, k
                    p[c, Y, X, b], idx[c, Y, X, b] = best, best_k
    return p, idx


def unpool2x2(s, idx):
    """u[c,2Y+i,2X+j,b] = s[c,Y,X,b] at the recorded arg-max (i, j), 0 elsewhere."""
    C, H2, W2, B = s.shape
    u = np.zeros((C, 2 * H2, 2 * W2, B))
    for c in range(C):
        for b in range(B):
            for Y in range(H2):
                for X in range(W2):
                    i, j = divmod(int(idx[c, Y, X, b]), 2)
                    u[c, 2 * Y + i, 2 * X + j, b] = s[c, Y, X, b]
    return u


def dense(s, w):
    """o[b,j] = Σ_{c,y,x} s[c,y,x,b] · w[c,y,x,j]."""
    C, h, wd, B = s.shape
    M = w.shape[3]
    o = np.zeros((B, M))
    for b in range(B):
        for j in range(M):
            o[b, j] = sum(s[c, y, x, b] * w[c, y, x, j]
                          for c in range(C) for y in range(h) for x in range(wd))
    return o

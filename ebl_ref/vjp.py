"""Reverse mode (and forward linearisation) of one half-step, written by hand from the ops.

A half-step (:func:`ebl_ref.minimize.half_step`) updates the layers of a group G from the state
``s`` before it — an asynchronous half-step (G = {1, 3, 5} or {2, 4}) or the synchronous one
(G = {1, …, 5}), free phase (β = 0)::

    s_k' = clip(a_k(θ, s), 0, 1)    hidden k ∈ G         (hard sigmoid)
    o'   = a_5(θ, s)                                      (linear output, no clamp)
    s_j' = s_j                      j ∉ G

    a_k = b_k + P(W_k ⋆ s_{k−1}) + W_{k+1} ⋆ᵀ U(s_{k+1}; idx_{k+1})    k = 1..3
    a_4 = b_4 + P(W_4 ⋆ s_3) + W5 · o
    a_5 = b_5 + W5ᵀ s_4

with every ``a_k`` of the group computed from ``s`` (Jacobi within the group) and
``idx_k = argmax of W_k ⋆ s_{k−1}`` over each 2×2 window. The derivatives are taken at a
:class:`~ebl_ref.minimize.HalfStep` record, which the relaxation loop itself writes when
observed (:func:`ebl_ref.minimize.relax`): the map differentiated is the one the minimiser ran.

Derivatives, the arg-max held fixed (it is discrete: no gradient flows through it; a pooled
value's gradient goes to its arg-max position, as PyTorch differentiates ``max_pool2d``):

* **clamp**: ∂s_k'/∂a_k = 1 where 0 ≤ a_k ≤ 1 **inclusive** (the record's
  :func:`~ebl_ref.minimize.clamp_mask`), else 0.
* **pooled conv** ``P(W_k ⋆ s_{k−1}) = gather(W_k ⋆ s_{k−1}; idx_k)``: the cotangent ``g`` of
  ``a_k`` goes to ``U(g; idx_k)`` on the conv output, then ``W_k ⋆ᵀ`` to s_{k−1} and the
  weight gradient to W_k.
* **feedback** ``W_{k+1} ⋆ᵀ U(s_{k+1}; idx_{k+1})`` (linear in s_{k+1} and in W_{k+1}): the
  cotangent goes to ``gather(W_{k+1} ⋆ g; idx_{k+1})`` on s_{k+1} and to
  ``conv2d_weight_grad(g, U(s_{k+1}))`` on W_{k+1}.
* **dense** ``W5 · o`` and ``W5ᵀ s_4``: :func:`~ebl_ref.ops.dense`, its transpose, its weight grad.
* **biases**: the cotangent summed over batch and space.

The input x is clamped: no cotangent is computed for it (that skips W_1 ⋆ᵀ).
Cotangents and tangents are lists indexed like the state, ``[x, s1, s2, s3, s4, o]``; ``None``
stands for zero (and skips the work).
"""
from __future__ import annotations

from .backend import array_module
from .minimize import HalfStep
from .network import OUTPUT
from .ops import (
    conv2d,
    conv2d_transpose,
    conv2d_weight_grad,
    dense,
    dense_transpose,
    dense_weight_grad,
    gather2x2,
    unpool2x2,
)


def _free(rec: HalfStep) -> None:
    """Refuse a record whose output update was nudged: its derivative is not the one above."""
    if rec.beta != 0.0 and OUTPUT in rec.group:
        raise ValueError(f"the derivatives are of a free half-step (beta = 0); this record "
                         f"updated the output nudged with beta = {rec.beta}")


# --------------------------------------------------------------------------- reverse mode


def _add(acc: list, j: int, v):
    acc[j] = v if acc[j] is None else acc[j] + v


def zero_grads(params: dict) -> dict:
    """A dict of zero arrays shaped like ``params`` (an accumulator for ∂L/∂θ)."""
    xp = array_module(next(iter(params.values())))
    return {name: xp.zeros_like(p) for name, p in params.items()}


def preactivation_vjp(params: dict, rec: HalfStep, k: int, g, lam, grads):
    """Add ``(∂a_k/∂s)ᵀ g`` into the list ``lam`` and ``(∂a_k/∂θ)ᵀ g`` into the dict
    ``grads``, each skipped when None; ``g`` has a_k's shape ((C_k, H, W, B), or (B, M))."""
    s, idx = rec.s, rec.idx
    w5 = params["W5"]
    if k == OUTPUT:                                  # a_5 = b_5 + W5ᵀ s_4
        if lam is not None:
            _add(lam, 4, dense_transpose(g, w5))
        if grads is not None:
            grads["b5"] += g.sum(axis=0)
            grads["W5"] += dense_weight_grad(s[4], g)
        return
    w = params[f"W{k}"]
    g_z = unpool2x2(g, idx[k])                       # (C_k, H/2, W/2, B) -> conv k's output
    if k > 1 and lam is not None:                    # the input x is clamped
        _add(lam, k - 1, conv2d_transpose(g_z, w, s[k - 1].shape))
    if grads is not None:
        grads[f"b{k}"] += g.sum(axis=(1, 2, 3))  # (C, H, W, B) -> (C,)
        grads[f"W{k}"] += conv2d_weight_grad(s[k - 1], g_z, w.shape)
    if k == 4:                                       # + W5 · o
        if lam is not None:
            _add(lam, OUTPUT, dense(g, w5))
        if grads is not None:
            grads["W5"] += dense_weight_grad(g, s[OUTPUT])
        return
    w_up = params[f"W{k + 1}"]                       # + W_{k+1} ⋆ᵀ U(s_{k+1}; idx_{k+1})
    if lam is not None:
        _add(lam, k + 1, gather2x2(conv2d(g, w_up), idx[k + 1]))
    if grads is not None:
        grads[f"W{k + 1}"] += conv2d_weight_grad(g, unpool2x2(s[k + 1], idx[k + 1]), w_up.shape)


def half_step_vjp(params: dict, rec: HalfStep, lam_new: list, grads: dict | None = None,
                  states: bool = True):
    """Vector–Jacobian product of one free half-step.

    Parameters
    ----------
    rec : the half-step's :class:`~ebl_ref.minimize.HalfStep` record (β = 0)
    lam_new : list of 6 cotangents of the state after the half-step (None = zero)
    grads : dict accumulating ``(∂s'/∂θ)ᵀ λ'`` in place, or None to skip the parameters
    states : compute the state cotangent (False: parameters only, returns None)

    Returns
    -------
    lam : list of 6, ``(∂s'/∂s)ᵀ λ'``; ``lam[0]`` (the clamped input) is always None.

    Raises ValueError for a nudged record (β ≠ 0).
    """
    _free(rec)
    lam = None
    if states:
        lam = [None if j in rec.group else lam_new[j] for j in range(6)]
        lam[0] = None
    for k in rec.group:
        if lam_new[k] is None:
            continue
        g = lam_new[k] if k == OUTPUT else lam_new[k] * rec.active[k]  # through the clamp
        preactivation_vjp(params, rec, k, g, lam, grads)
    return lam


# --------------------------------------------------------------------------- forward mode


def preactivation_jvp(params: dict, rec: HalfStep, k: int, v: list, dtheta: dict):
    """``ȧ_k = ∂a_k/∂s · v + ∂a_k/∂θ · dθ`` (arg-max fixed); ``v`` entries may be None."""
    s, idx = rec.s, rec.idx
    if k == OUTPUT:
        da = dtheta["b5"] + dense(s[4], dtheta["W5"])
        return da if v[4] is None else da + dense(v[4], params["W5"])
    z_dot = conv2d(s[k - 1], dtheta[f"W{k}"])
    if k > 1 and v[k - 1] is not None:
        z_dot = z_dot + conv2d(v[k - 1], params[f"W{k}"])
    da = dtheta[f"b{k}"][:, None, None, None] + gather2x2(z_dot, idx[k])
    if k == 4:
        da = da + dense_transpose(s[OUTPUT], dtheta["W5"])
        return da if v[OUTPUT] is None else da + dense_transpose(v[OUTPUT], params["W5"])
    shape = s[k].shape
    da = da + conv2d_transpose(unpool2x2(s[k + 1], idx[k + 1]), dtheta[f"W{k + 1}"], shape)
    if v[k + 1] is not None:
        da = da + conv2d_transpose(unpool2x2(v[k + 1], idx[k + 1]), params[f"W{k + 1}"], shape)
    return da


def half_step_jvp(params: dict, rec: HalfStep, v: list, dtheta: dict) -> list:
    """Forward linearisation of one free half-step: ``ṡ' = ∂s'/∂s · v + ∂s'/∂θ · dθ``.

    ``v`` is a list of 6 state tangents (None = zero; ``v[0]`` is ignored, the input is
    clamped); ``dtheta`` a full parameter tangent. Returns the 6 tangents of the new state.
    Raises ValueError for a nudged record (β ≠ 0).
    """
    _free(rec)
    out = [None] + [v[j] for j in range(1, 6)]
    for k in rec.group:
        da = preactivation_jvp(params, rec, k, v, dtheta)
        out[k] = da if k == OUTPUT else da * rec.active[k]
    return out

"""The non-ideality models as plain functions over arrays (NumPy or CuPy), each off when its
strength is 0.

All noise is drawn on the host from the ``numpy.random.Generator`` passed in (as float64
standard normals, then cast to the array's dtype and copied to its device: the same seed gives
the same numbers on the CPU and the GPU, STYLE §9). Weights are in normalised device units
``w = θ / r`` (:mod:`ebl_ref.analog.config`); ``r`` is broadcast against ``w``.

=========================  =============================================  ===============
model                      formula                                        enters at
=========================  =============================================  ===============
:func:`quantize`           w_min + Δ·round((w − w_min)/Δ), Δ=(w_max−w_min)/(L−1)  a write
:func:`program`            clip(Q(w) + σ_p ξ, w_min, w_max)              a write
:func:`read_weights`       g ⊙ w + σ_w ξ  (ξ per phase)                  eq. (1), (4), (7)
:func:`perturb`            a_k + σ_r ξ  (ξ per layer update)             the layer update
:func:`read_out`           mean over n reads of Q_ADC(s + σ_o ξ)         eqs. (3), (5)–(9)
:func:`pulsed_update`      w + n·Δw^d + Δw^d σ_c √n ξ, clipped           the SGD step
=========================  =============================================  ===============
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module


def gauss(rng: np.random.Generator, like):
    """Standard normal noise shaped and typed like ``like``, drawn on the host from ``rng``."""
    xp = array_module(like)
    return xp.asarray(rng.standard_normal(like.shape), dtype=like.dtype)


def uniform(rng: np.random.Generator, like):
    """U[0, 1) noise shaped and typed like ``like``, drawn on the host from ``rng``."""
    xp = array_module(like)
    return xp.asarray(rng.random(like.shape), dtype=like.dtype)


def quantize(w, levels: int, w_min: float, w_max: float):
    """``w`` rounded to the nearest of ``levels`` evenly spaced values over [w_min, w_max],
    saturating outside (``levels = 0``: ``w`` unchanged).

    Output lies on the grid ``w_min + i·Δ``, ``Δ = (w_max − w_min)/(levels − 1)``, ``i`` in
    0..levels−1, and ``quantize(quantize(w)) == quantize(w)``. Any shape; dtype kept.
    Raises ValueError for ``levels == 1``.
    """
    if levels == 0:
        return w
    if levels < 2:
        raise ValueError(f"levels must be 0 or >= 2, got {levels}")
    xp = array_module(w)
    step = (w_max - w_min) / (levels - 1)
    i = xp.clip(xp.rint((w - w_min) / step), 0, levels - 1)
    return (w_min + i * step).astype(w.dtype)


def program(w, rng, levels: int, w_min: float, w_max: float, prog_noise: float):
    """Write target ``w`` to a device: quantised to ``levels`` (:func:`quantize`), plus
    programming noise ``prog_noise·ξ`` (one draw per write), clipped to the conductance range.

    With no levels and no noise ``w`` is returned unchanged (not clipped: the range is then a
    property of the pulsed update only) and ``rng`` is not touched.
    """
    if levels == 0 and prog_noise == 0:
        return w
    xp = array_module(w)
    q = quantize(w, levels, w_min, w_max)
    if prog_noise > 0:
        q = q + prog_noise * gauss(rng, q)
    return xp.clip(q, w_min, w_max).astype(w.dtype)


def read_weights(theta, rng, r, gain, w_noise: float):
    """The weight the relaxation computes with: ``g ⊙ θ + r·σ_w·ξ`` (θ in parameter units; ``r``
    the tensor's scale, so σ_w is in normalised device units as aihwkit's w_noise).

    ``gain`` (same shape as θ, or None) is the device's fixed conductance gain (drawn once per
    run, :func:`ebl_ref.analog.device.build`); ξ is drawn once per call: once per phase.
    """
    out = theta if gain is None else gain * theta
    if w_noise > 0:
        out = out + (r * w_noise) * gauss(rng, theta)
    return out.astype(theta.dtype, copy=False)


def perturb(a, rng, sigma: float):
    """A layer's pre-activation with the relaxation's noise: ``a + σ ξ`` (ξ per call, i.e. per
    layer update); ``a`` unchanged for σ = 0."""
    if sigma == 0:
        return a
    return a + sigma * gauss(rng, a)


def read_out(s, rng, out_res: float, out_noise: float, n_reads: int = 1):
    """What a state read gives the learning rule: the mean over ``n_reads`` reads of
    ``Q(s + σ_o ξ)``, Q rounding to multiples of ``out_res`` (the ADC step on full scale 1;
    aihwkit's out_res), ξ fresh for each read.

    Mean ``s`` up to quantisation; variance σ_o²/n_reads without quantisation. Returns ``s``
    itself when both are 0.
    """
    if out_res == 0 and out_noise == 0:
        return s
    xp = array_module(s)
    total = None
    for _ in range(n_reads):
        v = s + out_noise * gauss(rng, s) if out_noise > 0 else s
        if out_res > 0:
            v = xp.rint(v / out_res) * out_res
        total = v if total is None else total + v
    return (total / n_reads).astype(s.dtype)


def pulsed_update(w, dw, rng, step_up, step_down, dw_min: float, dw_min_std: float,
                  w_min: float, w_max: float):
    """Apply a desired change ``dw`` (normalised units) to device weights ``w`` as pulse trains.

    Per device, with direction d = sign(dw) and step ``Δw^d`` (``step_up`` or ``step_down``:
    arrays like ``w``, or scalars; aihwkit's Δw^d_ij = dw_min(1 + dβ_ij + σ_dtod ξ))::

        n  = floor(|dw|/dw_min + u),  u ~ U[0, 1)      stochastic rounding: E[n·dw_min] = |dw|
        w' = clip(w + d (n Δw^d + Δw^d σ_c √n ξ), w_min, w_max)

    σ_c = ``dw_min_std`` is aihwkit's cycle-to-cycle spread per pulse (relative to the step);
    the sum of n independent pulses has std Δw^d σ_c √n. All pulses of one update go one way,
    so clipping once at the end is clipping after every pulse (the hard bounds of
    ConstantStepDevice). Returns an array like ``w``.
    """
    xp = array_module(w)
    n = xp.floor(abs(dw) / dw_min + uniform(rng, w))
    up = dw > 0
    step = xp.where(up, step_up, step_down)
    change = n * step
    if dw_min_std > 0:
        change = change + step * dw_min_std * xp.sqrt(n) * gauss(rng, w)
    return xp.clip(w + xp.where(up, change, -change), w_min, w_max).astype(w.dtype)


def xp_clip(a, lo, hi):
    """``clip(a, lo, hi)`` in ``a``'s array module (a bound may be None)."""
    return array_module(a).clip(a, lo, hi)

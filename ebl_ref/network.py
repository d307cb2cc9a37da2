"""The deep convolutional Hopfield network (DCHN) of paper §3: shapes, init, energy, gradients.

Layers, indexed as in the paper, ``s[0] = x`` (clamped input) … ``s[OUTPUT] = o`` (output)::

    s[0] = x         (C0, S,    S,    B)       input, never updated
    s[k]             (C_k, S/2^k, S/2^k, B)    hidden, k = 1..4 (HIDDEN), values in [0, 1]
    s[OUTPUT] = o    (B, M)                    output (OUTPUT = 5), linear

(channel-major, batch-last layout, see :mod:`ebl_ref.ops`). Parameters form a dict in the
authors' order ``b1..b5, W1..W5``: ``W_k`` (C_k, C_{k−1}, 3, 3), ``W5`` (C4, S/16, S/16, M),
``b_k`` (C_k,), ``b5`` (M,).

Energy per example (paper §3: convolutional interactions with 3×3 kernels, padding 1 and 2×2
max-pooling, a dense one between s4 and o; the exact form is the authors', docs/DEVIATIONS.md
§1), with P the 2×2 max-pool::

    E(θ, x, s) = − Σ_k ⟨b_k, s_k⟩ − Σ_{k=1..4} ⟨s_k, P(W_k ⋆ s_{k−1})⟩ − s4ᵀ W5 o

The function the minimiser actually decreases adds the self-energy and the box
(docs/DEVIATIONS.md §1)::

    F = E + ½ Σ_{k=1..5} ‖s_k‖² + Σ_{k=1..4} ι_[0,1](s_k)

The paper's "energy minimum" (eq. 1) is a minimum of F; we keep the names E and F apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import Backend, array_module
from .convolution import feedback, pooled_conv, weight_grad
from .ops import dense, dense_transpose, dense_weight_grad

HIDDEN = (1, 2, 3, 4)
OUTPUT = 5
PARAM_NAMES = ("b1", "b2", "b3", "b4", "b5", "W1", "W2", "W3", "W4", "W5")


@dataclass(frozen=True)
class DCHN:
    """Architecture of a DCHN.

    Attributes
    ----------
    in_channels : C0 (1 for MNIST/Fashion-MNIST, 3 for SVHN/CIFAR)
    widths : channels of the four hidden layers (paper: 128, 256, 512, 512)
    n_classes : M, the number of output units
    image_size : S, the input's height and width; divisible by 16 (paper: 32)
    """

    in_channels: int = 3
    widths: tuple = (128, 256, 512, 512)
    n_classes: int = 10
    image_size: int = 32

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise ValueError(f"widths must be four positive integers, got {self.widths}")
        if self.in_channels < 1 or self.n_classes < 1:
            raise ValueError("in_channels and n_classes must be positive")
        if self.image_size < 16 or self.image_size % 16:
            raise ValueError(f"image_size must be a positive multiple of 16, got {self.image_size}")

    @property
    def channels(self) -> tuple:
        """(C0, C1, C2, C3, C4)."""
        return (self.in_channels,) + self.widths

    def state_shape(self, k: int, batch: int) -> tuple:
        """Shape of layer ``s[k]`` for a batch, k = 0..5."""
        if k == OUTPUT:
            return (batch, self.n_classes)
        side = self.image_size >> k
        return (self.channels[k], side, side, batch)

    def param_shapes(self) -> dict:
        """Shapes of the ten parameters, in the authors' order b1..b5, W1..W5."""
        C, side4 = self.channels, self.image_size >> 4
        shapes = {f"b{k}": (C[k],) for k in HIDDEN}
        shapes["b5"] = (self.n_classes,)
        shapes.update({f"W{k}": (C[k], C[k - 1], 3, 3) for k in HIDDEN})
        shapes["W5"] = (C[4], side4, side4, self.n_classes)
        return shapes

    def fan_in(self, k: int) -> int:
        """Fan-in of layer k's weight (C_{k−1}·9 for convs, C4·(S/16)² for the dense)."""
        if k == OUTPUT:
            return self.widths[3] * (self.image_size >> 4) ** 2
        return self.channels[k - 1] * 9

    def flops_per_iteration(self) -> int:
        """Minimum-work FLOPs per example of one relaxation iteration (docs/DEVIATIONS.md §6).

        Three forward convs (conv2..4; conv1 of the clamped input is hoisted out of the loop),
        three transposed convs and two dense products; FLOP = 2 × MAC.
        """
        C, S = self.channels, self.image_size
        conv_macs = [C[k] * C[k - 1] * 9 * (S >> (k - 1)) ** 2 for k in (2, 3, 4)]
        dense_macs = self.widths[3] * (S >> 4) ** 2 * self.n_classes
        return 2 * (2 * sum(conv_macs) + 2 * dense_macs)


def init_params(net: DCHN, rng: np.random.Generator, gains=(0.5,) * 5,
                backend: Backend | None = None) -> dict:
    """Draw parameters as the authors' code does (docs/DEVIATIONS.md §3).

    ``W_k ~ U(±g_k/√fan_in_k)`` and ``b_k ~ U(±0.5/√fan_in_k)`` (the bias scale ignores the
    gains), drawn on the host from ``rng`` in the order b1..b5, W1..W5, in float64, then cast
    to the backend's dtype. Same seed ⇒ same numbers on CPU and GPU.
    """
    gains = tuple(float(g) for g in gains)
    if len(gains) != 5:
        raise ValueError(f"gains must be five numbers (one per layer), got {gains}")
    params = {}
    for name, shape in net.param_shapes().items():
        k = int(name[1])
        scale = (gains[k - 1] if name[0] == "W" else 0.5) / np.sqrt(net.fan_in(k))
        params[name] = rng.uniform(-scale, scale, size=shape)
    if backend is None:
        return params
    return {name: backend.asparam(p) for name, p in params.items()}  # float32 under fp16


# --------------------------------------------------------------------------- pooled drives

def pooled_drive(params: dict, s: list, k: int):
    """``P(W_k ⋆ s_{k−1})`` and its arg-max, for conv k = 1..4.

    Returns ``(p, idx)``: ``p`` (C_k, ·, ·, B) drives s_k ("post" role); ``idx`` routes s_k's
    feedback to s_{k−1} ("pre" role). Both depend on s_{k−1} only, so a relaxation caches them
    until s_{k−1} changes (:func:`ebl_ref.minimize.half_step`). Computed by the convolution
    path in use (:mod:`ebl_ref.convolution`); ``params`` may be :class:`~ebl_ref.convolution.
    Prepared`.
    """
    return pooled_conv(params, s[k - 1], k)


def all_drives(params: dict, s: list, known: list | None = None) -> list:
    """``[None, pooled_drive(1), …, pooled_drive(4)]`` at state ``s``.

    Entries of ``known`` that are not None (drives already valid at ``s``) are reused.
    """
    known = [None] * 5 if known is None else known
    return [None] + [known[k] if known[k] is not None else pooled_drive(params, s, k)
                     for k in HIDDEN]


def _bias(b):
    return b[:, None, None, None]  # (C,) -> (C, 1, 1, 1), broadcasts over (C, H, W, B)


def preactivation(params: dict, s: list, drives: list, k: int):
    """``a_k = −∂E/∂s_k`` (paper §3; docs/DEVIATIONS.md §1), using pooled drives valid at ``s``.

    ::

        a_k = b_k + P(W_k ⋆ s_{k−1}) + W_{k+1} ⋆ᵀ U(s_{k+1}; argmax of W_{k+1} ⋆ s_k)   k = 1..3
        a_4 = b_4 + P(W_4 ⋆ s_3) + W5 · o
        a_5 = b_5 + W5ᵀ s_4
    """
    if k == OUTPUT:
        return params["b5"] + dense(s[4], params["W5"])  # (B, M)
    if k == 4:
        a = dense_transpose(s[OUTPUT], params["W5"])
    else:
        _, idx = drives[k + 1]  # arg-max of W_{k+1} ⋆ s_k: routes s_{k+1} back through the pool
        a = feedback(params, s[k + 1], idx, k + 1, s[k].shape)
    a += drives[k][0]  # a is a fresh array: the sums in place
    a += _bias(params[f"b{k}"])
    return a


# --------------------------------------------------------------------------- energies and cost

def accumulator(dtype) -> np.dtype:
    """The dtype sums of ``dtype`` values accumulate in: at least float32 (float16 overflows
    at 65504 and keeps 11 bits; backend.py's precision notes)."""
    return np.promote_types(dtype, np.float32)


def _per_example(t):
    """Sum an array (C, H, W, B) over all axes but the batch: -> (B,), at least float32."""
    return t.sum(axis=(0, 1, 2), dtype=accumulator(t.dtype))


def energy(params: dict, s: list, drives: list | None = None):
    """E(θ, x, s) per example, shape (B,) (paper §3, the energy above; no self-energy)."""
    drives = all_drives(params, s, drives)
    o = s[OUTPUT]
    e = -(params["b5"] * o).sum(axis=1) - (dense(s[4], params["W5"]) * o).sum(axis=1)
    for k in HIDDEN:
        e = e - _per_example((_bias(params[f"b{k}"]) + drives[k][0]) * s[k])
    return e


def self_energy(s: list):
    """½ Σ_{k=1..5} ‖s_k‖² per example, shape (B,)."""
    return sum(_per_example(s[k] ** 2) for k in HIDDEN) / 2 + (s[OUTPUT] ** 2).sum(axis=1) / 2


def in_box(s: list) -> bool:
    """True iff every hidden unit lies in [0, 1] (the indicator terms of F are zero)."""
    return all(bool((s[k] >= 0).all() and (s[k] <= 1).all()) for k in HIDDEN)


def total_energy(params: dict, s: list, drives: list | None = None):
    """F = E + ½Σ‖s_k‖² + Σ ι_[0,1](s_k), per example (B,); +inf outside the box."""
    f = energy(params, s, drives) + self_energy(s)
    if not in_box(s):
        return f + np.inf
    return f


def one_hot(labels, n_classes: int, like):
    """One-hot targets y, (B,) int -> (B, M) of ``like``'s dtype and array module."""
    xp = array_module(like)
    labels = xp.asarray(labels)
    return (labels[:, None] == xp.arange(n_classes)[None, :]).astype(like.dtype)


def cost(o, y):
    """C(o, y) = ½ ‖o − y‖² per example, shape (B,): the cost of paper §2.2 (eq. 4), the
    squared error (docs/DEVIATIONS.md §4)."""
    return ((o - y) ** 2).sum(axis=1) / 2


# --------------------------------------------------------------------------- ∂E/∂θ

def param_grads(params: dict, s: list, drives: list | None = None) -> dict:
    """∂E/∂θ at state ``s``, averaged over the batch: the term every rule of paper §2 contrasts
    (eqs. 3, 5, 6, 8, 9; docs/DEVIATIONS.md §4).

    ::

        ∂E/∂b_k = −⟨s_k⟩                        (sum over space, mean over batch)
        ∂E/∂W_k = −(1/B) Σ_b s_{k−1} ⋆ U(s_k)   (the conv's weight gradient)
        ∂E/∂W5  = −(1/B) Σ_b s4 ⊗ o

    ``drives`` (entries valid at ``s`` or None) may be passed to skip recomputing pooled convs.
    The gradient is computed in at least float32 (:func:`accumulator`): float16 states are
    upcast, so every rule's contrast of two such terms keeps float32's precision.
    """
    drives = all_drives(params, s, drives)
    acc = accumulator(s[OUTPUT].dtype)
    s = [a.astype(acc) if a.dtype != acc else a for a in s]  # float16 states: float32 sums
    B = s[OUTPUT].shape[0]
    grads = {f"b{k}": -s[k].sum(axis=(1, 2, 3)) / B for k in HIDDEN}  # (C, H, W, B) -> (C,)
    grads["b5"] = -s[OUTPUT].sum(axis=0) / B
    for k in HIDDEN:
        shape = params[f"W{k}"].shape
        grads[f"W{k}"] = -weight_grad(s[k - 1], s[k], drives[k][1], shape) / B
    grads["W5"] = -dense_weight_grad(s[4], s[OUTPUT]) / B
    return grads

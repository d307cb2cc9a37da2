"""SGD with momentum, coupled weight decay and per-layer learning rates; cosine annealing.

Exactly PyTorch's ``torch.optim.SGD`` (dampening 0, no Nesterov), the optimiser of the
authors' public code, for a gradient estimate ``g`` of +∂L/∂θ (paper §2: Δθ = −η g)::

    d = g + λ θ                 coupled L2 weight decay, on all ten parameters (biases too)
    v = μ v + d                 (v = d at the first step)
    θ ← θ − η_layer(θ) · v

and ``CosineAnnealingLR(T_max = epochs, eta_min = 2e-6)`` stepped once per epoch.
"""
from __future__ import annotations

import math


def layer_of(name: str) -> int:
    """Layer index 1..5 of a parameter name: ``"W3"`` -> 3, ``"b5"`` -> 5."""
    return int(name[1:])


def cosine_lr(lr0: float, epoch: int, epochs: int, eta_min: float = 2e-6) -> float:
    """Learning rate during ``epoch`` (1-based) of ``epochs``:
    η_e = η_min + (η₀ − η_min)·(1 + cos(π(e − 1)/T))/2."""
    return eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * (epoch - 1) / epochs)) / 2


def sgd_step(params: dict, grads: dict, velocity: dict | None, lrs, momentum: float,
             weight_decay: float):
    """One SGD step. Returns new ``(params, velocity)``; the inputs are not modified.

    Parameters
    ----------
    params, grads : dicts name -> array, ``grads`` an estimate of +∂L/∂θ
    velocity : the momentum buffers, or None before the first step
    lrs : five learning rates, one per layer (bias and weight of a layer share it)
    """
    new_params, new_velocity = {}, {}
    for name, theta in params.items():
        d = grads[name] + weight_decay * theta
        v = d if velocity is None else momentum * velocity[name] + d
        new_params[name] = theta - lrs[layer_of(name) - 1] * v
        new_velocity[name] = v
    return new_params, new_velocity

"""Small networks and random states shared by the tests (float64, host NumPy)."""
import numpy as np
from hypothesis import assume

from ebl_ref.gradcheck import active_set
from ebl_ref.minimize import free_phase, half_step
from ebl_ref.network import DCHN, OUTPUT, init_params, one_hot
from ebl_ref.ops import channel_major
from ebl_ref.rules import Phases, true_loss

TINY = DCHN(in_channels=2, widths=(3, 4, 4, 3), n_classes=3, image_size=16)


def tiny_problem(seed, net=TINY, batch=2, gain=1.0):
    """Parameters, input (channel-major), labels and one-hot targets for a small DCHN."""
    rng = np.random.default_rng(seed)
    params = init_params(net, rng, gains=(gain,) * 5)
    x = channel_major(rng.standard_normal((batch, net.in_channels, net.image_size,
                                           net.image_size)))
    labels = rng.integers(0, net.n_classes, batch)
    return params, x, labels, one_hot(labels, net.n_classes, x)


def random_state(seed, x, net=TINY):
    """A state with hidden units uniform in [0.05, 0.95] (inside the box, no ties)."""
    rng = np.random.default_rng(seed)
    batch = x.shape[-1]
    s = [x] + [rng.uniform(0.05, 0.95, net.state_shape(k, batch)) for k in (1, 2, 3, 4)]
    return s + [rng.standard_normal(net.state_shape(OUTPUT, batch))]


def record(params, s, group, beta=0.0, y=None):
    """The :class:`~ebl_ref.minimize.HalfStep` record of one half-step of ``group`` from
    ``s`` (no cached drives), as the relaxation loop writes it."""
    records = []
    half_step(params, s, [None] * 5, group, beta, y, observe=records.append)
    return records[0]


CONVERGED = dict(iterations=5000, tol=1e-14)  # relax "to equilibrium" on the tiny net


def converged_phases(params, x, y, net=TINY):
    """:class:`Phases` whose free and second phases are all relaxed to convergence."""
    return Phases(params, y, free_phase(params, net, x, **CONVERGED), **CONVERGED)


def same_active_set(params_a, s_a, params_b, s_b):
    return all(np.array_equal(u, v)
               for u, v in zip(active_set(params_a, s_a), active_set(params_b, s_b)))


def fd_along(objective, params, direction, eps=1e-5):
    """Central difference of ``objective(θ)`` along ``direction`` (dicts like ``params``)."""
    values = [objective({k: params[k] + sign * eps * direction[k] for k in params})
              for sign in (1, -1)]
    return (values[0] - values[1]) / (2 * eps)


def fd_true_loss(params, x, y, s_star, direction, eps=1e-5, net=TINY):
    """Central difference of the true loss C(o*(θ), y) (batch mean, converged free phases)
    along ``direction``; discards the example (assume) if θ ± ε·d changes the active set."""
    def loss(theta):
        ph = Phases(theta, y, free_phase(theta, net, x, **CONVERGED))
        assume(same_active_set(params, s_star, theta, ph.free.s))
        return true_loss(ph).mean()
    return fd_along(loss, params, direction, eps)


def smooth_converged_phases(seed, beta_max):
    """A tiny problem relaxed to convergence, as :class:`Phases`; discards the example
    (assume) if nudging by ±beta_max changes the active set (the theorems need smoothness)."""
    params, x, _, y = tiny_problem(seed, gain=1.5)
    ph = converged_phases(params, x, y)
    for b in (beta_max, -beta_max):
        assume(same_active_set(params, ph.free.s, params, ph.nudged(b).s))
    return ph, x

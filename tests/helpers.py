"""Small networks and random states shared by the tests (float64, host NumPy)."""
import numpy as np

from ebl_ref.minimize import channel_major
from ebl_ref.network import DCHN, init_params, one_hot

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
    return s + [rng.standard_normal(net.state_shape(5, batch))]

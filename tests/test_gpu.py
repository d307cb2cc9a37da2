"""CuPy backend: the same code on the GPU gives the CPU's numbers. Skipped without a GPU."""
import numpy as np
import pytest

from ebl_ref.algorithms import estimate_gradient
from ebl_ref.backend import BackendError, get_backend, to_host
from ebl_ref.network import DCHN, init_params, one_hot
from ebl_ref.ops import channel_major
from ebl_ref.rules import RULES

try:
    GPU = get_backend("gpu", "float64")
except BackendError as exc:
    pytest.skip(f"no GPU backend: {exc}", allow_module_level=True)

NET = DCHN(in_channels=3, widths=(8, 16, 16, 16), n_classes=10)


def problem(backend, seed=0, batch=4):
    rng = np.random.default_rng(seed)
    params = init_params(NET, rng, gains=(1.0,) * 5, backend=backend)
    x = channel_major(backend.asarray(rng.standard_normal((batch, 3, 32, 32))))
    y = one_hot(backend.asarray(rng.integers(0, 10, batch)), 10, x)
    return params, x, y


def gradient(backend, rule):
    params, x, y = problem(backend)
    return estimate_gradient(rule, params, NET, x, y, beta=0.25, free_iters=20,
                             train_iters=8)[0]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_gpu_float64_matches_cpu(rule):
    g_cpu = gradient(get_backend("cpu", "float64"), rule)
    g_gpu = gradient(GPU, rule)
    for k in g_cpu:
        np.testing.assert_allclose(to_host(g_gpu[k]), g_cpu[k], rtol=1e-7, atol=1e-10,
                                   err_msg=f"{rule} {k}")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_gpu_low_precision_is_close(dtype):
    g_ref = gradient(get_backend("cpu", "float64"), "c-ep")
    g = gradient(get_backend("gpu", dtype), "c-ep")
    for k in g_ref:
        a, b = to_host(g[k]).astype(np.float64).ravel(), g_ref[k].ravel()
        cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)
        assert cosine > (0.999 if dtype == "float32" else 0.95), f"{dtype} {k}: cosine {cosine}"

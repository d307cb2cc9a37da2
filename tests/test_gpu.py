"""CuPy backend: the same code on the GPU gives the CPU's numbers, on both convolution paths
and in every precision. Skipped without a GPU (scripts/gpu_check.sh runs it)."""
import numpy as np
import pytest

from ebl_ref import convolution as cv
from ebl_ref import ops, winograd
from ebl_ref.algorithms import ALGORITHMS, estimate_gradient
from ebl_ref.backend import PRECISIONS, BackendError, get_backend, to_host
from ebl_ref.network import DCHN, init_params, one_hot
from ebl_ref.ops import channel_major

try:
    GPU = get_backend("gpu", "float64")
except BackendError as exc:
    pytest.skip(f"no GPU backend: {exc}", allow_module_level=True)

NET = DCHN(in_channels=3, widths=(8, 16, 16, 16), n_classes=10)


def problem(backend, seed=0, batch=4):
    rng = np.random.default_rng(seed)
    params = backend.compute(init_params(NET, rng, gains=(1.0,) * 5, backend=backend))
    x = channel_major(backend.asarray(rng.standard_normal((batch, 3, 32, 32))))
    y = one_hot(backend.asarray(rng.integers(0, 10, batch)), 10, x)
    return params, x, y


def gradient(backend, rule):
    params, x, y = problem(backend)
    return estimate_gradient(rule, params, NET, x, y, beta=0.25, free_iters=20,
                             train_iters=8)[0]


@pytest.mark.parametrize("path", cv.CONV_PATHS)
@pytest.mark.parametrize("rule", sorted(ALGORITHMS))
def test_gpu_float64_matches_cpu(rule, path):
    with cv.conv_path(path):
        g_cpu = gradient(get_backend("cpu", "float64"), rule)
        g_gpu = gradient(GPU, rule)
    for k in g_cpu:
        np.testing.assert_allclose(to_host(g_gpu[k]), g_cpu[k], rtol=1e-7, atol=1e-10,
                                   err_msg=f"{rule} {k} {path}")


@pytest.mark.parametrize("precision", ["fp32", "tf32", "fp16"])
def test_gpu_low_precision_is_close(precision):
    g_ref = gradient(get_backend("cpu", "float64"), "c-ep")
    backend = get_backend("gpu", *PRECISIONS[precision])
    g = gradient(backend, "c-ep")
    floor = {"fp32": 0.999, "tf32": 0.99, "fp16": 0.95}[precision]
    for k in g_ref:
        if precision == "fp16":
            assert g[k].dtype == np.float32, k  # float32 sums (ebl_ref.network.param_grads)
        a, b = to_host(g[k]).astype(np.float64).ravel(), g_ref[k].ravel()
        cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)
        assert cosine > floor, f"{precision} {k}: cosine {cosine}"


def test_winograd_on_the_gpu_equals_im2col():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((16, 8, 8, 4)), rng.standard_normal((32, 16, 3, 3))
    p_ref, idx_ref = ops.maxpool2x2(ops.conv2d(x, w))
    s = rng.standard_normal(p_ref.shape)
    t_ref = ops.conv2d_transpose(ops.unpool2x2(s, idx_ref), w, x.shape)
    xp = GPU.xp
    U = winograd.kernel_transform(xp.asarray(w))
    p, idx = winograd.pooled_conv2d(xp.asarray(x), U, winograd.Workspace())
    t = winograd.unpool_conv2d_transpose(xp.asarray(s), idx, winograd.transpose_kernel(U))
    np.testing.assert_allclose(to_host(p), p_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(to_host(idx), idx_ref)
    np.testing.assert_allclose(to_host(t), t_ref, rtol=1e-12, atol=1e-12)

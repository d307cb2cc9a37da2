"""Precision named honestly (ebl_ref.backend): the four precisions, their refusals on the CPU,
float32 masters and sums under float16, and the TF32 switch — all without a GPU (float16 and
TF32 run on the strict CuPy stand-in, over NumPy)."""
import os

import numpy as np
import pytest

from ebl_ref.backend import MATMULS, PRECISIONS, BackendError, get_backend
from ebl_ref.network import DCHN, accumulator, all_drives, energy, init_params, param_grads

from strict_device import strict_cupy


def test_precisions_are_pinned():
    assert PRECISIONS == {"fp64": ("float64", "ieee"), "fp32": ("float32", "ieee"),
                          "tf32": ("float32", "tf32"), "fp16": ("float16", "ieee")}
    assert MATMULS == ("ieee", "tf32")


@pytest.mark.parametrize("dtype, matmul, message", [
    ("float16", "ieee", "float16 is supported on --device gpu only"),
    ("float32", "tf32", "--matmul tf32 needs --device gpu"),
    ("float32", "bf16", "unknown matmul 'bf16'"),
])
def test_cpu_refuses_what_needs_a_gpu(dtype, matmul, message):
    with pytest.raises(BackendError, match=message):
        get_backend("cpu", dtype, matmul)


def test_tf32_needs_float32():
    with strict_cupy(), pytest.raises(BackendError, match="--dtype float32"):
        get_backend("gpu", "float64", "tf32")


def test_tf32_switch_sets_cupys_setting(monkeypatch):
    monkeypatch.delenv("CUPY_TF32", raising=False)
    with strict_cupy():
        b = get_backend("gpu", "float32", "tf32")
        assert b.precision == "tf32"
        assert os.environ["CUPY_TF32"] == "1"
        assert get_backend("gpu", "float32").precision == "fp32"
        assert os.environ["CUPY_TF32"] == "0"


def test_names_and_master_dtypes():
    assert get_backend("cpu", "float64").precision == "fp64"
    b = get_backend("cpu", "float32")
    assert b.precision == "fp32" and b.param_dtype == np.float32
    with strict_cupy():
        h = get_backend("gpu", "float16")
        assert h.precision == "fp16" and h.dtype == np.float16 and h.param_dtype == np.float32
        net = DCHN(in_channels=1, widths=(2, 3, 3, 2), n_classes=3, image_size=16)
        masters = init_params(net, np.random.default_rng(0), backend=h)
        assert {v.dtype for v in masters.values()} == {np.dtype(np.float32)}
        work = h.compute(masters)
        assert {v.dtype for v in work.values()} == {np.dtype(np.float16)}
        assert {v.dtype for v in h.master(work).values()} == {np.dtype(np.float32)}
    same = b.compute({"w": np.zeros(2, np.float32)})
    assert same["w"].dtype == np.float32


def test_sums_accumulate_in_at_least_float32():
    assert accumulator(np.float16) == np.float32
    assert accumulator(np.float32) == np.float32 and accumulator(np.float64) == np.float64


def test_float16_gradients_are_float32_and_do_not_overflow():
    """A bias gradient sums H·W·B units: 16·16·256 ones is 65536, past float16's 65504."""
    net = DCHN(in_channels=1, widths=(2, 2, 2, 2), n_classes=2, image_size=32)
    B = 256
    rng = np.random.default_rng(1)
    params = {k: v.astype(np.float16) for k, v in init_params(net, rng).items()}
    s = [rng.uniform(-1, 1, net.state_shape(0, B)).astype(np.float16)]
    s += [np.ones(net.state_shape(k, B), np.float16) for k in (1, 2, 3, 4)]
    s += [np.full(net.state_shape(5, B), 0.5, np.float16)]
    with np.errstate(over="ignore"):  # the overflow this test is about
        assert np.isinf(s[1].sum(dtype=np.float16))  # what a float16 reduction would give
    p64, s64 = {k: v.astype(np.float64) for k, v in params.items()}, [a.astype(np.float64)
                                                                      for a in s]
    drives = all_drives(p64, s64)  # one set of arg-maxes for both precisions
    g = param_grads(params, s, drives)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in g.values())
    np.testing.assert_allclose(g["b1"], -16 * 16, rtol=0)  # −⟨s1⟩: sum over space, mean over B
    g64 = param_grads(p64, s64, drives)
    # float32's error bound: a few ulps of Σ|terms| (param_grads of |s| gives that sum)
    bound = param_grads(p64, [np.abs(a) for a in s64], drives)
    for k in g:
        assert np.abs(g[k] - g64[k]).max() <= 1e-6 * np.abs(bound[k]).max(), k
    e = energy(params, s)
    assert e.dtype == np.float32 and np.isfinite(e).all()

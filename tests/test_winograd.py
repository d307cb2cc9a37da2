"""The Winograd F(2×2, 3×3) path (ebl_ref.winograd) against the im2col reference (ebl_ref.ops)
and the loop oracles: ≤1e-10 relative in float64, ≤2e-5 relative (to the output's largest
entry) in float32, on Hypothesis-drawn shapes; the pooling arg-max identical."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebl_ref import ops
from ebl_ref import winograd as wg

import naive_ops as naive

RTOL64 = 1e-10   # float64: a few ulps in practice (≈1e-15)
RTOL32 = 2e-5    # float32: ≈1e-6 in practice, relative to max |reference|


@st.composite
def conv_case(draw, max_c=6, max_side=5):
    """Input (C_in, H, W, B) with H, W even, kernel (C_out, C_in, 3, 3), and a seed."""
    c_in, c_out = draw(st.integers(1, max_c)), draw(st.integers(1, max_c))
    h, w = 2 * draw(st.integers(1, max_side)), 2 * draw(st.integers(1, max_side))
    b = draw(st.integers(1, 3))
    return (c_in, h, w, b), (c_out, c_in, 3, 3), draw(st.integers(0, 2**31 - 1))


def arrays(case, dtype=np.float64):
    x_shape, w_shape, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    g = rng.standard_normal((w_shape[0],) + x_shape[1:]).astype(dtype)
    return x, w, g


def rel(a, ref):
    return np.abs(np.asarray(a, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-300)


@given(conv_case())
def test_conv2d_equals_reference(case):
    x, w, _ = arrays(case)
    assert rel(wg.conv2d(x, wg.kernel_transform(w)), ops.conv2d(x, w)) <= RTOL64


@given(conv_case())
def test_conv2d_transpose_equals_reference(case):
    x, w, g = arrays(case)
    Ut = wg.transpose_kernel(wg.kernel_transform(w))
    assert rel(wg.conv2d_transpose(g, Ut), ops.conv2d_transpose(g, w, x.shape)) <= RTOL64


@given(conv_case())
def test_pooled_conv2d_equals_pool_of_reference(case):
    x, w, _ = arrays(case)
    p_ref, idx_ref = ops.maxpool2x2(ops.conv2d(x, w))
    p, idx = wg.pooled_conv2d(x, wg.kernel_transform(w))
    assert idx.dtype == np.int8
    assert rel(p, p_ref) <= RTOL64
    np.testing.assert_array_equal(idx, idx_ref)  # continuous random data: no near-ties


@given(conv_case())
def test_unpool_conv2d_transpose_equals_reference(case):
    x, w, _ = arrays(case)
    _, idx = ops.maxpool2x2(ops.conv2d(x, w))
    s = np.random.default_rng(case[2] + 1).standard_normal(idx.shape)
    Ut = wg.transpose_kernel(wg.kernel_transform(w))
    ref = ops.conv2d_transpose(ops.unpool2x2(s, idx), w, x.shape)
    assert rel(wg.unpool_conv2d_transpose(s, idx, Ut), ref) <= RTOL64
    out = np.full(x.shape, np.nan)
    assert wg.unpool_conv2d_transpose(s, idx, Ut, out=out) is out and rel(out, ref) <= RTOL64


@given(conv_case())
def test_weight_grad_equals_reference(case):
    x, w, g = arrays(case)
    ref = ops.conv2d_weight_grad(x, g, w.shape)
    assert rel(wg.conv2d_weight_grad(x, wg.phases(g)), ref) <= RTOL64
    _, idx = ops.maxpool2x2(g)
    s = np.random.default_rng(case[2] + 2).standard_normal(idx.shape)
    ref_u = ops.conv2d_weight_grad(x, ops.unpool2x2(s, idx), w.shape)
    assert rel(wg.conv2d_weight_grad(x, wg.unpool_phases(s, idx)), ref_u) <= RTOL64
    assert rel(wg.conv2d_weight_grad(x, wg.Unpooled(s, idx)), ref_u) <= RTOL64  # fused


@given(conv_case())
def test_phases_as_views_copies_or_unpooled_transform_alike(case):
    """input_transform copies strided phases into contiguous memory first and computes the
    phases of an Unpooled pair itself: every way in gives the same bits."""
    x, w, g = arrays(case)
    _, idx = ops.maxpool2x2(g)
    s = np.random.default_rng(case[2] + 3).standard_normal(idx.shape)
    copies = tuple(np.ascontiguousarray(p) for p in wg.phases(x))
    np.testing.assert_array_equal(wg.input_transform(wg.phases(x)), wg.input_transform(copies))
    np.testing.assert_array_equal(wg.input_transform(wg.Unpooled(s, idx)),
                                  wg.input_transform(wg.unpool_phases(s, idx)))
    assert wg.Unpooled(s, idx).shape == s.shape


@given(conv_case())
def test_output_adjoint_is_the_adjoint_of_the_output_transform(case):
    x_shape, _, seed = case
    rng = np.random.default_rng(seed)
    shape = (x_shape[0], x_shape[1] // 2, x_shape[2] // 2, x_shape[3])
    M, g = rng.standard_normal((16,) + shape), rng.standard_normal((4,) + shape)
    lhs = np.vdot(wg.output_transform(M), g)
    rhs = np.vdot(M, wg.output_adjoint(tuple(g)))
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(M).sum() * np.abs(g).max())


def test_pool_window_writes_into_out_what_it_returns():
    rng = np.random.default_rng(4)
    a, b, c, d = rng.integers(0, 3, (4, 2, 3, 3, 2)).astype(float)  # many ties
    p_ref, idx_ref = ops.pool_window(a, b, c, d)
    out = (np.full(a.shape, np.nan), np.full(a.shape, 9, dtype=np.int8))
    assert ops.pool_window(a, b, c, d, out=out) is out
    np.testing.assert_array_equal(out[0], p_ref)
    np.testing.assert_array_equal(out[1], idx_ref)


@given(conv_case(max_c=3, max_side=2))
def test_fast_ops_match_the_loop_oracles(case):
    x, w, g = arrays(case)
    U = wg.kernel_transform(w)
    assert rel(wg.conv2d(x, U), naive.conv2d(x, w, 1)) <= RTOL64
    assert rel(wg.conv2d_transpose(g, wg.transpose_kernel(U)),
               naive.conv2d_transpose(g, w, x.shape, 1)) <= RTOL64
    assert rel(wg.conv2d_weight_grad(x, wg.phases(g)),
               naive.conv2d_weight_grad(x, g, w.shape, 1)) <= RTOL64


@given(conv_case())
def test_adjoint_identity(case):
    x, w, g = arrays(case)
    U = wg.kernel_transform(w)
    lhs = np.vdot(wg.conv2d(x, U), g)
    rhs = np.vdot(x, wg.conv2d_transpose(g, wg.transpose_kernel(U)))
    scale = np.abs(wg.conv2d(x, U)).sum() * np.abs(g).max() + 1e-300
    assert abs(lhs - rhs) <= 1e-12 * scale
    # ⟨g, conv(x; w)⟩ is linear in w with gradient conv2d_weight_grad
    assert np.isclose(np.vdot(wg.conv2d_weight_grad(x, wg.phases(g)), w), lhs, rtol=1e-10)


@given(conv_case(max_c=8))
def test_float32_within_stated_tolerance(case):
    x64, w64, g64 = arrays(case)
    x, w, g = (a.astype(np.float32) for a in (x64, w64, g64))
    U = wg.kernel_transform(w)
    assert U.dtype == np.float32
    z = wg.conv2d(x, U)
    assert z.dtype == np.float32 and rel(z, ops.conv2d(x64, w64)) <= RTOL32
    Ut = wg.transpose_kernel(U)
    assert rel(wg.conv2d_transpose(g, Ut), ops.conv2d_transpose(g64, w64, x.shape)) <= RTOL32
    assert rel(wg.conv2d_weight_grad(x, wg.phases(g)),
               ops.conv2d_weight_grad(x64, g64, w64.shape)) <= RTOL32


def test_constant_regions_tie_exactly_as_in_the_reference():
    """A constant input (e.g. an image's background) gives bitwise-equal outputs in every
    interior window, so the tie goes to the first position on both paths."""
    rng = np.random.default_rng(0)
    x = np.full((3, 8, 8, 2), 0.37)
    w = rng.standard_normal((4, 3, 3, 3))
    _, idx_ref = ops.maxpool2x2(ops.conv2d(x, w))
    _, idx = wg.pooled_conv2d(x, wg.kernel_transform(w))
    np.testing.assert_array_equal(idx, idx_ref)
    assert (idx[:, 1:-1, 1:-1] == 0).all()  # interior windows: exact ties -> first position


def test_transpose_kernel_is_the_flipped_channel_transposed_kernel():
    w = np.random.default_rng(1).standard_normal((5, 3, 3, 3))
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C_in, C_out, 3, 3)
    np.testing.assert_allclose(wg.transpose_kernel(wg.kernel_transform(w)),
                               wg.kernel_transform(np.ascontiguousarray(w_flip)), rtol=1e-14)


def test_phases_and_interleave_are_inverse():
    x = np.arange(2 * 4 * 6 * 3, dtype=float).reshape(2, 4, 6, 3)
    q = wg.phases(x)
    assert q[1][0, 1, 2, 0] == x[0, 2, 5, 0] and q[2][0, 1, 2, 0] == x[0, 3, 4, 0]
    np.testing.assert_array_equal(wg.interleave(q), x)


def test_transform_matrices_are_lavin_grays():
    """F(2, 3) must reproduce a 1-D correlation of 4 inputs with 3 taps exactly."""
    d, g = np.array([1.0, -2.0, 3.5, 0.25]), np.array([0.5, -1.0, 2.0])
    y = wg.AT @ ((wg.G @ g) * (wg.BT @ d))
    np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g], rtol=1e-15)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="3×3 kernels"):
        wg.kernel_transform(np.zeros((2, 2, 5, 5)))
    with pytest.raises(ValueError, match="even height and width"):
        wg.conv2d(np.zeros((2, 5, 4, 1)), wg.kernel_transform(np.zeros((2, 2, 3, 3))))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        strided = np.zeros((16, 2, 2, 4, 1))[..., ::2, :]
        wg.input_transform(wg.phases(np.zeros((2, 4, 4, 1))), out=strided)
    with pytest.raises(ValueError, match="does not fit 3 input channels"):
        wg.conv2d(np.zeros((3, 4, 4, 1)), wg.kernel_transform(np.zeros((2, 2, 3, 3))))


def test_workspace_reuses_buffers_and_returns_fresh_arrays():
    rng = np.random.default_rng(3)
    ws = wg.Workspace()
    w_a, w_b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    x_a, x_b = rng.standard_normal((3, 8, 8, 2)), rng.standard_normal((4, 4, 6, 2))
    U_a, U_b = wg.kernel_transform(w_a), wg.kernel_transform(w_b)
    p_a, idx_a = wg.pooled_conv2d(x_a, U_a, ws)
    held = ws.nbytes()
    z_b = wg.conv2d(x_b, U_b, ws)      # another shape through the same workspace
    p_a2, _ = wg.pooled_conv2d(x_a, U_a, ws)
    assert ws.nbytes() == held         # no new buffers: the largest were already there
    p_ref, idx_ref = ops.maxpool2x2(ops.conv2d(x_a, w_a))
    assert rel(p_a, p_ref) <= RTOL64 and rel(p_a2, p_ref) <= RTOL64  # p_a not overwritten
    np.testing.assert_array_equal(idx_a, idx_ref)
    assert rel(z_b, ops.conv2d(x_b, w_b)) <= RTOL64
    s = rng.standard_normal(idx_a.shape)
    t = wg.unpool_conv2d_transpose(s, idx_a, wg.transpose_kernel(U_a), ws=ws)
    assert rel(t, ops.conv2d_transpose(ops.unpool2x2(s, idx_a), w_a, x_a.shape)) <= RTOL64


def test_float16_runs_slice_by_slice_within_half_precision():
    x64, w64, _ = arrays(((3, 6, 4, 2), (4, 3, 3, 3), 5))
    z = wg.conv2d(x64.astype(np.float16), wg.kernel_transform(w64.astype(np.float16)))
    assert z.dtype == np.float16
    assert rel(z, ops.conv2d(x64, w64)) <= 1e-2  # float16: 11-bit significand


def test_thread_workspace_is_one_per_thread_and_serves_every_prepared():
    import threading

    from ebl_ref.convolution import Prepared
    params = {f"W{k}": np.zeros((2, 2, 3, 3)) for k in (1, 2, 3, 4)}
    assert wg.thread_workspace() is wg.thread_workspace()
    assert Prepared(params).ws is Prepared(params).ws is wg.thread_workspace()
    other = []
    t = threading.Thread(target=lambda: other.append(wg.thread_workspace()))
    t.start()
    t.join()
    assert other[0] is not wg.thread_workspace()

"""Every op against its loop oracle, every adjoint identity, conv weight gradient vs finite
differences — float64, Hypothesis-drawn shapes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive_ops as naive
from ebl_ref import ops

seeds = st.integers(0, 2**32 - 1)


@st.composite
def conv_case(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))
    H = draw(st.integers(max(1, kh - 2 * pad), 5))
    W = draw(st.integers(max(1, kw - 2 * pad), 5))
    C_in, C_out, B = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(seeds))
    x = rng.standard_normal((C_in, H, W, B))
    w = rng.standard_normal((C_out, C_in, kh, kw))
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    g = rng.standard_normal((C_out, Ho, Wo, B))
    return x, w, g, pad


# each fast op and its loop oracle, as functions of one drawn case (x, w, g, pad)
CONV_OPS = {
    "conv2d": (lambda x, w, g, pad: ops.conv2d(x, w, pad),
               lambda x, w, g, pad: naive.conv2d(x, w, pad)),
    "conv2d_transpose": (lambda x, w, g, pad: ops.conv2d_transpose(g, w, x.shape, pad),
                         lambda x, w, g, pad: naive.conv2d_transpose(g, w, x.shape, pad)),
    "conv2d_weight_grad": (lambda x, w, g, pad: ops.conv2d_weight_grad(x, g, w.shape, pad),
                           lambda x, w, g, pad: naive.conv2d_weight_grad(x, g, w.shape, pad)),
}


@pytest.mark.parametrize("op", sorted(CONV_OPS))
@given(case=conv_case())
def test_conv_ops_match_loops(op, case):
    fast, naive_op = CONV_OPS[op]
    np.testing.assert_allclose(fast(*case), naive_op(*case), rtol=1e-12, atol=1e-12,
                               err_msg=f"{op} differs from the loop definition")


@given(conv_case())
def test_conv_adjoint_identities(case):
    """⟨W ⋆ x, g⟩ = ⟨x, Wᵀ ⋆ g⟩ = ⟨W, ∇_W⟩ and ⟨im2col x, c⟩ = ⟨x, col2im c⟩."""
    x, w, g, pad = case
    lhs = np.vdot(ops.conv2d(x, w, pad), g)
    np.testing.assert_allclose(np.vdot(x, ops.conv2d_transpose(g, w, x.shape, pad)), lhs,
                               rtol=1e-10, atol=1e-10, err_msg="conv / conv-transpose adjoint")
    np.testing.assert_allclose(np.vdot(w, ops.conv2d_weight_grad(x, g, w.shape, pad)), lhs,
                               rtol=1e-10, atol=1e-10, err_msg="conv / weight-gradient adjoint")
    kh, kw = w.shape[2:]
    cols = ops.im2col(x, kh, kw, pad)
    c = np.random.default_rng(0).standard_normal(cols.shape)
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, ops.col2im(c, x.shape, kh, kw, pad)),
                               rtol=1e-10, atol=1e-10, err_msg="im2col / col2im adjoint")


@given(conv_case())
def test_conv_weight_grad_finite_differences(case):
    """∂⟨g, W ⋆ x⟩/∂W by central differences (exact: the map is linear in W)."""
    x, w, g, pad = case
    dw = ops.conv2d_weight_grad(x, g, w.shape, pad)
    direction = np.random.default_rng(1).standard_normal(w.shape)
    eps = 1e-3
    f = lambda ww: np.vdot(ops.conv2d(x, ww, pad), g)  # noqa: E731
    fd = (f(w + eps * direction) - f(w - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(np.vdot(dw, direction), fd, rtol=1e-8, atol=1e-8)


@st.composite
def pool_case(draw):
    C, B = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    H, W = 2 * draw(st.integers(1, 3)), 2 * draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(seeds))
    # Small integers make ties frequent, to exercise the first-maximum rule.
    z = rng.integers(-2, 3, size=(C, H, W, B)).astype(np.float64)
    return z, rng.standard_normal((C, H // 2, W // 2, B))


@given(pool_case())
def test_maxpool_matches_loops_including_ties(case):
    z, _ = case
    p, idx = ops.maxpool2x2(z)
    p_ref, idx_ref = naive.maxpool2x2(z)
    np.testing.assert_array_equal(p, p_ref, err_msg="pooled values")
    np.testing.assert_array_equal(idx, idx_ref, err_msg="arg-max (first maximum wins)")


@given(pool_case())
def test_unpool_matches_loops_and_is_adjoint_of_gather(case):
    """unpool is the adjoint of z ↦ z[argmax]: ⟨gather(z), s⟩ = ⟨z, unpool(s)⟩."""
    z, s = case
    _, idx = ops.maxpool2x2(z)
    u = ops.unpool2x2(s, idx)
    np.testing.assert_array_equal(u, naive.unpool2x2(s, idx))
    zz = np.random.default_rng(2).standard_normal(z.shape)
    gathered = ops.unpool2x2(np.ones_like(s), idx) * zz   # zz at the arg-max positions
    C, H2, W2, B = s.shape
    gathered = gathered.reshape(C, H2, 2, W2, 2, B).sum(axis=(2, 4))
    np.testing.assert_allclose(np.vdot(gathered, s), np.vdot(zz, u), rtol=1e-12)


def test_reference_tie_examples():
    """PyTorch's tie rule (docs/DEVIATIONS.md §1): all-zero 4×4 -> flat indices 0, 2, 8, 10;
    [[0,2],[2,1]] -> (0,1)."""
    _, idx = ops.maxpool2x2(np.zeros((1, 4, 4, 1)))
    flat = [2 * Y * 4 + 2 * X + (k // 2) * 4 + k % 2
            for (Y, X), k in np.ndenumerate(idx[0, :, :, 0])]
    assert flat == [0, 2, 8, 10]
    _, idx = ops.maxpool2x2(np.array([[[1.0, 1.0], [1.0, 1.0]]])[..., None])
    assert idx.item() == 0
    _, idx = ops.maxpool2x2(np.array([[[0.0, 2.0], [2.0, 1.0]]])[..., None])
    assert ops.WINDOW[idx.item()] == (0, 1)


@st.composite
def dense_case(draw):
    C, B, h, M = (draw(st.integers(1, 3)) for _ in range(4))
    rng = np.random.default_rng(draw(seeds))
    return (rng.standard_normal((C, h, h, B)), rng.standard_normal((C, h, h, M)),
            rng.standard_normal((B, M)))


@given(dense_case())
def test_dense_matches_loops_and_adjoints(case):
    s, w, o = case
    np.testing.assert_allclose(ops.dense(s, w), naive.dense(s, w), rtol=1e-12, atol=1e-12)
    lhs = np.vdot(ops.dense(s, w), o)
    np.testing.assert_allclose(np.vdot(s, ops.dense_transpose(o, w)), lhs, rtol=1e-10,
                               err_msg="dense / dense-transpose adjoint")
    np.testing.assert_allclose(np.vdot(w, ops.dense_weight_grad(s, o)), lhs, rtol=1e-10,
                               err_msg="dense / weight-gradient adjoint")


def test_maxpool_rejects_odd_sizes():
    try:
        ops.maxpool2x2(np.zeros((1, 3, 4, 1)))
    except ValueError as e:
        assert "even" in str(e)
    else:
        raise AssertionError("odd height accepted")

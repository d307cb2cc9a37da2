"""The process-wide choice of convolution code (ebl_ref.convolution): both paths give the
network's ops to ≤1e-10 relative in float64; prepared parameters change nothing."""
import numpy as np
import pytest

from ebl_ref import convolution as cv
from ebl_ref.network import DCHN, init_params


def test_default_is_auto_and_choices_are_pinned():
    assert cv.DEFAULT == "auto" and cv.CONV_PATHS == ("auto", "winograd", "im2col")
    assert cv.get_conv_path() == "auto"  # no test leaves another path set
    assert cv.AUTO_MIN_PAIRS == 64 * 128


def test_conv_path_context_restores_even_after_an_error():
    with pytest.raises(RuntimeError):
        with cv.conv_path("im2col"):
            assert cv.get_conv_path() == "im2col"
            raise RuntimeError
    assert cv.get_conv_path() == "auto"


def test_unknown_path_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown convolution path 'fft'.*auto, winograd, im2col"):
        cv.set_conv_path("fft")
    assert cv.get_conv_path() == "auto"


def problem(seed=0, batch=3):
    net = DCHN(in_channels=2, widths=(3, 4, 5, 2), n_classes=3, image_size=16)
    rng = np.random.default_rng(seed)
    params = init_params(net, rng, gains=(1.0,) * 5)
    s = [rng.uniform(0, 1, net.state_shape(k, batch)) for k in range(5)]
    return net, params, s


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_both_paths_give_the_network_ops(k):
    net, params, s = problem(k)
    with cv.conv_path("im2col"):
        p_ref, idx_ref = cv.pooled_conv(params, s[k - 1], k)
        fb_ref = cv.feedback(params, s[k], idx_ref, k, s[k - 1].shape)
        dw_ref = cv.weight_grad(s[k - 1], s[k], idx_ref, params[f"W{k}"].shape)
        assert cv.prepare(params) is params
    prepared = cv.prepare(params)
    assert isinstance(prepared, cv.Prepared) and cv.prepare(prepared) is prepared
    for par in (params, prepared):
        p, idx = cv.pooled_conv(par, s[k - 1], k)
        assert rel(p, p_ref) <= 1e-10
        np.testing.assert_array_equal(idx, idx_ref)
        assert rel(cv.feedback(par, s[k], idx_ref, k, s[k - 1].shape), fb_ref) <= 1e-10
    assert rel(cv.weight_grad(s[k - 1], s[k], idx_ref, params[f"W{k}"].shape), dw_ref) <= 1e-10


@pytest.mark.parametrize("c_in, c_out, fast", [
    (3, 128, False),      # conv1 of an RGB image at the paper's widths: im2col
    (16, 32, False), (32, 64, False), (64, 64, False),   # the quick preset's convs: im2col
    (64, 128, True), (128, 256, True), (512, 512, True),  # from 64·128 channel pairs on
])
def test_auto_takes_winograd_from_the_channel_threshold(c_in, c_out, fast):
    """"auto" computes a convolution's three ops (pooled conv, feedback, weight gradient) by
    Winograd exactly when C_in·C_out ≥ AUTO_MIN_PAIRS; "winograd" always, "im2col" never."""
    rng = np.random.default_rng(c_in + c_out)
    x = rng.uniform(0, 1, (c_in, 4, 4, 1))
    w = rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)
    params = {"W1": w}
    s = rng.uniform(0, 1, (c_out, 2, 2, 1))
    results = {}
    for path in cv.CONV_PATHS:
        with cv.conv_path(path):
            assert cv.uses_winograd(c_in, c_out) == {"auto": fast, "winograd": True,
                                                     "im2col": False}[path]
            p, idx = cv.pooled_conv(params, x, 1)
            results[path] = (p, idx, cv.feedback(params, s, idx, 1, x.shape),
                             cv.weight_grad(x, s, idx, w.shape))
    same = results["winograd" if fast else "im2col"]
    for a, b in zip(results["auto"], same):
        np.testing.assert_array_equal(a, b)


def test_prepared_is_the_parameters_plus_kernels():
    net, params, _ = problem()
    prepared = cv.Prepared(params)
    assert dict(prepared) == params and all(prepared[k] is params[k] for k in params)
    assert prepared.U[2].shape == (16, 4, 3) and prepared.Ut[2].shape == (16, 3, 4)
    assert set(prepared.U) == {1, 2, 3, 4} and set(prepared.Ut) == {2, 3, 4}


@pytest.mark.parametrize("path", cv.CONV_PATHS)
def test_both_paths_reproduce_the_golden_trace(path):
    """The golden trace (data/golden, float64) holds on either path to the trace test's
    tolerance: the fast path changes rounding only."""
    from test_trace import load_golden

    from ebl_ref.trace import make_trace

    golden = load_golden()
    with cv.conv_path(path):
        now = make_trace()
    for k in golden:
        np.testing.assert_allclose(now[k], golden[k], rtol=1e-10, atol=1e-12, err_msg=k)

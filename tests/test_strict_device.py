"""The GPU code path on the CPU: the package run on a strict CuPy stand-in
(tests/strict_device.py) converts nothing implicitly, gives NumPy's numbers, and synchronises
with the host a fixed number of times per relaxation, none per iteration (unless ``tol``)."""
import numpy as np
import pytest

from ebl_ref import cli
from ebl_ref import convolution as cv
from ebl_ref import ops, report, winograd
from ebl_ref.backend import array_module, get_backend, to_host
from ebl_ref.ops import channel_major
from ebl_ref.network import DCHN, init_params, one_hot
from ebl_ref.algorithms import estimate_gradient
from ebl_ref.minimize import free_phase

from run_helpers import assert_same_run, read_params, tiny_args, write_blob_dataset
from strict_device import DeviceArray, ImplicitConversion, strict_cupy

NET = DCHN(in_channels=2, widths=(3, 4, 4, 3), n_classes=3, image_size=16)


def test_stand_in_is_strict():
    with strict_cupy() as ledger:
        xp = get_backend("gpu", "float64").xp
        a = xp.asarray(np.arange(6.0).reshape(2, 3))
        assert isinstance(a, DeviceArray) and array_module(a) is xp
        assert ledger.counts["to_device"] == 1
        with pytest.raises(ImplicitConversion):
            np.asarray(a)
        with pytest.raises(ImplicitConversion):
            a + np.ones((2, 3))  # a host array in a device expression
        s = a.sum()
        assert isinstance(s, DeviceArray) and s.ndim == 0  # reductions stay on the device
        assert float(s) == 15.0 and ledger.counts["float"] == 1
        assert bool((a >= 0).all()) and ledger.counts["bool"] == 1
        np.testing.assert_array_equal(to_host(a), np.arange(6.0).reshape(2, 3))
        assert ledger.counts["get"] == 1
        assert ledger.syncs() == 4


def problem(backend, seed=0, batch=2):
    rng = np.random.default_rng(seed)
    params = init_params(NET, rng, gains=(1.0,) * 5, backend=backend)
    x = channel_major(backend.asarray(rng.standard_normal((batch, 2, 16, 16))))
    y = one_hot(backend.asarray(rng.integers(0, 3, batch)), 3, x)
    return params, x, y


@pytest.mark.parametrize("path", cv.CONV_PATHS)
def test_relaxation_does_not_synchronise_per_iteration(path):
    with cv.conv_path(path), strict_cupy() as ledger:
        params, x, _ = problem(get_backend("gpu", "float64"))
        free_phase(params, NET, x, 1)  # first use: the transform matrices go to the device
        counts = []
        for iterations in (3, 9):
            ledger.reset()
            free_phase(params, NET, x, iterations)
            counts.append(ledger.syncs())
        assert counts[0] == counts[1] == 1  # the final residual only
        ledger.reset()
        free_phase(params, NET, x, 9, tol=0.0)  # tol checks every iteration: that costs
        assert ledger.syncs() > counts[1]


@pytest.mark.parametrize("path", cv.CONV_PATHS)
def test_gradient_on_the_device_equals_numpy(path):
    with cv.conv_path(path):
        g_cpu, _ = estimate_gradient("c-ep", *problem(get_backend("cpu", "float64"))[:1], NET,
                                     *problem(get_backend("cpu", "float64"))[1:], beta=0.25,
                                     free_iters=6, train_iters=3)
        with strict_cupy():
            params, x, y = problem(get_backend("gpu", "float64"))
            g, _ = estimate_gradient("c-ep", params, NET, x, y, beta=0.25, free_iters=6,
                                     train_iters=3)
            assert all(isinstance(v, DeviceArray) for v in g.values())
            for k in g_cpu:
                np.testing.assert_allclose(to_host(g[k]), g_cpu[k], rtol=1e-12, atol=1e-15)


def test_winograd_ops_on_the_device_match_numpy_without_syncs():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 8, 8, 2)), rng.standard_normal((4, 3, 3, 3))
    p_ref, idx_ref = ops.maxpool2x2(ops.conv2d(x, w))
    s = rng.standard_normal(p_ref.shape)
    t_ref = ops.conv2d_transpose(ops.unpool2x2(s, idx_ref), w, x.shape)
    with strict_cupy() as ledger:
        xp = get_backend("gpu", "float64").xp
        xd, wd, sd = xp.asarray(x), xp.asarray(w), xp.asarray(s)
        U = winograd.kernel_transform(wd)
        Ut = winograd.transpose_kernel(U)
        ws = winograd.Workspace()
        ledger.reset()
        for _ in range(3):
            p, idx = winograd.pooled_conv2d(xd, U, ws)
            t = winograd.unpool_conv2d_transpose(sd, idx, Ut, ws=ws)
        assert ledger.syncs() == 0
        np.testing.assert_allclose(p.get(), p_ref, rtol=1e-12)
        np.testing.assert_array_equal(idx.get(), idx_ref)
        np.testing.assert_allclose(t.get(), t_ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- a whole run

@pytest.fixture(scope="module")
def small_blobs(tmp_path_factory):
    return write_blob_dataset(tmp_path_factory.mktemp("data"), n_train=48, n_test=32)


def device_run(data, out, *flags):
    return cli.main(tiny_args(data, out, "--device", "gpu", "--eval-batch-size", "32", *flags))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_training_evaluation_checkpoint_and_resume_on_the_device(small_blobs, tmp_path, dtype):
    """Train, evaluate, checkpoint and resume through CuPy's interface: no implicit host
    conversion anywhere, a resumed run equals a straight one, and float16 keeps float32
    masters and momentum."""
    with strict_cupy():
        assert device_run(small_blobs, tmp_path / "straight", "--epochs", "2",
                          "--dtype", dtype) == 0
        assert device_run(small_blobs, tmp_path / "split", "--epochs", "1", "--dtype", dtype) == 0
        assert cli.main(["--resume", str(tmp_path / "split"), "--epochs", "2"]) == 0
    assert_same_run(tmp_path / "straight", tmp_path / "split")
    arrays, _ = read_params(tmp_path / "straight")
    assert {str(a.dtype) for a in arrays.values()} == {"float32"}
    assert any(k.startswith("velocity/") for k in arrays)


def test_host_syncs_per_training_step_do_not_grow_with_iterations(small_blobs, tmp_path,
                                                                 monkeypatch):
    # The run plan's calibration times 1, 2, 4, ... iterations up to --free-iters (a few syncs
    # more for more iterations, once per run, not per step): one measurement only here.
    calibrate = report.calibrate
    monkeypatch.setattr(report, "calibrate", lambda c, b: calibrate(c, b, target=0.0))
    with strict_cupy() as ledger:
        device_run(small_blobs, tmp_path / "warm", "--epochs", "1")  # constants reach the device
        counts = []
        for iters in ("4", "12"):
            ledger.reset()
            assert device_run(small_blobs, tmp_path / f"it{iters}", "--epochs", "1",
                              "--free-iters", iters, "--train-iters", iters) == 0
            counts.append(dict(ledger.counts))
    assert counts[0] == counts[1], counts

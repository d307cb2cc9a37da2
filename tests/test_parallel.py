"""ebl_ref.threads: every index exactly once, errors re-raised, small work inline, and the
fast path's numbers independent of the thread count (bit for bit)."""
import threading

import numpy as np
import pytest

from ebl_ref import ops
from ebl_ref import parallel as threads
from ebl_ref import winograd as wg


@pytest.fixture
def two_threads():
    previous = threads.set_threads(2)
    yield
    threads.set_threads(previous)


def test_slices_cover_the_range_once(two_threads):
    pytest.importorskip("threadpoolctl")
    seen, names = [], set()

    def fn(s):
        seen.extend(range(s.start, s.stop))
        names.add(threading.current_thread().name)

    threads.map_slices(fn, 17, np, size=threads.MIN_PARALLEL)
    assert sorted(seen) == list(range(17))
    assert all(n.startswith("ebl-ref") for n in names)
    names.clear()
    threads.map_slices(fn, 5, np, size=10)  # small work: in the calling thread
    assert names == {threading.current_thread().name}


def test_errors_of_a_piece_are_raised(two_threads):
    def fn(s):
        if s.start > 0:
            raise KeyError("piece")
    with pytest.raises(KeyError, match="piece"):
        threads.map_slices(fn, 4, np, size=threads.MIN_PARALLEL)


def test_thread_count_must_be_positive():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        threads.set_threads(0)


def _fast_ops(x, w, s, idx):
    """The three fused Winograd ops, with every block pass (copies of strided phases,
    unpooling, pooling, interleaving, the cotangent's transform) inside map_slices."""
    U = wg.kernel_transform(w)
    p, i = wg.pooled_conv2d(x, U, wg.Workspace())
    t = wg.unpool_conv2d_transpose(s, idx, wg.transpose_kernel(U), ws=wg.Workspace())
    return p, i, t, wg.conv2d_weight_grad(x, wg.Unpooled(s, idx))


def test_fast_path_is_bitwise_independent_of_threads_and_equals_the_reference():
    pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16, 16, 8))
    w = rng.standard_normal((64, 32, 3, 3))
    s = rng.standard_normal((64, 8, 8, 8))
    idx = rng.integers(0, 4, s.shape).astype(np.int8)
    assert x.size * 16 >= threads.MIN_PARALLEL  # large enough to be split over the threads
    results = {}
    previous = threads.set_threads(1)
    try:
        for n in (1, 2, 3):
            threads.set_threads(n)
            results[n] = _fast_ops(x.astype(np.float32), w.astype(np.float32), s.astype(
                np.float32), idx)
            if n == 2:
                results["float64"] = _fast_ops(x, w, s, idx)
    finally:
        threads.set_threads(previous)
    for n in (2, 3):
        for a, b in zip(results[1], results[n]):
            np.testing.assert_array_equal(a, b)
    p, i, t, dw = results["float64"]
    p_ref, i_ref = ops.maxpool2x2(ops.conv2d(x, w))
    u = ops.unpool2x2(s, idx)
    for got, ref in ((p, p_ref), (t, ops.conv2d_transpose(u, w, x.shape)),
                     (dw, ops.conv2d_weight_grad(x, u, w.shape))):
        assert np.abs(got - ref).max() <= 1e-10 * np.abs(ref).max()
    np.testing.assert_array_equal(i, i_ref)

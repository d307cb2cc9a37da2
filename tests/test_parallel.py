"""ebl_ref.threads: every index exactly once, errors re-raised, small work inline, and the
fast path's numbers independent of the thread count (bit for bit)."""
import threading

import numpy as np
import pytest

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


def test_fast_path_is_bitwise_independent_of_threads():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16, 16, 8)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    U = wg.kernel_transform(w)
    results = []
    previous = threads.set_threads(1)
    try:
        for n in (1, 2):
            threads.set_threads(n)
            results.append(wg.pooled_conv2d(x, U))
    finally:
        threads.set_threads(previous)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])

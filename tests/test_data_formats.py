"""Parsers of the original formats: the Python 2 CIFAR pickle, and the restricted unpickler's
refusals (every global outside its four-name allow-list, numpy's own included)."""

import os
import pickle
import struct

import numpy as np
import pytest

from ebl_ref.data import DataError, formats


def py2_batch(data, labels):
    """A CIFAR batch pickled as Python 2's cPickle (protocol 2, py2 str keys and raw data).

    Hand-assembled opcodes: {'data': numpy.core.multiarray._reconstruct(...) uint8 (N, 3072),
    'labels': [...]} as in the original cifar-10-python.tar.gz.
    """
    raw = data.tobytes()
    p = b"\x80\x02}(U\x04data"
    p += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
    p += b"(K\x01M" + struct.pack("<H", data.shape[0]) + b"M\x00\x0c\x86"
    p += b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"
    p += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    p += b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    p += b"U\x06labels](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"eu."
    return p


def global_call(module, name, opcode="GLOBAL"):
    """A pickle that calls ``module.name()``: protocol 2 GLOBAL or protocol 4 STACK_GLOBAL."""
    if opcode == "GLOBAL":
        return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."
    short = b"".join(b"\x8c" + bytes([len(s)]) + s.encode() + b"\x94" for s in (module, name))
    return b"\x80\x04" + short + b"\x93)R."


def test_python2_cifar_pickle(tmp_path):
    x = np.random.default_rng(4).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_batch(x.transpose(0, 3, 1, 2).reshape(3, -1), [3, 1, 4]))
    got_x, got_y = formats.load_cifar_batch(path)
    np.testing.assert_array_equal(got_x, x, err_msg="Python 2 pickle decoded")
    assert got_y.tolist() == [3, 1, 4], "Python 2 labels"


def test_allow_list_is_exactly_what_a_cifar_batch_needs():
    # What the original batches reference (see py2_batch), under numpy < 2 and numpy >= 2 names.
    assert formats.RestrictedUnpickler.ALLOWED == frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype")})


@pytest.mark.parametrize("opcode", ["GLOBAL", "STACK_GLOBAL"])
@pytest.mark.parametrize("module, name", [
    ("numpy", "load"), ("numpy", "save"), ("numpy", "fromfile"), ("numpy.lib.npyio", "load"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.ctypeslib", "load_library"), ("numpy.testing", "assert_"),
    ("numpyevil", "ndarray"),  # a module that only starts like numpy
    ("os", "system"), ("posix", "system"), ("subprocess", "Popen"), ("builtins", "eval"),
    ("builtins", "getattr"), ("builtins", "__import__"),
])
def test_restricted_unpickler_refuses_every_other_global(module, name, opcode):
    with pytest.raises(pickle.UnpicklingError, match=f"refusing to load global {module}.{name}"):
        formats.restricted_loads(global_call(module, name, opcode))


def test_refused_pickle_never_runs_and_is_one_data_error(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps({b"data": Evil()}, protocol=3))
    with pytest.raises(DataError, match="cannot load CIFAR batch.*refusing to load global") as e:
        formats.load_cifar_batch(batch)
    assert str(batch) in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists(), "the malicious reduce must never run"


@pytest.mark.parametrize("content, match", [
    ([1, 2], "is a list, expected a dict"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "lacks 'data'"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"expected uint8 \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "labels of shape"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, "not integers"),
])
def test_malformed_cifar_batches_are_one_data_error(tmp_path, content, match):
    with pytest.raises(DataError, match=match):
        formats.decode_cifar_batch(pickle.dumps(content, protocol=3), "batch")

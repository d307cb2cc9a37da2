"""A strict stand-in for CuPy, on the CPU: device arrays that refuse implicit host conversion
and a ledger that counts every host synchronisation and host↔device copy.

CuPy raises on ``numpy.asarray(device_array)`` (``__array__``) and on mixing NumPy arrays into
device expressions; ``float()``, ``int()``, ``bool()``, ``.item()`` and ``.get()`` work but
wait for the device (a host synchronisation), as does a host→device copy on the default
stream. :class:`DeviceArray` behaves the same way over a NumPy array, and :data:`LEDGER`
counts each event by kind, so tests can assert that no code path converts implicitly and how
many synchronisations one relaxation or one training step costs. Reductions return 0-d device
arrays, as in CuPy (not NumPy scalars).

Use: ``with strict_cupy() as ledger:`` installs the stand-in as the module ``cupy`` (so
``ebl_ref.backend.get_backend("gpu", ...)`` and ``array_module`` pick it up) and yields the
ledger. Nothing here needs a GPU; nothing here is imported by the package.
"""
import collections
import contextlib
import sys
import types

import numpy as np

SYNC_KINDS = ("float", "int", "bool", "item", "get", "tolist", "to_device")


class Ledger:
    """Counts of host synchronisations and copies, by kind (see :data:`SYNC_KINDS`)."""

    def __init__(self):
        self.counts = collections.Counter()

    def record(self, kind):
        self.counts[kind] += 1

    def syncs(self) -> int:
        """Every event that waits for the device: all kinds, host→device copies included."""
        return sum(self.counts.values())

    def reset(self):
        self.counts.clear()


LEDGER = Ledger()


class ImplicitConversion(TypeError):
    """A device array met a host array, or was converted to one, without an explicit copy."""


def _unwrap(x):
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise ImplicitConversion(f"a host numpy array {x.shape} {x.dtype} was mixed into a "
                                 "device computation; copy it with xp.asarray first")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d device arrays, not scalars
        return DeviceArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _call(fn, args, kwargs):
    out = kwargs.get("out")
    result = fn(*_unwrap(args), **_unwrap(kwargs))
    if isinstance(out, DeviceArray) and result is out._a:
        return out
    return _wrap(result)


class DeviceArray:
    """An array "on the device": a NumPy array that refuses to leave implicitly."""

    __module__ = "cupy"  # ebl_ref.backend.array_module reads the owner off this
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    # -- what CuPy refuses or counts
    def __array__(self, *args, **kwargs):
        raise ImplicitConversion("Implicit conversion to a NumPy array is not allowed. Please "
                                 "use `.get()` to construct a NumPy array explicitly.")

    def __float__(self):
        LEDGER.record("float")
        return float(self._a)

    def __int__(self):
        LEDGER.record("int")
        return int(self._a)

    def __index__(self):
        LEDGER.record("int")
        return self._a.__index__()

    def __bool__(self):
        LEDGER.record("bool")
        return bool(self._a)

    def item(self):
        LEDGER.record("item")
        return self._a.item()

    def tolist(self):
        LEDGER.record("tolist")
        return self._a.tolist()

    def get(self):
        """The explicit device→host copy (``cupy.ndarray.get``)."""
        LEDGER.record("get")
        return self._a.copy()

    def __iter__(self):  # as CuPy: the sub-arrays along axis 0, on the device
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (DeviceArray(self._a[i]) for i in range(len(self._a)))

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype})"

    # -- plain attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: DeviceArray(self._a.T))

    def __len__(self):
        return len(self._a)

    def __getattr__(self, name):  # methods: reshape, sum, max, astype, transpose, ...
        if name.startswith("__"):  # no __array_interface__ & co.: numpy must not see through
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *args, **kwargs: _call(attr, args, kwargs)
        return _wrap(attr)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func, args, kwargs)


def _operator(name):
    def op(self, *args):
        return _call(getattr(self._a, name), args, {})
    op.__name__ = name
    return op


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__floordiv__", "__mod__", "__pow__", "__rpow__",
              "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__abs__", "__invert__",
              "__and__", "__rand__", "__or__", "__ror__", "__xor__",
              "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(DeviceArray, _name, _operator(_name))


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(_unwrap(other))
        return self
    op.__name__ = name
    return op


for _name in ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__iand__",
              "__ior__"):
    setattr(DeviceArray, _name, _inplace(_name))
DeviceArray.__hash__ = None


def _asarray(a, dtype=None, **kwargs):
    if isinstance(a, DeviceArray):
        return a if dtype is None or a.dtype == dtype else DeviceArray(a._a.astype(dtype))
    LEDGER.record("to_device")
    return DeviceArray(np.array(a, dtype=dtype, copy=True))


def _asnumpy(a):
    return a.get() if isinstance(a, DeviceArray) else np.asarray(a)


class _Device:
    id = 0

    def __init__(self, *args):
        pass

    def synchronize(self):
        LEDGER.record("get")  # an explicit wait, counted with the copies


def make_module():
    """A module object named ``cupy`` over NumPy, with :class:`DeviceArray` arrays."""
    mod = types.ModuleType("cupy")
    passthrough = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                   "bool_", "dtype", "newaxis", "pi", "inf", "nan", "e"}

    def getattr_(name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(np, name)
        if name in passthrough or isinstance(value, type):
            return value
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs)
        raise AttributeError(f"strict stand-in: cupy.{name} is not provided")

    mod.__getattr__ = getattr_
    mod.__version__ = "0+strict-standin"
    mod.ndarray = DeviceArray
    mod.asarray = mod.array = _asarray
    mod.asnumpy = _asnumpy
    mod.get_array_module = lambda *arrays: mod
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 0,
        getDeviceProperties=lambda i: {"name": b"strict stand-in", "totalGlobalMem": 2 ** 30,
                                       "major": 0, "minor": 0})
    mod.cuda = types.SimpleNamespace(Device=_Device, runtime=runtime)
    return mod


@contextlib.contextmanager
def strict_cupy():
    """Install the stand-in as ``cupy`` for the block; yields the (reset) :data:`LEDGER`."""
    saved = sys.modules.get("cupy")
    sys.modules["cupy"] = make_module()
    LEDGER.reset()
    try:
        yield LEDGER
    finally:
        if saved is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved

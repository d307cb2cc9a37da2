"""ebl-ref: energy-based learning rules on deep convolutional Hopfield networks (NumPy/CuPy).

``ebl_ref.load_run(path)`` reads a trained run back (:func:`ebl_ref.loadrun.load_run`).
"""
__version__ = "0.1.0"  # as pyproject.toml's (tests/test_entry.py checks)


def __getattr__(name):  # PEP 562: keep ``import ebl_ref`` light
    if name == "load_run":
        from .loadrun import load_run  # noqa: PLC0415
        return load_run
    raise AttributeError(f"module 'ebl_ref' has no attribute {name!r}")

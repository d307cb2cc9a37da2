"""``python -m ebl_ref``: the same program as ``python run.py`` and ``ebl-ref``."""
from .cli import run_py_main

if __name__ == "__main__":
    run_py_main()

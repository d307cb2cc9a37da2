#!/usr/bin/env python3
"""Train a deep convolutional Hopfield network with an energy-based learning rule.

    python run.py                 # quick preset on the embedded Fashion-MNIST sample
    python run.py --help          # every flag
"""
from ebl_ref.cli import run_py_main

if __name__ == "__main__":
    run_py_main()

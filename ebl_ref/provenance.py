"""Where a run came from: software versions, git revision, machine and device (``env.json``)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from .machine import machine_info


def git_revision() -> str | None:
    """The package's git commit, with ``-dirty`` if its work tree has changes; None outside git."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True,
                               text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


def environment(device: str, dtype: str, xp=None) -> dict:
    """Versions, git revision, machine, device and the command line, as a JSON-ready dict.

    ``xp``: the backend's array module, asked for CuPy's version and the GPU's name on ``gpu``.
    """
    env = {"python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform(), "machine": platform.machine(),
           "host": platform.node(), "cpu_count": os.cpu_count(), "device": device,
           "dtype": dtype, "git_revision": git_revision(), "argv": list(sys.argv),
           "started": datetime.now().isoformat(timespec="seconds"),
           "hardware": machine_info()}  # CPU model, BLAS library, kernel, threads, overrides
    if device == "gpu" and xp is not None:
        env["cupy_version"] = xp.__version__
        env["gpu"] = xp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return env

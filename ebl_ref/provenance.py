"""Where a run came from: software versions, git revision, machine, BLAS and device
(``env.json``).

The machine part — host, CPU model, logical CPUs, BLAS library, version, kernel and thread
count, the BLAS-related environment variables and any kernel override — comes from
:func:`ebl_ref.machine.machine_info`, measured while the run's thread limit
(:mod:`ebl_ref.threads`) is in force, so ``blas[*].threads`` is the count the run used.
"""
from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from . import __version__
from .machine import machine_info


def git_revision(root: Path | None = None) -> str | None:
    """The git commit of ``root`` (default: the package's checkout), with ``-dirty`` if its
    work tree has changes (tracked or untracked files); None outside git."""
    here = Path(__file__).resolve().parent if root is None else Path(root)
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


def environment(backend, threads: dict | None = None) -> dict:
    """Versions, git revision, machine, BLAS, device and the command line, as a JSON-ready dict.

    Parameters
    ----------
    backend : :class:`~ebl_ref.backend.Backend` of the run (its GPU is described on ``gpu``)
    threads : what :func:`ebl_ref.threads.blas_threads` yielded (requested, set, why)

    Keys: ``ebl_ref`` (version), ``git_revision``, ``python``, ``device``, ``dtype``, ``argv``,
    ``started`` (local ISO time), ``threads``, and those of
    :func:`ebl_ref.machine.machine_info` (``host``, ``cpu``, ``cores``, ``machine``,
    ``system``, ``numpy``, ``blas``, ``blas_env``, ``warnings``; ``gpu`` on a GPU).
    """
    env = {"ebl_ref": __version__, "git_revision": git_revision(),
           "python": platform.python_version(), "device": backend.device,
           "dtype": str(backend.dtype), "argv": list(sys.argv),
           "started": datetime.now().isoformat(timespec="seconds"), "threads": threads}
    env.update(machine_info(backend))
    return env


def session_record(env: dict) -> dict:
    """The part of :func:`environment` that a resumed session adds to ``env.json``
    (``resumed``: one record per resume)."""
    keys = ("started", "ebl_ref", "git_revision", "host", "cpu", "cores", "device", "dtype",
            "threads", "blas", "blas_env", "gpu", "argv")
    return {k: env[k] for k in keys if k in env}


def header(env: dict) -> str:
    """The run header's machine line: CPU, host, BLAS library, kernel and threads (and the GPU)."""
    why = f" ({env['threads']['why']})" if env.get("threads") else ""
    libs = "; ".join(f"{b['library']} {b['version'] or ''} kernel {b['kernel'] or 'unknown'}, "
                     f"{b['threads'] if b['threads'] is not None else '?'} "
                     f"thread{'' if b['threads'] == 1 else 's'}{why}"
                     for b in env["blas"])
    line = (f"machine: {env['cpu']}, {env['cores']} logical CPUs, host {env['host']}; BLAS: "
            f"{libs}")
    if "gpu" in env:
        line += f"; GPU: {env['gpu']['name']} ({env['gpu']['memory_gib']} GiB)"
    return line

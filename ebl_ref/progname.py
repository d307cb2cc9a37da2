"""How this program was started, so that usage lines and advice ("continue with: ...") name
the command the user actually typed.

``python run.py``, the console script ``ebl-ref`` (``[project.scripts]``), ``python -m ebl_ref``
and ``python -m ebl_ref.cli`` are the same program (:func:`ebl_ref.cli.main`).
"""
from __future__ import annotations

import sys
from pathlib import Path


def program(argv0: str | None = None) -> str:
    """The command that started this process, e.g. ``"python run.py"`` or ``"ebl-ref"``.

    ``argv0`` defaults to ``sys.argv[0]``; anything unrecognised (an embedding program, a test
    runner) gives ``"python -m ebl_ref"``.
    """
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    path = Path(argv0 or "")
    if path.name == "run.py":
        return f"python {argv0}"
    if path.name in ("ebl-ref", "ebl-ref.exe"):
        return "ebl-ref"
    if path.name == "cli.py" and path.parent.name == "ebl_ref":
        return "python -m ebl_ref.cli"
    return "python -m ebl_ref"

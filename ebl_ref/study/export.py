"""``study export DIR OUT``: the small, committable record of a study (no checkpoints).

Writes into ``OUT`` (absent, empty, or an earlier export of the same study)::

    OUT/study.json                    the study and its cells
    OUT/<cell>/config.json            each cell's resolved settings
    OUT/<cell>/metrics.jsonl          its per-epoch metrics
    OUT/<cell>/summary.json           its final results (finished cells)
    OUT/status.txt                    'study status' at export time
    OUT/table.md, OUT/table.json      'study table --paper' as Markdown and JSON
    OUT/curves.png                    'study plot' (when matplotlib is installed)

A study run inside a git work tree marks every later run's revision "-dirty" (its files are
untracked changes), so run studies in an ignored folder (``runs/``) and export the record.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic import atomic_write_text
from .cells import study_states
from .folder import PLAN, load_plan, read_json, strict_json
from .spec import StudyError
from .status import format_status
from .table import build, format_text

RUN_FILES = ("config.json", "metrics.jsonl", "summary.json")


def export(study_dir: Path, out: Path, log=print) -> Path:
    """Copy the record of the study in ``study_dir`` to ``out``; returns ``out``."""
    study_dir, out = Path(study_dir), Path(out)
    study, cells = load_plan(study_dir)
    if out.resolve() == study_dir.resolve():
        raise StudyError("export: OUT must be another folder than the study's")
    if out.exists() and any(out.iterdir()):
        old = out / PLAN
        if not old.is_file() or read_json(old, "study plan")["study"].get("name") != study.name:
            raise StudyError(f"export: {out} is not empty and holds no export of study "
                             f"{study.name!r}; choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(study_dir / PLAN, out / PLAN)
    copied = 0
    for c in cells:
        for name in RUN_FILES:
            src = study_dir / c.key / name
            if src.is_file():
                (out / c.key).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out / c.key / name)
                copied += 1
    atomic_write_text(out / "status.txt", format_status(study_states(study_dir, cells)) + "\n")
    built = build(study_dir, cells, paper=True)
    atomic_write_text(out / "table.md", format_text(built, paper=True, markdown=True) + "\n")
    atomic_write_text(out / "table.json", strict_json(built))
    from ..plot import PlotError  # noqa: PLC0415
    from .cli import plot_study  # noqa: PLC0415
    try:
        plot_study(study_dir, out / "curves.png", study, cells)
    except PlotError as exc:
        log(f"curves.png not written: {exc}")
    except ImportError:
        log("curves.png not written: plotting needs matplotlib (pip install 'ebl-ref[plot]')")
    log(f"exported {copied} run files of {len(cells)} cells, the status, the table and the "
        f"curves to {out}")
    return out

"""The study folder: where a study's plan, cells and bookkeeping live.

::

    DIR/study.json                  the study and its expanded cells (written by the first
                                    'study run'; later runs check that they run the same study)
    DIR/<cell key>/                 each cell's run folder, made by run.py (:mod:`ebl_ref.runner`)
    DIR/logs/<cell key>.log         the output of every attempt at the cell, appended
    DIR/logs/<cell key>.attempt.json   the last attempt: state, exit code, last error line, host,
                                    pid, start and end times
    DIR/logs/<cell key>.lock        locked (flock) while a worker runs the cell
    DIR/slurm/                      submitit's job files and logs (--executor slurm)
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import atomic_write_text
from .plan import Cell
from .spec import Study, StudyError, parse_study

FORMAT = "ebl-ref-study-1"
PLAN = "study.json"


def strict_json(obj) -> str:
    """JSON text with non-finite floats written as null (strict JSON, as every reader accepts)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(u) for k, u in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(u) for u in v]
        return v
    return json.dumps(clean(obj), indent=2, allow_nan=False) + "\n"


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as strict JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, strict_json(obj))


def read_json(path: Path, what: str):
    """Read a JSON file this package wrote, with one clear line if it is damaged."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise StudyError(f"{what} {path} is unreadable ({exc}); restore or delete it") from None


def log_path(study_dir: Path, key: str, suffix: str) -> Path:
    """``DIR/logs/<key><suffix>``, e.g. suffix ``.log``, ``.attempt.json``, ``.lock``."""
    return Path(study_dir) / "logs" / f"{key}{suffix}"


def save_plan(study_dir: Path, study: Study, cells: list) -> None:
    """Record the study in ``DIR/study.json``, or check that the one recorded there is the same.

    Raises :class:`StudyError` if DIR holds a different study (or other files but no plan).
    """
    study_dir = Path(study_dir)
    path = study_dir / PLAN
    plan = {"format": FORMAT, "study": study.to_dict(), "cells": [c.to_dict() for c in cells]}
    if path.is_file():
        old = read_json(path, "study plan")
        if old.get("format") != FORMAT:
            raise StudyError(f"{path} is not an ebl-ref study plan (format "
                             f"{old.get('format')!r})")
        if _comparable(old) != _comparable(plan):
            raise StudyError(f"{study_dir} holds the study {old['study'].get('name')!r} with "
                             f"other settings or cells than {study.name!r}; re-run it with the "
                             "same study file, or choose another --out")
        return
    if study_dir.exists() and any(study_dir.iterdir()):
        raise StudyError(f"--out {study_dir} exists, is not empty and holds no {PLAN}: choose "
                         "an empty or new folder for the study")
    write_json(path, plan)


def _comparable(plan: dict):
    cells = [(c["key"], list(c["argv"])) for c in plan["cells"]]
    study = dict(plan["study"])
    study.pop("description", None)  # wording may change; the cells may not
    return json.dumps(study, sort_keys=True), cells


def load_plan(study_dir: Path) -> tuple:
    """``(study, cells)`` recorded in ``DIR/study.json``."""
    path = Path(study_dir) / PLAN
    if not path.is_file():
        raise StudyError(f"{study_dir} is not a study folder (no {PLAN}); make one with "
                         "'python run.py study run STUDY --out DIR'")
    plan = read_json(path, "study plan")
    if plan.get("format") != FORMAT:
        raise StudyError(f"{path} is not an ebl-ref study plan (format {plan.get('format')!r})")
    study = parse_study(plan["study"], source=str(path))
    return study, [Cell.from_dict(c) for c in plan["cells"]]

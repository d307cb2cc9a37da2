"""Expand a :class:`~ebl_ref.study.spec.Study` into cells: one resolved, validated configuration,
one deterministic run folder and one command line each.

Folder of a cell, relative to the study folder::

    <dataset>/<algo>/seed<k>                 when only dataset, algo and seed vary
    <dataset>/<algo>/<tag>/seed<k>           tag = "field=value,..." of the other swept
                                             fields that vary within one (dataset, algo)

e.g. ``cifar10/c-ep/epochs=300/seed2`` for the ``table2`` study. The folder depends only on the
study, never on the time or the machine, so re-running a study finds its cells again.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import dataclasses

from ..config import Config, ConfigError, resolve
from .spec import Study, StudyError

_SAFE = re.compile(r"^[A-Za-z0-9._+=,-]+$")
_STANDARD = ("dataset", "algo", "seed")
_LISTS = {f.name for f in dataclasses.fields(Config) if isinstance(f.default, tuple)}


@dataclass(frozen=True)
class Cell:
    """One run of a study.

    Attributes
    ----------
    key : the run folder relative to the study folder, e.g. ``"mnist/c-ep/seed0"``; also the
        cell's name everywhere (logs, status)
    values : the swept fields' values of this cell, ``{field: value}`` in axis order
    config : the fully resolved configuration (``Config.to_dict()``)
    argv : the flags of ``python -m ebl_ref.cli`` that reproduce it (without ``--out``)
    tag : the part of ``key`` naming the other swept fields ("" when there is none)
    """

    key: str
    values: dict
    config: dict
    argv: tuple
    tag: str = ""

    def to_dict(self) -> dict:
        return {"key": self.key, "values": self.values, "config": self.config,
                "argv": list(self.argv), "tag": self.tag}

    @classmethod
    def from_dict(cls, d: dict) -> "Cell":
        return cls(key=d["key"], values=d["values"], config=d["config"], argv=tuple(d["argv"]),
                   tag=d.get("tag", ""))


def expand(study: Study) -> list:
    """All cells of ``study`` in plan order (the product of the axes, first axis slowest).

    Raises :class:`StudyError` if a cell's configuration is invalid, if a swept or overridden
    field has no command-line flag, or if two cells would share a folder.
    """
    names = list(study.axes)
    rows = []
    for combo in itertools.product(*(study.axes[n] for n in names)):
        values = dict(zip(names, combo))
        preset = values.get("preset", study.preset)
        fields = {**study.overrides, **{k: v for k, v in values.items() if k != "preset"}}
        fields = {k: [v] if k in _LISTS and isinstance(v, (int, float)) else v
                  for k, v in fields.items()}  # gains = 0.8: one value for every layer
        try:
            config = resolve(preset, **fields).to_dict()
        except (ConfigError, TypeError, ValueError) as exc:
            label = ", ".join(f"{k}={_text(v)}" for k, v in values.items())
            raise StudyError(f"study {study.name}, cell {label}: {exc}") from None
        rows.append((values, preset, config))
    tag_fields = _tag_fields(names, rows)
    flags = _known_flags()
    cells = []
    for values, preset, config in rows:
        tag = ",".join(f"{k}={_text(config[k] if k in config else values[k])}"
                       for k in tag_fields)
        parts = [config["dataset"], config["algo"]] + ([tag] if tag else []) + \
            [f"seed{config['seed']}"]
        for p in parts:
            if not _SAFE.match(p):
                raise StudyError(f"study {study.name}: folder part {p!r} has characters unsafe "
                                 "in a path; use simpler values")
        argv = _argv(preset, study.overrides, values, config, flags)
        cells.append(Cell(key="/".join(parts), values=values, config=config, argv=argv,
                          tag=tag))
    seen = {}
    for cell in cells:
        if cell.key in seen:
            raise StudyError(f"study {study.name}: cells {seen[cell.key]} and {cell.values} "
                             f"would share the folder {cell.key}; sweep values that differ")
        seen[cell.key] = cell.values
    return cells


def _tag_fields(names, rows) -> list:
    """The swept fields, other than dataset/algo/seed, that vary within one (dataset, algo)."""
    out = []
    for name in names:
        if name in _STANDARD:
            continue
        groups = {}
        for values, _, config in rows:
            groups.setdefault((config["dataset"], config["algo"]), set()).add(_text(values[name]))
        if any(len(v) > 1 for v in groups.values()):
            out.append(name)
    return out


def _text(v) -> str:
    """A value as it appears in folder names: lists joined by 'x' (``16x32x64x64``), floats
    by ``repr`` (round-trips exactly)."""
    if isinstance(v, (list, tuple)):
        return "x".join(_text(u) for u in v)
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _flag_value(v) -> str:
    """A value as ``run.py`` reads it: lists comma-separated, floats by ``repr``."""
    if isinstance(v, (list, tuple)):
        return ",".join(_flag_value(u) for u in v)
    return _text(v)


def _argv(preset, overrides, values, config, flags) -> tuple:
    argv = ["--preset", preset]
    for name in list(overrides) + [k for k in values if k != "preset"]:
        flag = "--" + name.replace("_", "-")
        if flags is not None and flag not in flags:
            raise StudyError(f"config field {name} has no command-line flag ({flag}) in this "
                             "version of run.py, so a study cannot set it")
        argv += [flag, _flag_value(config[name])]
    return tuple(argv)


def _known_flags():
    """The option strings of ``run.py``'s training parser, or None if it cannot be built."""
    from .. import cli  # noqa: PLC0415
    make = getattr(cli, "train_parser", None) or getattr(cli, "build_parser", None)
    try:
        return set(make()._option_string_actions)
    except Exception:  # noqa: BLE001 - no parser to ask: trust the naming convention
        return None

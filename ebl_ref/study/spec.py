"""A study as data: a base preset, overrides, and the axes to sweep (docs/STUDY.md).

A study file is TOML (``.toml``) or JSON (``.json``) with these keys::

    name = "cpu-small"               # required: letters, digits, '-', '_', '.'
    description = "..."              # optional, free text
    preset = "quick"                 # the base preset (a key of ebl_ref.presets.PRESETS);
                                     # may instead be an axis
    [overrides]                      # optional: config fields fixed for every cell
    train_subset = 2000
    [axes]                           # required: config fields swept, in this order
    seed = [0, 1]                    # (the first axis varies slowest)
    dataset = ["mnist", "fashion-mnist"]
    algo = ["tbp", "rbp", "cl"]

Any field of :class:`ebl_ref.config.Config` may be overridden or swept (``preset`` only as an
axis) except those that say *where* a study runs rather than *what* it computes — ``device``,
``data_dir``, ``log_every``, ``eval_batch_size`` — which are options of ``study run``
(:data:`RUNTIME_FIELDS`, the fields a resume may change). Every cell's configuration is resolved
and validated by :func:`ebl_ref.config.resolve` when the study is expanded
(:mod:`ebl_ref.study.plan`).
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..presets import PRESETS

RUNTIME_FIELDS = ("device", "data_dir", "log_every", "eval_batch_size")
KEYS = ("name", "description", "preset", "overrides", "axes")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class StudyError(ValueError):
    """A study file or study folder that cannot be used, with the fix in the message."""


@dataclass(frozen=True)
class Study:
    """A parsed, checked study (see the module docstring for the meaning of each field).

    ``overrides`` and ``axes`` map config field names to a value and to a non-empty list of
    distinct values respectively; ``axes`` keeps the file's order.
    """

    name: str
    preset: str | None = None
    overrides: dict = field(default_factory=dict)
    axes: dict = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict:
        """The study as a JSON-able dict; also a valid study file (:func:`parse_study`)."""
        out = {"name": self.name, "description": self.description}
        if self.preset is not None:
            out["preset"] = self.preset
        out["overrides"] = {k: _jsonable(v) for k, v in self.overrides.items()}
        out["axes"] = {k: [_jsonable(v) for v in vs] for k, vs in self.axes.items()}
        return out


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def _config_fields() -> set:
    return {f.name for f in dataclasses.fields(Config)}


def parse_study(data: dict, source: str = "study") -> Study:
    """Check a study's dict (as read from TOML/JSON) and return a :class:`Study`.

    Raises :class:`StudyError` naming ``source``, the key and the fix.
    """
    if not isinstance(data, dict):
        raise StudyError(f"{source}: a study is a table of keys {', '.join(KEYS)}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise StudyError(f"{source}: unknown key(s) {', '.join(unknown)}; a study has "
                         f"{', '.join(KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StudyError(f"{source}: 'name' must be a short name of letters, digits, '-', '_' "
                         f"or '.', got {name!r}")
    overrides = _table(data.get("overrides", {}), "overrides", source)
    axes = _table(data.get("axes", {}), "axes", source)
    if not axes:
        raise StudyError(f"{source}: 'axes' is empty: name at least one config field to sweep, "
                         "e.g. seed = [0, 1, 2]")
    fields = _config_fields()
    for where, table in (("overrides", overrides), ("axes", axes)):
        for key in table:
            if key in RUNTIME_FIELDS:
                raise StudyError(f"{source}: {where}.{key} says where the study runs, not what "
                                 f"it computes: pass --{key.replace('_', '-')} to 'study run' "
                                 "instead")
            if key not in fields:
                raise StudyError(f"{source}: {where}.{key} is not a config field; choose from "
                                 f"{', '.join(sorted(fields - set(RUNTIME_FIELDS)))}")
    if "preset" in overrides:
        raise StudyError(f"{source}: set the base preset with the top-level key 'preset' "
                         "(or sweep it as an axis), not in overrides")
    both = sorted(set(overrides) & set(axes))
    if both:
        raise StudyError(f"{source}: {', '.join(both)} both overridden and swept: keep one")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise StudyError(f"{source}: axes.{key} must be a non-empty list of values, got "
                             f"{values!r}")
        canon = [json.dumps(v, sort_keys=True) for v in values]
        if len(set(canon)) != len(canon):
            raise StudyError(f"{source}: axes.{key} repeats a value: {values}")
    preset = data.get("preset")
    if preset is None and "preset" not in axes:
        raise StudyError(f"{source}: no base 'preset': set preset = \"comparative\" (or another "
                         f"of {', '.join(PRESETS)}), or sweep preset as an axis")
    if preset is not None and "preset" in axes:
        raise StudyError(f"{source}: 'preset' is both the base preset and an axis: keep one")
    for p in ([preset] if preset is not None else axes["preset"]):
        if p not in PRESETS:
            raise StudyError(f"{source}: unknown preset {p!r}: choose one of "
                             f"{', '.join(PRESETS)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise StudyError(f"{source}: 'description' must be text")
    return Study(name=name, preset=preset, overrides=dict(overrides), axes=dict(axes),
                 description=description)


def _table(value, key, source) -> dict:
    if not isinstance(value, dict):
        raise StudyError(f"{source}: '{key}' must be a table (field = value), got {value!r}")
    return value


def read_study_file(path: Path) -> Study:
    """Read a ``.toml`` or ``.json`` study file (TOML via :mod:`tomllib`, or ``tomli`` on
    Python < 3.11: ``pip install 'ebl-ref[toml]'``)."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study file {path} does not exist")
    text = path.read_bytes()
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StudyError(f"study file {path} is not valid JSON ({exc})") from None
    elif path.suffix == ".toml":
        toml = _toml_module()
        try:
            data = toml.loads(text.decode())
        except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise StudyError(f"study file {path} is not valid TOML ({exc})") from None
    else:
        raise StudyError(f"study file {path}: name it .toml or .json")
    return parse_study(data, source=str(path))


def _toml_module():
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415
        return tomllib
    try:
        import tomli  # noqa: PLC0415
    except ImportError:
        raise StudyError("reading a TOML study on Python < 3.11 needs tomli: pip install "
                         "'ebl-ref[toml]' (or write the study as JSON)") from None
    return tomli


def load_study(name_or_path: str) -> Study:
    """A built-in study by name (:data:`ebl_ref.study.builtin.STUDIES`), else a study file."""
    from .builtin import STUDIES  # noqa: PLC0415

    if name_or_path in STUDIES:
        return parse_study(STUDIES[name_or_path], source=f"built-in study {name_or_path}")
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or path.exists():
        return read_study_file(path)
    raise StudyError(f"unknown study {name_or_path!r}: give a built-in one "
                     f"({', '.join(STUDIES)}) or a .toml/.json study file")

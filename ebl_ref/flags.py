"""Command-line flags derived from the :class:`~ebl_ref.config.Config` fields, and the argparse
parser every command uses.

One flag per field (``batch_size`` -> ``--batch-size``): its help, its type (number, text or
comma list) and the allowed values come from the field's declaration (:func:`ebl_ref.config.knob`),
its default shown from the field or from the two default presets. Values are only parsed here;
ranges and choices are checked by :func:`ebl_ref.config.validate`, which also checks
``config.json``, so that a flag and a file give the same message.
"""
from __future__ import annotations

import argparse
import re
import textwrap

from .config import FIELDS, Config, flag, kind_of
from .presets import PRESETS
from .values import UsageError, list_arg, number_arg

DEFAULT_PRESETS = ("quick", "comparative")  # see presets.default_preset


def plain(text: str | None) -> str | None:
    """A docstring as ``--help`` shows it: reST markup dropped (````x```` -> x,
    ``:func:`~a.b``` -> b, ``:mod:`a.b``` -> a.b)."""
    if text is None:
        return None
    text = re.sub(r":\w+:`~[\w.]*?\.?(\w+)`", r"\1", text)   # :func:`~ebl_ref.x.f` -> f
    text = re.sub(r":\w+:`([^`]+)`", r"\1", text)              # :mod:`ebl_ref.x` -> ebl_ref.x
    return text.replace("``", "")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that reports bad input by raising :class:`UsageError` (one line,
    turned into exit status 2 by :func:`ebl_ref.cli.main`) instead of printing the usage and
    calling ``sys.exit``; its description and epilog are shown without reST markup
    (:func:`plain`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        for key in ("description", "epilog"):
            kwargs[key] = plain(kwargs.get(key))
        text = kwargs.get("description")
        if text and "\n" not in text:  # one paragraph: wrap it; else keep its lines
            kwargs["description"] = textwrap.fill(text, 79)
        super().__init__(*args, **kwargs)

    def error(self, message):
        # argparse's own messages ("unrecognized arguments: ..."); a type= function raises
        # UsageError itself, which argparse lets through untouched
        raise UsageError(f"{message} (see {self.prog} --help)")


def show_value(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _preset_values(name: str) -> dict:
    """What each default preset gives field ``name`` (unvalidated, before flags)."""
    return {p: getattr(Config(**{**PRESETS[p], "preset": p}), name) for p in DEFAULT_PRESETS}


def describe_default(name: str) -> str:
    """The default of field ``name`` as ``--help`` shows it."""
    if name == "preset":
        return "default: comparative for a real --dataset, else quick"
    if any(name in PRESETS[p] for p in PRESETS):
        shown = "; ".join(f"{p}: {show_value(v)}" for p, v in _preset_values(name).items())
        return f"default: the preset's ({shown})"
    return f"default: {show_value(FIELDS[name].default)}"


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`Config` field, each with ``default=None`` (= not given)."""
    group = parser.add_argument_group("settings (each one a field of config.json)")
    for name, f in FIELDS.items():
        meta, kind = f.metadata, kind_of(f)
        text = meta["help"]
        if meta["choices"]:
            text += f"; one of {', '.join(meta['choices'])}"
        if meta["length"]:
            text += f"; {meta['length']} comma-separated values"
        text = f"{text} ({describe_default(name)})".replace("%", "%%")
        spelled = flag(name)[2:]
        if kind is bool:  # --cache / --no-cache
            group.add_argument(flag(name), dest=name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
            continue
        if meta["length"]:
            kind_arg = list_arg(kind, spelled, meta["length"], meta["broadcast"])
        elif kind is str:
            kind_arg = str
        else:
            kind_arg = number_arg(kind, spelled)
        metavar = ("V,..." if meta["length"] else "NAME" if meta["choices"] else
                   "DIR" if name.endswith("_dir") else "MINUTES" if name == "checkpoint_every"
                   else "N" if kind is int else "X" if kind is float else "TEXT")
        group.add_argument(flag(name), dest=name, type=kind_arg, default=None,
                           metavar=metavar, help=text)


def given_settings(args: argparse.Namespace) -> dict:
    """The :class:`Config` fields set on the command line (field name -> parsed value)."""
    return {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}

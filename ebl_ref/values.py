"""What a user types, parsed and checked in one place: the one comma-list parser, numeric ranges,
and one-line messages that name the flag and what it accepts.

Used by the run configuration (:mod:`ebl_ref.config`, for flags and for ``config.json``), and by
the ``gradcheck`` and ``bench`` commands. Every number must be finite where a range is given
(``nan`` and ``inf`` are refused with the range in the message), every element of a list is
checked, and a wrong count says how many values are needed. ``name`` arguments are flag
spellings without the dashes (``batch-size``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


class UsageError(Exception):
    """Bad user input; the message is one line naming the flag and what it accepts (exit 2).

    Not a ``ValueError`` on purpose: raised from an argparse ``type=`` function it passes
    through argparse (which would replace a ValueError's message by "invalid value") up to the
    command line's one-line report.
    """


@dataclass(frozen=True)
class Range:
    """A closed or half-open interval of finite numbers; ``None`` bounds are unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, v) -> bool:
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return (f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "finite"


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
UNIT_INTERVAL = Range(0, 1, hi_open=True)  # [0, 1)


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def to_number(value, kind, name: str):
    """``value`` (text, or a number read from JSON) as ``kind`` (int or float).

    Integers must be whole (``"1.5"`` and ``1.5`` are refused for an int); booleans are not
    numbers. Raises :class:`UsageError` naming ``--name``.
    """
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool):
        raise UsageError(f"--{name}: expected {what}, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            return kind(text)
        except ValueError:
            raise UsageError(f"--{name}: expected {what}, got {value!r}") from None
    if kind is int and isinstance(value, int):
        return value
    if kind is float and isinstance(value, (int, float)):
        return float(value)
    raise UsageError(f"--{name}: expected {what}, got {value!r}")


def parse_list(value, kind, name: str, length: int | None = None,
               broadcast: bool = False) -> tuple:
    """A comma-separated list (``"0.1,0.2"``, or a list/tuple from JSON) as a tuple of ``kind``.

    ``length``: the number of values needed; with ``broadcast`` a single value is repeated to
    that length (one learning rate for every layer). Empty elements (``"1,,2"``) are refused.
    Raises :class:`UsageError`.
    """
    if isinstance(value, str):
        parts = value.split(",")
        if any(not p.strip() for p in parts):
            raise UsageError(f"--{name}: empty element in {value!r}: give comma-separated "
                             "values with no empty entries")
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    items = tuple(to_number(p, kind, name) for p in parts)
    if broadcast and length is not None and len(items) == 1:
        items = items * length
    if length is not None and len(items) != length:
        one = " (or one for all)" if broadcast else ""
        raise UsageError(f"--{name} needs {length} comma-separated values{one}, got "
                         f"{len(items)}: {_show(items)}")
    if not items:
        raise UsageError(f"--{name}: empty list")
    return items


def check_range(value, within: Range, name: str) -> None:
    """Raise :class:`UsageError` unless ``value`` (a number or every element of a tuple) is in
    ``within``; the message names ``--name``, the range and the value."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if all(v in within for v in items):
        return
    kind = "an integer" if all(isinstance(v, int) for v in items) else "a finite number"
    subject = f"every value of --{name}" if isinstance(value, (tuple, list)) else f"--{name}"
    raise UsageError(f"{subject} must be {kind} {within}, got {_show(value)}")


def check_choice(value, choices, name: str, noun: str | None = None) -> None:
    """Raise :class:`UsageError` unless ``value`` is one of ``choices`` ("--name: unknown noun
    'value': choose one of ...")."""
    if value not in choices:
        raise UsageError(f"--{name}: unknown {noun or name} {value!r}: choose one of "
                         f"{', '.join(choices)}")


def number_arg(kind, name: str, within: Range | None = None):
    """An argparse ``type=``: one number of ``kind``, checked against ``within``."""
    def convert(text):
        v = to_number(text, kind, name)
        if within is not None:
            check_range(v, within, name)
        return v
    convert.__name__ = kind.__name__
    return convert


def list_arg(kind, name: str, length: int | None = None, broadcast: bool = False,
             within: Range | None = None):
    """An argparse ``type=``: a comma list (:func:`parse_list`), every element in ``within``."""
    def convert(text):
        v = parse_list(text, kind, name, length, broadcast)
        if within is not None:
            check_range(v, within, name)
        return v
    convert.__name__ = "list"
    return convert


def choice_arg(choices, name: str, noun: str | None = None):
    """An argparse ``type=``: one of ``choices`` (the keys of the owning table)."""
    choices = tuple(choices)

    def convert(text):
        check_choice(text, choices, name, noun)
        return text
    convert.__name__ = "choice"
    return convert

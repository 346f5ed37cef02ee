"""What liqmap accepts from users, checked in one place: values, lists, spans and work budgets.

The Python API, the command line and the server all call these checks, so a
value is refused with the same message wherever it comes from.  Every
message names the value and the bound it broke; budget messages also say
what to change.  Nothing here imports the API, the CLI or the server.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import fields

import numpy as np
from .frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_WEEK

#: Price bins one map may have (a 0.01 % grid over +-90 % is 18,000).
MAX_MAP_BINS = 20_000
#: Price bins one heatmap may have.
MAX_HEATMAP_BINS = 10_000
#: Bytes of the two float32 grids (long and short) of a heatmap built through the API or the CLI.
#: A year of 15-minute rows x 1,000 bins is 280 MB; building one peaks near 4x its grids (see docs/dashboard.md).
HEATMAP_MAX_BYTES = 320_000_000
#: The same for a heatmap served by ``liqmap serve`` or written as interactive HTML, which a browser must hold.
SERVED_HEATMAP_MAX_BYTES = 48_000_000
#: VPIN buckets one flow computation may cut its history into.
MAX_FLOW_BUCKETS = 2_000_000
#: Heatmap steps offered when a request is over budget, finest first.
_STEPS = (("1m", MS_PER_MINUTE), ("5m", 5 * MS_PER_MINUTE), ("15m", 15 * MS_PER_MINUTE), ("30m", 30 * MS_PER_MINUTE), ("1h", MS_PER_HOUR),
          ("2h", 2 * MS_PER_HOUR), ("4h", 4 * MS_PER_HOUR), ("6h", 6 * MS_PER_HOUR), ("12h", 12 * MS_PER_HOUR), ("1d", MS_PER_DAY),
          ("1w", MS_PER_WEEK))


class OptionError(ValueError):
    """A value outside what liqmap accepts; the message names the value and its bound."""


class BudgetError(OptionError):
    """A request whose work (cells, bins, bytes) is over budget; the message says what to change."""


def number(name: str, value, *, integer: bool = False) -> float | int:
    """``value`` as a finite number (an int when ``integer``), or an OptionError naming ``name``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{name} {value!r} is not a number")
    if not math.isfinite(value):
        raise OptionError(f"{name} {value!r} is not a finite number")
    if integer:
        if value != int(value):
            raise OptionError(f"{name} {value!r} is not a whole number")
        return int(value)
    return float(value)


def in_range(name: str, value, low: float, high: float, *, integer: bool = False, low_open: bool = False,
             unit: str = "") -> float | int:
    """``value`` as a finite number inside ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    x = number(name, value, integer=integer)
    if (x <= low if low_open else x < low) or x > high:
        bracket = "(" if low_open else "["
        raise OptionError(f"{name} {x:g} is outside {bracket}{low:g}, {high:g}]{' ' + unit if unit else ''}")
    return x



#: Epoch ms of 0001-01-01 and 9999-12-31: the times ISO text can name.
TIME_RANGE_MS = (-62_135_596_800_000, 253_402_300_799_999)


def to_ms(value, what: str) -> int | None:
    """A moment as epoch ms: None stays None, text is ISO 8601 (UTC unless it says) or epoch ms,
    numbers are epoch ms inside the years 1..9999; anything else is an OptionError naming ``what``."""
    if value is None:
        return None
    if isinstance(value, str):
        from .timeutil import parse_time

        return parse_time(value, what)
    return int(in_range(what, value, *TIME_RANGE_MS, integer=True, unit="(epoch ms)"))

def distinct(name: str, values, *, allowed: typing.Collection | None = None, what: str = "value") -> tuple:
    """A non-empty tuple without repeats (each one of ``allowed``, a ``what``, when given)."""
    items = tuple(values)
    if not items:
        hint = f": give at least one of {', '.join(map(str, allowed))}" if allowed else ""
        raise OptionError(f"{name} is empty{hint}")
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise OptionError(f"{name}: unknown {what} {item!r}; choose from {', '.join(map(str, allowed))}")
    seen = set()
    for item in items:
        if item in seen:
            raise OptionError(f"{name} lists {item!r} twice")
        seen.add(item)
    return items


def span_ms(name: str, value) -> int:
    """A span in milliseconds (int, or text like '30d'), from 1 ms to 100 years."""
    from .timeutil import check_span, parse_span

    if isinstance(value, str):
        return parse_span(value, name)
    return check_span(int(number(name, value, integer=True)), name)


# --- NAME=VALUE assignments (--param, --setting, --set) and dicts given to the API ---------------------------

def parse_text(text: str):
    """An option's text as a value: JSON (numbers, lists, null, true/false) when it parses, else the text.

    ``nan``, ``inf`` and numbers too large for a float (``1e400``) are refused,
    in lists too: no setting or parameter means anything with them.
    """
    def refuse(constant):
        raise OptionError(f"{constant} is not a finite number")

    try:
        value = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError:
        lowered = text.strip().lower().lstrip("+-")
        if lowered in ("nan", "inf", "infinity"):
            raise OptionError(f"{text} is not a finite number") from None
        return text
    _check_finite(value, text)
    return value


def _check_finite(value, text: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(f"{text} is not a finite number")
    if isinstance(value, list) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
        raise OptionError(f"{text} holds a number that is not finite (beyond 1.8e308)")


def coerce_fields(cls, values: dict, where: str) -> dict:
    """``values`` converted to the field types of the dataclass ``cls``, refusing unknown names.

    Numbers must be finite, integers whole, lists non-empty and of the right
    length; text fields take text.  Ranges are the dataclass's own to check.
    ``where`` names the source in messages (``--setting``, ``settings``).
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.init]
    out = {}
    for name, value in values.items():
        if name not in known:
            raise OptionError(f"{where}: unknown name {name!r}; known: {', '.join(known)}")
        out[name] = _coerce(f"{where} {name}", value, hints[name])
    return out


def _coerce(label: str, value, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(label, value, inner)
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionError(f"{label} {value!r} is not true or false")
        return value
    if hint in (int, float):
        return number(label, value, integer=hint is int)
    if hint is str:
        if not isinstance(value, str):
            raise OptionError(f"{label} {value!r} is not text")
        return value
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise OptionError(f"{label} {value!r} is not a list like [1, 2]")
        if len(args) == 2 and args[1] is Ellipsis:
            if not value:
                raise OptionError(f"{label} is an empty list")
            return tuple(_coerce(label, v, args[0]) for v in value)
        if len(value) != len(args):
            raise OptionError(f"{label} {list(value)!r} must be a list of {len(args)} values")
        return tuple(_coerce(label, v, a) for v, a in zip(value, args))
    return value


def parse_assignments(items: list[str], cls, flag: str) -> dict:
    """``NAME=VALUE`` texts of a repeatable ``flag`` as typed overrides of the dataclass ``cls``."""
    known = [f.name for f in fields(cls) if f.init]
    raw = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise OptionError(f"{flag} {item!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
        if name in raw:
            raise OptionError(f"{flag} {name} is given twice")
        try:
            raw[name] = parse_text(text)
        except OptionError as exc:
            raise OptionError(f"{flag} {name}={text}: {exc}") from None
    return coerce_fields(cls, raw, flag)


def dataclass_from(cls, value, where: str):
    """An instance of ``cls`` from None (the defaults), a dict of overrides or an instance."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**coerce_fields(cls, value, where))
    raise OptionError(f"{where} must be a {cls.__name__} or a dict of its fields, not {type(value).__name__}")


# --- work budgets ---------------------------------------------------------------------------------------------

def check_map_bins(count: int, bin_pct: float, span_pct: float) -> None:
    """Refuse a map grid of more than ``MAX_MAP_BINS`` bins before it is allocated."""
    if count > MAX_MAP_BINS:
        raise BudgetError(
            f"a map grid of {count:,} bins (bin_pct {bin_pct:g}, span_pct {span_pct:g}) is over the "
            f"{MAX_MAP_BINS:,}-bin budget; raise bin_pct or lower span_pct"
        )


def heatmap_bytes(rows: int, bins: int) -> int:
    """Bytes of a heatmap's two float32 grids."""
    return rows * bins * 8


def check_heatmap(rows: int, bins: int, step_ms: int, span_ms_: int, max_bytes: int) -> None:
    """Refuse a heatmap over ``max_bytes`` (or ``MAX_HEATMAP_BINS``) before it is allocated.

    The message gives the finest standard step that fits the span, when one does.
    """
    if bins > MAX_HEATMAP_BINS:
        raise BudgetError(f"a heatmap of {bins:,} price bins is over the {MAX_HEATMAP_BINS:,}-bin budget; "
                          f"ask for fewer bins (bins) or a coarser bin_pct")
    size = heatmap_bytes(rows, bins)
    if size <= max_bytes:
        return
    fits = [text for text, ms in _STEPS if ms > step_ms and heatmap_bytes(span_ms_ // ms + 1, bins) <= max_bytes]
    fewer = max_bytes // heatmap_bytes(rows, 1)
    change = (f"use resolution {fits[0]} or coarser, " if fits else "use ") + \
        (f"at most {fewer:,} bins at this resolution, " if fewer >= 2 else "") + "or a shorter span (start/end)"
    raise BudgetError(
        f"a heatmap of {rows:,} columns x {bins:,} bins is {_mb(size)}, over the {_mb(max_bytes)} budget; {change}"
    )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"

"""Parsing the times and spans users type: '30d', '15m', '2026-01-31', '2026-01-31T12:00'."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, MS_PER_WEEK

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)\s*$", re.IGNORECASE)
_SPAN_MS = {"ms": 1, "s": MS_PER_SECOND, "m": MS_PER_MINUTE, "min": MS_PER_MINUTE, "h": MS_PER_HOUR, "d": MS_PER_DAY, "w": MS_PER_WEEK}
#: Longest span accepted (100 years): keeps epoch-ms arithmetic inside int64.
MAX_SPAN_MS = 100 * 365 * MS_PER_DAY


def parse_span(text: str, what: str = "span") -> int:
    """'30d' -> milliseconds.  Units: ms, s, m/min, h, d, w; from 1 ms to 100 years."""
    match = _SPAN.match(str(text))
    if not match:
        raise ValueError(f"{what} {text!r} is not a span like 15m, 1h, 24h, 7d or 30d")
    value = float(match.group(1)) * _SPAN_MS[match.group(2).lower()]
    if value <= 0:
        raise ValueError(f"{what} {text!r} must be positive")
    return check_span(round(value) if value < 2 * MAX_SPAN_MS else MAX_SPAN_MS + 1, what, text)


def check_span(ms: int, what: str, given=None) -> int:
    """``ms`` if it is a span liqmap can work with (1 ms .. 100 years), else a ValueError naming ``what``."""
    if not 1 <= ms <= MAX_SPAN_MS:
        shown = ms if given is None else given
        raise ValueError(f"{what} {shown!r} is outside the spans liqmap accepts (1ms .. 100 years)")
    return int(ms)


def parse_time(text: str, what: str = "time") -> int:
    """An ISO 8601 date or date-time (UTC unless an offset is given) or epoch ms -> epoch ms."""
    raw = str(text).strip()
    if re.fullmatch(r"\d{12,14}", raw):
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not a date or time; use e.g. 2026-01-31 or 2026-01-31T12:00 (UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))

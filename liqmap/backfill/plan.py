"""Planning a backfill: one coarse task per venue, symbol and calendar month, each with its warm-up.

The position book is path-dependent: a map at T holds the positions opened in
the window before T, shrunk by the survival factor since their opening, which
in turn nets the model's own liquidations of earlier positions.  A month's task
therefore builds its book from ``warmup_ms`` before the month: the window (so
every position a map counts was opened inside the book) plus the decay horizon
(one half-life of the slowest cohort, so what the survival factor forgot at the
book's start has faded); docs/backfill.md gives the tolerance this leaves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from ..frames import MS_PER_HOUR, format_ms
from ..model.params import BookParams


@dataclass(frozen=True)
class Task:
    """One partition: the as-of times of ``symbol`` on ``venue`` in ``[start_ms, end_ms)`` (one month)."""

    venue: str
    symbol: str
    month: str  # YYYY-MM
    start_ms: int  # first as-of time of the month, on the step grid
    end_ms: int  # as-of times are < end_ms
    step_ms: int
    warmup_ms: int

    @property
    def key(self) -> str:
        return f"{self.venue}/{self.symbol}/{self.month}"

    def times(self) -> list[int]:
        return list(range(self.start_ms, self.end_ms, self.step_ms))

    def to_dict(self) -> dict:
        return asdict(self)


def decay_horizon_ms(params: BookParams, window_ms: int) -> int:
    """One half-life of the slowest-fading cohort; the window again when nothing fades."""
    if params.decay_half_life_10x is None:
        return window_ms
    return int(params.decay_half_life_10x * MS_PER_HOUR * 10.0 / min(params.leverages))


def warmup_ms(params: BookParams, window_ms: int) -> int:
    """Data a task's book is built on before its first as-of time: the window plus the decay horizon."""
    return window_ms + decay_horizon_ms(params, window_ms)


def _month_start(ms: int) -> dt.datetime:
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return dt.datetime(t.year, t.month, 1, tzinfo=dt.timezone.utc)


def _next_month(t: dt.datetime) -> dt.datetime:
    return dt.datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=dt.timezone.utc)


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def months_between(start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The calendar months meeting ``[start_ms, end_ms)``, each cut to it: ``[(lo, hi), ...]``."""
    out = []
    month = _month_start(start_ms)
    while _ms(month) < end_ms:
        out.append((max(_ms(month), start_ms), min(_ms(_next_month(month)), end_ms)))
        month = _next_month(month)
    return out


def plan(venues: list[str], symbols: list[str], start_ms: int, end_ms: int, step_ms: int,
         warmup: int) -> list[Task]:
    """The tasks covering as-of times ``start_ms, start_ms + step, ... < end_ms`` (aligned to the step grid).

    Each month holds the as-of times that fall in it; months without one are left out.
    """
    if end_ms <= start_ms:
        raise ValueError(f"backfill --to {format_ms(end_ms)} must be after --from {format_ms(start_ms)}")
    first = -(-start_ms // step_ms) * step_ms
    tasks = []
    month = _month_start(first)
    while _ms(month) < end_ms:
        lo, hi = max(_ms(month), first), min(_ms(_next_month(month)), end_ms)
        lo = first + -(-(lo - first) // step_ms) * step_ms
        if lo < hi:
            for venue in venues:
                for symbol in symbols:
                    tasks.append(Task(venue, symbol, month.strftime("%Y-%m"), lo, hi, step_ms, warmup))
        month = _next_month(month)
    return tasks

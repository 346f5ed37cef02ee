"""Health of a live feed: per stream rates, ages, reconnects, gaps and faults, for the screen and the log.

Nothing here decides anything; the connection manager and the live loop
report into it and the screen reads it.  Every fault is also logged (logger
``liqmap.live``) with the stream it concerns.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("liqmap.live")
#: Health name of the REST API (backfills, gap fills, polls).
REST = "rest"
#: Health name of the map computation.
MAP = "map"
#: Messages per second are counted over this many seconds.
RATE_WINDOW_S = 10.0


@dataclass
class StreamHealth:
    """One subscribed stream (or a polled endpoint)."""

    name: str
    messages: int = 0
    malformed: int = 0
    reconnects: int = 0
    gaps_backfilled: int = 0
    last_wall: float | None = None
    fault: str = ""
    absent: str = ""  # why the venue has no such stream (shown instead of figures)
    steady_s: float | None = None  # never silent longer when healthy (None: quiet at times, e.g. liquidations)
    _recent: deque = field(default_factory=deque, repr=False)

    def seen(self, now: float) -> None:
        self.messages += 1
        self.last_wall = now
        self._recent.append(now)
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()

    def rate(self, now: float) -> float:
        while self._recent and now - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        return len(self._recent) / RATE_WINDOW_S

    def age(self, now: float) -> float | None:
        return None if self.last_wall is None else now - self.last_wall


class Health:
    """All streams of one feed, plus the feed-wide figures (clock skew, rate limits, rotations)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.streams: dict[str, StreamHealth] = {}
        self.skew_ms: int | None = None
        self.rate_limited = 0
        self.rotations = 0
        self.events: deque[str] = deque(maxlen=50)

    def stream(self, name: str) -> StreamHealth:
        if name not in self.streams:
            self.streams[name] = StreamHealth(name)
        return self.streams[name]

    def seen(self, name: str) -> None:
        self.stream(name).seen(self.clock())

    def fault(self, name: str, text: str, level: int = logging.WARNING) -> None:
        """Record a fault on a stream: shown on its health line, kept in the event list, logged."""
        self.stream(name).fault = text
        self.events.append(f"{name}: {text}")
        log.log(level, "%s: %s", name, text)

    def absent(self, name: str, reason: str) -> None:
        """A role the venue has no stream for: its health line says so instead of staying silent."""
        self.stream(name).absent = reason

    def clear_fault(self, name: str) -> None:
        self.stream(name).fault = ""

    def rate_limit(self, path: str, status: int, retry_after_s: float | None) -> None:
        """An HTTP 429/418: counted, and shown on the REST line until the next success clears it."""
        self.rate_limited += 1
        wait = f"waiting {retry_after_s:g}s as Retry-After says" if retry_after_s is not None else "backing off"
        self.fault(REST, f"HTTP {status} on {path} ({self.rate_limited} so far); {wait}")

    def malformed(self, name: str, excerpt: str, reason: str) -> None:
        self.stream(name).malformed += 1
        self.fault(name, f"malformed frame skipped ({reason}): {excerpt[:60]!r}")

    def gap_backfilled(self, name: str, text: str) -> None:
        self.stream(name).gaps_backfilled += 1
        self.events.append(f"{name}: {text}")
        log.info("%s: %s", name, text)

    def rows(self) -> list[dict]:
        """Per stream figures (the page's health table): ``name, rate (msg/s), age_s (None: never), reconnects,
        gaps_backfilled, malformed, fault, absent`` and ``state``: ``absent`` (the venue has no such
        stream, ``absent`` says why), ``fault``, ``stale`` (a steady stream silent longer than its
        ``steady_s``) or ``ok``."""
        now = self.clock()
        out = []
        for s in self.streams.values():
            age = s.age(now)
            stale = s.steady_s is not None and age is not None and age > s.steady_s
            out.append({"name": s.name, "rate": s.rate(now), "age_s": age, "reconnects": s.reconnects,
                        "gaps_backfilled": s.gaps_backfilled, "malformed": s.malformed, "fault": s.fault,
                        "absent": s.absent,
                        "state": "absent" if s.absent else "fault" if s.fault else "stale" if stale else "ok"})
        return out

    def lines(self) -> list[str]:
        """One text line per stream: rate, last message age, reconnects, gaps, malformed, fault."""
        out = []
        for r in self.rows():
            if r["absent"]:
                out.append(f"{r['name']}: no stream: {r['absent']}")
                continue
            age_text = "never" if r["age_s"] is None else f"{r['age_s']:.1f}s ago"
            line = (f"{r['name']}: {r['rate']:.1f} msg/s, last {age_text}, reconnects {r['reconnects']}, "
                    f"gaps backfilled {r['gaps_backfilled']}, malformed {r['malformed']}")
            out.append(line + (f" — {r['fault']}" if r["fault"] else ""))
        return out

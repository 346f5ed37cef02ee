"""``liqmap live SYMBOL --venue all``: every venue's live feed into one Multi map.

Each venue runs as in its own loop — its backfill, streams, watchdog, gap backfill, recorder and book
state — and one map loop reads all of them: as soon as any venue completes a bar (at most once per
``--map-every``) the Multi map is recomputed from every venue's book state as of the reference venue's
newest bar (a venue behind it is read at its own last bar and, past the staleness limit, marked
``stale``), summed on the reference's grid (``liqmap.api.multi_maps``).  A venue whose feed could not
be opened is ``missing`` with the reason; none is dropped silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..frames import DataError
from ..net import TransientError
from .health import MAP, Health
from .loop import LiveLoop, LiveOptions, Update, publish


@dataclass
class MultiHealth:
    """The venues' health side by side (stream names prefixed with the venue), for the screen."""

    venues: dict[str, Health]
    own: Health = field(default_factory=Health)  # the Multi map's own faults

    @property
    def streams(self) -> dict:
        out = {f"{name} {s}": h for name, health in self.venues.items() for s, h in health.streams.items()}
        return out | self.own.streams

    @property
    def skew_ms(self) -> int | None:
        return None

    @property
    def events(self) -> list[str]:
        return [f"{name} {e}" for name, health in self.venues.items() for e in health.events] + list(self.own.events)

    def lines(self) -> list[str]:
        return [f"{name} {line}" for name, health in self.venues.items() for line in health.lines()] + self.own.lines()


@dataclass
class MultiLoop:
    """Several venues' live loops and one Multi map over them (see the module docstring)."""

    loops: dict[str, LiveLoop]
    options: LiveOptions
    failed: dict[str, str] = field(default_factory=dict)  # venue -> why its feed is not running
    on_update: Callable[["MultiLoop"], None] | None = None
    latest: Update | None = None
    updates: int = 0
    latencies: list[float] = field(default_factory=list)

    def __post_init__(self):
        self.reference = "binance" if "binance" in self.loops else sorted(self.loops)[0]
        self.health = MultiHealth({name: loop.health for name, loop in self.loops.items()})

    def realized(self) -> tuple[list, list[str]]:
        """Every venue's recent realized liquidations, newest last, and why some venues show none."""
        events = sorted((e for loop in self.loops.values() for e in loop.market.liquidations), key=lambda e: e.time)
        absent = [f"{name}: {loop.venue.no_liquidations}" for name, loop in self.loops.items()
                  if loop.venue.no_liquidations]
        return events[-20:], absent

    @property
    def market(self):
        """The reference venue's live market (price, data time, liquidations for the screen's header)."""
        return self.loops[self.reference].market

    async def run(self, until: Callable[["MultiLoop"], bool] | None = None) -> None:
        """Run every venue's feed until ``until(loop)`` holds after an update (or until cancelled)."""
        for loop in self.loops.values():  # every book takes its history before the streams start
            await loop.book_state()
        wake = asyncio.Event()
        started = {name: loop.start(wake) for name, loop in self.loops.items()}
        try:
            await self._maps(wake, until)
        finally:
            for name, loop in self.loops.items():
                await loop.stop(started[name])

    async def _maps(self, wake: asyncio.Event, until) -> None:
        last = -1e9
        while True:
            try:
                await asyncio.wait_for(wake.wait(), self.options.map_every_s)
            except asyncio.TimeoutError:
                pass
            wait = self.options.map_every_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            wake.clear()
            arrived = [loop._bar_arrived for loop in self.loops.values() if loop._bar_arrived is not None]
            for loop in self.loops.values():
                loop._bar_arrived = None
            added = sum([await loop.settle() for loop in self.loops.values()])
            if added or self.latest is None:
                last = time.monotonic()
                await self.update(min(arrived) if arrived else None)
            for loop in self.loops.values():
                if loop.recorder is not None:
                    loop.recorder.maybe_flush(loop.market.data_time)
            if until is not None and until(self):
                return

    async def update(self, arrived: float | None = None) -> Update | None:
        """Recompute the Multi map as of the reference venue's newest complete bar."""
        from .. import api

        try:
            markets = {name: loop.market.market() for name, loop in self.loops.items()}
            states = {name: await loop.book_state() for name, loop in self.loops.items()}
            as_of = markets[self.reference].end_ms
            now = self.loops[self.reference].market.data_time
            entries: dict = {name: (market, min(as_of, market.end_ms)) for name, market in markets.items()}
            entries.update(self.failed)

            def compute():
                for name, state in states.items():
                    market, venue_as_of = entries[name]
                    state.extend(market.slice_time(None, venue_as_of))
                ordered = {name: entries[name] for name in sorted(entries)}
                return api.multi_maps(ordered, self.reference, as_of, self.options.window_ms, self.options.views,
                                      None, self.options.settings, now, states=states)

            maps = await asyncio.to_thread(compute)
        except DataError as exc:
            self.health.own.fault(MAP, f"Multi map update failed ({exc}); the last map stays")
            return self.latest
        return publish(self, arrived, maps, markets[self.reference], as_of)


def open_multi(symbol: str, cache: Path, options: LiveOptions, *, venues: list[str] | None = None,
               urls: dict[str, tuple[str, str]] | None = None, on_update=None,
               **settings) -> tuple[MultiLoop, list[str]]:
    """Every venue's live loop for ``symbol`` (liqmap's name, e.g. BTCUSDT), each backfilled into its part of
    ``cache``, under one :class:`MultiLoop`.  ``venues`` (default: every registered venue with a live
    feed) and ``urls`` (venue -> (REST URL, stream URL), default the venues' own) choose where from; a
    venue whose feed cannot be opened is kept as missing with the reason.  Returns the loop and notes."""
    from .. import venues as registry
    from ..sources.cache import Store

    names = venues if venues is not None else [v.name for v in registry.all_venues() if v.live_stream() is not None]
    loops, failed, notes = {}, {}, []
    for name in names:
        venue = registry.get(name)
        rest_url, ws_url = (urls or {}).get(name, (None, None))
        try:
            loop, venue_notes = venue.open_live(symbol, Store(Path(cache), venue.name), options, rest_url=rest_url,
                                                ws_url=ws_url, **settings)
        except (DataError, TransientError, registry.VenueError, ValueError, OSError) as exc:
            failed[name] = f"its live feed did not open: {exc}"
            notes.append(f"{name}: {failed[name]}")
            continue
        loops[name] = loop
        notes.extend(f"{name}: {note}" for note in venue_notes)
    if not loops:
        raise DataError(f"live --venue all: no venue's live feed opened ({'; '.join(notes)})")
    return MultiLoop(loops, options, failed, on_update), notes

"""The live loop: feed -> parse -> live market -> map at most once a second -> screen, recorder.

Venue-neutral: a venue supplies a :class:`Venue` (its stream feed, its
REST gap source and its open-interest poll); ``--replay`` supplies a
:class:`ReplayFeed` over stored data instead, and everything downstream is
the same code.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from ..analysis.results import LiqMap
from ..frames import DataError, MarketData
from ..analysis.mapping import MapSettings
from ..model.params import BookParams
from ..model.state import BookState
from ..net import TransientError
from .events import Bar, OpenInterestPoll
from .health import MAP, Health
from .recorder import Recorder
from .state import LiveMarket


def compute_maps(market: MarketData, as_of_ms: int, window_ms: int, views: tuple[str, ...], params=None,
                 settings=None, now_ms: int | None = None, state: BookState | None = None) -> list[LiqMap]:
    """The maps as of ``as_of_ms``: the one place the live loop drives the book.

    With ``state`` (``liqmap.api.book_state`` for the same window and
    parameters) the rows of ``market`` newer than the state's are appended to
    it in place (O(new data + alive levels)) and the maps are read from it;
    without, the book is built over all of ``market`` (what a whole build does).
    """
    from .. import api

    if state is not None:  # what a whole build as of as_of reads: the data before it
        state.extend(market.slice_time(None, as_of_ms))
        params = None  # the state's own
    return api.build_maps(market=market, as_of=as_of_ms, window=window_ms, views=list(views), params=params,
                          settings=settings, now=now_ms if now_ms is not None else as_of_ms, state=state)


def settle_heap() -> None:
    """Collect once, then move every object alive into the collector's permanent generation (``gc.freeze``).

    Called after the backfill's book is built: the history, modules and caches held for the life of the loop
    are then never traversed again by the full collections that the stream's allocations trigger, so a
    collection during a book update stays short."""
    gc.collect()
    gc.freeze()


def timed_extend(state: BookState, market: MarketData) -> tuple[float, float]:
    """``state.extend(market)``; returns its wall and CPU seconds (this thread's)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    state.extend(market)
    return time.perf_counter() - wall, time.thread_time() - cpu


@dataclass
class Venue:
    """What a live venue supplies: ``feed.run(emit, on_disconnect)`` and an open-interest poll, and why it
    shows no realized liquidations where it has no liquidation stream (``no_liquidations``)."""

    name: str
    feed: object
    poll_open_interest: Callable[[], Awaitable[OpenInterestPoll]] | None = None
    no_liquidations: str = ""


@dataclass
class LiveOptions:
    window_ms: int
    views: tuple[str, ...] = ("all",)
    map_every_s: float = 1.0
    oi_every_s: float = 15.0
    params: BookParams | dict | None = None
    settings: MapSettings | dict | None = None


@dataclass
class Update:
    """One recomputed map set: the maps, the data they were built from, the data time they include,
    and how long the bar that triggered them waited for them."""

    maps: list[LiqMap]
    market: MarketData
    data_time: int
    latency_s: float
    book_s: float = 0.0  # wall seconds of the book update (the new bars into the book state)
    book_cpu_s: float = 0.0  # its CPU seconds


def publish(loop, arrived: float | None, maps, market, as_of: int, *book) -> Update:
    """Make a new map the loop's latest (a :class:`LiveLoop` or a Multi loop alike): count it, time it
    from its bar's arrival, and tell the listener."""
    latency = time.perf_counter() - arrived if arrived is not None else 0.0
    loop.latest = Update(maps, market, as_of, latency, *book)
    loop.updates += 1
    if arrived is not None:
        loop.latencies.append(latency)
    if loop.on_update is not None:
        loop.on_update(loop)
    return loop.latest


@dataclass
class LiveLoop:
    """Runs a venue (or a replay) into a :class:`LiveMarket` and recomputes the maps from a book
    state that takes each new bar in place (``state``)."""

    market: LiveMarket
    venue: Venue
    options: LiveOptions
    health: Health
    recorder: Recorder | None = None
    on_update: Callable[["LiveLoop"], None] | None = None
    latest: Update | None = None
    updates: int = 0
    latencies: list[float] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    state: BookState | None = None
    _bar_arrived: float | None = None

    def _emit(self, stream: str, event) -> None:
        new = self.market.on_event(stream, event)
        if new is None:
            return
        if self.recorder is not None:
            self.recorder.add(new)
        if self.market.trade_gap and not self._trades_due.is_set():
            self._trades_due.set()
        if isinstance(new, Bar) and self._bar_arrived is None:
            self._bar_arrived = time.perf_counter()
            self._wake.set()

    async def run(self, until: Callable[["LiveLoop"], bool] | None = None) -> None:
        """Run until ``until(loop)`` holds after an update (or until cancelled, e.g. by Ctrl-C).  The book state
        takes the history before the streams start, so the first bars do not wait behind it."""
        await self.book_state()
        tasks = self.start(asyncio.Event())
        try:
            await self._maps(until)
        finally:
            await self.stop(tasks)

    def realized(self) -> tuple[list, list[str]]:
        """The recent realized liquidations, newest last, and why there are none where the venue has no stream."""
        return list(self.market.liquidations), [self.venue.no_liquidations] if self.venue.no_liquidations else []

    def start(self, wake: asyncio.Event) -> list[asyncio.Future]:
        """Start the feed (and the open-interest poll); ``wake`` is set when a bar arrives."""
        self._wake = wake
        self._trades_due = asyncio.Event()
        tasks = [asyncio.ensure_future(self.venue.feed.run(self._emit, self.market.on_disconnect)),  # type: ignore[attr-defined]
                 asyncio.ensure_future(self._fill_trades())]
        if self.venue.poll_open_interest is not None:
            self.health.stream(self.market.roles.open_interest).steady_s = 3 * self.options.oi_every_s
            tasks.append(asyncio.ensure_future(self._poll_open_interest()))
        return tasks

    async def stop(self, tasks: list[asyncio.Future]) -> None:
        """Cancel the tasks of :meth:`start`, write the recorder's files, close the REST client."""
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.recorder is not None:
            self.recorder.close()
        for close in self.closers:
            close()

    async def settle(self) -> int:
        """Take what is complete into the market (REST for what the streams missed); how many bars were added."""
        try:
            return await self.market.fill_funding() + await self.market.advance()
        except (TransientError, DataError) as exc:
            self.health.fault(self.market.roles.klines, f"backfill failed ({exc}); the book waits")
            return 0

    async def _maps(self, until) -> None:
        last = -1e9
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.options.map_every_s)
            except asyncio.TimeoutError:
                pass
            wait = self.options.map_every_s - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            arrived, self._bar_arrived = self._bar_arrived, None
            added = await self.settle()
            if added or self.latest is None:
                last = time.monotonic()
                await self.update(arrived)
            if self.recorder is not None:
                self.recorder.maybe_flush(self.market.data_time)
            if until is not None and until(self):
                return

    async def book_state(self) -> BookState:
        """The book state the maps are read from, started at the history's first bar on first use (the
        market is cut to its last keep_ms as bars arrive, and a later start would be another book)."""
        from ..api import book_state

        if self.state is None:
            history = self.market.history
            state = book_state(history.symbol, history.exchange, self.options.params, self.options.window_ms)
            await asyncio.to_thread(state.extend, history)
            self.state = state
            settle_heap()
        return self.state

    async def update(self, arrived: float | None = None) -> Update | None:
        """Take the new bars into the book state, then read the maps from it as of the newest complete bar
        (in a worker thread, so frames keep flowing while the maps are computed)."""
        try:
            market = self.market.market()
            as_of = market.end_ms
            state = await self.book_state()
            # the new bars into the book on the loop's own thread (a couple of ms; frames wait meanwhile): in a
            # worker thread the update contends for the GIL with the frames being parsed, and waits for it
            book = timed_extend(state, market.slice_time(None, as_of))
            maps = await asyncio.to_thread(compute_maps, market, as_of, self.options.window_ms, self.options.views,
                                           self.options.params, self.options.settings, self.market.data_time,
                                           state)
        except DataError as exc:  # the loop goes on: the health line shows why the map did not move
            self.health.fault(MAP, f"map update failed ({exc}); the last map stays")
            return self.latest
        return publish(self, arrived, maps, market, as_of, *book)

    async def _fill_trades(self) -> None:
        """Backfill each jump in the trade ids as soon as it is seen; the trades after it wait, so the
        recorder gets every trade in order."""
        while True:
            await self._trades_due.wait()
            self._trades_due.clear()
            for trade in await self.market.fill_trades():
                if self.recorder is not None:
                    self.recorder.add(trade)

    async def _poll_open_interest(self) -> None:
        name = self.market.roles.open_interest
        poll = self.venue.poll_open_interest
        assert poll is not None
        while True:
            try:
                result = await poll()
                await self.market.fill_open_interest(result.time)
                new = self.market.on_poll(result)
                self.health.seen(name)
                self.health.clear_fault(name)
                if new is not None and self.recorder is not None:
                    self.recorder.add(new)
            except (TransientError, DataError) as exc:
                retry_after = getattr(exc.__cause__, "retry_after_s", None) or 0.0
                wait = max(self.options.oi_every_s, retry_after)
                self.health.fault(name, f"poll failed ({exc}); next poll in {wait:g}s")
                await asyncio.sleep(wait)
                continue
            await asyncio.sleep(self.options.oi_every_s)


class ReplayFeed:
    """Stored bars and open interest played as a live feed, ``speed`` data seconds per wall second.

    The same loop, book and screen as live; there are no mark-price ticks or
    liquidation events in stored history, so the book's trigger is what the
    history holds.
    """

    def __init__(self, market: MarketData, start_ms: int, speed: float, health: Health, stream: str = "replay"):
        if not 0 < speed < math.inf:  # also refuses nan
            raise ValueError(f"--speed must be positive and finite, not {speed:g}")
        if market.open_interest is None:
            raise DataError(f"the replayed data of {market.symbol} has no open interest")
        self.market, self.start_ms, self.speed, self.health, self.stream = market, start_ms, speed, health, stream
        self.finished = False
        health.stream(stream)

    def events(self) -> list[tuple[int, object]]:
        c = self.market.candles.slice_time(self.start_ms)
        bars = [(int(t) + c.interval_ms, Bar(int(t), c.interval_ms, float(o), float(h), float(lo), float(cl),
                                             float(v), float(tb), True, int(t) + c.interval_ms))
                for t, o, h, lo, cl, v, tb in zip(c.time, c.open, c.high, c.low, c.close, c.volume,
                                                   c.taker_buy_volume)]
        oi = self.market.open_interest.slice_time(self.start_ms)  # type: ignore[union-attr]
        polls = [(int(t), OpenInterestPoll(int(t), float(v))) for t, v in zip(oi.time, oi.oi)]
        order = np.argsort([t for t, _ in bars + polls], kind="stable")
        merged = bars + polls
        return [merged[i] for i in order]

    async def run(self, emit, on_disconnect) -> None:
        events = self.events()
        wall0 = time.monotonic()
        t0 = events[0][0] if events else self.start_ms
        for t, event in events:
            due = wall0 + (t - t0) / 1000 / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.health.seen(self.stream)
            emit(self.stream, event)
        self.finished = True
        await asyncio.Event().wait()  # the replay is over; the loop decides when to stop

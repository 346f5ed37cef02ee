"""The watch loop: build the maps at each new as-of time, evaluate the rules, deliver.

Updates come from replaying stored history (``replay_updates``) or from
polling a source that grows (``follow_updates``: the local cache or a folder
of exchange files); a live stream can feed the same loop later by yielding
``Update`` values.  One position book state (``liqmap.book_state``) follows
the data: each update appends only what is new to it and reads every view
the rules need from it (``liqmap.build_maps(state=...)``), so an update costs
the new data and the alive levels, not the history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np

from ..frames import MarketData, format_ms
from .engine import AlertEngine
from .rules import Snapshot
from .state import describe_ms


@dataclass(frozen=True)
class Update:
    """The maps (as snapshots, one per view) at one as-of time and the price range since the last update."""

    as_of_ms: int
    snapshots: dict
    path_low: float
    path_high: float


@dataclass(frozen=True)
class WatchSummary:
    """What a watch did: updates seen (and skipped as not new), new alerts, (alert, sink) deliveries made,
    sink failures, and alerts still undelivered at the end (kept in the state file's outbox, if there is one)."""

    updates: int
    skipped: int
    alerts: int
    delivered: int
    failures: int
    pending: int


def price_range(market: MarketData, since_ms: int | None, until_ms: int, price: float) -> tuple[float, float]:
    """Lowest low and highest high of the candles that closed in ``(since_ms, until_ms]`` (and ``price``)."""
    if since_ms is None:
        return price, price
    c = market.candles
    end = c.time + c.interval_ms
    inside = (end > since_ms) & (end <= until_ms)
    if not inside.any():
        return price, price
    return min(price, float(c.low[inside].min())), max(price, float(c.high[inside].max()))


def update_at(market: MarketData, as_of_ms: int, previous_ms: int | None, views, window, book_params=None,
              now=None, state=None) -> Update:
    """Maps for ``views`` as of ``as_of_ms`` from one book, reduced to snapshots.

    ``state`` (a ``liqmap.book_state``) is first given the data up to ``as_of_ms``
    and the maps are read from it; without one, a book is built.
    """
    from ..api import build_maps

    if state is not None:  # the data known at as_of: candles that had ended, the rest before it
        known = market.slice_time(None, int(as_of_ms))
        state.extend(replace(known, candles=known.candles.slice_time(None, int(as_of_ms) - known.candles.interval_ms + 1)))
    maps = build_maps(market=market, as_of=int(as_of_ms), views=views, window=window, params=book_params, now=now,
                      state=state)
    low, high = price_range(market, previous_ms, as_of_ms, maps[0].price)
    return Update(int(as_of_ms), {m.view: Snapshot.from_map(m) for m in maps}, low, high)


def _state_for(market: MarketData, window, book_params):
    from ..api import book_state

    return book_state(market.symbol, market.exchange, book_params, window)


def replay_times(market: MarketData, start_ms: int, end_ms: int, step_ms: int) -> np.ndarray:
    """As-of times from ``start_ms`` to ``end_ms`` (inclusive) every ``step_ms``, checked against the data."""
    if start_ms >= end_ms:
        raise ValueError(f"replay start {format_ms(start_ms)} must be before its end {format_ms(end_ms)}")
    if start_ms <= market.start_ms or end_ms > market.end_ms:
        raise ValueError(f"replay {format_ms(start_ms)} .. {format_ms(end_ms)} is outside the data, which covers "
                         f"{format_ms(market.start_ms)} .. {format_ms(market.end_ms)}")
    return np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)


def replay_updates(market: MarketData, times, views, window, book_params=None, speed: float = 0.0,
                   sleep: Callable[[float], None] = time.sleep) -> Iterator[Update]:
    """Updates at each of ``times`` over stored history.

    ``speed`` X plays the history X times faster than real time (sleeping
    between updates); 0 runs as fast as possible.  Map ages are measured
    against the replayed moment, so maps are not flagged stale.
    """
    previous = None
    state = _state_for(market, window, book_params)
    for t in times:
        if previous is not None and speed > 0:
            sleep((int(t) - previous) / 1000.0 / speed)
        yield update_at(market, int(t), previous, views, window, book_params, now=int(t), state=state)
        previous = int(t)


def follow_updates(load: Callable[[], MarketData], poll_s: float, views, window, book_params=None,
                   max_polls: int | None = None, sleep: Callable[[float], None] = time.sleep) -> Iterator[Update]:
    """An update each time ``load()`` returns data that ends later than before; polls every ``poll_s``."""
    previous = None
    polls = 0
    state = None
    while max_polls is None or polls < max_polls:
        if polls:
            sleep(poll_s)
        polls += 1
        market = load()
        if previous is None or market.end_ms > previous:
            state = state or _state_for(market, window, book_params)
            yield update_at(market, market.end_ms, previous, views, window, book_params, state=state)
            previous = market.end_ms


def live_updates(loop, until: Callable[[object], bool] | None = None) -> Iterator[Update]:
    """An update at each map of a live loop (``liqmap.live``: ``liqmap watch --live``).

    The loop runs in a worker thread with its own event loop; its maps come
    here through a queue.  Leaving the iteration (the end, an error, Ctrl-C)
    stops the loop cleanly within a map interval, so its recorder's files
    are complete.
    """
    import asyncio
    import queue
    import threading

    items: queue.Queue = queue.Queue()
    stop = threading.Event()
    previous: list[int | None] = [None]

    def on_update(lp) -> None:
        latest = lp.latest
        low, high = price_range(latest.market, previous[0], latest.data_time, latest.maps[0].price)
        previous[0] = latest.data_time
        items.put(Update(latest.data_time, {m.view: Snapshot.from_map(m) for m in latest.maps}, low, high))

    def run() -> None:
        try:
            asyncio.run(loop.run(until=lambda lp: stop.is_set() or (until is not None and until(lp))))
        except BaseException as exc:  # handed to the consuming thread
            items.put(exc)
        finally:
            items.put(None)

    loop.on_update = on_update
    worker = threading.Thread(target=run, name="liqmap-live", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def run_watch(updates: Iterable[Update], engine: AlertEngine) -> WatchSummary:
    """Deliver what an earlier run left in the outbox, then evaluate every update and deliver its alerts.

    At the end, sinks still resting after a failure get one more try.  The
    first update that is not later than the last evaluated one (the state
    file's, after a restart) is reported: it and those like it are skipped.
    """
    count = skipped = alerts = 0
    done = engine.deliver()
    delivered, failures = done.delivered, done.failures
    for update in updates:
        count += 1
        if not engine.is_new(update.as_of_ms):
            if not skipped:
                engine.report(f"update {format_ms(update.as_of_ms)} is not after the last evaluated one "
                              f"({describe_ms(engine.last_as_of_ms)}): skipped, as is any other such update")
            skipped += 1
            continue
        alerts += len(engine.update(update.snapshots, update.path_low, update.path_high))
        done = engine.deliver()
        delivered, failures = delivered + done.delivered, failures + done.failures
    if engine.pending:
        done = engine.deliver(final=True)
        delivered, failures = delivered + done.delivered, failures + done.failures
    return WatchSummary(count, skipped, alerts, delivered, failures, engine.pending)

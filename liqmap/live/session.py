"""Putting a live loop together: backfill, history from the store, the venue's feed, the recorder.

``open_streaming`` is what ``liqmap live SYMBOL --venue V`` runs (``open_binance`` for Binance); ``open_replay`` is
``liqmap live SYMBOL --replay SOURCE``.  Both return a ready
:class:`~liqmap.live.loop.LiveLoop`; nothing runs until its ``run()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..frames import MS_PER_DAY, DataError, MarketData, format_ms
from ..sources.cache import Store
from ..timeutil import parse_span
from .health import Health
from .loop import LiveLoop, LiveOptions, ReplayFeed, Venue
from .recorder import Recorder
from .state import LiveMarket, StreamRoles

#: History kept before the window: the ATR needs a couple of days of bars.
WARMUP_MS = 2 * MS_PER_DAY


def open_binance(symbol: str, store: Store, options: LiveOptions, **settings) -> tuple[LiveLoop, list[str]]:
    """``liqmap live SYMBOL`` on Binance: see :func:`open_streaming`."""
    from .. import venues

    return venues.get("binance").open_live(symbol, store, options, **settings)


def open_streaming(venue_name: str, client, live_venue, symbol: str, store: Store, options: LiveOptions, *,
                   ws_url: str, interval: str = "1m", silence_s: float = 10.0, max_age_s: float = 23.5 * 3600,
                   record: bool = True, rotate: str = "hour", record_trades: bool = False,
                   progress: Callable[[str, int, int], None] | None = None,
                   on_update=None, history: Callable[..., MarketData] | None = None) -> tuple[LiveLoop, list[str]]:
    """Backfill ``options.window_ms`` (plus warm-up) into ``store`` through ``client`` (a venue's REST
    client, see :func:`liqmap.venues.binance.rest.backfill`) and wire the venue's streams from
    ``live_venue(symbol, client, health, ...)``.  ``symbol`` is liqmap's name (``BTCUSDT``): the store
    keeps it, and the venue's client and parsers map it to the venue's own.  ``history(store, symbol,
    interval, start_ms, end_ms)`` reads what the book starts from (default: :func:`history_from_store`).

    Returns the loop and the backfill's notes for the user.
    """
    from ..venues.binance.rest import backfill

    health = Health()
    client.on_rate_limit = health.rate_limit
    step = parse_span(interval, "--interval")
    health.skew_ms = client.measure_skew()
    end_ms = client.server_now() // step * step
    start_ms = end_ms - options.window_ms - WARMUP_MS
    report = backfill(client, store, symbol, start_ms, end_ms, interval, progress)
    options = with_fetched_tiers(options, venue_name, symbol, report.tiers_file)
    if history is None:
        past = history_from_store(store, symbol, interval, start_ms, end_ms, venue_name)
    else:
        past = history(store, symbol, interval, start_ms, end_ms)
    venue, roles, gaps = live_venue(symbol, client, health, ws_url=ws_url, interval=interval,
                                    silence_s=silence_s, max_age_s=max_age_s)
    market = LiveMarket(past, roles, health, gaps, keep_ms=options.window_ms + WARMUP_MS)
    recorder = Recorder(store, symbol, venue_name, rotate, record_trades,
                        oi_interval_ms=int(options.oi_every_s * 1000)) if record else None
    loop = LiveLoop(market, venue, options, health, recorder, on_update)
    loop.closers.append(client.close)
    return loop, report.notes + [note for note in past.notes if note.startswith("open interest")]


def with_fetched_tiers(options: LiveOptions, venue: str, symbol: str, tiers_file) -> LiveOptions:
    """The venue's fetched tiers as the book's brackets where liqmap ships none for the symbol and the
    user gave none (the book needs them for exact liquidation prices)."""
    from ..model.margin import shipped_tables
    from ..model.params import BookParams

    if tiers_file is None or (venue, symbol) in shipped_tables():
        return options
    params = options.params
    if isinstance(params, BookParams):
        if params.brackets is not None:
            return options
        return replace(options, params=replace(params, brackets=str(tiers_file)))
    overrides = dict(params or {})
    overrides.setdefault("brackets", str(tiers_file))
    return replace(options, params=overrides)


def rest_gaps(client, symbol: str, interval: str, trades_by_id: bool = False):
    """A REST client's klines, open-interest and funding history as the live loop's :class:`GapSource`, and its
    current open interest as the poll; the calls run in a worker thread so the streams keep flowing.
    ``trades_by_id``: the client reads trades by id range (``client.agg_trades``), so jumps in the stream's
    trade ids are backfilled too."""
    import asyncio

    from .events import OpenInterestPoll
    from .state import GapSource

    async def klines(start_ms: int, end_ms: int, mark: bool):
        return await asyncio.to_thread(client.klines, symbol, start_ms, end_ms, interval, mark)

    async def open_interest(start_ms: int, end_ms: int):
        return await asyncio.to_thread(client.open_interest_hist, symbol, start_ms, end_ms)

    async def funding(start_ms: int, end_ms: int):
        return await asyncio.to_thread(client.funding, symbol, start_ms, end_ms)

    async def poll() -> OpenInterestPoll:
        t, oi = await asyncio.to_thread(client.open_interest, symbol, 0)
        return OpenInterestPoll(t, oi)

    async def trades(first_id: int, last_id: int):
        return await asyncio.to_thread(client.agg_trades, symbol, first_id, last_id)

    return GapSource(klines, open_interest, funding, trades if trades_by_id else None), poll


def history_from_store(store: Store, symbol: str, interval: str, start_ms: int, end_ms: int,
                       venue: str = "binance") -> MarketData:
    """The backfilled klines, mark klines, open interest and funding of ``[start_ms, end_ms)``."""
    from ..sources.cache import CANDLES, FUNDING, MARK_CANDLES, OPEN_INTEREST

    candles = store.read(symbol, f"{CANDLES}-{interval}", start_ms, end_ms)
    if candles is None or not len(candles):
        raise DataError(f"live: no {interval} klines of {symbol} from {format_ms(start_ms)} in {store.label}")
    mark = store.read(symbol, f"{MARK_CANDLES}-{interval}", start_ms, end_ms)
    oi = store.read(symbol, OPEN_INTEREST, start_ms, end_ms)
    funding = store.read(symbol, FUNDING, start_ms, end_ms)
    if mark is not None and (len(mark) != len(candles) or (mark.time != candles.time).any()):
        mark = None
    return MarketData(symbol=symbol, exchange=venue, candles=candles, mark_candles=mark, open_interest=oi,
                      funding=funding, notes=(f"data: {venue} REST backfill in {store.label}, then live streams",))


def open_replay(symbol: str, source: str, options: LiveOptions, *, speed: float, start=None,
                on_update=None, venue: str = "binance") -> LiveLoop:
    """Replay ``venue``'s stored data from ``start`` (default: the first moment with a window and its warm-up
    of data before it) through the loop.

    Stored history has no 1-second mark prices, so the replayed book triggers on last-price bars."""
    from ..analysis.results import format_window
    from ..api import load_market
    from ..timeutil import parse_time

    market = load_market(symbol, source, venue=venue)
    need = options.window_ms + WARMUP_MS
    first = market.start_ms + need
    start_ms = parse_time(start, "--from") if start is not None else first
    covers = (f"the {market.exchange} data of {market.symbol} in {source} cover {format_ms(market.start_ms)} .. "
              f"{format_ms(market.end_ms)}")
    if start is not None and start_ms >= market.end_ms:
        raise ValueError(f"--from {format_ms(start_ms)} is not before the data's end: {covers}")
    if start_ms < first or start_ms >= market.end_ms:
        later = f"use --from {format_ms(first)} or later, or" if first < market.end_ms else "use"
        raise ValueError(f"the replay needs {format_window(need)} of data before its start (the "
                         f"{format_window(options.window_ms)} window and {format_window(WARMUP_MS)} of warm-up); "
                         f"{covers}: {later} a shorter --window")
    health = Health()
    history = market.slice_time(start_ms - need, start_ms)
    history = replace(history, trades=None, liquidations=None, mark_candles=None,
                      notes=history.notes + (f"replay of {source} from {format_ms(start_ms)} at {speed:g}x",))
    feed = ReplayFeed(market, start_ms, speed, health)
    roles = StreamRoles(trades=feed.stream, mark=feed.stream, klines=feed.stream, liquidations=feed.stream,
                        open_interest=feed.stream)
    live = LiveMarket(history, roles, health, None, keep_ms=need, polls_at_bar_ends=False)
    return LiveLoop(live, Venue("replay", feed), options, health, None, on_update)

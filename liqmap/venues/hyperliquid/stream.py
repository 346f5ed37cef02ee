"""Hyperliquid's public WebSocket: the subscriptions, the message parsers and the live venue.

``wss://api.hyperliquid.xyz/ws``; each subscription is one message
``{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}``, acknowledged with
``{"channel": "subscriptionResponse", ...}``; pushes are ``{"channel": ..., "data": ...}``; a client sends
``{"method": "ping"}`` (answered ``{"channel": "pong"}``), as the server closes a connection that has
sent nothing for a minute.  Real frames, for reference (``tests/fixtures/frames/hyperliquid``)::

    trades          {"channel":"trades","data":[{"coin":"BTC","side":"B","px":"69997.0","sz":"0.38111",
                     "time":1730160006192,"hash":"0x40d1...","tid":1016375172059570}, ...]}
    activeAssetCtx  {"channel":"activeAssetCtx","data":{"coin":"MOODENG","ctx":{"funding":"0.00004863",
                     "openInterest":"18617460.0","oraclePx":"0.1995","markPx":"0.19963",...}}}
    candle          {"channel":"candle","data":{"t":...,"T":...,"s":"BTC","i":"1m","o":...,"c":...,
                     "h":...,"l":...,"v":...,"n":...}}   (the candleSnapshot element, pushed as it grows)

``side`` of a trade is the taker's (``B`` bought, ``A`` sold); ``tid`` is not a sequence.  The context
carries the mark price, the oracle price, the current hourly funding rate and the open interest in
coins, but **no time**: its values are stamped with the exchange time of the newest trade or candle
the feed has delivered (BTC trades several times a second).  A candle is pushed whenever it changes
and carries no "closed" flag: a minute's candle is closed when the next minute's first push arrives
(cumulative, so the last push of a minute holds all of it); one held when every connection was lost
is dropped, and that bar comes from REST (and a context is stamped only once a new trade or candle has
come).  There is **no public liquidation stream** (a
``liquidations`` subscription is refused; only an account's own ``userFills`` carry liquidations).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ...frames import MS_PER_HOUR, DataError
from ...live.events import Bar, Event, MarkTick, OpenInterestPoll, Trade
from ..wire import as_object
from ..wire import field as _field
from ..wire import json_object, looks_like
from ..wire import number_field as _number
from ..wire import time_field as _time
from .rest import candle_row, check_interval
from .symbols import coin_of

DEFAULT_WS_URL = "wss://api.hyperliquid.xyz/ws"
VENUE = "hyperliquid"
HEARTBEAT = json.dumps({"method": "ping"})
#: Why the live screen shows no realized liquidations for Hyperliquid.
NO_LIQUIDATIONS = ("Hyperliquid publishes no public liquidation stream (a 'liquidations' subscription is "
                   "refused; only an account's own userFills carry liquidations)")


def subscriptions(symbol: str, interval: str = "1m") -> dict[str, dict]:
    """Role -> subscription of one coin."""
    coin = coin_of(symbol)
    return {"trades": {"type": "trades", "coin": coin}, "mark": {"type": "activeAssetCtx", "coin": coin},
            "klines": {"type": "candle", "coin": coin, "interval": check_interval(interval)}}


def stream_name(subscription: dict) -> str:
    """How the feed tags a subscription: ``trades:BTC``, ``activeAssetCtx:BTC``, ``candle:BTC:1m``."""
    return ":".join(str(subscription[k]) for k in ("type", "coin", "interval") if k in subscription)


def subscribe_message(subscription: dict) -> str:
    return json.dumps({"method": "subscribe", "subscription": subscription})


class HyperliquidParser:
    """Frames of one coin -> ``(stream name, events)``; ``("", None)`` for acknowledgements and pongs.

    Holds the exchange time seen last (for the untimed asset context) and the candle being formed.
    """

    def __init__(self, coin: str, interval: str = "1m"):
        self.coin, self.interval = coin, interval
        self.clock_ms: int | None = None
        self.candle: dict | None = None

    def connection_lost(self) -> None:
        """Every connection is lost: the held candle may miss pushes, so it is not taken as closed, and the
        exchange time seen last is old, so no context is stamped with it."""
        self.candle = None
        self.clock_ms = None

    def __call__(self, text: str | bytes) -> tuple[str, list[Event] | None]:
        message = json_object(text)
        channel = message.get("channel")
        if not isinstance(channel, str):
            raise DataError(f"not a Hyperliquid frame (no 'channel'; {looks_like(message)}): {str(message)[:80]}")
        if channel in ("subscriptionResponse", "pong"):
            return "", None
        if channel == "error":
            raise DataError(f"hyperliquid refused a request: {str(message.get('data'))[:120]}")
        data = message.get("data")
        if channel == "trades":
            if not isinstance(data, list):
                raise DataError("trades: field 'data' is not an array")
            trades: list[Event] = [self.trade(item, f"trades data[{i}]") for i, item in enumerate(data)]
            return f"trades:{self.coin}", trades
        if not isinstance(data, dict):
            raise DataError(f"{channel}: field 'data' is not an object")
        if channel == "activeAssetCtx":
            return f"activeAssetCtx:{self.coin}", self.context(data)
        if channel == "candle":
            return f"candle:{self.coin}:{self.interval}", self.bar(data)
        raise DataError(f"hyperliquid: unknown channel {channel!r}")

    def _own(self, item: dict, where: str) -> None:
        coin = _field(item, "coin" if "coin" in item else "s", where)
        if coin != self.coin:
            raise DataError(f"{where}: a frame of {coin!r}, not {self.coin}")

    def trade(self, item, where: str) -> Trade:
        """One fill: ``side`` B means the taker bought, A that the taker sold (the buyer was the maker)."""
        self._own(as_object(item, where), where)
        side = _field(item, "side", where)
        if side not in ("A", "B"):
            raise DataError(f"{where}: field 'side' is {side!r}, not A or B")
        trade = Trade(time=_time(item, "time", where), price=_number(item, "px", where),
                      quantity=_number(item, "sz", where), is_buyer_maker=side == "A")
        self.clock_ms = max(self.clock_ms or trade.time, trade.time)
        return trade

    def context(self, data: dict) -> list[Event]:
        """The mark price, hourly funding and open interest (coins), at the exchange time seen last."""
        where = "activeAssetCtx"
        self._own(data, where)
        ctx = _field(data, "ctx", where)
        if not isinstance(ctx, dict):
            raise DataError(f"{where}: field 'ctx' is not an object")
        mark, index = _number(ctx, "markPx", where), _number(ctx, "oraclePx", where)
        funding, oi = _number(ctx, "funding", where), _number(ctx, "openInterest", where)
        if self.clock_ms is None:  # no exchange time seen yet to stamp it with
            return []
        t = self.clock_ms
        return [MarkTick(time=t, mark=mark, index=index, funding_rate=funding,
                         next_funding_ms=t - t % MS_PER_HOUR + MS_PER_HOUR), OpenInterestPoll(t, oi)]

    def bar(self, data: dict) -> list[Event]:
        """A candle push: the previous minute's candle closes when a later one begins."""
        where = "candle"
        self._own(data, where)
        if data.get("i") != self.interval:
            raise DataError(f"{where}: a candle of interval {data.get('i')!r}, not {self.interval}")
        start, end, o, h, low, c, v = candle_row(data, where)
        held = self.candle
        self.clock_ms = max(self.clock_ms or start, start)
        out: list[Event] = []
        if held is not None:
            if start < held["t"] or (start == held["t"] and data.get("n", 0) < held.get("n", 0)):
                return []  # an older state (another connection during a rotation)
            if start > held["t"]:
                out.append(_bar(held, closed=True, event_time=start))
        self.candle = dict(data)
        out.append(Bar(time=start, interval_ms=end - start, open=o, high=h, low=low, close=c, volume=v,
                       taker_buy_volume=float("nan"), closed=False, event_time=start))
        return out


def _bar(candle: dict, closed: bool, event_time: int) -> Bar:
    start, end, o, h, low, c, v = candle_row(candle, "candle")
    return Bar(time=start, interval_ms=end - start, open=o, high=h, low=low, close=c, volume=v,
               taker_buy_volume=float("nan"), closed=closed, event_time=event_time)


class _CandleFeed:
    """A stream feed that tells the parser when no connection is up (its held candle is then incomplete)."""

    def __init__(self, feed, parser: HyperliquidParser):
        self.feed, self.parser = feed, parser

    async def run(self, emit: Callable, on_disconnect: Callable[[], None]) -> None:
        def lost() -> None:
            self.parser.connection_lost()
            on_disconnect()

        await self.feed.run(emit, lost)


def live_venue(symbol: str, client, health, *, ws_url: str = DEFAULT_WS_URL, interval: str = "1m",
               silence_s: float = 10.0, max_age_s: float = 23.5 * 3600):
    """The Hyperliquid pieces of a live loop: ``(Venue, StreamRoles, GapSource)`` (``client``: a
    HyperliquidClient; open interest has no history, so the gap source returns none)."""
    from ...live.connection import FeedConfig, StreamFeed
    from ...live.loop import Venue
    from ...live.session import rest_gaps
    from ...live.state import StreamRoles

    subs = subscriptions(symbol, interval)
    names = {role: stream_name(sub) for role, sub in subs.items()}
    roles = StreamRoles(trades=names["trades"], mark=names["mark"], klines=names["klines"],
                        liquidations="liquidations", open_interest=f"{names['mark']} openInterest")
    health.absent(roles.liquidations, NO_LIQUIDATIONS)
    parser = HyperliquidParser(coin_of(symbol), interval)
    config = FeedConfig(url=ws_url, streams=tuple(names.values()), watched=(names["mark"],), silence_s=silence_s,
                        max_age_s=max_age_s, subscribe=tuple(subscribe_message(s) for s in subs.values()),
                        heartbeat=HEARTBEAT)
    gaps, poll = rest_gaps(client, symbol, interval)
    feed = _CandleFeed(StreamFeed(config, parser, health), parser)
    return Venue(VENUE, feed, poll, no_liquidations=NO_LIQUIDATIONS), roles, gaps



def live_history(client, store, symbol: str, interval: str, start_ms: int, end_ms: int):
    """The history a live Hyperliquid book starts from (``MarketData``).

    Candles and funding are the REST backfill's.  Hyperliquid has no open-interest history, so the
    open interest before the session is whatever was recorded: the cache's open interest (``metrics``,
    e.g. an imported hourly export) and its recorded live polls (``oiPolls``), and the bundled sample
    where it reaches the window, closed by the current value (``metaAndAssetCtxs``).  Points before the
    latest hole longer than the book bridges are left out; the notes say what the book rests on.
    """
    from dataclasses import replace

    import numpy as np

    from ...frames import OpenInterest, format_ms
    from ...live.session import history_from_store
    from ...model.params import BookParams
    from ...sources.cache import OI_POLLS, OPEN_INTEREST
    from ...sources.loader import open_source
    from ...timeutil import parse_span

    market = history_from_store(store, symbol, interval, start_ms, end_ms, VENUE)
    points: dict[int, float] = {}
    origins = []
    sample = open_source("sample", VENUE)
    for source, kind, label in ((store, OPEN_INTEREST, f"open interest in {store.label}"),
                                (store, OI_POLLS, f"recorded live open interest in {store.label}"),
                                (sample, OPEN_INTEREST, "the bundled sample's hourly open interest")):
        frame = source.read(symbol, kind, start_ms, end_ms) if symbol in source.symbols() else None
        if frame is not None and len(frame):
            points.update(zip(frame.time.tolist(), frame.oi.tolist()))
            origins.append(f"{label} ({len(frame)} point(s))")
    now_ms, now_oi = client.open_interest(symbol)
    points[now_ms] = now_oi
    times = np.array(sorted(points), np.int64)
    notes = []
    holes = np.flatnonzero(np.diff(times) > BookParams().max_oi_gap_ms)
    if holes.size:
        k = int(holes[-1])
        notes.append(f"open interest: {k + 1} recorded point(s) before a hole {format_ms(int(times[k]))} .. "
                     f"{format_ms(int(times[k + 1]))} are left out (longer than the book bridges)")
        times = times[k + 1:]
    if times.size == 1:
        notes.append(f"open interest: Hyperliquid publishes no open-interest history and nothing recorded "
                     f"reaches this session; the book starts from the current value at {format_ms(now_ms)} "
                     "(metaAndAssetCtxs): positions opened before it are not in the book, and the coverage "
                     "says how much of the open interest the window's openings explain")
    else:
        notes.append(f"open interest: Hyperliquid publishes no open-interest history; before this session the book "
                     f"rests on {times.size - 1} recorded point(s) {format_ms(int(times[0]))} .. "
                     f"{format_ms(int(times[-2]))} from {'; '.join(origins)}, then the current value; before "
                     f"{format_ms(int(times[0]))} it knows nothing")
    oi = OpenInterest(time=times, oi=np.array([points[t] for t in times.tolist()]), oi_value=np.full(times.size, np.nan),
                      interval_ms=parse_span(interval, "--interval"))
    return replace(market, open_interest=oi, notes=market.notes + tuple(notes))

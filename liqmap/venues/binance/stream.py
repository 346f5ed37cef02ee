"""Binance USDⓈ-M market streams: the route, the stream names and the message parsers.

Since 2026-04-23 market streams are served on ``/market/stream?streams=a/b/c``
(combined: every message is ``{"stream": name, "data": payload}``).  The old
``/ws`` and ``/stream`` routes still accept connections and acknowledge
subscriptions but deliver nothing, which is why the live loop's watchdog
exists.  Real frames, for reference (``tests/fixtures/frames/binance``)::

    aggTrade         {"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10",
                      "f":23961322,"l":23961322,"T":1626992741421,"m":false}
    markPriceUpdate  {"e":"markPriceUpdate","E":1597536008000,"s":"BTCUSDT","p":"11857.56","i":"11851.869",
                      "r":"0.00015640","T":1597564800000}
    kline            {"e":"kline","E":1626992760203,"s":"SUSHIUSDT","k":{"t":1626992700000,"T":1626992759999,
                      "i":"1m","o":"7.6080","c":"7.6170","h":"7.6180","l":"7.6070","v":"3005","x":true,"V":"1900",...}}
    forceOrder       {"e":"forceOrder","E":1791565603055,"o":{"s":"BTCUSDT","S":"SELL","q":"0.190","p":"82338.30",
                      "ap":"82651.90","X":"FILLED","l":"0.155","z":"0.190","T":1791565602120}}

Parsers raise :class:`~liqmap.frames.DataError` naming the stream and the field.
"""

from __future__ import annotations

from collections.abc import Callable

from ...frames import DataError
from ...live.events import Bar, Event, Liquidation, MarkTick, Trade
from ...timeutil import parse_span
from ..wire import as_number, as_timestamp
from ..wire import field as _field
from ..wire import json_object

DEFAULT_WS_URL = "wss://fstream.binance.com/market/stream"
VENUE = "binance"


def stream_names(symbol: str, kline_interval: str = "1m") -> dict[str, str]:
    """Role -> stream name for one symbol (the roles the live loop subscribes to)."""
    s = symbol.lower()
    return {"trades": f"{s}@aggTrade", "mark": f"{s}@markPrice@1s", "klines": f"{s}@kline_{kline_interval}",
            "liquidations": f"{s}@forceOrder"}


def stream_url(base_url: str, streams: list[str]) -> str:
    """The combined-stream URL: ``<base>?streams=a/b/c``."""
    return f"{base_url.rstrip('/')}?streams={'/'.join(streams)}"


def parse_message(text: str | bytes) -> tuple[str, Event | None]:
    """One frame -> ``(stream name, event)``; ``(\"\", None)`` for a subscription answer.

    Accepts the combined wrapper and bare payloads (then the stream name is
    rebuilt from the event type and symbol).
    """
    message = json_object(text)
    if "result" in message and "id" in message:
        return "", None
    if "stream" in message:
        stream, data = message["stream"], message.get("data")
        if not isinstance(stream, str) or not isinstance(data, dict):
            raise DataError("combined frame without a 'stream' name and a 'data' object")
    else:
        stream, data = "", message
    kind = data.get("e")
    parser = _PARSERS.get(str(kind))
    if parser is None:
        raise DataError(f"{stream or 'frame'}: unknown event type {kind!r}")
    where = stream or f"{str(data.get('s', '?')).lower()}@{kind}"
    return where, parser(data, where)


def parse_agg_trade(data: dict, where: str = "aggTrade") -> Trade:
    m = _field(data, "m", where)
    if not isinstance(m, bool):
        raise DataError(f"{where}: field 'm' is {m!r}, not true/false")
    return Trade(time=as_timestamp(_field(data, "T", where), f"{where}, field 'T'"),
                 price=as_number(_field(data, "p", where), f"{where}, field 'p'"),
                 quantity=as_number(_field(data, "q", where), f"{where}, field 'q'"),
                 is_buyer_maker=m, trade_id=as_timestamp(_field(data, "a", where), f"{where}, field 'a'"))


def parse_mark_price(data: dict, where: str = "markPriceUpdate") -> MarkTick:
    return MarkTick(time=as_timestamp(_field(data, "E", where), f"{where}, field 'E'"),
                    mark=as_number(_field(data, "p", where), f"{where}, field 'p'"),
                    index=as_number(_field(data, "i", where), f"{where}, field 'i'"),
                    funding_rate=as_number(_field(data, "r", where), f"{where}, field 'r'"),
                    next_funding_ms=as_timestamp(_field(data, "T", where), f"{where}, field 'T'"))


def parse_kline(data: dict, where: str = "kline") -> Bar:
    k = _field(data, "k", where)
    if not isinstance(k, dict):
        raise DataError(f"{where}: field 'k' is not an object")
    start = as_timestamp(_field(k, "t", where), f"{where}, field 'k.t'")
    end = as_timestamp(_field(k, "T", where), f"{where}, field 'k.T'")
    closed = _field(k, "x", where)
    if not isinstance(closed, bool):
        raise DataError(f"{where}: field 'k.x' is {closed!r}, not true/false")
    interval = parse_span(str(_field(k, "i", where)), f"{where}, field 'k.i'")
    if end - start + 1 != interval:
        raise DataError(f"{where}: bar {start}..{end} is not one {k['i']} interval")
    num = {name: as_number(_field(k, name, where), f"{where}, field 'k.{name}'") for name in "ohlcvV"}
    return Bar(time=start, interval_ms=interval, open=num["o"], high=num["h"], low=num["l"], close=num["c"],
               volume=num["v"], taker_buy_volume=num["V"], closed=closed,
               event_time=as_timestamp(_field(data, "E", where), f"{where}, field 'E'"))


def parse_force_order(data: dict, where: str = "forceOrder") -> Liquidation:
    """A forceOrder -> :class:`Liquidation`: ``S=SELL`` means a long position was liquidated.

    Price is the average fill price ``ap`` (the order price ``p`` while
    nothing has filled); size the filled quantity ``z`` (else ``q``).
    Binance pushes at most one liquidation per symbol per second, so sums of
    these events are lower bounds of what was liquidated.
    """
    o = _field(data, "o", where)
    if not isinstance(o, dict):
        raise DataError(f"{where}: field 'o' is not an object")
    side = _field(o, "S", where)
    if side not in ("SELL", "BUY"):
        raise DataError(f"{where}: field 'o.S' is {side!r}, not SELL or BUY")
    price = as_number(o.get("ap", "0"), f"{where}, field 'o.ap'")
    if price <= 0:
        price = as_number(_field(o, "p", where), f"{where}, field 'o.p'")
    size = as_number(o.get("z", "0"), f"{where}, field 'o.z'")
    if size <= 0:
        size = as_number(_field(o, "q", where), f"{where}, field 'o.q'")
    return Liquidation(time=as_timestamp(_field(o, "T", where), f"{where}, field 'o.T'"),
                       symbol=str(_field(o, "s", where)), side="long" if side == "SELL" else "short",
                       price=price, size=size, usd=price * size, venue=VENUE)


_PARSERS: dict[str, Callable[[dict, str], Event]] = {"aggTrade": parse_agg_trade, "markPriceUpdate": parse_mark_price, "kline": parse_kline,
            "forceOrder": parse_force_order}


def live_venue(symbol: str, client, health, *, ws_url: str = DEFAULT_WS_URL, interval: str = "1m",
               silence_s: float = 10.0, max_age_s: float = 23.5 * 3600):
    """The Binance pieces of a live loop: ``(Venue, StreamRoles, GapSource)``.

    ``client`` is a :class:`~liqmap.venues.binance.rest.RestClient`; its calls
    run in a worker thread so the streams keep flowing meanwhile.
    """
    from ...live.connection import FeedConfig, StreamFeed
    from ...live.loop import Venue
    from ...live.session import rest_gaps
    from ...live.state import StreamRoles

    names = stream_names(symbol, interval)
    roles = StreamRoles(trades=names["trades"], mark=names["mark"], klines=names["klines"],
                        liquidations=names["liquidations"], open_interest=f"{symbol.lower()}@openInterest (REST poll)")
    config = FeedConfig(url=stream_url(ws_url, list(names.values())), streams=tuple(names.values()),
                        watched=(names["mark"],), silence_s=silence_s, max_age_s=max_age_s)
    feed = StreamFeed(config, parse_message, health)
    gaps, poll = rest_gaps(client, symbol, interval, trades_by_id=True)
    return Venue(VENUE, feed, poll), roles, gaps

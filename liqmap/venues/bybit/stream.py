"""Bybit v5 public WebSocket (linear): the topics, the subscription and the message parsers.

Topics are subscribed with ``{"op": "subscribe", "args": [...]}`` after connecting to
``wss://stream.bybit.com/v5/public/linear``; every push is ``{"topic", "type", "ts", "data"}``.
Real frames, for reference (``tests/fixtures/frames/bybit``)::

    publicTrade.BTCUSDT     {"topic":"publicTrade.LTCUSDT","type":"snapshot","ts":1680688979985,"data":[
                             {"T":1680688979983,"s":"LTCUSDT","S":"Buy","v":"0.4","p":"94.53",
                              "L":"ZeroMinusTick","i":"4c7b6bdc-...","BT":false}]}
    tickers.BTCUSDT         {"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT",
                             "markPrice":"28552.81","indexPrice":"28562.25","openInterest":"52774.528",
                             "nextFundingTime":"1680681600000","fundingRate":"0.0001",...},"ts":1680673821770}
                            then "type":"delta" frames carrying only the fields that changed
    kline.1.BTCUSDT         {"topic":"kline.1.BTCUSDT","data":[{"start":1719667560000,"end":1719667619999,
                             "interval":"1","open":"61030","close":"61029.9","high":"61030","low":"61015",
                             "volume":"10.798","confirm":false,"timestamp":1719667601380}],...}
    allLiquidation.BTCUSDT  {"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1791565601482,"data":[
                             {"T":1791565600992,"s":"BTCUSDT","S":"Buy","v":"0.006","p":"82396.90"}, ...]}

``S`` of a trade is the taker's side; ``S`` of a liquidation is the *position's* side (``Buy``: a long
was liquidated, the opposite of Binance's order side) and ``p`` its bankruptcy price.  Parsers raise
:class:`~liqmap.frames.DataError` naming the topic and the field; a frame of another venue is named as such.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from ...frames import DataError
from ...live.events import Bar, Event, Liquidation, MarkTick, OpenInterestPoll, Trade
from ..wire import as_number, as_object, as_timestamp
from ..wire import field as _field
from ..wire import json_object, looks_like
from ..wire import number_field as _number
from ..wire import time_field as _time
from .rest import bybit_interval

DEFAULT_WS_URL = "wss://stream.bybit.com/v5/public/linear"
VENUE = "bybit"
#: Bybit asks clients to send this every 20 seconds to keep the connection.
HEARTBEAT = json.dumps({"op": "ping"})


def topics(symbol: str, interval: str = "1m") -> dict[str, str]:
    """Role -> topic for one symbol (the roles the live loop subscribes to)."""
    return {"trades": f"publicTrade.{symbol}", "mark": f"tickers.{symbol}",
            "klines": f"kline.{bybit_interval(interval)}.{symbol}", "liquidations": f"allLiquidation.{symbol}"}


def subscribe_message(names: list[str]) -> str:
    return json.dumps({"op": "subscribe", "args": names})


class BybitParser:
    """Frames -> ``(topic, events)``; ``("", None)`` for acknowledgements and pongs.

    Holds the last ticker of each symbol: deltas carry only what changed, so
    each mark tick is the snapshot with every delta applied up to it.
    """

    def __init__(self):
        self.tickers: dict[str, dict] = {}

    def __call__(self, text: str | bytes) -> tuple[str, list[Event] | None]:
        message = json_object(text)
        if "op" in message:
            if message.get("success") is False:
                raise DataError(f"bybit refused {message.get('op')!r}: {message.get('ret_msg', '')}")
            return "", None
        topic = message.get("topic")
        if not isinstance(topic, str):
            raise DataError(f"not a Bybit frame (no 'topic'; {looks_like(message)}): {str(message)[:80]}")
        kind = topic.split(".", 1)[0]
        data = message.get("data")
        if kind == "tickers":
            return topic, self._ticker(message, topic)
        parser = _LIST_PARSERS.get(kind)
        if parser is None:
            raise DataError(f"{topic}: unknown topic kind {kind!r}")
        if not isinstance(data, list):
            raise DataError(f"{topic}: field 'data' is not an array")
        return topic, [parser(item, f"{topic} data[{i}]") for i, item in enumerate(data)]

    def _ticker(self, message: dict, topic: str) -> list[Event]:
        data = message.get("data")
        if not isinstance(data, dict):
            raise DataError(f"{topic}: field 'data' is not an object")
        symbol = topic.split(".", 1)[1]
        if message.get("type") == "snapshot":
            self.tickers[symbol] = dict(data)
        elif symbol not in self.tickers:
            raise DataError(f"{topic}: a delta before the snapshot (subscribe again to get one)")
        else:
            self.tickers[symbol].update(data)
        return parse_ticker(self.tickers[symbol], as_timestamp(_field(message, "ts", topic), f"{topic}, field 'ts'"),
                            topic, "openInterest" in data)


def parse_trade(item: dict, where: str = "publicTrade") -> Trade:
    """One trade: ``S`` is the taker's side (``Sell``: the buyer was the maker); ``i`` is not a sequence."""
    side = _side(item, where)
    return Trade(time=_time(item, "T", where), price=_number(item, "p", where), quantity=_number(item, "v", where),
                 is_buyer_maker=side == "Sell")


def parse_ticker(ticker: dict, ts: int, where: str = "tickers", with_oi: bool = True) -> list[Event]:
    """The ticker state at ``ts`` -> a mark tick, and an open-interest point when the frame carried one."""
    events: list[Event] = [MarkTick(time=ts, mark=_number(ticker, "markPrice", where),
                                    index=as_number(ticker.get("indexPrice", "nan"), f"{where}, field 'indexPrice'")
                                    if ticker.get("indexPrice") not in (None, "") else math.nan,
                                    funding_rate=_number(ticker, "fundingRate", where),
                                    next_funding_ms=_time(ticker, "nextFundingTime", where))]
    if with_oi:
        events.append(OpenInterestPoll(ts, _number(ticker, "openInterest", where)))
    return events


def parse_kline(item: dict, where: str = "kline") -> Bar:
    start, end = _time(item, "start", where), _time(item, "end", where)
    closed = _field(item, "confirm", where)
    if not isinstance(closed, bool):
        raise DataError(f"{where}: field 'confirm' is {closed!r}, not true/false")
    return Bar(time=start, interval_ms=end - start + 1, open=_number(item, "open", where),
               high=_number(item, "high", where), low=_number(item, "low", where), close=_number(item, "close", where),
               volume=_number(item, "volume", where), taker_buy_volume=math.nan, closed=closed,
               event_time=_time(item, "timestamp", where))


def parse_liquidation(item: dict, where: str = "allLiquidation") -> Liquidation:
    """One liquidation: ``S = Buy`` means a long position was liquidated; ``p`` is the bankruptcy price."""
    side = _side(item, where)
    price, size = _number(item, "p", where), _number(item, "v", where)
    return Liquidation(time=_time(item, "T", where), symbol=str(_field(item, "s", where)),
                       side="long" if side == "Buy" else "short", price=price, size=size, usd=price * size,
                       venue=VENUE)


def _side(item: dict, where: str) -> str:
    side = _field(as_object(item, where), "S", where)
    if side not in ("Buy", "Sell"):
        raise DataError(f"{where}: field 'S' is {side!r}, not Buy or Sell")
    return side


_LIST_PARSERS: dict[str, Callable[[dict, str], Event]] = {"publicTrade": parse_trade, "kline": parse_kline, "allLiquidation": parse_liquidation}


def live_venue(symbol: str, client, health, *, ws_url: str = DEFAULT_WS_URL, interval: str = "1m",
               silence_s: float = 10.0, max_age_s: float = 23.5 * 3600):
    """The Bybit pieces of a live loop: ``(Venue, StreamRoles, GapSource)`` (``client``: a BybitClient)."""
    from ...live.connection import FeedConfig, StreamFeed
    from ...live.session import rest_gaps

    from ...live.loop import Venue
    from ...live.state import StreamRoles

    names = topics(symbol, interval)
    roles = StreamRoles(trades=names["trades"], mark=names["mark"], klines=names["klines"],
                        liquidations=names["liquidations"], open_interest=f"{names['mark']} openInterest")
    config = FeedConfig(url=ws_url, streams=tuple(names.values()), watched=(names["mark"],), silence_s=silence_s,
                        max_age_s=max_age_s, subscribe=(subscribe_message(list(names.values())),),
                        heartbeat=HEARTBEAT)
    feed = StreamFeed(config, BybitParser(), health)
    gaps, poll = rest_gaps(client, symbol, interval)
    return Venue(VENUE, feed, poll), roles, gaps

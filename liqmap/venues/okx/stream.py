"""OKX v5 public WebSocket (swaps): the channels, the subscription and the message parsers.

Two connections: ``/ws/v5/public`` carries ``trades``, ``mark-price``, ``open-interest`` and
``liquidation-orders``; ``/ws/v5/business`` carries the candles (``candle1m``).  Channels are subscribed
with ``{"op": "subscribe", "args": [{"channel": ..., "instId": ...}]}``; a text ``ping`` every 20 s keeps
a connection (OKX cuts one silent for 30 s).  Every push is ``{"arg": {"channel", ...}, "data": [...]}``.
Real frames, for reference (``tests/fixtures/frames/okx``)::

    trades              {"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP",
                         "tradeId":"148266905","px":"48938.5","sz":"5","side":"buy","ts":"1640131236050"}]}
    mark-price          {"arg":{"channel":"mark-price","instId":"WNCG-USDT-SWAP"},"data":[{"markPx":"2.1729",
                         "ts":"1640131259180",...}]}
    open-interest       {"arg":{...},"data":[{"oi":"644195","oiCcy":"644195","ts":"1640131258756",...}]}
    liquidation-orders  {"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId":"BTC-USDT-SWAP",
                         "details":[{"bkLoss":"0","bkPx":"82655.7","ccy":"","posSide":"long","side":"sell",
                         "sz":"8.55","ts":"1791565600771"}],...}]}

Sizes (``sz``, ``oi``, candle ``vol``) are contracts: times ``ctVal`` they are base units.  ``side`` of a
liquidation is the liquidation *order's* side (``sell``: a long was liquidated), ``posSide`` the position's
(``net`` in one-way mode, where only ``side`` tells), ``bkPx`` the bankruptcy price.  The liquidation
channel carries every swap: other instruments are dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from ...frames import MS_PER_MINUTE, DataError
from ...live.events import Bar, Event, Liquidation, MarkTick, OpenInterestPoll, Trade
from ..wire import as_number, as_timestamp
from ..wire import as_object as _item
from ..wire import field as _field
from ..wire import json_object, looks_like
from ..wire import number_field as _number
from ..wire import time_field as _time
from .rest import inst_id, okx_bar

DEFAULT_WS_URL = "wss://ws.okx.com:8443/ws/v5/public"
VENUE = "okx"
HEARTBEAT = "ping"


def business_url(public_url: str) -> str:
    """The candles' route beside the public one (``.../ws/v5/public`` -> ``.../ws/v5/business``)."""
    if not public_url.rstrip("/").endswith("/public"):
        raise ValueError(f"--ws-url {public_url!r}: expected OKX's public route ending in /ws/v5/public")
    return public_url.rstrip("/")[: -len("public")] + "business"


def channels(symbol: str, interval: str = "1m") -> dict[str, dict]:
    """Role -> subscription argument for one symbol."""
    instrument = inst_id(symbol)
    return {"trades": {"channel": "trades", "instId": instrument},
            "mark": {"channel": "mark-price", "instId": instrument},
            "open_interest": {"channel": "open-interest", "instId": instrument},
            "liquidations": {"channel": "liquidation-orders", "instType": "SWAP"},
            "klines": {"channel": f"candle{okx_bar(interval)}", "instId": instrument}}


def stream_name(arg: dict) -> str:
    """How the feed tags a channel: ``trades:BTC-USDT-SWAP``, ``liquidation-orders:SWAP``."""
    return f"{arg.get('channel')}:{arg.get('instId') or arg.get('instType')}"


def subscribe_message(args: list[dict]) -> str:
    return json.dumps({"op": "subscribe", "args": args})


class OkxParser:
    """Frames of one swap -> ``(channel:instId, events)``; ``("", None)`` for acknowledgements and pongs."""

    def __init__(self, symbol: str, ct_val: float, interval_ms: int = MS_PER_MINUTE):
        self.symbol, self.instrument, self.ct_val, self.interval_ms = symbol, inst_id(symbol), ct_val, interval_ms

    def __call__(self, text: str | bytes) -> tuple[str, list[Event] | None]:
        if text in ("pong", b"pong"):
            return "", None
        message = json_object(text)
        if "event" in message:
            if message["event"] == "error":
                raise DataError(f"okx refused a request: code {message.get('code')} ({message.get('msg', '')})")
            return "", None
        arg = message.get("arg")
        if not isinstance(arg, dict) or "channel" not in arg:
            raise DataError(f"not an OKX frame (no 'arg.channel'; {looks_like(message)}): {str(message)[:80]}")
        name, channel = stream_name(arg), str(arg["channel"])
        data = message.get("data")
        if not isinstance(data, list):
            raise DataError(f"{name}: field 'data' is not an array")
        if channel == "liquidation-orders":
            return name, [liq for i, item in enumerate(data) if _item(item, f"{name} data[{i}]").get("instId")
                          == self.instrument for liq in self.liquidations(item, f"{name} data[{i}]")]
        if arg.get("instId") != self.instrument:
            raise DataError(f"{name}: a frame of {arg.get('instId')!r}, not {self.instrument}")
        if channel.startswith("candle"):
            return name, [self.bar(row, f"{name} data[{i}]") for i, row in enumerate(data)]
        parser = _PARSERS.get(channel)
        if parser is None:
            raise DataError(f"{name}: unknown channel {channel!r}")
        return name, [parser(self, _item(item, f"{name} data[{i}]"), f"{name} data[{i}]") for i, item in enumerate(data)]

    def trade(self, item: dict, where: str) -> Trade:
        side = _field(item, "side", where)
        if side not in ("buy", "sell"):
            raise DataError(f"{where}: field 'side' is {side!r}, not buy or sell")
        return Trade(time=_time(item, "ts", where), price=_number(item, "px", where),
                     quantity=_number(item, "sz", where) * self.ct_val, is_buyer_maker=side == "sell",
                     trade_id=_time(item, "tradeId", where))

    def mark(self, item: dict, where: str) -> MarkTick:
        """The mark price (the channel carries no index or funding: NaN there)."""
        return MarkTick(time=_time(item, "ts", where), mark=_number(item, "markPx", where), index=math.nan,
                        funding_rate=math.nan, next_funding_ms=0)

    def open_interest(self, item: dict, where: str) -> OpenInterestPoll:
        return OpenInterestPoll(_time(item, "ts", where), _number(item, "oi", where) * self.ct_val)

    def liquidations(self, item: dict, where: str) -> list[Liquidation]:
        details = _field(item, "details", where)
        if not isinstance(details, list):
            raise DataError(f"{where}: field 'details' is not an array")
        out = []
        for k, d in enumerate(details):
            at = f"{where} details[{k}]"
            d = _item(d, at)
            side, pos = _field(d, "side", at), d.get("posSide", "net")
            if side not in ("buy", "sell") or pos not in ("long", "short", "net"):
                raise DataError(f"{at}: side {side!r} / posSide {pos!r} is not sell/long, buy/short or net")
            position = pos if pos != "net" else ("long" if side == "sell" else "short")
            price, size = _number(d, "bkPx", at), _number(d, "sz", at) * self.ct_val
            out.append(Liquidation(time=_time(d, "ts", at), symbol=self.symbol, side=position, price=price, size=size,
                                   usd=price * size, venue=VENUE))
        return out

    def bar(self, row: Any, where: str) -> Bar:
        """[ts, o, h, l, c, vol (contracts), volCcy, volCcyQuote, confirm] -> a bar (``confirm`` "1": closed)."""
        if not isinstance(row, list) or len(row) < 9:
            raise DataError(f"{where}: expected a list of 9 fields, got {str(row)[:80]}")
        start = as_timestamp(row[0], f"{where}, field 0 (ts)")
        closed = str(row[8]) == "1"
        num = [as_number(row[k], f"{where}, field {k}") for k in range(1, 6)]
        return Bar(time=start, interval_ms=self.interval_ms, open=num[0], high=num[1], low=num[2], close=num[3],
                   volume=num[4] * self.ct_val, taker_buy_volume=math.nan, closed=closed,
                   event_time=start + self.interval_ms if closed else start)


_PARSERS: dict[str, Callable[[OkxParser, dict, str], Event]] = {
    "trades": OkxParser.trade, "mark-price": OkxParser.mark, "open-interest": OkxParser.open_interest}


def live_venue(symbol: str, client, health, *, ws_url: str = DEFAULT_WS_URL, interval: str = "1m",
               silence_s: float = 10.0, max_age_s: float = 23.5 * 3600):
    """The OKX pieces of a live loop: ``(Venue, StreamRoles, GapSource)`` (``client``: an OkxClient)."""
    from ...live.connection import FeedConfig, FeedGroup, StreamFeed
    from ...live.loop import Venue
    from ...live.session import rest_gaps
    from ...live.state import StreamRoles
    from ...timeutil import parse_span

    args = channels(symbol, interval)
    names = {role: stream_name(arg) for role, arg in args.items()}
    roles = StreamRoles(trades=names["trades"], mark=names["mark"], klines=names["klines"],
                        liquidations=names["liquidations"], open_interest=names["open_interest"])
    parser = OkxParser(symbol, client.contract_value(symbol), parse_span(interval, "--interval"))
    public = [args[role] for role in ("trades", "mark", "open_interest", "liquidations")]
    feeds = [StreamFeed(FeedConfig(url=url, streams=tuple(stream_name(a) for a in subs), watched=watched,
                                   silence_s=silence_s, max_age_s=max_age_s, subscribe=(subscribe_message(subs),),
                                   heartbeat=HEARTBEAT), parser, health)
             for url, subs, watched in ((ws_url, public, (names["mark"],)),
                                        (business_url(ws_url), [args["klines"]], ()))]
    gaps, poll = rest_gaps(client, symbol, interval)
    return Venue(VENUE, FeedGroup(feeds), poll), roles, gaps

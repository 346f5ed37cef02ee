"""LiveMarket on its own: which bars take their mark candle from the ticks, and funding after a settlement."""

from __future__ import annotations

import asyncio

import numpy as np

from liqmap.frames import Candles, Funding, MarketData, OpenInterest
from liqmap.live.events import Bar, MarkTick
from liqmap.live.health import Health
from liqmap.live.state import GapSource, LiveMarket, StreamRoles

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
M = 60_000
ROLES = StreamRoles("t", "mark", "kline", "liq")


def candles(times, price, kind="last"):
    n = len(times)
    return Candles(time=np.array(times, np.int64), open=[price] * n, high=[price + 1] * n, low=[price - 1] * n,
                   close=[price] * n, volume=[1.0] * n, taker_buy_volume=[0.5] * n, interval_ms=M, price_kind=kind)


class Exchange:
    """What REST would answer: every bar at price 50, funding settled at 08:00."""

    def __init__(self):
        self.calls = []

    async def klines(self, start, end, mark):
        self.calls.append(("mark" if mark else "klines", start, end))
        return candles(list(range(start, end, M)), 50.0, "mark" if mark else "last")

    async def open_interest(self, start, end):
        return OpenInterest(time=[], oi=[], oi_value=[])

    async def funding(self, start, end):
        self.calls.append(("funding", start, end))
        settled = [t for t in (T0 + 8 * 3_600_000,) if start <= t < end]
        return Funding(time=settled, rate=[0.0003] * len(settled), interval_ms=8 * 3_600_000)


def market(exchange):
    history = MarketData("BTCUSDT", "binance", candles([T0, T0 + M], 100.0), candles([T0, T0 + M], 100.0, "mark"),
                         OpenInterest(time=[T0, T0 + M], oi=[10.0, 11.0], oi_value=[np.nan, np.nan]),
                         Funding(time=[T0], rate=[0.0001], interval_ms=8 * 3_600_000))
    return LiveMarket(history, ROLES, Health(), GapSource(exchange.klines, exchange.open_interest, exchange.funding))


def ticks(live, start, end, price, next_funding=T0 + 8 * 3_600_000):
    for t in range(start, end, 1000):
        live.on_event("mark", MarkTick(t, price, price, 0.0001, next_funding))


def bar(t, price):
    return Bar(t, M, price, price + 2, price - 2, price, 3.0, 1.0, True, t + M + 1)


def test_a_bar_seen_whole_takes_its_ticks_and_a_bar_after_an_outage_takes_rest():
    exchange = Exchange()
    live = market(exchange)
    first = T0 + 2 * M
    # connected from the start of the first live bar: its 60 ticks make its mark candle
    ticks(live, first, first + M, 200.0)
    live.on_event("kline", bar(first, 200.0))
    # the second bar: ticks for 20 s, then the connection drops for 30 s
    ticks(live, first + M, first + M + 20_000, 201.0)
    live.on_disconnect()
    ticks(live, first + M + 50_000, first + 2 * M, 202.0)
    live.on_event("kline", bar(first + M, 201.0))
    assert asyncio.run(live.advance()) == 2
    m = live.market()
    assert m.mark_candles.time.tolist() == [T0, T0 + M, first, first + M]
    assert m.mark_candles.close.tolist() == [100.0, 100.0, 200.0, 50.0]  # the second from REST
    assert m.candles.close.tolist() == [100.0, 100.0, 200.0, 201.0]  # both klines from the stream
    assert exchange.calls == [("mark", first + M, first + 2 * M)]
    assert live.health.streams["mark"].gaps_backfilled == 1


def test_a_missed_kline_is_read_from_rest_once_its_time_has_passed():
    exchange = Exchange()
    live = market(exchange)
    first = T0 + 2 * M
    ticks(live, first, first + M + 4_000, 200.0)  # data time passes the bar's end and the grace: kline missed
    assert asyncio.run(live.advance()) == 1
    assert live.market().candles.close.tolist()[-1] == 50.0 and ("klines", first, first + M) in exchange.calls
    assert live.market().mark_candles.close.tolist()[-1] == 200.0  # the ticks were whole


def test_funding_after_a_settlement_is_the_rate_the_stream_showed():
    exchange = Exchange()
    live = market(exchange)
    settle = T0 + 8 * 3_600_000
    # the first tick: what settled since the backfill is asked of REST (nothing yet)
    live.on_event("mark", MarkTick(settle - 1000, 100.0, 100.0, 0.0003, settle))
    assert asyncio.run(live.fill_funding()) == 0
    assert exchange.calls == [("funding", T0 + 1, settle - 1000 + 1)]
    # the next funding time moves on: the rate shown before (0.0003) was settled at 08:00
    live.on_event("mark", MarkTick(settle, 100.0, 100.0, 0.0001, settle + 8 * 3_600_000))
    assert live.market().funding.time.tolist() == [T0, settle]
    assert live.market().funding.rate.tolist() == [0.0001, 0.0003]
    assert asyncio.run(live.fill_funding()) == 0 and len(exchange.calls) == 1


def test_a_late_funding_rate_is_not_added_to_bars_the_book_holds():
    exchange = Exchange()
    live = market(exchange)
    live.next_bar = T0 + 9 * 3_600_000  # the book is an hour past the settlement
    assert live._add_funding([T0 + 8 * 3_600_000], [0.0003]) == 0
    assert "funding settled at 2026-01-01T08:00:00Z is known only after the book moved past it" in \
        live.health.streams["mark"].fault

"""OKX stream parsers on recorded frames (contracts x ctVal), and ``liqmap live --venue okx`` against the local
OKX server (public and business routes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.live.events import Liquidation, OpenInterestPoll, Trade
from liqmap.live.loop import LiveOptions
from liqmap.sources.cache import Store
from liqmap.venues import get
from liqmap.venues.okx.rest import OkxClient
from liqmap.venues.okx.stream import OkxParser, business_url
from tests.exchange_servers.base import Faults
from tests.exchange_servers.drive import assert_bars_are, run_to_end
from tests.exchange_servers.tape import synthetic_tape

from tests.venues.frames import frame, frame_text
from tests.exchange_servers.okx import OkxServer

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
HISTORY_MIN, LIVE_MIN = 120, 10


def test_liquidations_sell_long_is_a_long_in_base_units_and_other_swaps_are_dropped():
    name, events = OkxParser("BTCUSDT", 0.01)(frame_text("okx", "ws_liquidation_orders"))
    assert name == "liquidation-orders:SWAP"
    # 8.55 contracts of 0.01 BTC at the bankruptcy price 82,655.7
    assert events == [Liquidation(1791565600771, "BTCUSDT", "long", 82655.7, 8.55 * 0.01, 82655.7 * 8.55 * 0.01, "okx")]
    assert OkxParser("BTCUSDT", 0.01)(frame_text("okx", "ws_liquidation_orders_short")) == ("liquidation-orders:SWAP", [])
    _, (short,) = OkxParser("CELOUSDT", 10.0)(frame_text("okx", "ws_liquidation_orders_short"))
    assert (short.side, short.size) == ("short", 199790.0)
    net = frame("okx", "ws_liquidation_orders")
    net["data"][0]["details"][0]["posSide"] = "net"  # one-way mode: only the order side tells
    assert OkxParser("BTCUSDT", 0.01)(json.dumps(net))[1][0].side == "long"


def test_trades_mark_and_open_interest():
    _, (trade,) = OkxParser("BTCUSDT", 0.01)(frame_text("okx", "ws_trades_usdt_swap"))
    assert trade == Trade(1640131236050, 48938.5, 0.05, False, 148266905)  # 5 contracts = 0.05 BTC, taker bought
    _, (tick,) = OkxParser("WNCGUSDT", 1.0)(frame_text("okx", "ws_mark_price"))
    assert (tick.time, tick.mark) == (1640131259180, 2.1729) and math.isnan(tick.funding_rate)
    _, (oi,) = OkxParser("WNCGUSDT", 1.0)(frame_text("okx", "ws_open_interest"))
    assert oi == OpenInterestPoll(1640131258756, 644195.0)


def test_other_venues_frames_other_instruments_and_bad_fields_are_named():
    parser = OkxParser("BTCUSDT", 0.01)
    with pytest.raises(DataError, match="not an OKX frame .*a Bybit frame"):
        parser(json.dumps({"topic": "tickers.BTCUSDT", "data": {}}))
    with pytest.raises(DataError, match="a Binance frame"):
        parser(json.dumps({"stream": "btcusdt@aggTrade", "data": {}}))
    with pytest.raises(DataError, match="mark-price:WNCG-USDT-SWAP: a frame of 'WNCG-USDT-SWAP', not BTC-USDT-SWAP"):
        parser(frame_text("okx", "ws_mark_price"))
    bad = frame("okx", "ws_liquidation_orders")
    bad["data"][0]["details"][0]["sz"] = "lots"
    with pytest.raises(DataError, match=r"data\[0\] details\[0\], field 'sz': 'lots' is not a number"):
        parser(json.dumps(bad))
    assert parser("pong") == ("", None)
    assert parser(json.dumps({"event": "subscribe", "arg": {"channel": "trades"}})) == ("", None)
    with pytest.raises(DataError, match="okx refused a request: code 60012"):
        parser(json.dumps({"event": "error", "code": "60012", "msg": "Invalid request"}))
    assert business_url("wss://ws.okx.com:8443/ws/v5/public") == "wss://ws.okx.com:8443/ws/v5/business"


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=HISTORY_MIN + LIVE_MIN, trades_per_second=1.0)


def run_live(tape, tmp_path, faults=None, speed=600.0):
    options = LiveOptions(window_ms=60 * MINUTE, map_every_s=0.05, oi_every_s=0.03)
    with OkxServer(tape, START + HISTORY_MIN * MINUTE, speed=speed, faults=faults) as server:
        loop, _ = get("okx").open_live("btcusdt", Store(tmp_path, "okx"), options, rest_url=server.rest_url,
                                       ws_url=server.ws_url, silence_s=1.0)
        run_to_end(loop, tape.end_ms)
        client = OkxClient(server.rest_url)
        truth = client.klines("BTCUSDT", START, tape.end_ms), client.klines("BTCUSDT", START, tape.end_ms, mark=True)
        client.close()
    return loop, server, truth


def assert_whole(loop, tape, truth):
    """The final map's bars are the exchange's whole series, its open interest the tape's (at bar ends the last
    value of the bar), in base units, its venue OKX."""
    market = loop.latest.market
    candles, mark = truth
    assert market.exchange == "okx" and loop.latest.maps[0].exchange == "okx"
    assert_bars_are(market, candles, mark)
    oi = market.open_interest
    assert (np.diff(oi.time) > 0).all() and int(oi.time[-1]) >= tape.end_ms - MINUTE
    live_start = START + HISTORY_MIN * MINUTE
    for t, v in zip(oi.time.tolist(), oi.oi.tolist()):
        held = [tape.oi_at(t)[1]] if t <= live_start else [tape.oi_at(s)[1] for s in range(t - MINUTE + 1000, t + 1, 1000)]
        assert min(abs(v - h) for h in held) < 1e-9, (t, v)


def test_live_streams_feed_the_loop_and_record_liquidations(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path)
    assert_whole(loop, tape, truth)
    assert server.log["connections /ws/v5/business"] >= 1 and server.log["connections /ws/v5/public"] >= 1
    live = [x for x in tape.liquidations if START + HISTORY_MIN * MINUTE <= x[0] < tape.end_ms]
    got = list(loop.market.liquidations)
    assert [(x.time, x.side, x.symbol) for x in got] == [(t, "long" if s == "SELL" else "short", "BTCUSDT")
                                                         for t, s, _, _ in live][-20:]  # the DOGE ones dropped
    stored = Store(tmp_path, "okx").read("BTCUSDT", "forceOrders", START, tape.end_ms + 1)
    assert stored is not None and len(stored) == len(live)


# stalls and unserved channels run slower, so that the exchange still streams after the watchdog's second
@pytest.mark.parametrize("faults, sign, speed", [
    (Faults(drop_after_frames=150), "dropped connections", 600.0),
    (Faults(stall_at_ms=START + (HISTORY_MIN + 3) * MINUTE, stall_wall_s=30.0), "stalls", 120.0),
    (Faults(garbage_every=40), "garbage frames", 600.0),
    (Faults(unserved_first_connection=("mark-price:BTC-USDT-SWAP",)), "connections /ws/v5/public", 120.0),
    (Faults(rest_status={"/api/v5/market/history-candles": [(429, 1)], "/api/v5/public/open-interest": [(429, 1)]}),
     "HTTP 429 /api/v5/market/history-candles", 600.0),
])
def test_faults_end_in_the_whole_series(tape, tmp_path, faults, sign, speed):
    loop, server, truth = run_live(tape, tmp_path, faults, speed)
    assert server.log[sign] >= 1
    assert_whole(loop, tape, truth)
    if sign == "garbage frames":
        assert sum(s.malformed for s in loop.health.streams.values()) >= server.log["garbage frames"] // 2
    if sign.startswith("connections"):
        assert server.log[sign] >= 2  # the silent mark price recycled the first public connection
        assert "mark-price:BTC-USDT-SWAP: silent for" in " ".join(loop.health.events)
    if sign.startswith("HTTP 429"):
        assert loop.health.rate_limited == 2

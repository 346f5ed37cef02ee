"""Bybit stream parsers on recorded frames, and ``liqmap live --venue bybit`` against the local Bybit server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.live.events import Liquidation, MarkTick, OpenInterestPoll, Trade
from liqmap.live.loop import LiveOptions
from liqmap.sources.cache import Store
from liqmap.venues import get
from liqmap.venues.bybit.rest import BybitClient
from liqmap.venues.bybit.stream import BybitParser
from tests.exchange_servers.base import Faults
from tests.exchange_servers.drive import assert_bars_are, run_to_end
from tests.exchange_servers.tape import synthetic_tape

from tests.exchange_servers.bybit import BybitServer
from tests.venues.frames import frame, frame_text

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
HISTORY_MIN, LIVE_MIN = 120, 10


def test_liquidations_buy_means_a_long_was_liquidated_at_the_bankruptcy_price():
    topic, events = BybitParser()(frame_text("bybit", "ws_allLiquidation"))
    assert topic == "allLiquidation.BTCUSDT"
    assert events == [Liquidation(1791565600992, "BTCUSDT", "long", 82396.90, 0.006, 82396.90 * 0.006, "bybit"),
                      Liquidation(1791565601058, "BTCUSDT", "long", 82394.30, 0.038, 82394.30 * 0.038, "bybit")]
    _, (older,) = BybitParser()(frame_text("bybit", "ws_allLiquidation_2025"))
    assert older.side == "short"


def test_trades_taker_side():
    topic, (trade,) = BybitParser()(frame_text("bybit", "ws_publicTrade"))
    assert topic == "publicTrade.LTCUSDT"
    assert trade == Trade(1680688979983, 94.53, 0.4, False)  # S = Buy: the taker bought


def test_ticker_snapshot_then_delta():
    parser = BybitParser()
    topic, (tick, oi) = parser(frame_text("bybit", "ws_tickers"))
    assert topic == "tickers.BTCUSDT"
    assert tick == MarkTick(1680673821770, 28552.81, 28562.25, 0.0001, 1680681600000)
    assert oi == OpenInterestPoll(1680673821770, 52774.528)
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "ts": 1680673821870,
             "data": {"symbol": "BTCUSDT", "markPrice": "28553.10"}}
    _, (tick,) = parser(json.dumps(delta))  # no open interest in it: only the tick, the rest carried over
    assert tick == MarkTick(1680673821870, 28553.10, 28562.25, 0.0001, 1680681600000)
    with pytest.raises(DataError, match="a delta before the snapshot"):
        BybitParser()(json.dumps(delta))


def test_kline_bar():
    _, (bar,) = BybitParser()(frame_text("bybit", "ws_kline"))
    assert (bar.time, bar.interval_ms, bar.open, bar.close, bar.volume, bar.closed) == (
        1719667560000, 60_000, 61030.0, 61029.9, 10.798, False)


def test_other_venues_frames_and_bad_fields_are_named():
    parser = BybitParser()
    binance = json.dumps({"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade"}})
    with pytest.raises(DataError, match="not a Bybit frame .*a Binance frame"):
        parser(binance)
    with pytest.raises(DataError, match="an OKX frame"):
        parser(json.dumps({"arg": {"channel": "trades"}, "data": []}))
    bad = frame("bybit", "ws_allLiquidation")
    bad["data"][1]["S"] = "Long"
    with pytest.raises(DataError, match=r"allLiquidation.BTCUSDT data\[1\]: field 'S' is 'Long', not Buy or Sell"):
        parser(json.dumps(bad))
    with pytest.raises(DataError, match="not JSON"):
        parser("<html>502 Bad Gateway</html>")
    assert parser(json.dumps({"success": True, "ret_msg": "", "op": "subscribe"})) == ("", None)


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=HISTORY_MIN + LIVE_MIN, trades_per_second=1.0)


def run_live(tape, tmp_path, faults=None, speed=600.0):
    options = LiveOptions(window_ms=60 * MINUTE, map_every_s=0.05, oi_every_s=0.03)
    with BybitServer(tape, START + HISTORY_MIN * MINUTE, speed=speed, faults=faults) as server:
        loop, _ = get("bybit").open_live("btcusdt", Store(tmp_path, "bybit"), options, rest_url=server.rest_url,
                                         ws_url=server.ws_url, silence_s=1.0)
        run_to_end(loop, tape.end_ms)
        client = BybitClient(server.rest_url)
        truth = client.klines("BTCUSDT", START, tape.end_ms), client.klines("BTCUSDT", START, tape.end_ms, mark=True)
        client.close()
    return loop, server, truth


def assert_whole(loop, tape, truth):
    """The final map's bars are the exchange's whole series, its open interest the tape's (at bar ends the last
    value of the bar), its venue Bybit."""
    market = loop.latest.market
    candles, mark = truth
    assert market.exchange == "bybit" and loop.latest.maps[0].exchange == "bybit"
    assert_bars_are(market, candles, mark)
    oi = market.open_interest
    assert (np.diff(oi.time) > 0).all() and int(oi.time[-1]) >= tape.end_ms - MINUTE
    live_start = START + HISTORY_MIN * MINUTE
    for t, v in zip(oi.time.tolist(), oi.oi.tolist()):
        if t <= live_start:  # the 5-minute history
            assert v == tape.oi_at(t)[1]
        else:  # at each bar's end, the last value streamed or polled in that bar
            assert t % MINUTE == 0 and v in {tape.oi_at(s)[1] for s in range(t - MINUTE + 1000, t + 1, 1000)}


def test_live_streams_feed_the_loop_and_record_liquidations(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path)
    assert_whole(loop, tape, truth)
    health = loop.health
    assert health.streams["tickers.BTCUSDT"].messages > 0 and health.streams["publicTrade.BTCUSDT"].messages > 0
    live = [x for x in tape.liquidations if START + HISTORY_MIN * MINUTE <= x[0] < tape.end_ms]
    got = list(loop.market.liquidations)
    assert [(x.time, x.side) for x in got] == [(t, "long" if s == "SELL" else "short") for t, s, _, _ in live][-20:]
    stored = Store(tmp_path, "bybit").read("BTCUSDT", "forceOrders", START, tape.end_ms + 1)
    assert stored is not None and len(stored) == len(live)


# stalls and unserved topics run slower, so that the exchange still streams after the watchdog's second
@pytest.mark.parametrize("faults, sign, speed", [
    (Faults(drop_after_frames=150), "dropped connections", 600.0),
    (Faults(stall_at_ms=START + (HISTORY_MIN + 3) * MINUTE, stall_wall_s=30.0), "stalls", 120.0),
    (Faults(garbage_every=40), "garbage frames", 600.0),
    (Faults(unserved_first_connection=("tickers.BTCUSDT",)), "connections", 120.0),
    (Faults(rest_status={"/v5/market/kline": [(429, 1)], "/v5/market/tickers": [(429, 1)]}), "HTTP 429 /v5/market/kline",
     600.0),
])
def test_faults_end_in_the_whole_series(tape, tmp_path, faults, sign, speed):
    loop, server, truth = run_live(tape, tmp_path, faults, speed)
    assert server.log[sign] >= 1
    assert_whole(loop, tape, truth)
    if sign == "garbage frames":
        assert sum(s.malformed for s in loop.health.streams.values()) >= server.log["garbage frames"] // 2
    if sign == "connections":
        assert server.log["connections"] >= 2  # the silent tickers topic recycled the first connection
        assert loop.health.streams["tickers.BTCUSDT"].fault == "" and "tickers.BTCUSDT: silent for" in " ".join(
            loop.health.events)
    if sign.startswith("HTTP 429"):
        assert loop.health.rate_limited == 2

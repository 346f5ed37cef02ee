"""Hyperliquid stream parsers on recorded frames, and ``liqmap live --venue hyperliquid`` against the local
Hyperliquid server: normal flow and each fault end in the exchange's whole series, and the live map equals
a whole build on the same data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from liqmap.frames import OpenInterest, DataError
from liqmap.live.events import Bar, MarkTick, OpenInterestPoll, Trade
from liqmap.live.loop import LiveOptions, compute_maps
from liqmap.live.screen import render
from liqmap.sources.cache import Store
from liqmap.venues import get
from liqmap.venues.hyperliquid.rest import HyperliquidClient
from liqmap.venues.hyperliquid.stream import HyperliquidParser
from tests.exchange_servers.base import Faults
from tests.exchange_servers.drive import assert_bars_are, run_to_end
from tests.exchange_servers.hyperliquid import HyperliquidServer
from tests.exchange_servers.tape import synthetic_tape
from tests.venues.frames import frame, frame_text

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
HISTORY_MIN, LIVE_MIN = 120, 10
WINDOW_MS = 60 * MINUTE


def test_trades_side_is_the_takers():
    name, trades = HyperliquidParser("BTC")(frame_text("hyperliquid", "ws_trades"))
    assert name == "trades:BTC"
    assert trades == [Trade(1730160006192, 69997.0, size, False) for size in (0.38111, 0.33458, 0.83613)]


def test_the_untimed_asset_context_takes_the_newest_exchange_time():
    parser = HyperliquidParser("MOODENG")
    ctx = frame_text("hyperliquid", "ws_activeAssetCtx")
    assert parser(ctx) == ("activeAssetCtx:MOODENG", [])  # no exchange time seen yet
    trades = frame("hyperliquid", "ws_trades")
    for item in trades["data"]:
        item["coin"] = "MOODENG"
    parser(json.dumps(trades))
    _, (tick, oi) = parser(ctx)
    # 1730160006192 is 00:00:06 past the hour 1730160000000: funding settles at the next one
    assert tick == MarkTick(1730160006192, 0.19963, 0.1995, 0.00004863, 1730163600000)
    assert oi == OpenInterestPoll(1730160006192, 18617460.0)


def candle(t: int, close: str, n: int) -> str:
    return json.dumps({"channel": "candle", "data": {"t": t, "T": t + MINUTE - 1, "s": "BTC", "i": "1m", "o": "100.0",
                                                     "c": close, "h": "102.0", "l": "99.0", "v": f"{n}.5", "n": n}})


def test_a_candle_closes_when_the_next_minute_begins():
    parser = HyperliquidParser("BTC")
    _, (forming,) = parser(candle(0, "101.0", 2))
    assert not forming.closed and forming.close == 101.0
    parser(candle(0, "101.5", 5))
    assert parser(candle(0, "101.2", 4)) == ("candle:BTC:1m", [])  # an older state (the other connection)
    _, (closed, nxt) = parser(candle(MINUTE, "101.7", 1))
    assert closed == Bar(0, MINUTE, 100.0, 102.0, 99.0, 101.5, 5.5, closed.taker_buy_volume, True, MINUTE)
    assert np.isnan(closed.taker_buy_volume) and not nxt.closed
    parser.connection_lost()  # every connection lost: minute 1's candle may miss pushes
    _, events = parser(candle(2 * MINUTE, "101.9", 3))
    assert [e.closed for e in events] == [False]


def test_other_venues_frames_and_bad_fields_are_named():
    parser = HyperliquidParser("BTC")
    with pytest.raises(DataError, match="not a Hyperliquid frame .*a Bybit frame"):
        parser(frame_text("bybit", "ws_publicTrade"))
    with pytest.raises(DataError, match="not a Hyperliquid frame .*a Binance frame"):
        parser(frame_text("binance", "ws_aggTrade"))
    with pytest.raises(DataError, match="an OKX frame"):
        parser(frame_text("okx", "ws_trades_usdt_swap"))
    with pytest.raises(DataError, match="activeAssetCtx: a frame of 'MOODENG', not BTC"):
        parser(frame_text("hyperliquid", "ws_activeAssetCtx"))
    bad = frame("hyperliquid", "ws_trades")
    bad["data"][1]["side"] = "S"
    with pytest.raises(DataError, match=r"trades data\[1\]: field 'side' is 'S', not A or B"):
        parser(json.dumps(bad))
    with pytest.raises(DataError, match="hyperliquid refused a request: Invalid subscription"):
        parser(json.dumps({"channel": "error", "data": "Invalid subscription {\"type\": \"liquidations\"}"}))
    assert parser(json.dumps({"channel": "pong"})) == ("", None)


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=HISTORY_MIN + LIVE_MIN, trades_per_second=1.0)


def run_live(tape, tmp_path, faults=None, speed=600.0, **session):
    # metaAndAssetCtxs weighs 20: a poll a second keeps well inside the client's budget (the stream carries
    # the open interest as well)
    options = LiveOptions(window_ms=WINDOW_MS, map_every_s=0.05, oi_every_s=1.0)
    with HyperliquidServer(tape, START + HISTORY_MIN * MINUTE, speed=speed, faults=faults) as server:
        loop, notes = get("hyperliquid").open_live("BTC", Store(tmp_path, "hyperliquid"), options,
                                                   rest_url=server.rest_url, ws_url=server.ws_url,
                                                   **{"silence_s": 1.0, **session})
        run_to_end(loop, tape.end_ms)
        client = HyperliquidClient(server.rest_url)
        truth = client.klines("BTCUSDT", START, tape.end_ms)
        client.close()
    return loop, server, truth, notes


def assert_whole(loop, tape, truth):
    """The final map's bars are the exchange's whole series, its open interest what the exchange served (at
    each live bar's end a value of that bar), and the live map equals a whole build on the same data."""
    market = loop.latest.market
    assert market.exchange == "hyperliquid" and market.symbol == "BTCUSDT"
    assert_bars_are(market, truth)
    assert market.mark_candles is None  # Hyperliquid has no mark-price candles: the book triggers on last price
    oi = market.open_interest
    live_start = START + HISTORY_MIN * MINUTE
    assert int(oi.time[0]) == live_start and oi.oi[0] == tape.oi_at(live_start)[1]  # the current value only
    for t, v in zip(oi.time[1:].tolist(), oi.oi[1:].tolist()):
        assert v in {tape.oi_at(s)[1] for s in range(t - MINUTE, t + 1, 1000)}
    assert int(oi.time[-1]) >= tape.end_ms - MINUTE
    assert_whole_map(loop)


def assert_whole_map(loop):
    market = loop.latest.market
    whole = compute_maps(market, market.end_ms, WINDOW_MS, ("all",))[0]
    live = loop.latest.maps[0]
    assert live.as_of_ms == whole.as_of_ms == market.end_ms
    np.testing.assert_allclose(live.long, whole.long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(live.short, whole.short, rtol=1e-9, atol=1e-6)
    assert live.long.sum() > 0 and live.short.sum() > 0


def test_live_streams_feed_the_loop_and_say_there_are_no_liquidations(tape, tmp_path):
    loop, server, truth, notes = run_live(tape, tmp_path)
    assert_whole(loop, tape, truth)
    health = loop.health.streams
    assert health["trades:BTC"].messages > 0 and LIVE_MIN * 60 - 3 <= health["activeAssetCtx:BTC"].messages <= LIVE_MIN * 60
    assert health["candle:BTC:1m"].gaps_backfilled == 0 and health["connection"].reconnects == 0
    assert server.log["refused subscriptions"] == 0 and loop.market.liquidations.maxlen and not loop.market.liquidations
    console = Console(record=True, width=200)
    console.print(render(loop))
    text = console.export_text()
    assert "realized liquidations: none to show: Hyperliquid publishes no public liquidation stream" in text
    assert "liquidations: no stream: Hyperliquid publishes no public liquidation stream" in text
    said = "open interest: Hyperliquid publishes no open-interest history and nothing recorded reaches this session"
    assert any(note.startswith(said) for note in notes)
    assert any(note.startswith(said) for note in loop.latest.maps[0].model["notes"])
    recorded = Store(tmp_path, "hyperliquid").read("BTCUSDT", "oiPolls")
    live = tape.trade_time[tape.trade_time >= START + HISTORY_MIN * MINUTE]
    stamps = np.unique(live // 1000).size  # a context is stamped with the newest trade: one per second with trades
    assert stamps - 3 <= len(recorded) <= stamps + 5  # (and the few REST polls)


def test_recorded_open_interest_is_what_the_book_starts_from(tape, tmp_path):
    # an earlier session recorded the first 100 minutes' 5-second open interest into the cache
    store = Store(tmp_path, "hyperliquid")
    keep = tape.oi_time < START + 100 * MINUTE
    store.write("BTCUSDT", "oiPolls", "2026-01-01", OpenInterest(time=tape.oi_time[keep], oi=tape.oi[keep],
                                                                oi_value=np.full(keep.sum(), np.nan)))
    loop, server, truth, notes = run_live(tape, tmp_path, speed=1200.0)
    oi = loop.latest.market.open_interest
    live_start = START + HISTORY_MIN * MINUTE
    # the book's open interest before the session: every recorded point, then the current value
    assert oi.time[oi.time <= live_start].tolist() == tape.oi_time[keep].tolist() + [live_start]
    said = (f"open interest: Hyperliquid publishes no open-interest history; before this session the book rests on "
            f"{keep.sum()} recorded point(s) 2026-01-01T00:00:00Z .. 2026-01-01T01:39:55Z from recorded live open "
            f"interest in {store.label} ({keep.sum()} point(s)), then the current value")
    assert any(note.startswith(said) for note in notes), notes
    assert_whole_map(loop)


# stalls and unserved subscriptions run slower, so that the exchange still streams after the watchdog's second
@pytest.mark.parametrize("faults, sign, speed", [
    (Faults(drop_after_frames=700), "dropped connections", 600.0),
    (Faults(stall_at_ms=START + (HISTORY_MIN + 3) * MINUTE, stall_wall_s=30.0), "stalls", 120.0),
    (Faults(garbage_every=40), "garbage frames", 600.0),
    (Faults(unserved_first_connection=("activeAssetCtx:BTC",)), "connections", 120.0),
    (Faults(rest_status={"candleSnapshot": [(429, 1)], "metaAndAssetCtxs": [(429, 1)]}), "HTTP 429 candleSnapshot",
     600.0),
])
def test_faults_end_in_the_whole_series(tape, tmp_path, faults, sign, speed):
    loop, server, truth, _ = run_live(tape, tmp_path, faults, speed)
    assert server.log[sign] >= 1
    assert_whole(loop, tape, truth)
    events = " ".join(loop.health.events)
    if sign == "garbage frames":
        assert sum(s.malformed for s in loop.health.streams.values()) == server.log["garbage frames"]
    if sign in ("dropped connections", "stalls"):
        assert loop.health.streams["connection"].reconnects >= 1
    if sign == "connections":
        assert server.log["connections"] >= 2 and "activeAssetCtx:BTC: silent for" in events
    if sign.startswith("HTTP 429"):
        assert loop.health.rate_limited == 2 and "rest: HTTP 429 on /info" in events

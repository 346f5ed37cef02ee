"""The live loop against the local exchange: normal flow and each fault; the final map equals a whole build."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import numpy as np
import pytest

from rich.console import Console

from liqmap.frames import MarketData, OpenInterest, format_ms
from liqmap.live.loop import LiveOptions, compute_maps
from liqmap.live.screen import render
from liqmap.live.session import open_binance, open_replay
from liqmap.sources.cache import Store
from liqmap.venues.binance.rest import RestClient

from tests.exchange_servers.base import Faults
from tests.exchange_servers.drive import run_to_end
from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.tape import synthetic_tape

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
HISTORY_MIN, LIVE_MIN = 120, 12
WINDOW_MS = 60 * MINUTE


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=HISTORY_MIN + LIVE_MIN, trades_per_second=1.0)


def run_live(tape, tmp_path, faults=None, speed=600.0, **session):
    """Backfill, stream the live part of the tape, stop when its last bar is in the map; return (loop, server)."""
    live_start = START + HISTORY_MIN * MINUTE
    options = LiveOptions(window_ms=WINDOW_MS, map_every_s=0.05, oi_every_s=0.03)
    with BinanceServer(tape, live_start, speed=speed, faults=faults) as server:
        loop, _ = open_binance("BTCUSDT", Store(tmp_path), options, rest_url=server.rest_url, ws_url=server.ws_url,
                               **{"silence_s": 1.0, **session})
        run_to_end(loop, tape.end_ms)
        truth = whole_data(server, tape, loop)
    return loop, server, truth


def whole_data(server: BinanceServer, tape, loop) -> MarketData:
    """Everything the exchange has for the span, read once over REST after the fact; open interest as the
    loop must have it: the 5-minute history it was served, and at each live bar's end the last poll it was
    served in that bar (a poll still in flight at the end may be missing)."""
    client = RestClient(server.rest_url)
    candles = client.klines("BTCUSDT", START, tape.end_ms)
    mark = client.klines("BTCUSDT", START, tape.end_ms, mark=True)
    funding = client.funding("BTCUSDT", START, tape.end_ms)
    client.close()
    market = loop.latest.market
    served = dict(sorted(server.served_oi))
    live_start = START + HISTORY_MIN * MINUTE
    expected = {t: v for t, v in served.items() if t < live_start and t % (5 * MINUTE) == 0}
    held = dict(zip(market.open_interest.time.tolist(), market.open_interest.oi.tolist()))
    for t, v in held.items():
        if t >= live_start:
            in_bar = [(ts, vs) for ts, vs in served.items() if t - MINUTE < ts <= t]
            assert in_bar, f"no poll was served in the bar ending {format_ms(t)}"
            # the last poll of the bar, or (after a hole) the 5-minute history's point
            assert v in [vs for _, vs in in_bar], format_ms(t)
            expected[t] = v
    t = np.array(sorted(expected), np.int64)
    oi = OpenInterest(time=t, oi=np.array([expected[x] for x in t.tolist()]), oi_value=np.full(t.size, np.nan),
                      interval_ms=5 * MINUTE)  # the history's step, which the live series keeps
    return MarketData("BTCUSDT", "binance", candles, mark, oi, funding)


def assert_same_map(loop, truth: MarketData):
    """The data of the final map are the exchange's whole series, and the map equals a whole build on them."""
    market = loop.latest.market
    assert np.array_equal(market.candles.time, truth.candles.time)
    for name in ("open", "high", "low", "close", "volume", "taker_buy_volume"):
        assert np.array_equal(getattr(market.candles, name), getattr(truth.candles, name)), name
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(market.mark_candles, name), getattr(truth.mark_candles, name)), name
    assert np.array_equal(market.open_interest.time, truth.open_interest.time)
    assert np.array_equal(market.open_interest.oi, truth.open_interest.oi)
    live = market.open_interest.time[market.open_interest.time > START + HISTORY_MIN * MINUTE]
    assert (live % MINUTE == 0).all()  # snapshots on bar boundaries: the book settles what is behind them
    whole = compute_maps(truth, tape_end(truth), WINDOW_MS, ("all",))[0]
    live_map = loop.latest.maps[0]
    assert live_map.as_of_ms == whole.as_of_ms == tape_end(truth)
    # the live book is updated in place bar by bar; it equals the whole build to round-off
    assert np.allclose(live_map.long, whole.long, rtol=1e-9, atol=1e-6)
    assert np.allclose(live_map.short, whole.short, rtol=1e-9, atol=1e-6)
    assert live_map.long.sum() > 0 and live_map.short.sum() > 0


def tape_end(market: MarketData) -> int:
    return market.end_ms


def test_normal_flow(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path)
    assert_same_map(loop, truth)
    # the recorder's files are complete once the loop has stopped
    store = Store(tmp_path)
    live_liqs = [x for x in tape.liquidations if x[0] >= START + HISTORY_MIN * MINUTE]
    recorded = store.read("BTCUSDT", "forceOrders")
    assert recorded.time.tolist() == [x[0] for x in live_liqs]
    assert recorded.is_long.tolist() == [x[1] == "SELL" for x in live_liqs]
    assert len(store.read("BTCUSDT", "markPrice")) >= LIVE_MIN * 60
    # open interest at (nearly) every live bar's end; every poll is in the recorder's file
    oi = loop.latest.market.open_interest
    assert (oi.time > START + HISTORY_MIN * MINUTE).sum() >= LIVE_MIN - 2
    assert len(store.read("BTCUSDT", "oiPolls")) >= LIVE_MIN
    # the screen shows the realized liquidations and a health line per stream
    console = Console(record=True, width=160)
    console.print(render(loop))
    text = console.export_text()
    last = live_liqs[-1]
    assert re.search(rf"{format_ms(last[0])}\s+│ {'long' if last[1] == 'SELL' else 'short'}", text)
    assert "btcusdt@markPrice@1s: " in text and "btcusdt@openInterest (REST poll): " in text
    assert "clock skew " in text
    health = loop.health.streams
    assert health["btcusdt@markPrice@1s"].messages >= LIVE_MIN * 60
    assert health["btcusdt@kline_1m"].messages == LIVE_MIN + 1  # the bar before the start, then each minute
    assert health["btcusdt@forceOrder"].messages == len([x for x in tape.liquidations
                                                          if x[0] >= START + HISTORY_MIN * MINUTE])
    assert health["connection"].reconnects == 0 and server.log["connections"] == 1
    assert all(s.malformed == 0 for s in health.values())
    # the bar under way at the start has seconds from before the connection: that one comes from REST
    assert health["btcusdt@markPrice@1s"].gaps_backfilled == 1
    assert health["btcusdt@kline_1m"].gaps_backfilled == 0


def events(loop) -> str:
    return "\n".join(loop.health.events)


def test_connection_dropped_mid_stream(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path, Faults(drop_after_frames=900))
    assert server.log["dropped connections"] == 1 and server.log["connections"] >= 2
    assert loop.health.streams["connection"].reconnects >= 1
    assert "connection closed" in events(loop)
    assert_same_map(loop, truth)


def test_a_stall_is_recycled_by_the_watchdog(tape, tmp_path):
    faults = Faults(stall_at_ms=START + (HISTORY_MIN + 3) * MINUTE, stall_wall_s=30.0)
    # slower, so that the exchange still streams after the watchdog's second of silence
    loop, server, truth = run_live(tape, tmp_path, faults, speed=120.0)
    assert server.log["stalls"] == 1 and server.log["connections"] >= 2
    assert "(stall); connection recycled" in events(loop)
    # the minutes the stall swallowed came from REST
    assert loop.health.streams["btcusdt@kline_1m"].gaps_backfilled >= 1
    assert_same_map(loop, truth)


def test_garbage_and_truncated_frames_are_counted_and_skipped(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path, Faults(garbage_every=97))
    malformed = sum(s.malformed for s in loop.health.streams.values())
    assert malformed == server.log["garbage frames"] > 0
    assert "malformed frame skipped (not JSON" in events(loop)
    assert_same_map(loop, truth)


def test_a_subscription_acknowledged_but_never_served(tape, tmp_path):
    faults = Faults(unserved_first_connection=("btcusdt@markPrice@1s",))
    loop, server, truth = run_live(tape, tmp_path, faults, speed=120.0)
    assert "btcusdt@markPrice@1s: silent for" in events(loop)
    assert "(subscribed but not served); connection recycled" in events(loop)
    assert server.log["connections"] == 2
    assert_same_map(loop, truth)


def test_429_with_retry_after(tape, tmp_path):
    faults = Faults(rest_status={"/fapi/v1/klines": [(429, 1)], "/fapi/v1/openInterest": [(429, 1)]})
    loop, server, truth = run_live(tape, tmp_path, faults)
    assert loop.health.rate_limited == 2
    assert "rest: HTTP 429 on /fapi/v1/klines (1 so far); waiting 1s as Retry-After says" in events(loop)
    assert "next poll in 1s" in events(loop)
    assert_same_map(loop, truth)


def test_rotation_before_the_exchange_cut_leaves_no_gap(tape, tmp_path):
    loop, server, truth = run_live(tape, tmp_path, max_age_s=0.3)
    assert loop.health.rotations >= 2 and server.log["connections"] == loop.health.rotations + 1
    assert "rotating before the exchange's cut" in events(loop)
    # no second missed: only the bar under way at the start needed REST
    assert loop.health.streams["btcusdt@markPrice@1s"].gaps_backfilled == 1
    assert loop.health.streams["btcusdt@kline_1m"].gaps_backfilled == 0
    assert loop.health.streams["connection"].reconnects == 0
    assert_same_map(loop, truth)


def test_trades_left_out_of_the_stream_are_backfilled_from_rest(tape, tmp_path):
    first = int(np.searchsorted(tape.trade_time, START + HISTORY_MIN * MINUTE)) + 1  # the first live trade's id
    unsent = {*range(first + 100, first + 140), first + 300, first + 301, first + 500}
    loop, server, truth = run_live(tape, tmp_path, Faults(unsent_trade_ids=frozenset(unsent)), record_trades=True)
    live = slice(first - 1, None)
    trades = loop.health.streams["btcusdt@aggTrade"]
    assert trades.messages == tape.trade_time[live].size - 43  # what the stream carried ...
    assert trades.gaps_backfilled == 3 and server.log["GET /fapi/v1/aggTrades"] == 3  # ... three jumps, read by id
    assert f"trade ids jump {first + 99} -> {first + 140}: 40 trade(s) backfilled from REST" in events(loop)
    assert f"trade ids jump {first + 299} -> {first + 302}: 2 trade(s) backfilled from REST" in events(loop)
    # the recorder has every trade of the live span, in order, as the exchange made them
    recorded = Store(tmp_path).read("BTCUSDT", "aggTrades")
    assert loop.market.trades_taken == len(recorded) == tape.trade_time[live].size
    assert recorded.time.tolist() == tape.trade_time[live].tolist()
    assert recorded.price.tolist() == tape.trade_price[live].tolist()
    assert recorded.is_buyer_maker.tolist() == tape.trade_buyer_maker[live].tolist()
    assert_same_map(loop, truth)


def test_failed_open_interest_polls(tape, tmp_path):
    faults = Faults(rest_status={"/fapi/v1/openInterest": [(500, None)] * 20})
    loop, server, truth = run_live(tape, tmp_path, faults)
    name = "btcusdt@openInterest (REST poll)"
    assert (f"{name}: poll failed (GET {server.rest_url}/fapi/v1/openInterest: HTTP 500 (gave up after 1 tries)); "
            "next poll in 0.03s") in events(loop)
    # 20 failed polls 30 ms apart span more than 5 data minutes: the 5-minute history filled the hole
    assert loop.health.streams[name].gaps_backfilled == 1
    assert_same_map(loop, truth)


@pytest.mark.parametrize("every", [1, 7, 1000])
def test_the_final_map_does_not_depend_on_how_bars_are_batched_into_updates(every):
    # the sample's 35 hourly bars from 2026-03-04T00:00Z, a map after every `every`-th bar (1000: one map
    # after all of them, the first map coming late as on a loaded machine); the market the loop holds is
    # cut to its last keep_ms meanwhile, and the book must still be the whole build over history + bars
    start, day = 1_772_582_400_000, 86_400_000
    loop = open_replay("BTCUSDT", "sample", LiveOptions(window_ms=7 * day), speed=1.0, start=start)
    live, sample = loop.market, loop.venue.feed.market
    bars = 0
    for _, event in loop.venue.feed.events():
        live.on_event("replay", event)
        bars += asyncio.run(live.advance())
        if bars >= every:
            asyncio.run(loop.update())
            bars = 0
    asyncio.run(loop.update())
    end = sample.end_ms
    assert loop.latest is not None and loop.latest.data_time == end == 1_772_708_400_000
    first = live.history.start_ms
    same = replace(sample.slice_time(first, end), funding=sample.funding.slice_time(first, start), trades=None,
                   liquidations=None, mark_candles=None)
    whole = compute_maps(same, end, 7 * day, ("all",))[0]
    np.testing.assert_allclose(loop.latest.maps[0].long, whole.long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(loop.latest.maps[0].short, whole.short, rtol=1e-9, atol=1e-6)

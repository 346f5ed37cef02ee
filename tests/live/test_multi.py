"""``liqmap live --venue all``: Binance, Bybit, OKX and Hyperliquid from their local exchanges into one Multi map,
which equals the Multi map built whole on the same data; a venue whose feed does not open is missing, said."""

from __future__ import annotations

import asyncio
import re
from contextlib import ExitStack

import numpy as np
import pytest
from rich.console import Console

from liqmap import api
from liqmap.live.loop import LiveOptions
from liqmap.live.multi import open_multi
from liqmap.live.screen import render
from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.bybit import BybitServer
from tests.exchange_servers.hyperliquid import HyperliquidServer
from tests.exchange_servers.okx import OkxServer
from tests.exchange_servers.tape import synthetic_tape

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000
HISTORY_MIN, LIVE_MIN = 120, 8
WINDOW_MS = 60 * MINUTE
SERVERS = {"binance": BinanceServer, "bybit": BybitServer, "hyperliquid": HyperliquidServer, "okx": OkxServer}


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=HISTORY_MIN + LIVE_MIN, trades_per_second=1.0)


def run_all(tape, tmp_path, venues):
    # one tape on every venue: each venue's price is the same, so every basis is 1
    options = LiveOptions(window_ms=WINDOW_MS, map_every_s=0.05, oi_every_s=0.5)
    with ExitStack() as stack:
        servers = {name: stack.enter_context(SERVERS[name](tape, START + HISTORY_MIN * MINUTE, speed=600.0))
                   for name in venues}
        urls = {name: (s.rest_url, s.ws_url) for name, s in servers.items()}
        urls["okx"] = urls.get("okx", ("http://127.0.0.1:9", "ws://127.0.0.1:9/ws/v5/public"))  # nothing listens
        loop, notes = open_multi("BTCUSDT", tmp_path, options, venues=sorted(SERVERS), urls=urls, silence_s=1.0)

        def done(lp):
            return lp.latest is not None and lp.latest.data_time >= tape.end_ms and all(
                sub.market.market().end_ms >= tape.end_ms for sub in lp.loops.values())

        asyncio.run(asyncio.wait_for(loop.run(until=done), 90))
    return loop, notes


def whole(loop):
    """The Multi map built whole (no book states) on the markets the live loops hold, each venue with the
    parameters its loop has (OKX's: the tiers its backfill fetched)."""
    entries = {name: (sub.market.market(), loop.latest.data_time) for name, sub in loop.loops.items()}
    entries.update(loop.failed)
    params = {name: sub.options.params for name, sub in loop.loops.items()}
    return api.multi_maps(dict(sorted(entries.items())), loop.reference, loop.latest.data_time, WINDOW_MS, ["all"],
                          None, None, loop.latest.data_time, venue_params=params)[0]


def test_four_venues_live_make_the_multi_map_of_a_whole_build(tape, tmp_path):
    loop, notes = run_all(tape, tmp_path, ["binance", "bybit", "hyperliquid", "okx"])
    assert loop.reference == "binance" and sorted(loop.loops) == ["binance", "bybit", "hyperliquid", "okx"]
    live = loop.latest.maps[0]
    assert live.exchange == "all" and live.as_of_ms == tape.end_ms
    by_venue = {v["venue"]: v for v in live.model["venues"]}
    assert [by_venue[n]["status"] for n in sorted(by_venue)] == ["ok"] * 4
    assert all(by_venue[n]["basis"] == 1.0 for n in by_venue)
    ref = whole(loop)
    np.testing.assert_allclose(live.long, ref.long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(live.short, ref.short, rtol=1e-9, atol=1e-6)
    parts = live.extras["venues"]
    summed = sum(np.array(parts[n]["bins"]["long"]) for n in parts)
    np.testing.assert_allclose(summed, live.long, rtol=1e-12)
    for name in parts:  # each venue contributes
        assert sum(parts[name]["bins"]["long"]) + sum(parts[name]["bins"]["short"]) > 0, name
    console = Console(record=True, width=220)
    console.print(render(loop))
    text = console.export_text()
    assert all(re.search(rf"│ {name}\s+│ ok\s+│ [\d,.]+ │ 1\.00000 │", text) for name in loop.loops)
    assert "realized liquidations: none to show: hyperliquid: Hyperliquid publishes no public liquidation" in text
    assert "hyperliquid liquidations: no stream" in text and "okx trades:BTC-USDT-SWAP" in text
    assert {e.venue for e in loop.realized()[0]} >= {"binance", "bybit", "okx"}
    assert any(n.startswith("hyperliquid: open interest: Hyperliquid publishes no open-interest history") for n in notes)


def test_a_venue_whose_feed_does_not_open_is_missing_with_the_reason(tape, tmp_path):
    loop, notes = run_all(tape, tmp_path, ["binance", "hyperliquid"])
    assert sorted(loop.loops) == ["binance", "hyperliquid"] and sorted(loop.failed) == ["bybit", "okx"]
    live = loop.latest.maps[0]
    status = {v["venue"]: (v["status"], v["reason"]) for v in live.model["venues"]}
    assert status["okx"][0] == "missing" and status["okx"][1].startswith("its live feed did not open: ")
    assert status["binance"][0] == status["hyperliquid"][0] == "ok"
    assert any(n.startswith("okx: missing: its live feed did not open") for n in live.model["notes"])
    assert any(n.startswith("okx: its live feed did not open") for n in notes)
    ref = whole(loop)
    np.testing.assert_allclose(live.long, ref.long, rtol=1e-9, atol=1e-6)

"""The live screen and ``liqmap live --replay``: the same loop over the bundled sample, offline."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from liqmap.api import load_market
from liqmap.cli import main
from liqmap.frames import format_ms
from liqmap.live.loop import LiveOptions, compute_maps
from liqmap.live.screen import render
from liqmap.live.session import open_replay

DAY = 86_400_000
START = 1_772_582_400_000  # 2026-03-04T00:00Z


def test_replay_drives_the_loop_and_the_screen(tmp_path):
    loop = open_replay("BTCUSDT", "sample", LiveOptions(window_ms=7 * DAY, map_every_s=0.01), speed=3_600_000,
                       start=START)
    end = loop.venue.feed.market.end_ms
    asyncio.run(asyncio.wait_for(loop.run(until=lambda lp: lp.latest is not None and lp.latest.data_time >= end), 60))
    # 35 hourly bars replayed (2026-03-04T00 .. 2026-03-05T11); the final map is the whole build's
    assert loop.market.next_bar == end == 1_772_708_400_000
    # a whole build over the same data: the sample from the replay's history on (funding as backfilled)
    sample = loop.venue.feed.market
    first = loop.market.history.start_ms
    same = replace(sample.slice_time(first, end), funding=sample.funding.slice_time(first, START), trades=None,
                   liquidations=None, mark_candles=None)
    whole = compute_maps(same, end, 7 * DAY, ("all",))[0]
    assert np.allclose(loop.latest.maps[0].long, whole.long, rtol=1e-9, atol=1e-6)
    assert np.allclose(loop.latest.maps[0].short, whole.short, rtol=1e-9, atol=1e-6)
    console = Console(record=True, width=160)
    console.print(render(loop))
    text = console.export_text()
    assert "BTCUSDT live — price 73,399.90 — data time 2026-03-05T11:00:00Z" in text
    assert "map as of 2026-03-05T11:00:00Z (newest data in it), view all, window 7d," in text and "◀ price" in text
    assert "LiqMap ±3% around 73,399.90" in text and "LiqRatio" in text and "clusters" in text
    assert "lower bound" in text
    assert "replay: " in text and "reconnects 0" in text


def test_live_replay_command_prints_updates(capsys):
    code = main(["live", "BTCUSDT", "--replay", "sample", "--from", "2026-03-05T00:00", "--speed", "360000",
                 "--window", "7d", "--plain", "--map-every", "10ms"])
    assert code == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith("2026-03-05T11:00:00Z price 73,399.90 clusters")
    assert "live: " in err and "data up to 2026-03-05T11:00:00Z" in err


def test_live_rejects_bad_options(capsys):
    assert main(["live", "BTCUSDT", "--replay", "sample", "--speed", "0"]) == 1
    assert "--speed must be positive" in capsys.readouterr().err
    for absurd in ("nan", "inf"):
        assert main(["live", "BTCUSDT", "--replay", "sample", "--speed", absurd]) == 1
        assert f"--speed must be positive and finite, not {absurd}" in capsys.readouterr().err
    assert main(["live", "BTCUSDT", "--replay", "sample", "--from", "2020-01-01"]) == 1
    assert "the replay needs 32d of data before its start" in capsys.readouterr().err
    assert main(["live", "BTCUSDT", "--view", "huge", "--replay", "sample"]) == 1
    assert main(["live", "XRPUSDT", "--venue", "bybit", "--cache", "/nonexistent/liqmap"]) == 1
    assert "venue 'bybit' knows nothing about XRPUSDT; it knows: BTCUSDT, DOGEUSDT" in capsys.readouterr().err


SAMPLE_COVERS = "2025-12-01T00:00:00Z .. 2026-03-05T11:00:00Z"


@pytest.mark.parametrize("args, message", [
    (["--from", "2025-12-01"],
     "the replay needs 32d of data before its start (the 30d window and 2d of warm-up); the binance data of BTCUSDT "
     f"in sample cover {SAMPLE_COVERS}: use --from 2026-01-02T00:00:00Z or later, or a shorter --window"),
    (["--from", "2026-03-05T11:00"],
     f"--from 2026-03-05T11:00:00Z is not before the data's end: the binance data of BTCUSDT in sample cover "
     f"{SAMPLE_COVERS}"),
    (["--venue", "hyperliquid", "--window", "60d"],  # no --from: the message names none
     "the replay needs 62d of data before its start (the 60d window and 2d of warm-up); the hyperliquid data of "
     "BTCUSDT in sample cover 2026-01-20T00:00:00Z .. 2026-03-05T11:00:00Z: use a shorter --window"),
    (["--venue", "all"], "--replay plays one venue's stored data: give --venue binance, hyperliquid, ... (the Multi "
                         "map of --venue all follows the venues' live streams)"),
])
def test_a_replay_that_cannot_start_says_what_it_needs(args, message, capsys):
    assert main(["live", "BTCUSDT", "--replay", "sample", "--plain", *args]) == 1
    assert capsys.readouterr().err == f"liqmap live: error: {message}\n"


def test_replay_plays_the_venue_asked_for_from_the_start_of_its_data():
    hyperliquid = load_market("BTCUSDT", "sample", venue="hyperliquid")
    assert format_ms(hyperliquid.start_ms) == "2026-01-20T00:00:00Z"
    loop = open_replay("BTCUSDT", "sample", LiveOptions(window_ms=7 * DAY, map_every_s=0.01), speed=3_600_000,
                       venue="hyperliquid")
    feed = loop.venue.feed
    assert feed.market.exchange == "hyperliquid" and loop.market.history.exchange == "hyperliquid"
    assert format_ms(feed.start_ms) == "2026-01-29T00:00:00Z"  # 7d window + 2d warm-up after its first bar
    assert np.array_equal(feed.market.candles.close, hyperliquid.candles.close)

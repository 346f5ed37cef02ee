"""load_market on the bundled sample and on folders of Vision files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liqmap.frames import DataError, Trades
from liqmap.venues.binance.layout import discover, import_folder
from liqmap.sources.loader import SAMPLE_ROOT, candles_from_trades, load_market

DEC_1 = 1_764_547_200_000  # 2025-12-01 00:00 UTC
MAR_5_11H = 1_772_708_400_000  # 2026-03-05 11:00 UTC, end of the last hourly candle
HOUR = 3_600_000


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "cache"))


def test_sample_whole_span():
    market = load_market("BTCUSDT")
    # 94 days x 24 h + 11 h (2026-03-05 00:00 .. 10:00), no gaps.
    assert len(market.candles) == 94 * 24 + 11 == 2267
    assert market.candles.time[0] == DEC_1 and market.candles.time[-1] == MAR_5_11H - HOUR
    assert np.all(np.diff(market.candles.time) == HOUR)
    assert market.start_ms == DEC_1 and market.end_ms == MAR_5_11H
    # 5m open interest from 00:05 (the first snapshot) to 10:55: one fewer than 12 per hour.
    assert len(market.open_interest) == 2267 * 12 - 1
    assert market.open_interest.time[0] == DEC_1 + 300_000
    assert market.open_interest.time[-1] == MAR_5_11H - 300_000
    # Funding settles at 00/08/16 UTC: 94 days x 3 + 00:00 and 08:00 on March 5th.
    assert len(market.funding) == 284
    assert len(market.liquidations) == 2267
    assert market.liquidations.source == "coinglass aggregated Binance+Bybit+OKX"
    assert market.mark_candles is None and market.trades is None
    assert market.notes == (
        "data: the bundled sample",
        "candles: last-price 1h klines (no mark-price klines in source)",
        "taker side: not in source",
        "open interest: 5m metrics (sum_open_interest)",
        "funding: settled rates per 8h",
        "trades: not in source",
        "realized liquidations: coinglass aggregated Binance+Bybit+OKX",
    )


def test_sample_values_match_the_shared_files(shared_data):
    import pandas as pd

    market = load_market("BTCUSDT", start_ms="2026-01-01", end_ms="2026-01-02")
    assert len(market.candles) == 24 and len(market.open_interest) == 288 and len(market.funding) == 3
    raw = pd.read_csv(shared_data / "multivenue_perp_hourly_finm33150" / "candles.csv.gz")
    raw = raw[(raw.venue == "binance") & (raw.coin == "BTC") & (raw.timestamp == market.candles.time[0])]
    assert market.candles.close[0] == raw.c.iloc[0]
    oi = pd.read_csv(shared_data / "binance_um_oi5m_funding_hlreaper" / "BTC_oi_5m.csv.gz")
    row = oi[oi.timestamp == market.open_interest.time[0]]
    assert market.open_interest.oi[0] == row.oi.iloc[0]
    fund = pd.read_csv(shared_data / "binance_um_oi5m_funding_hlreaper" / "BTC_funding.csv.gz")
    # The shared file holds the hourly equivalent; the sample holds the 8-hour rate.
    assert market.funding.rate[0] == fund[fund.timestamp == market.funding.time[0]].rate.iloc[0] * 8


def test_sample_errors():
    with pytest.raises(DataError) as err:
        load_market("ETHUSDT")
    assert str(err.value) == "no binance data for ETHUSDT in the bundled sample; it holds: BTCUSDT"
    with pytest.raises(DataError) as err:
        load_market("BTCUSDT", start_ms="2027-01-01")
    assert str(err.value) == (
        "no BTCUSDT klines-1h from 2027-01-01T00:00:00Z in the bundled sample; "
        "it covers 2025-12-01T00:00:00Z .. 2026-03-05T11:00:00Z"
    )
    with pytest.raises(ValueError) as err:
        load_market("BTCUSDT", start_ms="2026-01-02", end_ms="2026-01-01")
    assert str(err.value) == "empty date range: end 2026-01-01T00:00:00Z is not after start 2026-01-02T00:00:00Z"
    with pytest.raises(DataError) as err:
        load_market("BTCUSDT", venue="bybit")
    assert str(err.value) == "no bybit data for BTCUSDT in the bundled sample; it holds: no symbols"
    with pytest.raises(DataError) as err:
        load_market("BTCUSDT", venue="kraken")
    assert str(err.value) == "unknown venue 'kraken'; registered venues: binance, bybit, hyperliquid, okx"


def test_sample_is_small_and_documented():
    size = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert size < 1_000_000
    assert "Candle gaps (missing hours): none." in (SAMPLE_ROOT / "SOURCE.md").read_text()


# ---------------------------------------------------------------- folders of Vision files


@pytest.fixture(scope="module")
def vision_tree(shared_dir, tmp_path_factory):
    """Two synthetic days in the published Vision tree (generator from shared/bench), plus
    a mark-price kline file and a monthly funding file, some zipped, some without header."""
    root = tmp_path_factory.mktemp("vision")
    um = "data/futures/um/daily"
    subprocess.run(
        [
            sys.executable, str(shared_dir / "bench" / "gen_aggtrades.py"),
            "--symbol", "BTCUSDT", "--date", "2025-01-15", "--days", "2", "--trades", "2000", "--seed", "5",
            "--out", f"{root}/{um}/aggTrades/{{symbol}}/{{symbol}}-aggTrades-{{date}}.csv",
            "--klines", f"{root}/{um}/klines/{{symbol}}/1m/{{symbol}}-1m-{{date}}.zip",
            "--metrics", f"{root}/{um}/metrics/{{symbol}}/{{symbol}}-metrics-{{date}}.csv",
        ],
        check=True, capture_output=True,
    )
    fixtures = Path(__file__).parents[1] / "fixtures" / "vision"
    mark = root / um / "markPriceKlines" / "BTCUSDT" / "1m"
    mark.mkdir(parents=True)
    shutil.copy(fixtures / "mark-BTCUSDT-1m-2025-01-15.csv", mark / "BTCUSDT-1m-2025-01-15.csv")
    monthly = root / "data/futures/um/monthly/fundingRate/BTCUSDT"
    monthly.mkdir(parents=True)
    with zipfile.ZipFile(monthly / "BTCUSDT-fundingRate-2025-01.zip", "w") as archive:
        archive.write(fixtures / "BTCUSDT-fundingRate-2025-01.csv", "BTCUSDT-fundingRate-2025-01.csv")
    return root


def test_discover_the_published_tree(vision_tree):
    found = discover(vision_tree, "BTCUSDT")
    assert [(f.store_kind, f.period) for f in found] == [
        ("aggTrades", "2025-01-15"), ("aggTrades", "2025-01-16"),
        ("fundingRate", "2025-01"),
        ("klines-1m", "2025-01-15"), ("klines-1m", "2025-01-16"),
        ("markPriceKlines-1m", "2025-01-15"),
        ("metrics", "2025-01-15"), ("metrics", "2025-01-16"),
    ]
    # 2025-01-16 00:00 UTC = 1736985600000: the 15th's files overlap (one day of slack), the 17th's do not exist.
    assert {f.period for f in discover(vision_tree, "BTCUSDT", start_ms=1736985600000 + 86_400_000)} == {"2025-01-16", "2025-01"}


def test_load_market_from_a_folder(vision_tree):
    market = load_market("BTCUSDT", vision_tree, "2025-01-15", "2025-01-17")
    assert len(market.candles) == 2 * 1440 and market.candles.interval_ms == 60_000
    assert market.candles.has_taker_volume
    assert len(market.mark_candles) == 2 and market.mark_candles.price_kind == "mark"
    assert len(market.trades) == 4000
    # metrics run 00:05 .. next midnight; the range ends before 2025-01-17 00:00, so 2 x 288 - 1.
    assert len(market.open_interest) == 575
    assert market.funding is None  # the funding fixture's rows are on 2025-01-01, out of range
    assert market.notes[4] == "funding: not in source"
    assert market.notes[1] == "candles: last-price 1m klines; mark-price 1m klines for the price path"
    assert market.notes[2] == "taker side: taker-buy volume of the klines"
    assert len(load_market("BTCUSDT", vision_tree).funding) == 3


def test_folder_errors(vision_tree, tmp_path):
    with pytest.raises(DataError) as err:
        load_market("ETHUSDT", vision_tree)
    assert str(err.value) == f"no binance data for ETHUSDT in the folder {vision_tree}; it holds: BTCUSDT"
    with pytest.raises(DataError) as err:
        load_market("BTCUSDT", vision_tree, "2025-02-01", "2025-02-02")
    assert str(err.value) == (
        f"no BTCUSDT klines-1m from 2025-02-01T00:00:00Z to 2025-02-02T00:00:00Z in the folder {vision_tree}; "
        "it covers 2025-01-15T00:00:00Z .. 2025-01-17T00:00:00Z"
    )
    with pytest.raises(FileNotFoundError):
        load_market("BTCUSDT", tmp_path / "missing")


def test_cache_source_equals_the_folder_it_was_imported_from(vision_tree, tmp_path, monkeypatch):
    from liqmap.sources.cache import Store, cache_root

    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "store"))
    imported, held = import_folder(Store(cache_root()), vision_tree)
    assert (len(imported), len(held)) == (8, 0)
    window = ("2025-01-15T12:00", "2025-01-16T06:00")
    from_cache = load_market("BTCUSDT", "cache", *window)
    from_folder = load_market("BTCUSDT", vision_tree, *window)
    assert len(from_cache.candles) == 18 * 60
    assert from_cache.mark_candles is None and from_folder.mark_candles is None  # fixture bars are 00:00-00:02
    for part in ("candles", "open_interest", "trades"):
        a, b = getattr(from_cache, part), getattr(from_folder, part)
        np.testing.assert_array_equal(a.time, b.time)
    np.testing.assert_array_equal(from_cache.trades.is_buyer_maker, from_folder.trades.is_buyer_maker)
    np.testing.assert_array_equal(from_cache.open_interest.oi, from_folder.open_interest.oi)
    assert from_cache.notes[0] == f"data: the cache at {tmp_path / 'store'} (binance)"
    assert from_cache.notes[1:] == from_folder.notes[1:]


def test_candles_from_trades_by_hand():
    t0 = 1_736_899_200_000  # 2025-01-15 00:00 UTC
    trades = Trades(time=[t0 + 10_000, t0 + 50_000, t0 + 150_000], price=[100.0, 102.0, 101.0],
                    quantity=[1.0, 2.0, 1.5], is_buyer_maker=[False, True, False])
    bars = candles_from_trades(trades)
    assert bars.time.tolist() == [t0, t0 + 60_000, t0 + 120_000] and bars.interval_ms == 60_000
    assert bars.open.tolist() == [100.0, 102.0, 101.0]  # the empty minute repeats the last close
    assert bars.high.tolist() == [102.0, 102.0, 101.0]
    assert bars.low.tolist() == [100.0, 102.0, 101.0]
    assert bars.close.tolist() == [102.0, 102.0, 101.0]
    assert bars.volume.tolist() == [3.0, 0.0, 1.5]
    assert bars.taker_buy_volume.tolist() == [1.0, 0.0, 1.5]  # the 2.0 was a taker sell


def test_a_folder_of_aggtrades_alone_gives_candles_from_the_trades(vision_tree, tmp_path):
    only = tmp_path / "only"
    shutil.copytree(vision_tree / "data/futures/um/daily/aggTrades", only)
    market = load_market("BTCUSDT", only, "2025-01-15", "2025-01-17")
    full = load_market("BTCUSDT", vision_tree, "2025-01-15", "2025-01-17")
    assert market.notes[1] == "candles: 1m bars built from aggTrades (no klines in source)"
    assert market.notes[2] == "taker side: aggTrades is_buyer_maker"
    assert market.open_interest is None and len(market.trades) == 4000
    # the generator's klines are the same trades' bars; the bars end with the last trade's minute
    n = len(market.candles)
    assert n == 2879 and full.candles.volume[n:].tolist() == [0.0]
    np.testing.assert_array_equal(market.candles.time, full.candles.time[:n])
    for column in ("open", "high", "low", "close", "volume", "taker_buy_volume"):
        np.testing.assert_allclose(getattr(market.candles, column), getattr(full.candles, column)[:n], rtol=1e-12)

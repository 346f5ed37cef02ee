"""The hourly multi-venue export read as Hyperliquid's data, on a hand-written folder."""

import gzip

import pytest

from liqmap import api
from liqmap.frames import DataError
from liqmap.venues.hyperliquid.hourly import HourlyFolder
from liqmap.venues.hyperliquid.symbols import coin_of, symbol_of

H = 3_600_000
T0 = 1_768_867_200_000  # 2026-01-20 00:00 UTC


def _write(folder, name, text):
    with gzip.open(folder / name, "wt") as f:
        f.write(text)


@pytest.fixture
def export(tmp_path):
    _write(tmp_path, "candles.csv.gz",
           "timestamp,datetime_utc,venue,coin,o,h,l,c,v\n"
           f"{T0},x,hyperliquid,BTC,100,110,90,105,2\n"
           f"{T0},x,binance,BTC,99,109,89,104,50\n"
           f"{T0 + H},x,binance,BTC,104,120,100,110,60\n"
           f"{T0 + H},x,binance,ETH,1,1,1,1,1\n")
    _write(tmp_path, "open_interest.csv.gz",
           "timestamp,datetime_utc,venue,coin,oi_usd\n"
           f"{T0 + H},x,hyperliquid,BTC,2100\n"
           f"{T0 + H},x,hyperliquid,BTC,2100\n"      # the export repeats rows: kept once
           f"{T0 + 2 * H},x,hyperliquid,BTC,2200\n")
    _write(tmp_path, "funding_rates.csv.gz",
           "timestamp,datetime_utc,venue,coin,funding_rate\n"
           f"{T0 + H},x,hyperliquid,BTC,0.0000125\n")
    return tmp_path


def test_candles_spliced_and_oi_in_coins(export):
    src = HourlyFolder(export)
    assert src.symbols() == ["BTCUSDT"]
    assert src.kinds("BTCUSDT") == ["klines-1h", "metrics", "fundingRate"]
    c = src.read("BTCUSDT", "klines-1h", None, None)
    assert c.close.tolist() == [105.0, 110.0]         # own candle first hour, Binance's the second
    oi = src.read("BTCUSDT", "metrics", None, None)
    # 2100 USD at T0+1h over the close known then (105), 2200 at T0+2h over 110
    assert oi.oi.tolist() == [20.0, 20.0] and oi.oi_value.tolist() == [2100.0, 2200.0]
    f = src.read("BTCUSDT", "fundingRate", None, None)
    assert f.interval_ms == H and f.rate.tolist() == [0.0000125]


def test_load_market_through_the_venue(export):
    market = api.load_market("BTCUSDT", str(export), venue="hyperliquid")
    assert market.exchange == "hyperliquid"
    assert any("take the binance perpetual's candle" in n for n in market.notes)


def test_bad_column_named(tmp_path):
    _write(tmp_path, "candles.csv.gz", "timestamp,venue,coin,o,h,l,c\n1,hyperliquid,BTC,1,1,1,1\n")
    with pytest.raises(DataError, match=r"candles.csv.gz: column\(s\) v missing"):
        HourlyFolder(tmp_path)


def test_not_a_number_named_with_its_line(tmp_path):
    _write(tmp_path, "candles.csv.gz", "timestamp,venue,coin,o,h,l,c,v\n1,hyperliquid,BTC,1,1,1,1,1\n"
                                       "2,hyperliquid,BTC,1,x,1,1,1\n")
    with pytest.raises(DataError, match=r"line 3, column 'h': not a number \('x'\)"):
        HourlyFolder(tmp_path)


def test_symbols():
    assert coin_of("BTCUSDT") == coin_of("btc") == "BTC"
    assert symbol_of("BTC") == "BTCUSDT"
    assert coin_of("USDT") == "USDT"

"""CVD and VPIN against hand-computed series and real trades/klines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liqmap.analysis.flow import FlowParams, bvc_buy_share, compute_flow, normal_cdf, rolling_vpin
from liqmap.frames import MS_PER_DAY, MS_PER_HOUR, Candles, DataError, MarketData, Trades


def trades_market(quantity, taker_sold, times=None) -> MarketData:
    n = len(quantity)
    times = np.arange(n) * 1000 if times is None else np.asarray(times)
    trades = Trades(time=times, price=np.full(n, 100.0), quantity=quantity, is_buyer_maker=taker_sold)
    candle = Candles(time=[0], open=[100.0], high=[100.0], low=[100.0], close=[100.0], volume=[float(sum(quantity))],
                     taker_buy_volume=[np.nan], interval_ms=MS_PER_DAY)
    return MarketData("BTCUSDT", "binance", candle, trades=trades)


def hourly_candles(volume, taker_buy=None, close=None, start=0) -> Candles:
    n = len(volume)
    close = np.full(n, 100.0) if close is None else np.asarray(close, dtype=float)
    return Candles(time=start + np.arange(n) * MS_PER_HOUR, open=close, high=close, low=close, close=close,
                   volume=volume, taker_buy_volume=np.full(n, np.nan) if taker_buy is None else taker_buy,
                   interval_ms=MS_PER_HOUR)


def test_balanced_flow_gives_vpin_zero_and_one_sided_gives_one():
    # Alternating 1-lot buys and sells with V = 2: every bucket holds one buy and one sell.
    balanced = trades_market(np.ones(20), np.arange(20) % 2 == 1)
    flow = compute_flow(balanced, start_ms=0, end_ms=10**6, params=FlowParams(bucket_volume=2.0, vpin_window=5))
    assert flow.method == "trades"
    assert flow.vpin_last == pytest.approx(0.0)
    assert flow.imbalance == "balanced"
    assert flow.cvd_last == 0.0

    sells = trades_market(np.ones(20), np.ones(20, dtype=bool))
    flow = compute_flow(sells, start_ms=0, end_ms=10**6, params=FlowParams(bucket_volume=2.0, vpin_window=5))
    assert flow.vpin_last == pytest.approx(1.0)
    assert flow.imbalance == "sell"
    assert flow.cvd_last == -20.0


def test_trades_are_split_at_bucket_edges():
    # Buy 3, sell 1, buy 2 with V = 2.  Cumulative volume 0,3,4,6; cumulative buys 0,3,3,5.
    # Edges at 2, 4, 6 cut the first trade 2+1: bucket buys are 2, 1, 2 of volume 2 each.
    # VPIN over 3 buckets = (|4-2| + |2-2| + |4-2|) / 6 = 2/3.
    market = trades_market(np.array([3.0, 1.0, 2.0]), np.array([False, True, False]))
    flow = compute_flow(market, start_ms=0, end_ms=10**6, params=FlowParams(bucket_volume=2.0, vpin_window=3))
    np.testing.assert_allclose(flow.bucket_buy, [2.0, 1.0, 2.0])
    np.testing.assert_allclose(flow.bucket_volume, [2.0, 2.0, 2.0])
    # Edge 2 falls inside trade 0, edge 4 at the end of trade 1, edge 6 at the end of trade 2.
    np.testing.assert_array_equal(flow.bucket_end_ms, [0, 1000, 2000])
    assert flow.vpin_last == pytest.approx(2 / 3)
    assert flow.imbalance == "buy"  # 5 bought vs 1 sold
    np.testing.assert_allclose(flow.cvd, [3.0, 2.0, 4.0])


def test_rolling_vpin_window_and_percentile():
    buy = np.array([1.0, 1.0, 2.0, 0.0])
    volume = np.full(4, 2.0)
    # windows of 2: (0+0)/4, (0+2)/4, (2+2)/4
    np.testing.assert_allclose(rolling_vpin(buy, volume, 2), [np.nan, 0.0, 0.5, 1.0])
    market = trades_market(np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0]), np.array([False, True, False, True, False, True]))
    # Buckets of 2: (b1,s1) (b1,s1) (b2) (s2): the same series as above; the last VPIN (1.0) is the
    # highest of the three, so its percentile is 100; the imbalance over the last two buckets is 0.
    flow = compute_flow(market, start_ms=0, end_ms=10**6, params=FlowParams(bucket_volume=2.0, vpin_window=2))
    assert flow.vpin_percentile == pytest.approx(100.0)
    assert flow.imbalance == "balanced"


def test_cvd_anchor_excludes_earlier_trades():
    market = trades_market(np.array([5.0, 1.0, 2.0]), np.array([False, True, False]), times=[0, 5000, 9000])
    flow = compute_flow(market, start_ms=4000, end_ms=10_000, params=FlowParams(bucket_volume=1.0))
    np.testing.assert_array_equal(flow.cvd_time, [5000, 9000])
    np.testing.assert_allclose(flow.cvd, [-1.0, 1.0])
    np.testing.assert_allclose(flow.cvd_at([0, 5000, 8999, 9000]), [0.0, -1.0, -1.0, 1.0])


def test_kline_taker_volume_is_used_when_there_are_no_trades():
    candles = hourly_candles(volume=[10.0, 10.0, 4.0], taker_buy=[7.0, 2.0, 4.0])
    flow = compute_flow(MarketData("BTCUSDT", "binance", candles), start_ms=0,
                        params=FlowParams(bucket_volume=4.0, vpin_window=6))
    assert flow.method == "taker_volume"
    np.testing.assert_allclose(flow.cvd, [4.0, -2.0, 2.0])  # +7-3, +2-8, +4-0
    np.testing.assert_array_equal(flow.cvd_time, [MS_PER_HOUR, 2 * MS_PER_HOUR, 3 * MS_PER_HOUR])
    # 24 units of volume = 6 buckets of 4 with buys 2.8, 2.8, 1.4+0.4, 0.8, 0.8, 4.
    np.testing.assert_allclose(flow.bucket_buy, [2.8, 2.8, 1.8, 0.8, 0.8, 4.0])
    expected = (1.6 + 1.6 + 0.4 + 2.4 + 2.4 + 4.0) / 24  # |2*buy - 4| per bucket
    assert flow.vpin_last == pytest.approx(expected)


def test_a_bar_still_open_at_the_end_is_not_counted():
    candles = hourly_candles(volume=[10.0, 10.0], taker_buy=[10.0, 0.0])
    flow = compute_flow(MarketData("BTCUSDT", "binance", candles), start_ms=0, end_ms=MS_PER_HOUR + 1,
                        params=FlowParams(bucket_volume=5.0))
    np.testing.assert_allclose(flow.cvd, [10.0])


def test_bvc_share_is_phi_of_return_over_trailing_sigma():
    # Closes 100 -> 101 -> 100: r = (a, -a) with a = ln 1.01.  Bar 1 has no sigma yet: 0.5.
    # Bar 2: mean 0, population std a, so the share is Phi(-1) = 0.158655.
    share = bvc_buy_share(np.array([100.0, 101.0]), np.array([101.0, 100.0]), sigma_bars=2)
    np.testing.assert_allclose(share, [0.5, 0.5 * (1 + math.erf(-1 / math.sqrt(2)))], atol=2e-7)
    candles = hourly_candles(volume=[10.0, 10.0], close=[101.0, 100.0])
    candles = Candles(time=candles.time, open=[100.0, 101.0], high=[101.0, 101.0], low=[100.0, 100.0],
                      close=[101.0, 100.0], volume=[10.0, 10.0], taker_buy_volume=[np.nan, np.nan],
                      interval_ms=MS_PER_HOUR)
    flow = compute_flow(MarketData("BTCUSDT", "binance", candles), start_ms=0,
                        params=FlowParams(bucket_volume=10.0, bvc_sigma_bars=2))
    assert flow.method == "bvc"
    np.testing.assert_allclose(flow.cvd, [0.0, 10 * (2 * 0.158655 - 1)], atol=1e-5)
    assert any("bulk volume classification" in n for n in flow.notes)


def test_normal_cdf_matches_erf():
    x = np.linspace(-6, 6, 241)
    exact = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(normal_cdf(x), exact, atol=2e-7)


def test_daily_bucket_size_uses_only_earlier_days():
    # Day 0: 1/h (24), day 1: 39 in total, day 2: 2/h.  adv_days=1, 4 buckets a day:
    # day 0 is warm-up; V(day 1) = 24/4 = 6 -> 6.5 buckets; V(day 2) = 39/4 = 9.75.
    # The bucket straddling midnight holds 3 of day 1 and half a day-2 bucket (4.875): 7.875.
    volume = np.concatenate((np.full(24, 1.0), np.full(24, 39 / 24), np.full(24, 2.0)))
    candles = hourly_candles(volume=volume, taker_buy=volume / 2)
    params = FlowParams(buckets_per_day=4, adv_days=1.0, vpin_window=2)
    flow = compute_flow(MarketData("BTCUSDT", "binance", candles), params=params)
    assert flow.bucket_volume[:6] == pytest.approx([6.0] * 6)
    assert flow.bucket_volume[6] == pytest.approx(7.875)
    # day 2 after the straddling bucket: 48 - 4.875 = 43.125 = 4.42 buckets of 9.75 -> 4 complete
    assert flow.bucket_volume[7:] == pytest.approx([9.75] * 4)
    assert flow.bucket_end_ms[0] == MS_PER_DAY + 4 * MS_PER_HOUR  # 6 units of day-1 volume = 3.7 hours
    assert flow.vpin_last == pytest.approx(0.0)

    # No look-ahead: changing day-2 volume leaves day-1 buckets unchanged.
    volume2 = volume.copy()
    volume2[48:] = 50.0
    flow2 = compute_flow(MarketData("BTCUSDT", "binance", hourly_candles(volume2, volume2 / 2)), params=params)
    np.testing.assert_allclose(flow2.bucket_volume[:6], flow.bucket_volume[:6])


def test_one_day_of_data_has_no_vpin_and_says_why():
    candles = hourly_candles(volume=np.ones(24), taker_buy=np.ones(24))
    flow = compute_flow(MarketData("BTCUSDT", "binance", candles))
    assert flow.vpin_last is None and flow.imbalance is None
    assert any("more than one day" in n for n in flow.notes)
    assert flow.summary()["tof"]["vpin"] is None


def test_bad_volume_is_reported_with_row_and_time():
    candles = hourly_candles(volume=[10.0, 10.0], taker_buy=[5.0, 11.0])
    with pytest.raises(DataError, match=r"row 1 \(1970-01-01T01:00:00Z\).*taker_buy_volume 11.0"):
        compute_flow(MarketData("BTCUSDT", "binance", candles))


@pytest.fixture(scope="module")
def real_trades(shared_data):
    frame = pd.read_csv(shared_data / "binance_aggtrades_sample" / "BTCUSDT-aggTrades-2026-01-01-first5000.csv.gz")
    return frame


def test_real_trades_and_their_klines_give_the_same_cvd(real_trades):
    """The 5,000 real BTCUSDT trades, and 1-minute klines aggregated from them, agree at minute ends."""
    frame = real_trades
    trades = Trades(time=frame["timestamp"], price=frame["price"], quantity=frame["quantity"],
                    is_buyer_maker=frame["is_buyer_maker"].astype(bool))
    minute = frame["timestamp"] // 60_000 * 60_000
    taker_buy = frame["quantity"].where(~frame["is_buyer_maker"].astype(bool), 0.0)
    bars = pd.DataFrame({"t": minute, "v": frame["quantity"], "tb": taker_buy, "p": frame["price"]}).groupby("t")
    agg = bars.agg(v=("v", "sum"), tb=("tb", "sum"), o=("p", "first"), h=("p", "max"), l=("p", "min"), c=("p", "last"))
    candles = Candles(time=agg.index.to_numpy(), open=agg["o"], high=agg["h"], low=agg["l"], close=agg["c"],
                      volume=agg["v"], taker_buy_volume=agg["tb"], interval_ms=60_000)
    start, end = int(agg.index[0]), int(agg.index[-1])  # the last, partial minute is left out
    from_trades = compute_flow(MarketData("BTCUSDT", "binance", candles, trades=trades), start, end,
                               FlowParams(bucket_volume=1.0))  # 79.7 BTC traded: 79 buckets
    from_klines = compute_flow(MarketData("BTCUSDT", "binance", candles), start, end, FlowParams(bucket_volume=1.0))
    assert from_trades.method == "trades" and from_klines.method == "taker_volume"
    minute_ends = agg.index.to_numpy()[1:]
    np.testing.assert_allclose(from_trades.cvd_at(minute_ends), from_klines.cvd_at(minute_ends), atol=1e-9)
    assert from_trades.cvd_last == pytest.approx(float((2 * agg["tb"] - agg["v"]).iloc[:-1].sum()))
    assert 0.0 < from_trades.vpin_last < 1.0


def test_real_klines_bvc_has_no_look_ahead(shared_data):
    frame = pd.read_csv(shared_data / "binance_btcusdt_um_1h_2024_2025" / "BTCUSDT_um_1h.csv.gz", nrows=24 * 40)
    candles = Candles(time=frame["timestamp"], open=frame["Open"], high=frame["High"], low=frame["Low"],
                      close=frame["Close"], volume=frame["Volume"], taker_buy_volume=np.full(len(frame), np.nan),
                      interval_ms=MS_PER_HOUR)
    market = MarketData("BTCUSDT", "binance", candles)
    cut = int(frame["timestamp"].iloc[24 * 30])
    full = compute_flow(market, end_ms=cut)
    truncated = compute_flow(market.slice_time(None, cut))
    np.testing.assert_allclose(full.vpin, truncated.vpin)
    np.testing.assert_allclose(full.cvd, truncated.cvd)
    assert full.method == "bvc"
    # 29 bucketed days x 50 buckets a day, give or take the last partial one and day-to-day size changes.
    assert 1300 < full.bucket_volume.size < 1600
    assert 0.0 < full.vpin_last < 1.0 and 0.0 < full.vpin_percentile <= 100.0


def test_flow_command_json_on_the_sample(capsys):
    import json

    from liqmap.cli import main

    assert main(["flow", "BTCUSDT", "--format", "json", "--as-of", "2026-02-06T00:00", "--window", "24h"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "bvc"  # the bundled klines carry no taker-buy volume
    assert payload["window"] == {"start": "2026-02-05T00:00:00Z", "end": "2026-02-06T00:00:00Z"}
    assert len(payload["cvd_series"]) == 24
    assert payload["cvd_series"][-1][1] == pytest.approx(payload["cvd"]["value"])
    # Feb 5 was a 10% down day: bulk classification puts the day's net taker flow on the sell side.
    assert payload["cvd"]["value"] < 0
    assert payload["tof"]["window_buckets"] == 50 and 0 < payload["tof"]["vpin"] < 1

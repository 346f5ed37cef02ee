"""The position book on tiny hand-computed books, and its one-pass history against per-T snapshots."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import Candles, DataError, MarketData, OpenInterest
from liqmap.model.build import build_book
from liqmap.model.deaths import death_steps, first_at_or_below, min_table
from liqmap.model.params import BookParams

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the bracket snapshots in force then apply

# Binance BTCUSDT, a 10,000 USDT position is in the first bracket (MMR 0.40%, maintenance amount 0):
# long LP = EP (1 - 1/10) / (1 - 0.004), short LP = EP (1 + 1/10) / (1 + 0.004).
LONG_10X = 0.9 / 0.996
SHORT_10X = 1.1 / 1.004


def candles(rows, taker_buy_share=0.75, interval=H):
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows))
    volume = np.full(o.size, 10.0)
    return Candles(time=T0 + np.arange(o.size) * interval, open=o, high=h, low=lo, close=c, volume=volume,
                   taker_buy_volume=volume * taker_buy_share, interval_ms=interval)


def oi(times, values):
    return OpenInterest(time=T0 + np.array(times), oi=np.array(values, float), oi_value=np.full(len(values), np.nan))


ONE_COHORT = BookParams(leverages=(10.0,), leverage_median=10.0, leverage_sigma=1.0, leverage_spread=0.0, oi_shrinkage=0.0,
                        maker_leveraged_share=0.0,
                        entry_anchors="close", decay_half_life_10x=None, funding_tilt=0.0,
                        oi_reconcile=False)  # the book's own contracts (test_calibration scales them)


@pytest.fixture
def tiny_book():
    """Open 100 at 100 (75% taker buys), close 55, a dip to 90 kills the long level, then flat."""
    market = MarketData(
        "BTCUSDT", "binance",
        candles([(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 90, 91), (91, 95, 91, 94)]),
        open_interest=oi([0, H, 2 * H, 3 * H, 4 * H], [1000, 1100, 1045, 970, 970]),
    )
    return build_book(market, ONE_COHORT)


def test_tiny_book_levels_and_deaths(tiny_book):
    lv = tiny_book.levels
    assert lv.price.tolist() == pytest.approx([100 * LONG_10X, 100 * SHORT_10X])  # 90.3614, 109.5618
    assert lv.contracts.tolist() == pytest.approx([75.0, 25.0])  # taker buyers long, taker sellers short
    assert lv.open_step.tolist() == [0, 0]
    # the long level dies in candle 2 (low 90 <= 90.36); the short is never reached (n = 4)
    assert lv.death_step.tolist() == [2, 4]


def test_tiny_book_closes_net_of_model_liquidations(tiny_book):
    # step 1: 55 of 1,100 closed voluntarily -> S = 0.95
    # step 2: OI fell 75 but the model liquidated 75 * 0.95 = 71.25 itself, so only 3.75 of 1,045 closed
    s1 = 0.95
    s2 = s1 * (1 - 3.75 / 1045)
    assert np.exp(tiny_book.log_survival).tolist() == pytest.approx([1.0, s1, s2, s2])


def test_tiny_book_snapshots(tiny_book):
    edges = np.arange(80.0, 121.0, 1.0)
    # as of 2h (after candle 1): both alive, shrunk by 0.95
    long, short = tiny_book.snapshot(T0 + 2 * H, edges)
    assert long.sum() == pytest.approx(75 * 0.95 * 100 * LONG_10X)
    assert short.sum() == pytest.approx(25 * 0.95 * 100 * SHORT_10X)
    assert long[90 - 80] == long.sum()  # the 90.36 level sits in bin [90, 91)
    assert short[109 - 80] == short.sum()
    # as of 4h: the long was swept in candle 2; the short carries both closes
    long, short = tiny_book.snapshot(T0 + 4 * H, edges)
    assert long.sum() == 0
    assert short.sum() == pytest.approx(25 * 0.95 * (1 - 3.75 / 1045) * 100 * SHORT_10X)
    # mid-candle: as of 2.5h only candles ending by then count, so the long is still alive
    assert tiny_book.snapshot(T0 + 2 * H + H // 2, edges)[0].sum() == pytest.approx(75 * 0.95 * 100 * LONG_10X)
    # a window that starts after the opening leaves the positions out
    assert sum(a.sum() for a in tiny_book.snapshot(T0 + 4 * H, edges, window_ms=2 * H)) == 0


def test_crossing_in_the_opening_candle_does_not_kill():
    market = MarketData(
        "BTCUSDT", "binance",
        candles([(100, 100, 80, 100), (100, 101, 99, 100)]),
        open_interest=oi([0, H, 2 * H], [1000, 1100, 1100]),
    )
    book = build_book(market, ONE_COHORT)
    assert book.levels.death_step.tolist() == [2, 2]


def random_market(n=400, seed=3):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.008, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.006, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.006, n))
    volume = rng.uniform(1, 5, n)
    c = Candles(time=T0 + np.arange(n) * H, open=open_, high=high, low=low, close=close, volume=volume,
                taker_buy_volume=volume * rng.uniform(0.3, 0.7, n), interval_ms=H)
    level = np.maximum(1000 + np.cumsum(rng.normal(0, 15, 12 * n + 1)), 10)
    return MarketData("BTCUSDT", "binance", c, open_interest=oi(np.arange(12 * n + 1) * (H // 12), level))


def test_history_equals_snapshots_one_pass():
    n = 300
    book = build_book(random_market(n, seed=7), BookParams(decay_half_life_10x=24.0))
    edges = np.linspace(50, 200, 151)
    times = T0 + np.arange(10, n + 1, 7) * H + 123
    for view, recency in (("all", None), ("high", None), ("optical", 3 * 86_400_000)):
        long_h, short_h = book.history(times, edges, view, window_ms=5 * 86_400_000, recency_half_life_ms=recency)
        for row, t in enumerate(times):
            long_s, short_s = book.snapshot(int(t), edges, view, window_ms=5 * 86_400_000, recency_half_life_ms=recency)
            np.testing.assert_allclose(long_h[row], long_s, rtol=1e-9, atol=1e-6)
            np.testing.assert_allclose(short_h[row], short_s, rtol=1e-9, atol=1e-6)


def test_first_crossing_matches_brute_force():
    rng = np.random.default_rng(1)
    low = rng.uniform(0, 100, 257)
    table = min_table(low)
    start = rng.integers(0, 260, 2000).clip(0, 257)
    price = rng.uniform(0, 40, 2000)
    got = first_at_or_below(table, start, price)
    for s, p, g in zip(start, price, got):
        hits = np.flatnonzero(low[s:] <= p)
        assert g == (s + hits[0] if hits.size else low.size)


def test_five_minute_oi_over_one_minute_candles_is_pooled_by_volume():
    # one 5-minute OI increment of +50 over five flat 1-minute candles at 100..104 with volumes 1,1,2,0,1:
    # the opening is spread by volume, then pooled into one entry group that exists from the 5th minute
    m = 60_000
    prices = np.array([100, 101, 102, 103, 104.0])
    volume = np.array([1, 1, 2, 0, 1.0])
    c = Candles(time=T0 + np.arange(5) * m, open=prices, high=prices, low=prices, close=prices, volume=volume,
                taker_buy_volume=volume, interval_ms=m)
    book = build_book(MarketData("BTCUSDT", "binance", c, open_interest=oi([0, 5 * m], [100, 150])), ONE_COHORT)
    longs = book.levels.is_long
    assert set(book.levels.open_step.tolist()) == {4}
    entries = dict(zip(np.round(book.levels.price[longs] / LONG_10X, 6), book.levels.contracts[longs]))
    assert entries == pytest.approx({100.0: 10, 101.0: 10, 102.0: 20, 104.0: 10})
    assert any("pooled per 5-minute open-interest interval" in n for n in book.notes)


def test_open_interest_gap_is_refused_with_its_span():
    market = MarketData(
        "BTCUSDT", "binance", candles([(100, 100, 100, 100)] * 6),
        open_interest=oi([0, H, 5 * H, 6 * H], [1000, 1100, 1200, 1200]),
    )
    with pytest.raises(DataError, match=r"largest is 4.0 h from 2026-01-01T01:00:00Z to 2026-01-01T05:00:00Z"):
        build_book(market, ONE_COHORT)
    bridged = build_book(market, ONE_COHORT.with_overrides(max_oi_gap_ms=5 * H))
    assert any("gap(s) bridged" in note for note in bridged.notes)


def test_death_steps_for_short_levels_use_highs():
    c = candles([(100, 100, 100, 100), (100, 105, 99, 104), (104, 111, 103, 110)])
    from liqmap.model.positions import Levels

    lv = Levels(price=np.array([104.0, 110.5, 120.0]), contracts=np.ones(3), is_long=np.zeros(3, bool),
                cohort=np.zeros(3, np.int16), open_step=np.array([0, 0, 1]), death_step=np.empty(0, np.int64))
    assert death_steps(c, lv, lv.open_step + 1).tolist() == [1, 2, 3]


def test_extending_a_book_equals_building_it_whole():
    from liqmap.model.build import extend_book

    market = random_market()
    whole = build_book(market)
    cut = T0 + 250 * H
    # the first book sees candles and OI up to the cut (the OI snapshot at the cut closes its last candle)
    first = MarketData("BTCUSDT", "binance", market.candles.slice_time(None, cut),
                       open_interest=market.open_interest.slice_time(None, cut + 1))
    extended = extend_book(build_book(first), market)
    edges = np.linspace(50, 200, 301)
    for t in (cut, cut + 30 * H, T0 + 400 * H):
        for got, want in zip(extended.snapshot(t, edges), whole.snapshot(t, edges)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(extended.log_survival, whole.log_survival, rtol=1e-12, atol=1e-12)
    assert sorted(zip(extended.levels.open_step, extended.levels.price, extended.levels.death_step)) == sorted(
        zip(whole.levels.open_step, whole.levels.price, whole.levels.death_step))


def test_extending_with_data_that_does_not_continue_is_refused():
    from liqmap.model.build import extend_book

    market = random_market()
    book = build_book(market)
    shifted = MarketData("BTCUSDT", "binance", market.candles.slice_time(T0 + H, None),
                         open_interest=market.open_interest)
    with pytest.raises(DataError, match="does not continue the book"):
        extend_book(book, shifted)


def test_history_stays_finite_and_exact_with_fast_decay_over_long_spans():
    # half-life under an hour at 125x over 400 hourly rows: e^(r t) alone would overflow
    market = random_market()
    book = build_book(market, BookParams(decay_half_life_10x=2.0))
    edges = np.linspace(50, 200, 151)
    times = T0 + np.arange(1, 401) * H
    long_h, short_h = book.history(times, edges)
    assert np.isfinite(long_h).all() and np.isfinite(short_h).all()
    for row in (5, 200, 399):
        long_s, short_s = book.snapshot(int(times[row]), edges)
        np.testing.assert_allclose(long_h[row], long_s, rtol=1e-9, atol=1e-9 * long_s.max())
        np.testing.assert_allclose(short_h[row], short_s, rtol=1e-9, atol=1e-9 * short_s.max())


def test_missing_candles_are_refused_with_their_span_or_bridged_on_request():
    full = candles([(100, 100, 100, 100)] * 6)
    keep = np.array([0, 1, 4, 5])  # the bars of 02:00 and 03:00 are missing
    gapped = Candles(time=full.time[keep], open=full.open[keep], high=full.high[keep], low=full.low[keep],
                     close=full.close[keep], volume=full.volume[keep], taker_buy_volume=full.taker_buy_volume[keep],
                     interval_ms=H)
    market = MarketData("BTCUSDT", "binance", gapped, open_interest=oi([0, H, 2 * H, 3 * H, 4 * H, 5 * H, 6 * H],
                                                                          [1000, 1100, 1100, 1100, 1100, 1100, 1100]))
    with pytest.raises(DataError) as err:
        build_book(market, ONE_COHORT)
    assert str(err.value) == (
        "candles have 1 gap(s) longer than 0 min; the largest is 2.0 h without candles from 2026-01-01T02:00:00Z "
        "to 2026-01-01T04:00:00Z. Fill the data, choose a period without it, or raise max_candle_gap_ms to bridge "
        "it (the price path then jumps across the gap: levels it would have swept there stay alive)."
    )
    bridged = build_book(market, ONE_COHORT.with_overrides(max_candle_gap_ms=2 * H))
    assert ("candles: 1 gap(s) bridged (largest 2.0 h without candles from 2026-01-01T02:00:00Z to "
            "2026-01-01T04:00:00Z); levels inside a gap are not swept") in bridged.notes

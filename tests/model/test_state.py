"""The book that updates in place equals a whole build after every update; what it drops, and why."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from liqmap.frames import Candles, DataError, Funding, MarketData, OpenInterest
from liqmap.model.build import build_book, extend_book
from liqmap.model.params import BookParams
from liqmap.model.state import BookState, _Store

from .test_book import H, LONG_10X, ONE_COHORT, SHORT_10X, T0, candles, oi, random_market

M = 60_000
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
DAY = 86_400_000


def minute_market(minutes: int, seed: int = 1) -> MarketData:
    """1-minute candles, open interest every 5 minutes, funding every 8 hours."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0015, minutes)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, minutes))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, minutes))
    volume = rng.uniform(1, 5, minutes)
    c = Candles(time=T0 + np.arange(minutes) * M, open=open_, high=high, low=low, close=close, volume=volume,
                taker_buy_volume=volume * rng.uniform(0.3, 0.7, minutes), interval_ms=M)
    k = minutes // 5 + 1
    level = np.maximum(1000 + np.cumsum(rng.normal(0, 5, k)), 10)
    funding_time = T0 + np.arange(0, minutes * M, 8 * H)
    return MarketData("BTCUSDT", "binance", c, funding=Funding(funding_time, rng.normal(0, 1e-4, funding_time.size)),
                      open_interest=OpenInterest(T0 + np.arange(k) * 5 * M, level, np.full(k, np.nan)))


def known_at(market: MarketData, t: int, oi_lag: int = 0) -> MarketData:
    """What is known at ``t``: candles that ended, open interest published ``oi_lag`` late."""
    part = market.slice_time(None, t)
    return MarketData(market.symbol, market.exchange, part.candles.slice_time(None, t - market.candles.interval_ms + 1),
                      open_interest=market.open_interest.slice_time(None, t - oi_lag), funding=part.funding,
                      trades=part.trades, mark_candles=part.mark_candles)


def assert_same_book(state: BookState, data: MarketData, t: int, window_ms, edges, params) -> None:
    whole = build_book(data, params, window_ms)
    got = state.book()
    for view in ("all", "high", "optical"):
        recency = 3 * DAY if view == "optical" else None
        for a, b in zip(got.snapshot(t, edges, view, window_ms, recency), whole.snapshot(t, edges, view, window_ms,
                                                                                            recency)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * max(float(np.abs(b).max()), 1e-12))
    price = float(whole.close[-1])
    want = whole.coverage(t, window_ms, price, edges)
    assert (got.coverage(t, window_ms, price, edges) is None) == (want is None)
    if want is not None:
        assert got.coverage(t, window_ms, price, edges) == pytest.approx(want, rel=1e-9)


def replay(market: MarketData, window_ms, params=None, oi_lag: int = 0, check_every: int = 1, first: int = 2):
    """Feed ``market`` one candle at a time and compare with a whole build every ``check_every`` updates."""
    params = params or BookParams()
    state = BookState(market.symbol, market.exchange, params, window_ms)
    c = market.candles
    edges = np.linspace(float(c.low.min()) * 0.5, float(c.high.max()) * 1.5, 801)
    counts = []
    for i in range(first, len(c) + 1):
        t = int(c.time[i - 1]) + c.interval_ms
        state.extend(known_at(market, t, oi_lag))
        counts.append(state.level_count)
        if (i - first) % check_every == 0 or i == len(c):
            assert_same_book(state, known_at(market, t, oi_lag), t, window_ms, edges, params)
    return state, counts


def test_a_tiny_book_grown_candle_by_candle_is_the_hand_computed_one():
    # the tiny book of test_book: open 100 at 100 (75 % taker buys), close 55, a dip to 90 kills the long
    market = MarketData(
        "BTCUSDT", "binance",
        candles([(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 90, 91), (91, 95, 91, 94)]),
        open_interest=oi([0, H, 2 * H, 3 * H, 4 * H], [1000, 1100, 1045, 970, 970]),
    )
    state = BookState("BTCUSDT", "binance", ONE_COHORT)
    edges = np.arange(80.0, 121.0, 1.0)
    for k in range(1, 5):
        state.extend(known_at(market, T0 + k * H))
    long, short = state.book().snapshot(T0 + 4 * H, edges)
    assert long.sum() == 0  # swept in candle 2; and once settled the level is no longer held
    assert short.sum() == pytest.approx(25 * 0.95 * (1 - 3.75 / 1045) * 100 * SHORT_10X)
    assert state.level_count == 1
    assert state.book().levels.price.tolist() == pytest.approx([100 * SHORT_10X])
    assert 100 * LONG_10X == pytest.approx(90.3614, abs=1e-4)


def test_hourly_candles_with_5_minute_oi_equal_a_whole_build_after_every_update():
    replay(random_market(150), window_ms=None)


@pytest.mark.parametrize("window_days", [1, 3])
def test_window_expiry_keeps_the_equality_and_bounds_the_levels(window_days):
    state, counts = replay(random_market(75 * window_days + 10), window_ms=window_days * DAY, check_every=11)
    # the level count stops growing with history once the window is full
    full = window_days * 24
    assert max(counts[2 * full:]) < 1.6 * np.mean(counts[full:2 * full])
    # the state holds only the window's candles (plus the tail), not the history
    assert state.book().step_time.size <= full + 2


def test_one_minute_candles_with_late_open_interest_equal_a_whole_build(monkeypatch):
    monkeypatch.setattr(_Store, "COMPACT_AT", 50)  # compact often, so compaction is checked too
    market = minute_market(800)
    # the OI snapshot arrives 7 minutes after its candles: the provisional tail is recomputed when it does
    replay(market, window_ms=3 * H, oi_lag=7 * M, check_every=9, first=10)


def test_one_minute_candles_without_decay_equal_a_whole_build():
    replay(minute_market(900, seed=4), window_ms=4 * H, params=BookParams(decay_half_life_10x=None), check_every=7)


def test_openings_shrunk_toward_the_volume_rate_equal_a_whole_build():
    # the prior looks back 40 minutes, past the settled start: the state keeps that much OI and candle volume
    params = BookParams(oi_shrinkage=0.7, oi_prior_span_ms=40 * M)
    state, _ = replay(minute_market(700, seed=5), window_ms=3 * H, params=params, oi_lag=7 * M, check_every=11,
                      first=10)
    assert state.book().opened.sum() > 0
    # hourly candles over 5-minute OI: the span starts inside a settled candle, whose volume is kept
    replay(random_market(60), window_ms=DAY, params=BookParams(oi_shrinkage=0.7, oi_prior_span_ms=150 * M),
           check_every=7)


def test_decayed_levels_leave_below_the_floor():
    # a 2-hour half-life at 10x: 125x fades by e^-30 in 30 / (ln 2 / (2 h * 10 / 125)) = 6.9 h
    params = BookParams(decay_half_life_10x=2.0)
    state, _ = replay(random_market(60), window_ms=None, params=params, check_every=10)
    book = state.book()
    age = book.step_end[-1] - book.step_end[book.levels.open_step]
    leverage = np.asarray(params.leverages)[book.levels.cohort]
    rate = np.log(2) / (2.0 * H * 10.0 / leverage)
    assert (rate * age).max() <= 30 + rate.max() * H  # settled at most one candle ago
    assert 125.0 in leverage  # the young ones are kept


def test_settled_deaths_and_expired_openings_leave_the_state():
    state, _ = replay(random_market(200), window_ms=2 * DAY, check_every=50)
    book = state.book()
    n = book.step_time.size
    assert (book.levels.death_step >= n - 1).all()  # only levels alive (or swept in the tail) are held
    assert book.step_time[book.levels.open_step].min() >= book.step_time[-1] - 2 * DAY


def test_data_that_goes_back_in_time_is_refused_and_changes_nothing():
    market = random_market(50)
    state = BookState("BTCUSDT", "binance")
    state.extend(known_at(market, T0 + 20 * H))
    before = state.book()
    with pytest.raises(DataError, match=r"candles: new data starts at 2026-01-01T05:00:00Z, not after the last held"):
        state.append(candles=market.candles.slice_time(T0 + 5 * H, T0 + 6 * H))
    with pytest.raises(DataError, match="open interest: new data starts"):
        state.append(open_interest=market.open_interest.slice_time(T0, T0 + H))
    after = state.book()
    np.testing.assert_array_equal(before.log_survival, after.log_survival)
    with pytest.raises(DataError, match="the book state is binance BTCUSDT, the data bybit BTCUSDT"):
        state.extend(MarketData("BTCUSDT", "bybit", market.candles))


def test_extend_book_grows_a_state_in_place_and_rebuilds_a_plain_book():
    market = random_market(120)
    state = BookState("BTCUSDT", "binance")
    state.extend(known_at(market, T0 + 60 * H))
    grown = extend_book(state, known_at(market, T0 + 120 * H))
    edges = np.linspace(50, 200, 301)
    whole = build_book(known_at(market, T0 + 120 * H))
    np.testing.assert_allclose(grown.snapshot(T0 + 120 * H, edges)[0], whole.snapshot(T0 + 120 * H, edges)[0],
                               rtol=1e-9)


def test_the_sample_through_build_maps_equals_a_build_after_every_update():
    import liqmap

    sample = liqmap.load_market("BTCUSDT", "sample")
    state = liqmap.book_state("BTCUSDT", "binance", window="20d")
    ends = sample.candles.time + sample.candles.interval_ms
    for t in ends[-25:]:
        t = int(t)
        state.extend(known_at(sample, t))
        via_state = liqmap.build_maps(market=sample, as_of=t, window="20d", views=["all", "optical"], state=state,
                                      now=t)
        built = liqmap.build_maps(market=known_at(sample, t), as_of=t, window="20d", views=["all", "optical"], now=t)
        for a, b in zip(via_state, built):
            np.testing.assert_allclose(a.long, b.long, rtol=1e-9, atol=1e-9 * b.long.max())
            np.testing.assert_allclose(a.short, b.short, rtol=1e-9, atol=1e-9 * b.short.max())
            assert a.model["coverage"] == pytest.approx(b.model["coverage"], rel=1e-9)


def test_build_maps_refuses_a_state_that_is_not_its_book():
    import liqmap

    sample = liqmap.load_market("BTCUSDT", "sample")
    state = liqmap.book_state("BTCUSDT", window="20d")
    end = int(sample.candles.time[-1]) + sample.candles.interval_ms
    state.extend(sample)
    with pytest.raises(ValueError, match="holds positions for 20d, the maps ask for a 30d window"):
        liqmap.build_maps(market=sample, window="30d", state=state)
    with pytest.raises(ValueError, match="other model parameters"):
        liqmap.build_maps(market=sample, window="20d", params={"leverage_median": 7}, state=state)
    with pytest.raises(ValueError, match="maps from it need an as-of time at or after it"):
        liqmap.build_maps(market=sample, window="20d", as_of=end - 5 * H, state=state)


def test_w1_trades_one_minute_candles_and_oi_equal_a_whole_build(shared_dir, tmp_path):
    import liqmap

    sys.path.insert(0, str(BENCHMARKS))
    import workloads

    folder = workloads.ensure_trades(workloads.SMOKE_1DAY, tmp_path, shared_dir / "bench" / "gen_aggtrades.py")
    market = liqmap.load_market("BTCUSDT", folder)
    assert market.trades is not None and len(market.trades) > 10_000
    replay(market, window_ms=6 * H, check_every=97, first=30)

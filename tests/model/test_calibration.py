"""The OI reconciliation and the coverage record, on the hand-computed tiny book of test_book."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liqmap.frames import MarketData
from liqmap.model.build import build_book
from liqmap.model.calibration import held_contracts, oi_scale
from liqmap.model.params import BookParams

from .test_book import LONG_10X, ONE_COHORT, SHORT_10X, H, T0, candles, oi, random_market

RECONCILED = replace(ONE_COHORT, oi_reconcile=True)


def tiny(params: BookParams):
    """test_book's tiny book: open 100 at 100 (75 long, 25 short), close 55, the long swept in candle 2."""
    market = MarketData(
        "BTCUSDT", "binance",
        candles([(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 90, 91), (91, 95, 91, 94)]),
        open_interest=oi([0, H, 2 * H, 3 * H, 4 * H], [1000, 1100, 1045, 970, 970]),
    )
    return build_book(market, params)


def test_the_book_is_scaled_to_hold_the_oi():
    book = tiny(RECONCILED)
    edges = np.arange(80.0, 121.0, 1.0)
    # as of 2h the book holds 95 of the 1,045 contracts open: every level is scaled by 1045 / 95 = 11,
    # so the long level (75 % of what is held) carries 0.75 x 1,045 contracts at 90.36
    assert oi_scale(book, [T0 + 2 * H], None)[0] == pytest.approx(11.0)
    long, short = book.snapshot(T0 + 2 * H, edges)
    assert long.sum() == pytest.approx(0.75 * 1045 * 100 * LONG_10X)
    assert short.sum() == pytest.approx(0.25 * 1045 * 100 * SHORT_10X)
    # as of 4h only the short is held (25 x S2 contracts): it carries all 970 contracts of the OI
    long, short = book.snapshot(T0 + 4 * H, edges)
    assert long.sum() == 0
    assert short.sum() == pytest.approx(970 * 100 * SHORT_10X)
    # the history reads the same scale per row
    long_h, short_h = book.history([T0 + 2 * H, T0 + 4 * H], edges)
    assert long_h[0].sum() == pytest.approx(0.75 * 1045 * 100 * LONG_10X)
    assert short_h[1].sum() == pytest.approx(970 * 100 * SHORT_10X)
    # nothing held (a window that starts after the opening): scale 1, the map stays empty
    assert oi_scale(book, [T0 + 4 * H], 2 * H)[0] == 1.0
    # off: the book's own contracts
    assert oi_scale(tiny(ONE_COHORT), [T0 + 2 * H], None)[0] == 1.0


def test_held_contracts_divide_the_maker_legs_out():
    # every maker leveraged too: 100 long and 100 short legs for 100 contracts, 95 contracts held as of 2h;
    # as of 4h the short legs are left (the swept long's 95 legs cover the 75 closed: S stays 0.95)
    both = replace(ONE_COHORT, maker_leveraged_share=1.0)
    assert held_contracts(tiny(both), [T0 + 2 * H, T0 + 4 * H], None) == pytest.approx([95.0, 100 * 0.95 / 2])
    # one time (a map) sums the levels directly, many (a history) sweep: the same counts
    assert held_contracts(tiny(both), [T0 + 4 * H], None) == pytest.approx([100 * 0.95 / 2])


def test_coverage_on_a_hand_book():
    edges = np.arange(85.0, 101.0)  # [85, 100]: the long level (90.36) is inside, the short (109.56) is not
    # price 95: the long level is 4.9 % below it (within 5 %), the short 15.3 % above
    got = tiny(RECONCILED).coverage(T0 + 2 * H, None, 95.0, edges)
    assert got == pytest.approx({"placed": 95 / 1045, "scale": 11.0, "alive": 1.0, "in_grid": 0.75,
                                 "within_5pct": 0.75})
    off = tiny(ONE_COHORT).coverage(T0 + 2 * H, None, 95.0, edges)
    assert off == pytest.approx({"placed": 95 / 1045, "scale": 1.0, "alive": 95 / 1045,
                                 "in_grid": 75 * 0.95 / 1045, "within_5pct": 75 * 0.95 / 1045})
    # before the first candle has ended no OI is known at the as-of time
    assert tiny(RECONCILED).coverage(T0 + H // 2, None, 95.0, edges) is None


def test_the_scale_uses_no_data_after_the_as_of_time():
    """A book over more data (later candles and OI) gives the same scale, coverage and map at an earlier time."""
    full = random_market(300, seed=11)
    # what is known at 200h: the candles ended by then and the OI snapshots up to and at it
    early = MarketData(full.symbol, full.exchange, full.candles.slice_time(None, T0 + 200 * H),
                       open_interest=full.open_interest.slice_time(None, T0 + 200 * H + 1))
    params = BookParams(decay_half_life_10x=24.0, oi_reconcile=True)
    full_book, early_book = build_book(full, params, 5 * 86_400_000), build_book(early, params, 5 * 86_400_000)
    edges = np.linspace(50, 200, 151)
    for t in (T0 + 150 * H, T0 + 200 * H):
        a, b = oi_scale(full_book, [t], 5 * 86_400_000)[0], oi_scale(early_book, [t], 5 * 86_400_000)[0]
        assert a == pytest.approx(b, rel=1e-12) and a > 1.0
        assert full_book.coverage(t, 5 * 86_400_000, 100.0, edges) == pytest.approx(
            early_book.coverage(t, 5 * 86_400_000, 100.0, edges), rel=1e-12)
        np.testing.assert_allclose(full_book.snapshot(t, edges, window_ms=5 * 86_400_000),
                                   early_book.snapshot(t, edges, window_ms=5 * 86_400_000), rtol=1e-12)


def test_the_scale_makes_the_alive_book_hold_the_oi():
    book = build_book(random_market(300, seed=5), BookParams(oi_reconcile=True), 5 * 86_400_000)
    times = T0 + np.arange(20, 301, 10) * H
    cover = [book.coverage(int(t), 5 * 86_400_000, 100.0, np.array([1.0, 1e4])) for t in times]
    assert [c["alive"] for c in cover] == pytest.approx(np.ones(times.size))
    assert [c["scale"] for c in cover] == pytest.approx(oi_scale(book, times, 5 * 86_400_000), rel=1e-9)

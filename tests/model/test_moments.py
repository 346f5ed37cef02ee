"""Many moments read from one book (``PositionBook.read``, ``liqmap.model.moments``) against each moment
weighed level by level: on the hand-computed tiny book and on the sample at moments exactly at openings,
sweeps and window expiries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from liqmap import api
from liqmap.analysis.mapping import price_grid
from liqmap.model.build import build_book
from liqmap.model.decay import decay_rates
from liqmap.model.leverage import view_mask
from liqmap.model.positions import NEAR_FRACTION

from .test_book import LONG_10X, ONE_COHORT, SHORT_10X, H, T0
from .test_calibration import tiny

WINDOW = 10 * 86_400_000
OPTICAL = 3 * 86_400_000
VIEWS = {"all": None, "high": None, "medium": None, "low": None, "optical": OPTICAL}


def weighed(book, as_of_ms: int, view: str, window_ms, recency):
    """Each level alive as of ``as_of_ms`` and its notional, weighed on its own (the reference).

    Alive: in the view, its opening candle ended, the candle that swept it
    not ended, opened within the window; weight: survival since opening
    times the decay (and recency fade) over its age.
    """
    lv = book.levels
    n_done = int(np.searchsorted(book.step_end, as_of_ms, side="right"))
    alive = view_mask(book.leverages, view)[lv.cohort] & (lv.open_step < n_done) & (lv.death_step >= n_done)
    if window_ms is not None:
        alive &= book.step_time[lv.open_step] >= as_of_ms - window_ms
    idx = np.flatnonzero(alive)
    if n_done == 0:
        return idx[:0], np.zeros(0), np.zeros(0)
    share = np.exp(book.log_survival[n_done - 1] - book.log_survival[lv.open_step[idx]])
    rate = decay_rates(book.params.decay_half_life_10x, book.leverages, recency)
    if rate is not None:
        share *= np.exp(-rate[lv.cohort[idx]] * (book.step_end[n_done - 1] - book.step_end[lv.open_step[idx]]))
    return idx, lv.contracts[idx] * share, lv.contracts[idx] * lv.price[idx] * share


def binned(book, as_of_ms, edges, view, window_ms, recency):
    idx, _, notional = weighed(book, as_of_ms, view, window_ms, recency)
    price, is_long = book.levels.price[idx], book.levels.is_long[idx]
    bins = np.searchsorted(edges, price, side="right") - 1
    inside = (bins >= 0) & (bins < edges.size - 1)
    return tuple(np.bincount(bins[inside & side], notional[inside & side], minlength=edges.size - 1)
                 for side in (is_long, ~is_long))


def assert_same(got, want):
    """Equal to 1e-9 of each bin, the same bins empty (Z counts the non-empty ones)."""
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * max(float(np.max(want, initial=0)), 1e-300))
    assert np.array_equal(got == 0, want == 0)


def test_the_tiny_book_at_every_moment_of_its_life():
    """Opened in candle 0 (alive from 1h), the long swept in candle 2 (gone at 3h), window expiry at 2h."""
    book = tiny(ONE_COHORT)
    edges = np.arange(80.0, 121.0, 1.0)
    times = [T0, T0 + H - 1, T0 + H, T0 + 2 * H, T0 + 2 * H + H // 2, T0 + 3 * H - 1, T0 + 3 * H, T0 + 4 * H]
    maps, coverage = book.read(times, edges, {"all": None}, None, prices=[95.0] * len(times))
    long, short = maps["all"]
    s1, s2 = 0.95, 0.95 * (1 - 3.75 / 1045)
    # by hand: nothing before the opening candle ended, then shrunk by the closes; the long gone at 3h
    want_long = [0, 0, 75 * 100 * LONG_10X, 75 * s1 * 100 * LONG_10X, 75 * s1 * 100 * LONG_10X,
                 75 * s1 * 100 * LONG_10X, 0, 0]
    want_short = [0, 0, 25, 25 * s1, 25 * s1, 25 * s1, 25 * s2, 25 * s2]
    assert [row.sum() for row in long] == pytest.approx(want_long)
    assert [row.sum() for row in short] == pytest.approx([w * 100 * SHORT_10X for w in want_short])
    assert [row[90 - 80] for row in long] == [row.sum() for row in long]  # the 90.36 level's bin
    # coverage as of 2h: 95 of the 1,045 contracts are held, all in the grid, the long (90.36) within 5 % of 95
    assert coverage[3]["placed"] == pytest.approx(95 / 1045)
    assert coverage[3]["in_grid"] == pytest.approx(95 / 1045)
    assert coverage[3]["within_5pct"] == pytest.approx(75 * 0.95 / 1045)
    assert coverage[0] is None  # no OI known before the first candle ended
    # a 2h window: the positions (opened at 0h) are out after 2h, in at exactly 2h
    long, short = book.read([T0 + 2 * H, T0 + 2 * H + 1], edges, {"all": None}, 2 * H)[0]["all"]
    assert long[0].sum() > 0 and short[0].sum() > 0
    assert long[1].sum() == 0 and short[1].sum() == 0


@pytest.fixture(scope="module")
def sample():
    market = api.load_market("BTCUSDT", "sample")
    return market, build_book(market, api._params(None, market.exchange), WINDOW)


def edge_moments(book, rng, n=12):
    """Moments exactly at a level's first alive moment (its candle's end), a sweep, a window expiry, and 1 ms off."""
    lv = book.levels
    swept = np.flatnonzero(lv.death_step < book.step_end.size)
    pick = rng.choice(lv.price.size, n), rng.choice(swept, n)
    at = np.concatenate([book.step_end[lv.open_step[pick[0]]], book.step_end[lv.death_step[pick[1]]],
                         book.step_time[lv.open_step[pick[0]]] + WINDOW])
    return np.unique(np.concatenate([at, at - 1, at + 1]))


def test_the_sample_at_openings_sweeps_and_window_expiries(sample):
    market, book = sample
    times = edge_moments(book, np.random.default_rng(5))
    times = times[(times > market.start_ms) & (times <= market.end_ms)]
    prices = [float(book.close[max(int(book.steps_completed(t)) - 1, 0)]) for t in times]
    grids = [price_grid(p, 0.25, 20.0) for p in prices]
    maps, coverage = book.read(times, grids, VIEWS, WINDOW, prices=prices)
    for row, t in enumerate(times):
        for view, recency in VIEWS.items():
            want = binned(book, int(t), grids[row], view, WINDOW, recency)
            assert_same(maps[view][0][row], want[0])
            assert_same(maps[view][1][row], want[1])
        idx, legs, _ = weighed(book, int(t), "all", WINDOW, None)
        # contracts: each opened contract made 1 + maker_leveraged_share leveraged legs
        oi_now = book.oi_at_end[int(book.steps_completed(t)) - 1] * (1 + book.params.maker_leveraged_share)
        assert coverage[row] is not None
        at = book.levels.price[idx]
        in_grid = (at >= grids[row][0]) & (at < grids[row][-1])
        near = np.abs(at / prices[row] - 1) <= NEAR_FRACTION
        assert coverage[row]["placed"] == pytest.approx(legs.sum() / oi_now, rel=1e-9)
        assert coverage[row]["in_grid"] == pytest.approx(legs[in_grid].sum() / oi_now, rel=1e-9, abs=1e-15)
        assert coverage[row]["within_5pct"] == pytest.approx(legs[near].sum() / oi_now, rel=1e-9, abs=1e-15)
    # one moment alone is the batch of one (its reference weights are its own: equal to round-off)
    row = len(times) // 2
    for got, want in zip(book.snapshot(int(times[row]), grids[row], "optical", WINDOW, OPTICAL),
                         (maps["optical"][0][row], maps["optical"][1][row])):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert book.coverage(int(times[row]), WINDOW, prices[row], grids[row]) == pytest.approx(coverage[row], rel=1e-12)


def test_hourly_moments_without_window_and_scaled_to_the_oi(sample):
    market, book = sample
    book = replace(book, params=replace(book.params, oi_reconcile=True))
    times = np.arange(market.end_ms - 20 * 86_400_000, market.end_ms, H) + 1_234
    grids = [price_grid(float(book.close[int(book.steps_completed(t)) - 1]), 0.1, 20.0) for t in times]
    maps = book.read(times, grids, {"all": None, "high": None}, None)[0]
    scales = []
    for row in range(0, times.size, 37):
        t = int(times[row])
        _, legs, _ = weighed(book, t, "all", None, None)
        scale = book.oi_at_end[int(book.steps_completed(t)) - 1] / (legs.sum() / (1 + book.params.maker_leveraged_share))
        scales.append(scale)
        for view in ("all", "high"):
            want = binned(book, t, grids[row], view, None, None)
            assert_same(maps[view][0][row], want[0] * scale)
            assert_same(maps[view][1][row], want[1] * scale)
    assert min(scales) > 1  # the scale did something


def test_a_grid_per_moment_or_one_for_all_and_bad_input(sample):
    _, book = sample
    times = book.step_end[-50:-40]
    edges = price_grid(float(book.close[-45]), 0.1, 20.0)
    one = book.read(times, edges, {"all": None}, WINDOW)[0]["all"]
    each = book.read(times, [edges] * times.size, {"all": None}, WINDOW)[0]["all"]
    for a, b in zip(one[0] + one[1], each[0] + each[1]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="the moments must be strictly increasing"):
        book.read(times[::-1], edges, {"all": None}, WINDOW)
    with pytest.raises(ValueError, match="3 price grids for 10 moments"):
        book.read(times, [edges] * 3, {"all": None}, WINDOW)
    assert book.read([], [], {"all": None}, WINDOW)[0] == {"all": ([], [])}

"""Levels at exact liquidation prices: the venue comes from the data, the brackets from each opening time."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.model.cohorts import cohort_levels
from liqmap.model.leverage import SPREAD_STRATA, slice_quantiles
from liqmap.model.params import BookParams

T = 1_767_225_600_000  # 2026-01-01


def entries(prices):
    prices = np.asarray(prices, float)
    return np.arange(prices.size), prices, np.full(prices.size, 3.0), np.full(prices.size, 1.0)


def test_the_venue_of_the_data_sets_the_formula():
    # Bybit's first tier (MMR 0.5 %, deduction 0): long LP = EP (1 - 1/10 + 0.005) = 90.5 at EP 100;
    # Binance's (MMR 0.4 %, cum 0): EP (1 - 1/10) / (1 - 0.004) = 90.3614
    p = BookParams(leverages=(10.0,), leverage_median=10.0, leverage_spread=0.0, maker_leveraged_share=0.0)
    notes: list[str] = []
    bybit = cohort_levels(entries([100.0]), p, "bybit", "BTCUSDT", np.array([T]), notes)
    binance = cohort_levels(entries([100.0]), p, "binance", "BTCUSDT", np.array([T]), notes)
    assert bybit.price.tolist() == pytest.approx([90.5, 100 * 1.1 - 100 * 0.005])
    assert binance.price.tolist() == pytest.approx([90 / 0.996, 110 / 1.004])
    assert any("bybit BTCUSDT brackets of 2024-09-06" in n for n in notes)
    assert any("notionalCoef" in n for n in notes)


def test_cohorts_above_the_venues_maximum_leave_their_weight_to_the_others():
    # Bybit allows 100x at most: the 125x cohort is left out and 10x carries the whole opening
    p = BookParams(leverages=(10.0, 125.0), leverage_median=10.0, leverage_spread=0.0, maker_leveraged_share=0.0)
    notes: list[str] = []
    lv = cohort_levels(entries([100.0, 200.0]), p, "bybit", "BTCUSDT", np.array([T, T]), notes)
    assert lv.cohort.tolist() == [0, 0, 0, 0]
    assert lv.contracts.tolist() == pytest.approx([3.0, 3.0, 1.0, 1.0])
    assert any("cohorts above 10x left out" in n for n in notes)


def test_one_candle_spread_over_its_cohort_makes_a_band_of_sixteen_strata():
    # one 10x cohort (slice [1x, 125x], median 10x, sigma 1), all levels spread: an opening candle whose
    # 1,600 entries sit on consecutive 0.1 % buckets puts its longs on the 16 strata of the slice, each
    # with 1/16 of the contracts to within 10 % (a golden-ratio sequence is even); a stratum's level is
    # at the Binance long price EP (1 - 1/L) / (1 - MMR) for the stratum's leverage L (MMR 0.4 % up to
    # 50x in the first tier, more above: the two top strata are only checked to lie below EP)
    p = BookParams(leverages=(10.0,), leverage_median=10.0, leverage_sigma=1.0, leverage_spread=1.0,
                   maker_leveraged_share=0.0)
    price = 1.001 ** (np.arange(4000, 5600) + 0.5)  # bucket centres on the fixed 0.1 % grid
    lv = cohort_levels(entries(price), p, "binance", "BTCUSDT", np.full(price.size, T), [])
    longs = lv.is_long
    leverage = 1.0 / (1.0 - lv.price[longs] / price * 0.996)  # invert the first tier's formula
    q = slice_quantiles((10.0,), 10.0, 1.0)[0]
    stratum = np.argmin(np.abs(np.log(leverage)[:, None] - np.log(q)[None, :]), axis=1)
    low_tier = stratum < SPREAD_STRATA - 2
    assert leverage[low_tier] == pytest.approx(q[stratum[low_tier]], rel=1e-9)
    counts = np.bincount(stratum, lv.contracts[longs], minlength=SPREAD_STRATA)
    assert counts.sum() == pytest.approx(3.0 * price.size)
    assert counts.min() >= 0.9 * counts.sum() / SPREAD_STRATA and counts.max() <= 1.1 * counts.sum() / SPREAD_STRATA
    # the band: liquidation distances from 1/L of the lowest stratum to that of the highest, not one spike at 10 %
    distance = 1.0 - lv.price[longs] / price
    assert distance.min() < 0.03 and distance.max() > 0.4 and np.unique(np.round(distance, 9)).size == SPREAD_STRATA

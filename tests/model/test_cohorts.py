"""Levels at exact liquidation prices: the venue comes from the data, the brackets from each opening time."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.model.cohorts import cohort_levels
from liqmap.model.params import BookParams

T = 1_767_225_600_000  # 2026-01-01


def entries(prices):
    prices = np.asarray(prices, float)
    return np.arange(prices.size), prices, np.full(prices.size, 3.0), np.full(prices.size, 1.0)


def test_the_venue_of_the_data_sets_the_formula():
    # Bybit's first tier (MMR 0.5 %, deduction 0): long LP = EP (1 - 1/10 + 0.005) = 90.5 at EP 100;
    # Binance's (MMR 0.4 %, cum 0): EP (1 - 1/10) / (1 - 0.004) = 90.3614
    p = BookParams(leverages=(10.0,), leverage_median=10.0, maker_leveraged_share=0.0)
    notes: list[str] = []
    bybit = cohort_levels(entries([100.0]), p, "bybit", "BTCUSDT", np.array([T]), notes)
    binance = cohort_levels(entries([100.0]), p, "binance", "BTCUSDT", np.array([T]), notes)
    assert bybit.price.tolist() == pytest.approx([90.5, 100 * 1.1 - 100 * 0.005])
    assert binance.price.tolist() == pytest.approx([90 / 0.996, 110 / 1.004])
    assert any("bybit BTCUSDT brackets of 2024-09-06" in n for n in notes)
    assert any("notionalCoef" in n for n in notes)


def test_cohorts_above_the_venues_maximum_leave_their_weight_to_the_others():
    # Bybit allows 100x at most: the 125x cohort is left out and 10x carries the whole opening
    p = BookParams(leverages=(10.0, 125.0), leverage_median=10.0, maker_leveraged_share=0.0)
    notes: list[str] = []
    lv = cohort_levels(entries([100.0, 200.0]), p, "bybit", "BTCUSDT", np.array([T, T]), notes)
    assert lv.cohort.tolist() == [0, 0, 0, 0]
    assert lv.contracts.tolist() == pytest.approx([3.0, 3.0, 1.0, 1.0])
    assert any("cohorts above 10x left out" in n for n in notes)

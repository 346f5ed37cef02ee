"""Bybit's liquidation price at risk-limit tier boundaries, by hand:
LP_long = EP(1 - 1/L + MMR) - mmDeduction/Q, short mirrored; a tier covers values up to and including its cap."""

from __future__ import annotations

import pytest

from liqmap.model.margin import liquidation_price, quote_liquidation


def test_lowest_tier_up_to_and_including_two_million():
    # 2,000,000 USDT at 100,000 = 20 BTC, tier 1 (MMR 0.5 %, no deduction): 100,000 (1 - 0.02 + 0.005)
    assert liquidation_price("bybit", "BTCUSDT", "long", 100_000, 50, 2_000_000) == pytest.approx(98_500.0, abs=1e-6)
    assert liquidation_price("bybit", "BTCUSDT", "short", 100_000, 50, 2_000_000) == pytest.approx(101_500.0, abs=1e-6)
    assert quote_liquidation("bybit", "BTCUSDT", "long", 100_000, 50, 2_000_000).bracket.max_leverage == 100


def test_second_tier_takes_its_deduction_per_contract():
    # 2,600,000 USDT = 26 BTC, tier 2 (MMR 0.56 %, deduction 1,200): 100,000 (1 - 0.02 + 0.0056) - 1,200 / 26
    assert liquidation_price("bybit", "BTCUSDT", "long", 100_000, 50, 2_600_000) == pytest.approx(
        98_560.0 - 1_200 / 26, abs=1e-6)
    assert liquidation_price("bybit", "BTCUSDT", "short", 100_000, 50, 2_600_000) == pytest.approx(
        101_440.0 + 1_200 / 26, abs=1e-6)
    # just past the first cap the deduction keeps the price continuous: 98,560 - 1,200 / 20.001
    assert liquidation_price("bybit", "BTCUSDT", "long", 100_000, 50, 2_000_100) == pytest.approx(
        98_560.0 - 1_200 / 20.001, abs=1e-6)


def test_a_position_past_the_last_tier_is_a_named_error():
    with pytest.raises(ValueError, match=r"80,000,001.00 USDT notional exceeds the largest bracket .* \(cap 80,000,000.00\)"):
        liquidation_price("bybit", "BTCUSDT", "long", 100_000, 10, 80_000_001)

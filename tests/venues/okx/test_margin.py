"""OKX's liquidation price at position-tier boundaries, by hand, with the contract value:
LP_long = EP(1 - 1/L)/(1 - MMR - taker fee), short EP(1 + 1/L)/(1 + MMR + fee); tiers count contracts
(ARBUSDT: ctVal 10 ARB, tiers 5,000 / 10,000 / 20,000 contracts at MMR 0.5 / 0.75 / 1 %, fee 0.05 %)."""

from __future__ import annotations

import pytest

from liqmap.model.margin import liquidation_price, quote_liquidation


def test_first_tier_includes_its_maximum_size():
    # 50,000 USDT at 1.0 = 5,000 contracts of 10 ARB: tier 1
    assert liquidation_price("okx", "ARBUSDT", "long", 1.0, 20, 50_000) == pytest.approx(0.95 / 0.9945, abs=1e-12)
    assert liquidation_price("okx", "ARBUSDT", "short", 1.0, 20, 50_000) == pytest.approx(1.05 / 1.0055, abs=1e-12)
    assert quote_liquidation("okx", "ARBUSDT", "long", 1.0, 20, 50_000).bracket.number == 1


def test_one_contract_more_is_the_second_tier():
    # 50,010 USDT = 5,001 contracts: MMR 0.75 %
    assert liquidation_price("okx", "ARBUSDT", "long", 1.0, 20, 50_010) == pytest.approx(0.95 / 0.992, abs=1e-12)
    assert liquidation_price("okx", "ARBUSDT", "short", 1.0, 20, 50_010) == pytest.approx(1.05 / 1.008, abs=1e-12)


def test_a_position_past_the_last_tier_is_a_named_error():
    # 200,010 USDT = 20,001 contracts, past the 20,000 the table covers
    with pytest.raises(ValueError, match="20,001.00 contracts exceeds the largest bracket"):
        liquidation_price("okx", "ARBUSDT", "long", 1.0, 20, 200_010)

"""Hyperliquid's liquidation price: the documented formula against a recorded position, and the tiers."""

import json

import pytest

from liqmap import venues
from liqmap.model.margin import liquidation_price
from liqmap.venues.hyperliquid.margin import liquidation_price as documented


def test_documented_formula_gives_the_recorded_isolated_liquidation_price(shared_dir):
    # HYPE isolated 10x short (max leverage 10): MMR = 1/(2*10) = 0.05.  Mark = 192.58 / 4 = 48.145;
    # available = marginUsed 18.564417 - 0.05 * 192.58 = 8.935417; LP = 48.145 + 8.935417 / 4 / 1.05.
    state = json.loads((shared_dir / "fixtures/frames/hyperliquid/rest_clearinghouseState_isolated.json").read_text())
    pos = state["assetPositions"][0]["position"]
    size, value = float(pos["szi"]), float(pos["positionValue"])
    mmr = 1 / (2 * float(pos["maxLeverage"]))
    lp = documented(value / abs(size), size, float(pos["marginUsed"]) - mmr * value, mmr)
    assert lp == pytest.approx(48.145 + 8.935417 / 4 / 1.05, abs=1e-9)
    assert lp == pytest.approx(float(pos["liquidationPx"]), abs=1e-6)


@pytest.mark.parametrize("side, leverage, notional, expected", [
    ("long", 40, 1e6, 100_000 * 0.975 / 0.9875),            # tier 1: MMR 1.25 %, no deduction
    ("short", 20, 1e6, 100_000 * 1.05 / 1.0125),
    ("long", 20, 2e8, 100_000 * (1 - 0.05 - 1_875_000 / 2e8) / 0.975),   # tier 2: MMR 2.5 %, D = 150M * 1.25 %
])
def test_btc_tiers_priced_by_the_rule(side, leverage, notional, expected):
    assert liquidation_price("hyperliquid", "BTCUSDT", side, 100_000, leverage, notional) == pytest.approx(expected)


def test_rule_equals_documented_formula_at_entry_in_the_second_tier():
    # 200M long at 20x: margin N/L = 10M, maintenance 200M * 2.5 % - 1.875M = 3.125M, Q = 2000 BTC
    lp = documented(100_000, 2000, 10_000_000 - 3_125_000, 0.025)
    assert lp == pytest.approx(liquidation_price("hyperliquid", "BTCUSDT", "long", 100_000, 20, 2e8))
    assert lp == pytest.approx(100_000 - 3437.5 / 0.975)


def test_registered_with_hourly_intervals():
    hl = venues.get("hyperliquid")
    assert hl.funding_interval_ms == hl.open_interest_interval_ms == 3_600_000
    assert hl.symbol_info("BTCUSDT").max_leverage[0][1] == 40


def test_leverage_prior_is_the_venues_default_and_overridable():
    from liqmap import api

    m = api.build_map("BTCUSDT", venue="hyperliquid")
    assert m.model["parameters"]["leverage_median"] == 3.0 and max(m.model["parameters"]["leverages"]) == 40.0
    m = api.build_map("BTCUSDT", venue="hyperliquid", params={"leverage_median": 5})
    assert m.model["parameters"]["leverage_median"] == 5.0 and max(m.model["parameters"]["leverages"]) == 40.0
    assert api.build_map("BTCUSDT").model["parameters"]["leverage_median"] == 50.0  # binance keeps the default

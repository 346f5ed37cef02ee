"""The measured map on recorded clearinghouseState answers: bins written down, isolated and cross apart."""

import json

import numpy as np
import pytest

from liqmap.analysis.measured import MeasuredPosition, measured_map
from liqmap.venues.hyperliquid.accounts import parse_positions

FILES = ("rest_clearinghouseState_isolated.json", "rest_clearinghouseState_cross.json",
         "rest_clearinghouseState_cross_2023.json")


@pytest.fixture
def positions(shared_dir):
    folder = shared_dir / "fixtures/frames/hyperliquid"
    return [p for name in FILES for p in parse_positions(name, json.loads((folder / name).read_text()))]


def test_isolated_hype_short_in_its_bin(positions):
    # grid around the mark 48.145 (192.58 / 4): step 0.05 from 38.50; liquidationPx 50.2724802381 -> [50.25, 50.30)
    m = measured_map(positions, "HYPE", 48.145)
    assert m.edges[0] == 38.5 and m.edges[1] - m.edges[0] == pytest.approx(0.05)
    i = int(np.flatnonzero(m.bins[("isolated", "short")])[0])
    assert (m.edges[i], m.edges[i + 1]) == (50.25, 50.3)
    assert m.bins[("isolated", "short")].sum() == 192.58
    assert sum(m.bins[(k, s)].sum() for k in ("cross",) for s in ("long", "short")) == 0
    assert m.counts["isolated"] == 1 and m.counts["cross"] == 0


def test_cross_counted_apart_with_null_and_off_grid(positions):
    # SOL: the 2024 cross short liquidates at 22881 (off a +-20 % grid around 137.9); the 2023 cross
    # long has liquidationPx null (145.5091 USD): nothing binned, both counted
    m = measured_map(positions, "SOL", 137.9, open_interest_usd=1_000_000)
    assert m.long.sum() == m.short.sum() == 0
    c = m.counts
    assert (c["positions"], c["accounts"], c["cross"], c["off_grid"]) == (2, 2, 2, 1)
    assert (c["without_liquidation_price"], c["without_liquidation_price_value"]) == (1, 145.5091)
    payload = m.to_dict()
    assert payload["sample_share_of_open_interest"] == pytest.approx((68.98 + 145.5091) / 1e6)
    assert set(payload) >= {"isolated", "cross", "counts", "notes"}
    assert "1 of 2 positions have no liquidation price (counted, not binned)" in payload["notes"]


def test_cross_position_binned_under_cross():
    p = MeasuredPosition("0xa", "BTC", 0.5, 100_000, 50_000, "cross", 20, 95_010.0, 2_500, 10_000)
    m = measured_map([p], "BTC", 100_000)  # step 100: 95,010 -> [95,000, 95,100)
    i = int(np.flatnonzero(m.bins[("cross", "long")])[0])
    assert (m.edges[i], m.bins[("cross", "long")][i]) == (95_000, 50_000)
    assert m.bins[("isolated", "long")].sum() == 0

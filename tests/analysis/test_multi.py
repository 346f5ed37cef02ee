"""The Multi map: two venues' books placed by their basis on one grid and summed, parts kept."""

import numpy as np
import pytest

from liqmap import api
from liqmap.analysis.mapping import MapSettings, read_map
from liqmap.analysis.multi import VenuePart, combine, missing, multi_model, venue_breakdown

EDGES = np.arange(94.0, 107.0)  # 12 reference bins of width 1: [94, 95) .. [105, 106)


def _part(name, basis, prices, notionals, is_long):
    """A venue's levels in its own prices, binned on the reference edges scaled by its basis."""
    side = np.array(is_long)
    long, short = (np.histogram(np.array(prices)[mask], EDGES * basis, weights=np.array(notionals)[mask])[0]
                   for mask in (side, ~side))
    return VenuePart(name, "ok", price=100.0 * basis, basis=basis, coverage=0.5, long=long, short=short)


def test_two_hand_built_books_sum_on_the_reference_grid():
    # venue a (reference, price 100): long 5 at 95.5, short 3 at 104.2
    a = _part("a", 1.0, [95.5, 104.2], [5.0, 3.0], [True, False])
    # venue b trades 1 % above (price 101, basis 1.01): long 2 at 96.455 -> 95.5 on the grid,
    # short 4 at 105.04 -> 104.0, short 1 at 94.0 -> 93.07, off the grid
    b = _part("b", 1.01, [96.455, 105.04, 94.0], [2.0, 4.0, 1.0], [True, False, False])
    gone = missing("c", "no c data for BTCUSDT in the bundled sample")
    long, short = combine([a, b, gone], EDGES.size - 1)
    assert long.tolist() == [0, 5 + 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]       # [95, 96)
    assert short.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3 + 4, 0]      # [104, 105)

    settings = MapSettings(cluster_min_z=0.0, cluster_floor_z=0.0)
    model = multi_model([a, b, gone], "a", "30d")
    m = read_map(symbol="BTCUSDT", exchange="all", as_of_ms=0, window_ms=1, view="all", price=100.0, atr=1.0,
                 edges=EDGES, long=long, short=short, model=model, now_ms=0, settings=settings)
    parts = venue_breakdown(m, [a, b, gone], EDGES, (0, EDGES.size - 1), settings)
    assert {c.peak: c.notional for c in m.clusters} == {95.5: 7.0, 104.5: 7.0}
    by_peak = {c.peak: c.id for c in m.clusters}
    assert {c["id"]: (c["long"], c["short"]) for c in parts["b"]["clusters"]} == {
        by_peak[95.5]: (2.0, 0.0), by_peak[104.5]: (0.0, 4.0)}
    five = next(band for band in parts["a"]["liq_ratio"] if band["pct"] == 5)
    assert (five["long_below"], five["short_above"]) == (5.0, 3.0)
    assert parts["c"] == {"status": "missing", "bins": None, "clusters": [], "liq_ratio": []}
    assert model["coverage"] == {"a": 0.5, "b": 0.5, "c": None}
    assert "c: missing: no c data for BTCUSDT in the bundled sample" in model["notes"]


@pytest.fixture(scope="module")
def sample_maps():
    return api.build_maps("BTCUSDT", venue="all", views=["all", "optical"], now="2026-03-05T11:00")


def test_sample_multi_map_is_the_sum_of_the_single_venue_maps(sample_maps):
    multi = sample_maps[0]
    payload = multi.to_dict()
    assert payload["exchange"] == "all" and payload["model"]["reference"] == "binance"
    statuses = {v["venue"]: v["status"] for v in payload["model"]["venues"]}
    assert statuses == {"binance": "ok", "bybit": "missing", "hyperliquid": "ok", "okx": "missing"}
    for name in ("binance", "hyperliquid"):  # the sample's Hyperliquid prices are Binance's: basis 1
        single = api.build_map("BTCUSDT", venue=name, now="2026-03-05T11:00")
        np.testing.assert_array_equal(single.price_low, multi.price_low)
        assert payload["venues"][name]["bins"]["long"] == single.long.tolist()
        assert payload["venues"][name]["bins"]["short"] == single.short.tolist()
        assert payload["model"]["coverage"][name] == pytest.approx(single.model["coverage"])
    np.testing.assert_allclose(
        multi.long, np.add(payload["venues"]["binance"]["bins"]["long"], payload["venues"]["hyperliquid"]["bins"]["long"]))
    assert any(n.startswith("okx: missing: no okx data for BTCUSDT") for n in payload["model"]["notes"])
    hl = next(v for v in payload["model"]["venues"] if v["venue"] == "hyperliquid")
    assert any("standing in for Hyperliquid's" in line for line in hl["rests_on"])  # what its part rests on


def test_optical_parts_carry_the_same_weighting(sample_maps):
    optical = sample_maps[1].to_dict()
    summed = np.add(optical["venues"]["binance"]["bins"]["short"], optical["venues"]["hyperliquid"]["bins"]["short"])
    np.testing.assert_allclose(summed, sample_maps[1].short, rtol=1e-12)


def test_a_venue_without_data_at_the_as_of_time_is_missing_not_dropped():
    m = api.build_map("BTCUSDT", venue="all", as_of="2026-01-10", window="7d")
    hl = next(v for v in m.model["venues"] if v["venue"] == "hyperliquid")
    assert hl["status"] == "missing" and "hyperliquid" in m.to_dict()["venues"]
    assert "no BTCUSDT klines-1h" in hl["reason"] or "outside the data" in hl["reason"]


def test_peer_model_refused_for_all():
    with pytest.raises(ValueError, match="venue 'all' .* takes model='book'"):
        api.build_map("BTCUSDT", venue="all", model="peer")

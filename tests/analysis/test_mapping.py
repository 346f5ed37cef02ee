"""Reading a map: grid, Z-scores, clusters, LiqRatio, nearest magnets, bands — on hand-made profiles."""

from __future__ import annotations

import re

import math

import numpy as np
import pytest

from liqmap.analysis.mapping import (MapSettings, map_grid, mass_below, nice_step, price_grid, read_map, rebin,
                                    zscores)
from liqmap.analysis.results import reach_band, z_band


def small_map(view="all", shown=None, **settings):
    edges = np.arange(0.0, 21.0)  # 20 bins of width 1
    long = np.zeros(20)
    short = np.zeros(20)
    long[[2, 5, 6, 7]] = [1, 20, 60, 20]
    short[[14, 17]] = [50, 2]
    return read_map(symbol="BTCUSDT", exchange="binance", as_of_ms=1_767_225_600_000, window_ms=86_400_000,
                    view=view, price=10.0, atr=2.0, edges=edges, long=long, short=short, model={"name": "test"},
                    now_ms=1_767_225_600_000 + 3 * 3_600_000,
                    settings=MapSettings(liq_ratio_bands=(50.0,), **settings), shown=shown)


def test_zscores_use_non_empty_bins_and_population_std():
    # non-empty totals 1, 20, 60, 20, 50, 2: mean 25.5, population std sqrt(6905/6 - 25.5^2) = 22.3738
    m = small_map()
    std = math.sqrt(6905 / 6 - 25.5**2)
    assert m.model["z_stats"] == pytest.approx({"mean": 25.5, "std": std, "population": 6})
    assert m.z[6] == pytest.approx((60 - 25.5) / std)  # 1.542
    assert m.z[0] == pytest.approx(-25.5 / std)  # empty bins are scored too


def test_clusters_ranges_peaks_and_distances():
    m = small_map()
    assert [(c.id, c.price_low, c.price_high, c.peak, c.notional) for c in m.clusters] == [
        (1, 5.0, 8.0, 6.5, 100.0),  # the hump 20-60-20 grown down both slopes
        (2, 14.0, 15.0, 14.5, 50.0),
    ]
    below, above = m.clusters
    assert below.z == pytest.approx(1.5420, abs=1e-4) and below.band == "notable"
    assert above.z == pytest.approx((50 - 25.5) / math.sqrt(6905 / 6 - 25.5**2)) and above.band == "mild"
    assert (below.long, below.short, above.long, above.short) == (100.0, 0.0, 0.0, 50.0)
    assert below.distance_pct == pytest.approx(-35.0) and below.distance_atr == pytest.approx(1.75)
    assert below.reach == "near"
    assert above.distance_pct == pytest.approx(45.0) and above.distance_atr == pytest.approx(2.25)
    assert above.reach == "speculative"
    assert (m.nearest_above, m.nearest_below) == (2, 1)


def test_min_z_drops_weak_clusters():
    assert [c.id for c in small_map(cluster_min_z=1.2).clusters] == [1]


def test_liq_ratio_band():
    band = small_map().liq_ratio[0]
    # ±50% of 10: long notional with bin centres in [5, 10], short in (10, 15]
    assert (band.long_below, band.short_above, band.ratio) == (100.0, 50.0, 2.0)
    assert band.long_share == pytest.approx(2 / 3)


def test_optical_view_weights_by_atr_distance():
    m = small_map(view="optical", optical_atr_scale=1.0)
    # bin 6 (centre 6.5) is 1.75 ATR away: weight exp(-0.5 * 1.75^2)
    assert m.long[6] == pytest.approx(60 * math.exp(-0.5 * 1.75**2))


def test_staleness_and_age():
    m = small_map()
    assert m.age_s == 3 * 3600 and m.stale
    assert not small_map(stale_after_ms=4 * 3_600_000).stale


def test_valleys_split_two_humps():
    edges = np.arange(0.0, 11.0)
    long = np.array([0, 10, 40, 10, 1, 12, 45, 12, 0, 0.0])
    m = read_map(symbol="X", exchange="binance", as_of_ms=0, window_ms=1, view="all", price=20.0, atr=1.0,
                 edges=edges, long=long, short=np.zeros(10), model={}, now_ms=0, settings=MapSettings())
    assert sorted((c.price_low, c.price_high) for c in m.clusters) == [(1.0, 5.0), (5.0, 8.0)]  # the valley bin ends the first slope


def test_liq_ratio_bands_count_levels_beyond_the_shown_bins():
    # the map shows bins 8..11 ([8, 12)); the ±50 % band still counts long 100 at 5..7 and short 50 at 14
    m = small_map(shown=(8, 12))
    assert (m.price_low[0], m.price_high[-1], m.total.sum()) == (8.0, 12.0, 0.0)
    assert (m.liq_ratio[0].long_below, m.liq_ratio[0].short_above) == (100.0, 50.0)


def test_map_grid_reaches_the_widest_band_and_shows_the_span():
    edges, (a, b) = map_grid(100_000.0, MapSettings(span_pct=2, liq_ratio_bands=(1, 5)))
    assert (edges[0], edges[-1], edges[1] - edges[0]) == (95_000.0, 105_000.0, 100.0)
    np.testing.assert_array_equal(edges[a:b + 1], price_grid(100_000.0, 0.1, 2))
    edges, shown = map_grid(100_000.0, MapSettings())  # the default bands lie inside ±20 %
    np.testing.assert_array_equal(edges, price_grid(100_000.0))
    assert shown == (0, edges.size - 1)


def test_grid_steps_are_round():
    assert nice_step(100.0) == 100.0 and nice_step(60.0) == 50.0 and nice_step(73.4) == 100.0 and nice_step(0.26) == 0.25
    edges = price_grid(100_000.0)
    assert edges[1] - edges[0] == 100.0 and edges[0] == 80_000.0 and edges[-1] == 120_000.0
    assert np.all(np.diff(edges) > 0)


def test_bands():
    assert [z_band(z) for z in (0.99, 1.0, 1.49, 1.5, 2.49, 2.5)] == ["noise", "mild", "mild", "notable", "notable", "major"]
    assert [reach_band(d) for d in (0.5, 1.0, 1.5, 2.0, 3.0, 3.01)] == [
        "actionable", "actionable", "near", "near", "speculative", "distant"]


def test_zscores_degenerate():
    z, mean, std = zscores(np.array([0.0, 5.0, 0.0]))
    assert z.tolist() == [0, 0, 0] and std == 0.0


def test_results_are_read_only():
    m = small_map()
    with pytest.raises(ValueError, match="read-only"):
        m.long[0] = 1.0


def test_z_population_all_counts_every_bin():
    # 20 bins, totals 1+20+60+20+50+2 = 153: mean 7.65, population std over all 20 bins
    m = small_map(z_population="all")
    totals = np.zeros(20)
    totals[[2, 5, 6, 7, 14, 17]] = [1, 20, 60, 20, 50, 2]
    assert m.model["z_stats"] == pytest.approx({"mean": 7.65, "std": float(totals.std()), "population": 20})
    assert m.z[6] == pytest.approx((60 - 7.65) / totals.std())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="z_population must be one of nonempty, all"):
        MapSettings(z_population="some")
    with pytest.raises(ValueError, match=re.escape("bin_pct 0 is outside [0.01, 10] (% of price per bin)")):
        MapSettings(bin_pct=0)


def test_rebin_spreads_each_bin_evenly_over_its_price_range():
    edges = np.array([0.0, 1.0, 2.0])
    binned = np.array([[2.0, 4.0], [0.0, 1.0]])
    # [0, 0.5): half of the first bin; [0.5, 2): the other half and all of the second; beyond the grid: nothing
    assert rebin(binned, edges, np.array([0.0, 0.5, 2.0, 3.0])).tolist() == [[1.0, 5.0, 0.0], [0.0, 1.0, 0.0]]
    # the mass below 1.5 per row, and below 0.25
    assert mass_below(binned, edges, np.array([[1.5, 0.25], [1.5, 0.25]])).tolist() == [[4.0, 0.5], [0.5, 0.0]]

"""The heatmap picture: a tiny position book with known open and death times gives known cells."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.analysis.results import Heatmap
from liqmap.frames import Liquidations
from liqmap.model.params import BookParams
from liqmap.model.positions import Levels, PositionBook
from liqmap.render import style
from liqmap.render.static import heatmap_figure, save_heatmap_png

HOUR = 3_600_000
T0 = 1_772_668_800_000  # 2026-03-05 00:00 UTC


def tiny_heatmap() -> Heatmap:
    """Four hourly candles; two levels on a 90-100-110 grid, no closes (ln S = 0), no decay.

    level A: long at 95, 1 contract, opened in candle 0, swept by candle 2
             -> alive as of the ends of candles 0 and 1: 1 * 95 = 95 USDT in bin [90, 100)
    level B: short at 105, 2 contracts, opened in candle 1, never swept
             -> alive as of the ends of candles 1, 2 and 3: 2 * 105 = 210 USDT in bin [100, 110)
    """
    params = BookParams().with_overrides(decay_half_life_10x=None)  # no decay: notionals stay whole
    leverage_25 = params.leverages.index(25.0)
    levels = Levels(
        price=np.array([95.0, 105.0]),
        contracts=np.array([1.0, 2.0]),
        is_long=np.array([True, False]),
        cohort=np.array([leverage_25, leverage_25]),
        open_step=np.array([0, 1]),
        death_step=np.array([2, 4]),
    )
    starts = T0 + np.arange(4) * HOUR
    book = PositionBook(
        symbol="TINYUSDT", params=params, step_time=starts, step_end=starts + HOUR,
        close=np.array([100.0, 98.0, 101.0, 103.0]), levels=levels, log_survival=np.zeros(4),
        oi_at_end=np.full(4, np.nan), opened=np.array([1.0, 2.0, 0.0, 0.0]), closed=np.zeros(4),
    )
    times = starts + HOUR
    edges = np.array([90.0, 100.0, 110.0])
    long, short = book.history(times, edges)
    return Heatmap(symbol="TINYUSDT", exchange="binance", view="all", time=times, price=book.close,
                   price_low=edges[:-1], price_high=edges[1:], long=long, short=short, model=book.model_info())


KNOWN_TOTAL = np.array([[95.0, 0.0], [95.0, 210.0], [0.0, 210.0], [0.0, 210.0]])


def test_the_tiny_book_gives_the_known_cells():
    h = tiny_heatmap()
    np.testing.assert_allclose(h.total, KNOWN_TOTAL)
    expected = np.where(KNOWN_TOTAL > 0, np.log10(np.where(KNOWN_TOTAL > 0, KNOWN_TOTAL, 1)), np.nan)
    # log10(95) = 1.977724, log10(210) = 2.322219; empty cells are drawn as nothing (NaN)
    np.testing.assert_allclose(style.heatmap_cells(h, "log"), expected, equal_nan=True)
    assert style.heatmap_cells(h, "log")[1, 0] == pytest.approx(1.977724, abs=1e-6)


def test_the_figure_draws_exactly_those_cells_time_by_price():
    h = tiny_heatmap()
    fig = heatmap_figure(h)
    mesh = fig.axes[0].collections[0]
    drawn = np.ma.filled(mesh.get_array().reshape(2, 4).astype(float), np.nan)  # price rows x time columns
    np.testing.assert_allclose(drawn, style.heatmap_cells(h).T, equal_nan=True)
    # columns sit at (end - 1h, end]: the first starts one hour before the first as-of moment
    from matplotlib.dates import date2num

    x_edges = mesh.get_coordinates()[0, :, 0]
    expected = date2num((T0 + np.arange(5) * HOUR).astype("datetime64[ms]"))
    np.testing.assert_allclose(x_edges, expected)


def test_row_z_scores_use_only_the_rows_filled_cells():
    h = tiny_heatmap()
    z = style.heatmap_cells(h, "z")
    # row 1 holds 95 and 210: mean 152.5, population std 57.5 -> Z -1 and +1
    np.testing.assert_allclose(z[1], [-1.0, 1.0])
    # a row with one filled cell has std 0: Z 0 there, nothing elsewhere
    np.testing.assert_allclose(z[0], [0.0, np.nan], equal_nan=True)


def test_unknown_scale_is_named():
    with pytest.raises(ValueError, match="'sqrt'.*log, z"):
        style.heatmap_cells(tiny_heatmap(), "sqrt")


def test_column_edges_end_at_each_as_of_moment():
    h = tiny_heatmap()
    assert style.heatmap_time_edges(h).tolist() == [T0 + k * HOUR for k in range(5)]


def test_realized_liquidations_are_cut_to_the_heatmap_span_and_the_largest_marked():
    h = tiny_heatmap()
    realized = Liquidations(
        time=T0 + np.arange(-2, 6) * HOUR,  # two hours before, four inside, two after
        long_usd=np.array([9, 9, 0, 10, 400, 20, 9, 9], dtype=float),
        short_usd=np.array([9, 9, 5, 0, 0, 0, 9, 9], dtype=float),
    )
    inside = style.realized_in_span(h, realized)
    assert inside.time.tolist() == [T0 + k * HOUR for k in range(4)]
    marks = style.large_realized(h, inside)
    # the 95th percentile of the positive long hours (10, 400, 20) is 362: only the 400 hour,
    # (the bar opening at T0 + 2 h), placed at its middle T0 + 2.5 h on the price path, halfway
    # between the closes as of T0 + 2 h (98) and T0 + 3 h (101): 99.5
    assert marks["long"]["usd"].tolist() == [400.0]
    assert marks["long"]["time"].tolist() == [T0 + 2 * HOUR + HOUR // 2]
    assert marks["long"]["price"].tolist() == [pytest.approx(99.5)]
    assert marks["short"]["usd"].tolist() == [5.0]
    assert style.realized_in_span(h, None) is None


def test_png_with_realized_overlay_has_both_panels(tmp_path):
    h = tiny_heatmap()
    realized = Liquidations(time=T0 + np.arange(4) * HOUR, long_usd=np.array([1.0, 50, 2, 3]),
                            short_usd=np.array([4.0, 0, 60, 1]), source="test feed")
    fig = heatmap_figure(h, liquidations=realized)
    assert len([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]) == 2
    path = save_heatmap_png(h, tmp_path / "heat.png", liquidations=realized, width_px=900, dpi=100)
    assert path.read_bytes()[:4] == b"\x89PNG"


def _far_levels_heatmap() -> Heatmap:
    """Bins of 100 from 0 to 1,000; price moves 490 -> 510; per bin, the strongest cell over the two rows:
    100 in [800, 900), 60 in [700, 800), 40 in [100, 200), 10 in [400, 500)."""
    long = np.zeros((2, 10))
    long[0, 8], long[1, 7], long[0, 1], long[1, 4] = 100.0, 60.0, 40.0, 10.0
    return Heatmap(symbol="FARUSDT", exchange="binance", view="all", time=T0 + np.arange(1, 3) * HOUR,
                   price=np.array([490.0, 510.0]), price_low=np.arange(0.0, 1000.0, 100.0),
                   price_high=np.arange(100.0, 1001.0, 100.0), long=long, short=np.zeros((2, 10)), model={})


def test_the_price_axis_takes_in_the_strongest_levels_off_the_price_path():
    h = _far_levels_heatmap()
    # the path 490-510 padded by 35 % of its range (7) each way, widened up to the top of [800, 900):
    # 100 and 60 reach half the strongest cell, 40 does not
    assert style.heatmap_price_view(h) == (483.0, 900.0)
    assert heatmap_figure(h).axes[0].get_ylim() == (483.0, 900.0)
    from liqmap.render.interactive import heatmap_figure as html_figure

    assert tuple(html_figure(h).layout.yaxis.range) == (483.0, 900.0)


def test_realized_marks_on_the_price_path_are_solid_in_the_html():
    from liqmap.render.interactive import heatmap_figure as html_figure

    h = tiny_heatmap()
    realized = Liquidations(time=T0 + np.arange(4) * HOUR, long_usd=np.array([1.0, 50, 2, 3]),
                            short_usd=np.array([4.0, 0, 60, 1]), source="test feed")
    marks = [t for t in html_figure(h, liquidations=realized).data if "largest hours" in (t.name or "")]
    assert [t.name for t in marks] == ["longs liquidated (largest hours)", "shorts liquidated (largest hours)"]
    assert all(t.marker.opacity == 1 for t in marks)


def test_only_empty_cells_are_black():
    from matplotlib.colors import to_hex

    from liqmap.render.interactive import heatmap_figure as html_figure

    h = tiny_heatmap()
    ax = heatmap_figure(h).axes[0]
    mesh = ax.collections[0]
    # the weakest filled cell gets magma at 0.2 (deep purple); the black backdrop is left to empty cells
    assert to_hex(mesh.cmap(0.0)) == "#3b0f70" and to_hex(ax.get_facecolor()) == "#000004"
    fig = html_figure(h)
    assert fig.data[0].colorscale[0][1] == "#3b0f70" and fig.layout.shapes[0].fillcolor == "#000004"

"""Interactive charts and the `liqmap heatmap` command."""

from __future__ import annotations

import re

import numpy as np
import pytest

from liqmap.cli import main
from liqmap.render import style
from liqmap.render.interactive import heatmap_figure, liqmap_figure, liqmap_html
from tests.render.test_static import MILLION, crowded_map, hand_map
from tests.render.test_heatmap import tiny_heatmap


def _map_bars(fig, meta="liqmap-bins"):
    return [t for t in fig.data if t.meta == meta]


def test_default_layout_has_a_long_and_a_short_column_per_bin_rising_from_the_price_axis():
    m = hand_map()
    fig = liqmap_figure(m)
    assert fig.layout.meta == {"layout": "map"}
    longs = {t.name: t for t in _map_bars(fig, "liqmap-long")}
    shorts = {t.name: t for t in _map_bars(fig, "liqmap-short")}
    assert set(longs) == set(shorts) == {"noise (Z < 1)", "cluster #1", "cluster #2"}
    assert sum(len(t.x) for t in longs.values()) == 10
    z0 = -2.9 / np.sqrt(10.09)
    c1, c2 = longs["cluster #1"], shorts["cluster #2"]
    assert list(c1.x) == [90_250.0, 90_350.0]  # bin centres on the price axis
    np.testing.assert_allclose(np.asarray(c1.base, dtype=float), [z0, z0])
    np.testing.assert_allclose(np.asarray(c1.y) + z0, m.z[[2, 3]])  # all long: the solid part is the whole bar
    np.testing.assert_allclose(np.asarray(longs["cluster #2"].y), [0, 0])  # all short: no solid part
    np.testing.assert_allclose(np.asarray(c2.base, dtype=float) + np.asarray(c2.y, dtype=float), m.z[[7, 8]])
    assert c2.opacity == style.SHORT_PART_ALPHA and c1.opacity == 1.0
    assert c2.marker.color == style.PALETTES["default"].cluster_color(2)


def test_default_layout_draws_the_cumulative_curves_on_a_second_axis():
    fig = liqmap_figure(hand_map())
    long_curve, short_curve = _map_bars(fig, "cumulative")
    assert (np.asarray(long_curve.y) / MILLION).tolist() == [0, 0, 1, 9, 14, 15, 15]
    assert list(long_curve.x)[-1] == 90_000 and list(short_curve.x) == [90_550, 90_600, 90_700, 90_800, 90_900, 91_000]
    assert (np.asarray(short_curve.y) / MILLION).tolist() == [0, 0, 2, 11, 14, 14]
    assert long_curve.yaxis == short_curve.yaxis == "y2" and fig.layout.yaxis2.overlaying == "y"
    assert long_curve.line.color == style.PALETTES["default"].long


def test_every_labelled_cluster_and_magnet_has_a_label_and_its_own_colour():
    fig = liqmap_figure(crowded_map())
    labels = [a.text for a in fig.layout.annotations if a.text.startswith("#")]
    assert sorted(int(t[1:].split()[0]) for t in labels) == [1, 13, 14, 15, 16, 17, 18, 19, 20]
    colours = {t.name: t.marker.color for t in _map_bars(fig, "liqmap-long") if t.name.startswith("cluster")}
    assert len(colours) == 20 and len(set(colours.values())) == 20


def test_labels_sit_in_price_order_joined_by_grey_leaders_from_each_peak():
    fig = liqmap_figure(crowded_map())
    labels = [a for a in fig.layout.annotations if a.text.startswith("#")]
    (leaders,) = _map_bars(fig, "leaders")
    assert leaders.line.color == style.LEADER_COLOR
    # one path per label, None between: peak, knee over the bars, below the label, the label
    xs, ys = list(leaders.x), list(leaders.y)
    paths = [(xs[k:k + 4], ys[k:k + 4]) for k in range(0, len(xs), 5)]
    assert len(paths) == len(labels) == 9
    peaks = [x[0] for x, _ in paths]
    assert peaks == sorted(peaks) and [a.x for a in labels] == [x[-1] for x, _ in paths]
    assert [a.x for a in labels] == sorted(a.x for a in labels)  # the label order is the price order


def test_profile_labels_sit_in_price_order_with_the_price_among_them():
    fig = liqmap_figure(crowded_map(), layout="profile")
    labels = [a for a in fig.layout.annotations if a.text.startswith(("#", "<b>price"))]
    assert len(labels) == 10 and sum(a.text.startswith("<b>price") for a in labels) == 1
    ys = [a.y for a in labels]
    assert ys == sorted(ys)  # spread in price order: no two leader lines cross
    (leaders,) = _map_bars(fig, "leaders")
    # per cluster: its bar's end, across to the knee at the same price, then to its label
    xs, ly = list(leaders.x), list(leaders.y)
    assert len(xs) == 9 * 4 and ly[0] == ly[1] and xs[2] == labels[0].x


def test_profile_layout_has_one_bar_per_bin_coloured_by_cluster():
    m = hand_map()
    pal = style.PALETTES["default"]
    bars = {t.name: t for t in _map_bars(liqmap_figure(m, layout="profile"))}
    assert all(t.orientation == "h" for t in bars.values())
    assert set(bars) == {"noise (Z < 1)", "cluster #1", "cluster #2"}
    assert sum(len(t.y) for t in bars.values()) == 10
    assert list(bars["cluster #1"].y) == [90_250.0, 90_350.0] and bars["cluster #1"].marker.color == pal.cluster_color(1)
    # bars start at an empty bin's Z and end at the bin's Z
    z0 = -2.9 / np.sqrt(10.09)
    assert bars["cluster #2"].base == pytest.approx(z0)
    np.testing.assert_allclose(np.asarray(bars["cluster #2"].x) + z0, m.z[[7, 8]])


def test_liqmap_hover_tells_the_clusters_story():
    bars = {t.name: t for t in _map_bars(liqmap_figure(hand_map()), "liqmap-long")}
    text = bars["cluster #1"].customdata[0][6]
    assert "range 90,200 – 90,400" in text and "notional $13.0M" in text and "Z 1.61 (notable)" in text
    assert "long $13.0M · short $0" in text and "-0.22% · 0.50 ATR (actionable)" in text
    assert bars["cluster #1"].customdata[0][2] == 5_000_000.0  # absolute notional of the bin on hover


def test_liqratio_panel_splits_each_band_red_long_green_short():
    fig = liqmap_figure(hand_map(), palette="colorblind")
    long_bar, short_bar = [t for t in fig.data if t.meta == "liqratio"]
    pal = style.PALETTES["colorblind"]
    assert long_bar.marker.color == pal.long and short_bar.marker.color == pal.short
    np.testing.assert_allclose(long_bar.x, [15 / 29, 15 / 29, 15 / 29, 1.0])  # long share of each band


def test_html_is_self_contained(tmp_path):
    path = tmp_path / "map.html"
    text = liqmap_html(hand_map(), path)
    assert path.read_text(encoding="utf-8") == text
    assert re.findall(r"<script[^>]*\bsrc=", text) == []  # no script is fetched from anywhere
    assert len(text) > 1_000_000  # plotly.js is inside
    with pytest.raises(ValueError, match="saved as .html"):
        liqmap_html(hand_map(), tmp_path / "map.png")


def test_heatmap_figure_draws_the_known_cells():
    h = tiny_heatmap()
    fig = heatmap_figure(h)
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z, dtype=float), style.heatmap_cells(h).T.astype(np.float32),
                               equal_nan=True)
    assert fig.data[1].name == "price (close)" and list(fig.data[1].y) == [100.0, 98.0, 101.0, 103.0]
    assert "log scale" in heat.colorbar.title.text
    assert "Z-score" in heatmap_figure(h, scale="z").data[0].colorbar.title.text


def test_heatmap_cli_writes_png_and_html_from_the_bundled_sample(tmp_path, capsys):
    png, html = tmp_path / "heat.png", tmp_path / "heat.html"
    code = main(["heatmap", "BTCUSDT", "--from", "2026-03-01", "--to", "2026-03-03", "--resolution", "4h",
                 "--png", str(png), "--html", str(html)])
    assert code == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and "plotly" in html.read_text(encoding="utf-8")[:5000].lower()
    # 2026-03-01 00:00 .. 2026-03-03 00:00 every 4 h: 13 columns
    assert "13 columns" in capsys.readouterr().out


def test_heatmap_cli_needs_an_output(capsys):
    assert main(["heatmap", "BTCUSDT"]) == 1
    assert "--png FILE and/or --html FILE" in capsys.readouterr().err


def test_heatmap_cli_names_a_bad_resolution(tmp_path, capsys):
    assert main(["heatmap", "BTCUSDT", "--resolution", "often", "--png", str(tmp_path / "h.png")]) == 1
    assert "resolution 'often'" in capsys.readouterr().err

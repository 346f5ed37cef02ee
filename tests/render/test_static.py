"""The LiqMap picture, the terminal tables and the shared style, on a map small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from rich.console import Console

from liqmap.analysis.results import Cluster, LiqMap, LiqRatioBand
from liqmap.render import style
from liqmap.render.static import liqmap_figure, save_liqmap_png
from liqmap.render.table import print_map_table

MILLION = 1e6


def hand_map(**changes) -> LiqMap:
    """Ten 100-USDT bins from 90,000 to 91,000, price 90,550, two clusters.

    totals (millions): 0 1 5 8 1 | 0 | 2 9 3 0   (longs below price, shorts above)
    mean 2.9, population std sqrt(10.09) = 3.17648, so Z(8) = 5.1/3.17648 = 1.6055
    and Z(9) = 6.1/3.17648 = 1.9204; an empty bin has Z = -2.9/3.17648 = -0.91296.
    """
    edges = np.arange(90_000.0, 91_001.0, 100.0)
    total = np.array([0, 1, 5, 8, 1, 0, 2, 9, 3, 0], dtype=float) * MILLION
    long = np.where(np.arange(10) < 5, total, 0.0)
    short = total - long
    z = (total - total.mean()) / total.std()
    clusters = (
        # peak 90,350 is 200 below 90,550: -0.2209 %, 0.5 ATR of 400
        Cluster(1, 90_200.0, 90_400.0, 90_350.0, 13 * MILLION, float(z[3]), 13 * MILLION, 0.0, -0.2209, 0.5, "actionable"),
        # peak 90,750 is 200 above: +0.2209 %, 0.5 ATR
        Cluster(2, 90_700.0, 90_900.0, 90_750.0, 12 * MILLION, float(z[7]), 0.0, 12 * MILLION, 0.2209, 0.5, "actionable"),
    )
    # The renderers only display the bands; these are inputs, the last one with nothing above.
    bands = (
        LiqRatioBand(0.5, 15 * MILLION, 14 * MILLION),
        LiqRatioBand(1.0, 15 * MILLION, 14 * MILLION),
        LiqRatioBand(2.0, 15 * MILLION, 14 * MILLION),
        LiqRatioBand(5.0, 15 * MILLION, 0.0),
    )
    values = dict(
        symbol="BTCUSDT", exchange="binance", as_of_ms=1_772_668_800_000, window_ms=30 * 86_400_000, view="all",
        price=90_550.0, atr=400.0, price_low=edges[:-1], price_high=edges[1:], long=long, short=short, z=z,
        clusters=clusters, liq_ratio=bands, model={"name": "book"}, age_s=3 * 3600 + 5 * 60, stale=True,
        nearest_above=2, nearest_below=1,
    )
    values.update(changes)
    return LiqMap(**values)


# ---- style ---------------------------------------------------------------------------------------

def test_each_bin_gets_the_cluster_that_contains_its_centre():
    assert style.bin_cluster_ids(hand_map()).tolist() == [0, 0, 1, 1, 0, 0, 0, 2, 2, 0]


def test_bins_without_clusters_are_all_noise():
    assert style.bin_cluster_ids(hand_map(clusters=())).tolist() == [0] * 10


def test_bars_start_at_the_z_of_an_empty_bin():
    assert style.zero_notional_z(hand_map()) == pytest.approx(-2.9 / np.sqrt(10.09), abs=1e-9)


def test_a_flat_map_has_its_bars_start_at_zero():
    flat = hand_map(long=np.zeros(10), short=np.zeros(10), z=np.zeros(10), clusters=())
    assert style.zero_notional_z(flat) == 0.0


@pytest.mark.parametrize(
    "value, text",
    [(1_234_000_000, "$1.23B"), (45_600_000, "$45.6M"), (789_400, "$789k"), (512, "$512"), (0, "$0"), (-2_500_000, "-$2.50M")],
)
def test_notional_is_compact(value, text):
    assert style.format_usd(value) == text


@pytest.mark.parametrize("step, decimals", [(100.0, 0), (10.0, 0), (0.5, 1), (0.01, 2), (0.0001, 4)])
def test_price_decimals_follow_the_bin_width(step, decimals):
    assert style.price_decimals(step) == decimals


@pytest.mark.parametrize("ms, text", [(30 * 86_400_000, "30d"), (86_399_000, "23h 59m"), (90 * 60_000, "90m"), (1_500, "1500ms")])
def test_windows_read_in_units_people_use(ms, text):
    assert style.window_text(ms) == text


def test_prices_have_thousands_separators():
    assert style.format_price(91_234.5, 1) == "91,234.5"


@pytest.mark.parametrize("seconds, text", [(59, "0m"), (12 * 60, "12m"), (2 * 3600 + 5 * 60, "2h 05m"), (3 * 86400 + 4 * 3600, "3d 4h")])
def test_age_reads_like_a_person_says_it(seconds, text):
    assert style.format_age(seconds) == text


def test_unknown_palette_is_named_in_the_error():
    with pytest.raises(ValueError, match="'neon'.*default, colorblind"):
        style.palette("neon")


def test_cluster_colours_never_reuse_the_direction_colours():
    for pal in style.PALETTES.values():
        assert pal.long not in pal.clusters and pal.short not in pal.clusters


@pytest.mark.parametrize("name", ["default", "colorblind"])
def test_every_cluster_has_its_own_colour_well_beyond_the_palette(name):
    pal = style.PALETTES[name]
    colours = [pal.cluster_color(i).lower() for i in range(1, 201)]
    assert colours[: len(pal.clusters)] == [c.lower() for c in pal.clusters]  # the palette's own come first
    assert len(set(colours)) == 200
    assert not {pal.long.lower(), pal.short.lower(), pal.noise.lower()} & set(colours)


def crowded_map(n_clusters: int = 20) -> LiqMap:
    """62 bins of 10 from 1,000; price 1,615 (every bin below it, all longs); cluster k (1..n) holds bins
    3k-1 .. 3k+1, peaking at bin 3k with 1 + k/100 million; other bins hold 0.1 million."""
    edges = np.arange(1_000.0, 1_621.0, 10.0)
    total = np.full(62, 0.1 * MILLION)
    clusters = []
    for k in range(1, n_clusters + 1):
        total[3 * k - 1: 3 * k + 2] = 0.5 * MILLION
        total[3 * k] = (1 + k / 100) * MILLION
    z = (total - total.mean()) / total.std()
    for k in range(1, n_clusters + 1):
        peak = float(edges[3 * k] + 5)
        clusters.append(Cluster(k, float(edges[3 * k - 1]), float(edges[3 * k + 2]), peak, float(total[3 * k - 1: 3 * k + 2].sum()),
                                float(z[3 * k]), float(total[3 * k - 1: 3 * k + 2].sum()), 0.0, (peak / 1615 - 1) * 100, 1.0, "near"))
    ranked = tuple(sorted(clusters, key=lambda c: -c.z))
    return hand_map(price=1_615.0, atr=20.0, price_low=edges[:-1], price_high=edges[1:], long=total, short=np.zeros(62),
                    z=z, clusters=ranked, nearest_above=None, nearest_below=1)


def test_labelled_clusters_are_the_top_ranked_and_the_nearest_magnets():
    m = crowded_map()
    # ranked by Z: 20, 19, ..., 13 are the top eight; cluster 1 is the nearest below though ranked last
    assert [c.id for c in style.labelled_clusters(m)] == [20, 19, 18, 17, 16, 15, 14, 13, 1]


def test_cumulative_curves_add_up_from_price_outward():
    # hand_map: longs 0 1 5 8 1 | 0 below 90,550, shorts | 0 2 9 3 0 above (millions); the bin
    # 90,500-90,600 holds the price and counts in both curves
    long_x, long_y, short_x, short_y = style.cumulative_liquidations(hand_map())
    assert long_x.tolist() == [90_550, 90_500, 90_400, 90_300, 90_200, 90_100, 90_000]
    assert (long_y / MILLION).tolist() == [0, 0, 1, 9, 14, 15, 15]
    assert short_x.tolist() == [90_550, 90_600, 90_700, 90_800, 90_900, 91_000]
    assert (short_y / MILLION).tolist() == [0, 0, 2, 11, 14, 14]


def test_layout_names_are_checked():
    with pytest.raises(ValueError, match="'sideways'.*map, profile"):
        style.check_layout("sideways")


# ---- label placement -----------------------------------------------------------------------------

def test_labels_already_apart_stay_where_they_are():
    assert style.spread_labels(np.array([0.0, 1.0, 5.0]), 1.0, -10, 10).tolist() == [0.0, 1.0, 5.0]


def test_crowded_labels_are_pushed_up_just_enough():
    # 0 and 0.1 are 0.1 apart; the second moves up to 1.0, the third (1.5) to 2.0.
    assert style.spread_labels(np.array([0.0, 0.1, 1.5]), 1.0, -10, 10).tolist() == pytest.approx([0.0, 1.0, 2.0])


def test_labels_at_the_top_edge_are_pushed_down():
    # 9.5 and 9.8 with the top at 10: the upper one sits at 10, the lower one a gap below.
    assert style.spread_labels(np.array([9.5, 9.8]), 1.0, -10, 10).tolist() == pytest.approx([9.0, 10.0])


def test_label_slots_keep_labels_over_their_peaks_in_one_row_when_they_fit():
    # width 10, 1 apart: 12 and 14 move right just enough (centres 11 apart), 80 stays
    centres, rows = style.label_slots(np.array([10.0, 12.0, 14.0, 80.0]), 10.0, 0, 100, 1.0)
    assert centres.tolist() == [10.0, 21.0, 32.0, 80.0] and rows.tolist() == [0, 0, 0, 0]


def test_label_slots_stagger_two_rows_so_each_leader_passes_between_the_boxes_below():
    # five labels 20 wide at 50-54 do not fit side by side in 0-100 (4 x 22 > 80): centres 20 / 2 + 2 = 12
    # apart, alternate rows; pushed up from 50 then down from the last centre 90: 42, 54, 66, 78, 90
    centres, rows = style.label_slots(np.array([50.0, 51.0, 52.0, 53.0, 54.0]), 20.0, 0, 100, 2.0)
    assert centres.tolist() == pytest.approx([42.0, 54.0, 66.0, 78.0, 90.0]) and rows.tolist() == [0, 1, 0, 1, 0]


# ---- the map layout (price across) -----------------------------------------------------------------

def _main_axes(fig):
    return fig.axes[0]


def test_bars_rise_from_the_price_axis_at_each_bins_price():
    m = hand_map()
    ax = _main_axes(liqmap_figure(m))
    bars, leaders = ax.collections
    verts = np.array([path.vertices[:4] for path in bars.get_paths()])
    assert verts.shape == (20, 4, 2)  # a long part and a short part per bin
    long_part, short_part = verts[:10], verts[10:]
    z0 = -2.9 / np.sqrt(10.09)
    # x: each bar fills its bin but 4 % on each side: bin 3 is 90,300-90,400
    assert long_part[3, :, 0].min() == pytest.approx(90_304) and long_part[3, :, 0].max() == pytest.approx(90_396)
    # bin 3 is all long: its solid part goes from an empty bin's Z to its Z, its light part is empty
    assert long_part[3, :, 1].min() == pytest.approx(z0) and long_part[3, :, 1].max() == pytest.approx(5.1 / np.sqrt(10.09))
    assert np.ptp(short_part[3, :, 1]) == pytest.approx(0)
    # bin 7 is all short: empty solid part, light part up to Z(9M) = 6.1 / 3.17648
    assert np.ptp(long_part[7, :, 1]) == pytest.approx(0)
    assert short_part[7, :, 1].min() == pytest.approx(z0) and short_part[7, :, 1].max() == pytest.approx(6.1 / np.sqrt(10.09))
    colours = bars.get_facecolors()
    assert colours[3, 3] == 1.0 and colours[13, 3] == pytest.approx(style.SHORT_PART_ALPHA)
    assert ax.get_xlim() == (90_000, 91_000)
    price_lines = [line for line in ax.get_lines() if list(line.get_xdata()) == [90_550, 90_550]]
    assert len(price_lines) == 1  # the price is a vertical line
    # each label's leader line starts at the top of its cluster's peak bin (bins 3 and 7), goes up to just
    # above the tallest bar, across and up to its label; both labels fit in one row, right over their peaks
    labels = {t.get_text()[:2]: t.get_position() for t in ax.texts if t.get_text().startswith("#")}
    assert labels["#1"][0] == 90_350 and labels["#2"][0] == 90_750 and labels["#1"][1] == labels["#2"][1]
    paths = [segment.tolist() for segment in leaders.get_segments()]
    assert [path[0] for path in paths] == [[90_350, pytest.approx(5.1 / np.sqrt(10.09))],
                                           [90_750, pytest.approx(6.1 / np.sqrt(10.09))]]
    assert [path[-1] for path in paths] == [list(labels["#1"]), list(labels["#2"])]
    assert paths[0][1][1] == paths[1][1][1] > 6.1 / np.sqrt(10.09)  # the knee, over the tallest bar
    assert leaders.get_colors()[0].tolist() == list(to_rgba(style.LEADER_COLOR))


def test_cumulative_curves_are_drawn_on_a_usd_axis():
    m = hand_map()
    fig = liqmap_figure(m)
    right = [ax for ax in fig.axes if ax.get_ylabel().startswith("cumulative")][0]
    long_line, short_line = right.get_lines()
    assert (long_line.get_ydata() / MILLION).tolist() == [0, 0, 1, 9, 14, 15, 15]
    assert long_line.get_color() == style.PALETTES["default"].long
    assert short_line.get_xdata().tolist()[-1] == 91_000 and short_line.get_color() == style.PALETTES["default"].short


def _label_boxes(fig, prefixes=("#",)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = _main_axes(fig)
    return {t.get_text(): t.get_bbox_patch().get_window_extent(renderer) for t in ax.texts
            if t.get_text().strip().startswith(prefixes)}


@pytest.mark.parametrize("layout", ["map", "profile"])
def test_labels_on_a_crowded_map_never_overlap_and_every_magnet_has_one(layout):
    m = crowded_map()
    boxes = _label_boxes(liqmap_figure(m, layout=layout, width_px=1000, dpi=100))
    assert sorted(int(text[1:].split()[0]) for text in boxes) == [1, 13, 14, 15, 16, 17, 18, 19, 20]
    items = list(boxes.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            assert not a.overlaps(b), (a, b)


def _crosses(a, b) -> bool:
    """Whether segments a and b (pairs of points) cross at a point inside both."""
    (p, q), (r, s) = np.asarray(a), np.asarray(b)
    d = (q[0] - p[0]) * (s[1] - r[1]) - (q[1] - p[1]) * (s[0] - r[0])
    if d == 0:
        return False
    t = ((r[0] - p[0]) * (s[1] - r[1]) - (r[1] - p[1]) * (s[0] - r[0])) / d
    u = ((r[0] - p[0]) * (q[1] - p[1]) - (r[1] - p[1]) * (q[0] - p[0])) / d
    return 1e-9 < t < 1 - 1e-9 and 1e-9 < u < 1 - 1e-9


@pytest.mark.parametrize("layout", ["map", "profile"])
def test_leader_lines_on_a_crowded_map_never_cross(layout):
    fig = liqmap_figure(crowded_map(), layout=layout, width_px=1000, dpi=100)
    ax = _main_axes(fig)
    (leaders,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    # in pixels, where both axes have the same unit
    paths = [ax.transData.transform(np.asarray(path)) for path in leaders.get_segments()]
    assert len(paths) == 9 + (layout == "profile")  # nine labelled clusters (and the price's label)
    pieces = [[(path[k], path[k + 1]) for k in range(len(path) - 1)] for path in paths]
    for i, a in enumerate(pieces):
        for b in pieces[i + 1:]:
            assert not any(_crosses(s, t) for s in a for t in b)


def test_the_price_label_of_the_profile_layout_is_clear_of_the_cluster_labels():
    # price 90,550 sits between clusters #1 (90,350) and #2 (90,750), a gap the labels are pushed into
    fig = liqmap_figure(hand_map(price=90_560.0), layout="profile", width_px=700, height_px=300, dpi=100)
    boxes = _label_boxes(fig, prefixes=("#", "price"))
    price = next(box for text, box in boxes.items() if text.startswith("price"))
    assert len(boxes) == 3 and not any(price.overlaps(b) for text, b in boxes.items() if text.startswith("#"))


def test_narrow_bins_are_drawn_edge_to_edge():
    # 400 bins over some 800 pixels: 2 px each, drawn without a gap so none snaps to a sliver
    edges = np.arange(90_000.0, 90_000.0 + 401 * 10, 10.0)
    total = np.zeros(400)
    total[::7] = 1e6
    z = (total - total.mean()) / total.std()
    m = hand_map(price_low=edges[:-1], price_high=edges[1:], long=total, short=np.zeros(400), z=z, clusters=(),
                 nearest_above=None, nearest_below=None)
    bars = _main_axes(liqmap_figure(m)).collections[0]
    verts = np.array([path.vertices[:4] for path in bars.get_paths()])[:400]
    assert verts[:, :, 0].min(axis=1).tolist() == edges[:-1].tolist()
    assert verts[:, :, 0].max(axis=1).tolist() == edges[1:].tolist()


def test_more_than_eight_clusters_are_drawn_in_as_many_colours(tmp_path):
    m = crowded_map()
    path = save_liqmap_png(m, tmp_path / "crowded.png", width_px=1200, dpi=100)
    pal = style.PALETTES["default"]
    assert {pal.cluster_color(k) for k in range(1, 21)} <= _colours_in(path)
    assert len({pal.cluster_color(k) for k in range(1, 21)}) == 20


def test_profile_layout_draws_price_up_the_side():
    m = hand_map()
    ax = _main_axes(liqmap_figure(m, layout="profile"))
    (bars,) = ax.containers
    assert len(bars) == 10
    z0 = -2.9 / np.sqrt(10.09)
    rect = bars[3]
    assert rect.get_y() + rect.get_height() / 2 == pytest.approx(90_350)  # centred on the bin's price
    assert rect.get_x() == pytest.approx(z0) and rect.get_x() + rect.get_width() == pytest.approx(5.1 / np.sqrt(10.09))
    assert ax.get_ylim() == (90_000, 91_000)


# ---- PNG ---------------------------------------------------------------------------------------

def _colours_in(path) -> set[str]:
    pixels = (imread(path)[..., :3] * 255).round().astype(int).reshape(-1, 3)
    return {"#{:02x}{:02x}{:02x}".format(*rgb) for rgb in np.unique(pixels, axis=0)}


def test_png_has_the_requested_size_and_the_cluster_and_direction_colours(tmp_path):
    path = save_liqmap_png(hand_map(), tmp_path / "map.png", width_px=1000, height_px=640, dpi=100)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(path).shape[:2] == (640, 1000)
    colours = _colours_in(path)
    pal = style.PALETTES["default"]
    # cluster 1 and 2 bars, grey noise bars, and the LiqRatio's red and green
    assert {pal.cluster_color(1), pal.cluster_color(2), pal.noise, pal.long, pal.short} <= colours


def test_colorblind_palette_replaces_every_colour(tmp_path):
    path = save_liqmap_png(hand_map(), tmp_path / "map.png", palette="colorblind", width_px=1000, dpi=100)
    colours = _colours_in(path)
    blind, default = style.PALETTES["colorblind"], style.PALETTES["default"]
    assert {blind.cluster_color(1).lower(), blind.cluster_color(2).lower(), blind.long.lower()} <= colours
    assert default.cluster_color(1) not in colours and default.long not in colours


def test_svg_is_written_when_the_name_says_so(tmp_path):
    path = save_liqmap_png(hand_map(), tmp_path / "map.svg")
    assert path.read_text()[:200].lstrip().startswith("<?xml") and "<svg" in path.read_text()


def test_unknown_image_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"map\.jpg.*\.png, \.svg, \.pdf"):
        save_liqmap_png(hand_map(), tmp_path / "map.jpg")


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        save_liqmap_png(hand_map(), tmp_path / "nowhere" / "map.png")


def test_a_map_without_bins_is_refused(tmp_path):
    empty = np.zeros(0)
    with pytest.raises(ValueError, match="no price bins"):
        save_liqmap_png(
            hand_map(price_low=empty, price_high=empty, long=empty, short=empty, z=empty, clusters=()), tmp_path / "m.png"
        )


# ---- terminal tables -------------------------------------------------------------------------------

def _printed(m: LiqMap) -> str:
    console = Console(record=True, width=160, color_system=None)
    print_map_table(m, console)
    return console.export_text()


def test_table_shows_header_clusters_and_bands():
    text = _printed(hand_map())
    assert "90,550.0" in text
    assert "2026-03-05 00:00:00 UTC" in text and "30d" in text and "book" in text
    assert "3h 05m — STALE" in text
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if line.startswith("│")}
    c1 = [cell.strip() for cell in lines["1"].split("│")[1:-1]]
    assert c1 == ["1", "90,200 – 90,400", "90,350", "1.61", "notable", "$13.0M", "$13.0M", "$0", "-0.22", "0.50", "actionable"]
    c2 = [cell.strip() for cell in lines["2"].split("│")[1:-1]]
    assert c2[:4] == ["2", "90,700 – 90,900", "90,750", "1.92"]
    band = [cell.strip() for cell in lines["±0.5%"].split("│")[1:-1]]
    assert band == ["±0.5%", "$15.0M", "$14.0M", "1.07", "52%"]  # 15/14 = 1.071, 15/29 = 51.7 %
    assert [cell.strip() for cell in lines["±5%"].split("│")[1:-1]] == ["±5%", "$15.0M", "$0", "∞", "100%"]


def test_table_says_when_no_cluster_stands_out():
    text = _printed(hand_map(clusters=(), nearest_above=None, nearest_below=None))
    assert "no clusters stand out" in text
    assert "nearest" not in text


# ---- a Multi map -----------------------------------------------------------------------------------

def multi_map() -> LiqMap:
    """The hand map split over two venues (bybit has no book): binance holds 3/4 of bin 3 and all of bin 7."""
    m = hand_map()
    binance_long = m.long.copy()
    binance_long[3] = 6 * MILLION
    venues = {
        "binance": {"bins": {"long": binance_long.tolist(), "short": m.short.tolist()}, "liq_ratio": m.liq_ratio},
        "bybit": {"bins": None, "liq_ratio": None},
        "hyperliquid": {"bins": {"long": (m.long - binance_long).tolist(), "short": [0.0] * 10},
                        "liq_ratio": m.liq_ratio},
    }
    return hand_map(exchange="all", extras={"venues": venues})


def test_a_multi_map_is_titled_by_its_venues():
    assert style.map_title(multi_map()).startswith("BTCUSDT · Multi (binance + hyperliquid) · liquidation map")
    assert style.map_title(hand_map()).startswith("BTCUSDT · binance · liquidation map")


def test_a_multi_maps_bars_are_stacked_by_venue_in_shades_of_the_bars_colour():
    fig = liqmap_figure(multi_map())
    bars = _main_axes(fig).collections[0]
    verts = np.array([path.vertices[:4] for path in bars.get_paths()])
    assert verts.shape == (20, 4, 2)  # a binance part and a hyperliquid part per bin
    binance, hyperliquid = verts[:10], verts[10:]
    z0, z3 = -2.9 / np.sqrt(10.09), 5.1 / np.sqrt(10.09)
    # bin 3 (8M): binance's 6M from an empty bin's Z to 3/4 of the way up, hyperliquid's 2M the rest
    assert binance[3, :, 1].min() == pytest.approx(z0) and binance[3, :, 1].max() == pytest.approx(z0 + (z3 - z0) * 0.75)
    assert hyperliquid[3, :, 1].min() == pytest.approx(z0 + (z3 - z0) * 0.75)
    assert hyperliquid[3, :, 1].max() == pytest.approx(z3)
    assert np.ptp(hyperliquid[7, :, 1]) == pytest.approx(0)  # bin 7 is all binance
    colours = bars.get_facecolors()
    c1 = style.PALETTES["default"].cluster_color(1)  # "#1f77b4": half way to white is (143, 187, 218)
    assert colours[3].tolist() == list(to_rgba(c1)) and style.venue_shade(c1, 1) == "#8fbbda"
    assert colours[13].tolist() == pytest.approx(list(to_rgba("#8fbbda")))
    key = [t.get_text() for t in fig.axes[2].texts][-2:]
    assert key == ["binance", "hyperliquid"]

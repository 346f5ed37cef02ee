"""The LiqMap picture, the terminal tables and the shared style, on a map small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread
from rich.console import Console

from liqmap.analysis.results import Cluster, LiqMap, LiqRatioBand
from liqmap.render import style
from liqmap.render.static import save_liqmap_png
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


# ---- label placement -----------------------------------------------------------------------------

def test_labels_already_apart_stay_where_they_are():
    assert style.spread_labels(np.array([0.0, 1.0, 5.0]), 1.0, -10, 10).tolist() == [0.0, 1.0, 5.0]


def test_crowded_labels_are_pushed_up_just_enough():
    # 0 and 0.1 are 0.1 apart; the second moves up to 1.0, the third (1.5) to 2.0.
    assert style.spread_labels(np.array([0.0, 0.1, 1.5]), 1.0, -10, 10).tolist() == pytest.approx([0.0, 1.0, 2.0])


def test_labels_at_the_top_edge_are_pushed_down():
    # 9.5 and 9.8 with the top at 10: the upper one sits at 10, the lower one a gap below.
    assert style.spread_labels(np.array([9.5, 9.8]), 1.0, -10, 10).tolist() == pytest.approx([9.0, 10.0])


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

"""The shared validation: typed NAME=VALUE options, bounds in the messages, work budgets."""

from __future__ import annotations

import pytest

import liqmap
from liqmap.analysis.mapping import MapSettings
from liqmap.analysis.setups import SetupParams
from liqmap.model.params import BookParams
from liqmap.options import (BudgetError, OptionError, check_heatmap, check_map_bins, coerce_fields, distinct,
                            in_range, parse_assignments, parse_text, span_ms)


def test_text_values_parse_as_json_or_stay_text():
    assert parse_text("0.5") == 0.5 and parse_text("[1,2]") == [1, 2] and parse_text("null") is None
    assert parse_text("range5") == "range5"


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e400", "[1, 1e999]", "+inf"])
def test_non_finite_numbers_are_refused(text):
    with pytest.raises(OptionError, match="is not a finite number|holds a number that is not finite"):
        parse_text(text)


@pytest.mark.parametrize(
    "items, message",
    [
        (["leverage_median=abc"], "--param leverage_median 'abc' is not a number"),
        (["leverage_median=nan"], "--param leverage_median=nan: nan is not a finite number"),
        (["leverage_median=1e400"], "--param leverage_median=1e400: 1e400 is not a finite number"),
        (["close_iterations=1.5"], "--param close_iterations 1.5 is not a whole number"),
        (["leverages=5"], "--param leverages 5 is not a list like [1, 2]"),
        (["leverages=[]"], "--param leverages is an empty list"),
        (["leverages=[1,\"x\"]"], "--param leverages 'x' is not a number"),
        (["side_split=3"], "--param side_split 3 is not text"),
        (["leverage_median=3", "leverage_median=4"], "--param leverage_median is given twice"),
        (["nonsense=1"], "--param 'nonsense=1': expected NAME=VALUE with NAME one of leverages,"),
    ],
)
def test_param_values_are_typed_by_the_field(items, message):
    with pytest.raises(OptionError) as caught:
        parse_assignments(items, BookParams, "--param")
    assert str(caught.value).startswith(message)


def test_assignments_keep_good_values_typed():
    assert parse_assignments(["leverage_median=7", "leverages=[2,10]", "decay_half_life_10x=null",
                              "entry_anchors=close"], BookParams, "--param") == {
        "leverage_median": 7.0, "leverages": (2.0, 10.0), "decay_half_life_10x": None, "entry_anchors": "close"}
    assert parse_assignments(["bounce_pct=[0.8,2]"], SetupParams, "--set") == {"bounce_pct": (0.8, 2.0)}
    with pytest.raises(OptionError, match=r"^--set bounce_pct \[1\] must be a list of 2 values$"):
        parse_assignments(["bounce_pct=[1]"], SetupParams, "--set")


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(bin_pct=1e-9), "bin_pct 1e-09 is outside [0.01, 10] (% of price per bin)"),
        (dict(span_pct=1000), "span_pct 1000 is outside (0, 90] (% around price; 100 would reach price 0)"),
        (dict(liq_ratio_bands=(-1, 0)), "liq_ratio_bands -1 is outside (0, 100] (% around price)"),
        (dict(liq_ratio_bands=()), "liq_ratio_bands is empty"),
        (dict(liq_ratio_bands=(1, 2, 1)), "liq_ratio_bands lists 1.0 twice"),
        (dict(atr_period=0), "atr_period 0 is outside [1, 1000]"),
        (dict(valley_ratio=float("nan")), "valley_ratio nan is not a finite number"),
        (dict(cluster_min_z="high"), "cluster_min_z 'high' is not a number"),
    ],
)
def test_map_settings_name_their_bounds(settings, message):
    with pytest.raises(OptionError) as caught:
        MapSettings(**settings)
    assert str(caught.value) == message


def test_lists_are_non_empty_and_without_repeats():
    assert distinct("views", ["all", "high"], allowed=("all", "high", "low")) == ("all", "high")
    with pytest.raises(OptionError, match="^views is empty: give at least one of all, high$"):
        distinct("views", [], allowed=("all", "high"))
    with pytest.raises(OptionError, match="^views lists 'all' twice$"):
        distinct("views", ["all", "all"])
    with pytest.raises(OptionError, match="^views: unknown view 'x'; choose from all$"):
        distinct("views", ["x"], allowed=("all",), what="view")


def test_numbers_and_spans_have_bounds():
    assert in_range("x", 3, 1, 5, integer=True) == 3
    with pytest.raises(OptionError, match=r"^x 0 is outside \(0, 5\]$"):
        in_range("x", 0, 0, 5, low_open=True)
    with pytest.raises(OptionError, match="^x True is not a number$"):
        in_range("x", True, 0, 5)
    assert span_ms("window", "7d") == 7 * 86_400_000 and span_ms("window", 60_000) == 60_000
    # a 26-digit window (once an OverflowError) and a sub-millisecond step (once a ZeroDivisionError)
    for text in ("12345678901234567890123456d", "0.4ms", "9" * 400 + "d"):
        with pytest.raises(ValueError, match=r"is outside the spans liqmap accepts \(1ms \.\. 100 years\)"):
            span_ms("resolution", text)


def test_the_heatmap_budget_says_what_fits():
    # 30 days of 1-minute columns x 1,000 bins: 43,201 x 1,000 x 8 bytes = 345.6 MB; at 5m, 8,641 columns = 69 MB
    with pytest.raises(BudgetError) as caught:
        check_heatmap(43_201, 1_000, 60_000, 30 * 86_400_000, 200_000_000)
    assert str(caught.value) == ("a heatmap of 43,201 columns x 1,000 bins is 346 MB, over the 200 MB budget; "
                                 "use resolution 5m or coarser, at most 578 bins at this resolution, or a shorter span "
                                 "(start/end)")
    check_heatmap(8_641, 1_000, 300_000, 30 * 86_400_000, 200_000_000)  # 69 MB: fits
    with pytest.raises(BudgetError, match="^a heatmap of 10,001 price bins is over the 10,000-bin budget"):
        check_heatmap(1, 10_001, 60_000, 60_000, 200_000_000)
    with pytest.raises(BudgetError, match="^a map grid of 20,001 bins .* over the 20,000-bin budget"):
        check_map_bins(20_001, 0.01, 90)


def test_build_map_takes_settings_as_a_dict_and_checks_them():
    m = liqmap.build_map("BTCUSDT", settings={"bin_pct": 0.2, "liq_ratio_bands": [1, 3]})
    assert {round(float(h - lo), 6) for lo, h in zip(m.price_low, m.price_high)} == {200.0}  # 0.2% of 73.4k: 200
    assert [b.pct for b in m.liq_ratio] == [1.0, 3.0]
    with pytest.raises(OptionError, match="^settings: unknown name 'bin_size'"):
        liqmap.build_map("BTCUSDT", settings={"bin_size": 1})
    with pytest.raises(OptionError, match="^params leverage_median 'x' is not a number$"):
        liqmap.build_map("BTCUSDT", params={"leverage_median": "x"})
    assert coerce_fields(MapSettings, {"atr_period": 14.0}, "settings") == {"atr_period": 14}


def test_the_window_is_cut_to_the_data_and_says_so():
    # the sample starts 2025-12-01T00:00 and the map is as of 2026-03-05T11:00: 94 days 11 hours = 2,267 h
    m = liqmap.build_map("BTCUSDT", window="400d")
    assert m.to_dict()["window"] == "2267h"
    assert ("window: 400d asked, but the data starts 2025-12-01T00:00:00Z: the map counts openings over the "
            "2267h the data holds") in m.model["notes"]
    with pytest.raises(OptionError, match="^window '7d' and start 2026-02-01T00:00:00Z both set where the window "
                                          "begins; give one of them$"):
        liqmap.build_map("BTCUSDT", window="7d", start="2026-02-01")

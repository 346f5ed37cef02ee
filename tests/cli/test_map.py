"""`liqmap map` end to end on the bundled real sample: JSON schema, views, CSV, PNG, errors, peer mode."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from liqmap.cli import main

BIN_KEYS = {"price_low", "price_high", "long", "short", "total", "z"}
CLUSTER_KEYS = {"id", "price_low", "price_high", "peak", "notional", "z", "long", "short", "distance_pct",
                "distance_atr", "reach"}


def run_json(capsys, *args):
    assert main(["map", "BTCUSDT", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def five_views():
    """All five views of the sample in one call (one book)."""
    out = subprocess.run(
        [sys.executable, "-m", "liqmap", "map", "BTCUSDT", "--view", "all,high,medium,low,optical", "--format", "json"],
        capture_output=True, text=True, check=True,
    )
    return {m["view"]: m for m in json.loads(out.stdout)["maps"]}


def test_json_schema_on_the_sample(five_views):
    m = five_views["all"]
    assert {"symbol", "exchange", "as_of", "window", "view", "price", "atr", "bins", "clusters", "liq_ratio",
            "nearest", "model", "age_s", "stale"} <= set(m)
    assert (m["symbol"], m["exchange"], m["window"], m["view"]) == ("BTCUSDT", "binance", "30d", "all")
    # the sample ends with the 10:00 candle of 2026-03-05, so the map is as of 11:00 at its close
    assert m["as_of"] == "2026-03-05T11:00:00Z"
    assert m["price"] == pytest.approx(73399.9)
    assert 300 < m["atr"] < 2000  # hourly Wilder ATR of BTC near 73k
    assert all(set(b) == BIN_KEYS for b in m["bins"])
    widths = {round(b["price_high"] - b["price_low"], 6) for b in m["bins"]}
    assert widths == {100.0}  # 0.1% of 73.4k rounded to a round step
    assert m["bins"][0]["price_low"] <= m["price"] * 0.8 and m["bins"][-1]["price_high"] >= m["price"] * 1.2
    assert m["clusters"] and all(CLUSTER_KEYS <= set(c) for c in m["clusters"])
    assert [c["id"] for c in m["clusters"]] == list(range(1, len(m["clusters"]) + 1))
    assert all(c["z"] >= 1.0 for c in m["clusters"])
    assert [c["z"] for c in m["clusters"]] == sorted((c["z"] for c in m["clusters"]), reverse=True)
    for c in m["clusters"]:
        assert c["notional"] == pytest.approx(c["long"] + c["short"])
        assert c["distance_pct"] == pytest.approx((c["peak"] - m["price"]) / m["price"] * 100)
        assert c["distance_atr"] == pytest.approx(abs(c["peak"] - m["price"]) / m["atr"])
    assert [b["pct"] for b in m["liq_ratio"]] == [0.5, 1.0, 2.0, 5.0]
    assert m["model"]["name"] == "liqmap-book" and "parameters" in m["model"]
    assert any("side split: close location" in n for n in m["model"]["notes"])  # the sample has no taker volume
    assert any("last-price candles" in n for n in m["model"]["notes"])  # nor mark-price klines
    cover = m["model"]["coverage"]
    assert set(cover) == {"placed", "scale", "alive", "in_grid", "within_5pct"}
    # by default the map holds what the book placed (oi_reconcile off: scale 1)
    assert 0 < cover["placed"] <= 1.5 and cover["scale"] == 1.0 and cover["alive"] == cover["placed"]
    assert 0 < cover["within_5pct"] < cover["in_grid"] < cover["alive"]
    assert m["stale"] is True  # historical data is old against the clock


def test_levels_sit_on_the_right_side_of_price(five_views):
    # a long level above price would have been swept by the path; only the last candle's openings can be
    m = five_views["all"]
    price = m["price"]
    long_above = sum(b["long"] for b in m["bins"] if b["price_low"] >= price)
    short_below = sum(b["short"] for b in m["bins"] if b["price_high"] <= price)
    assert long_above <= 0.01 * sum(b["long"] for b in m["bins"])
    assert short_below <= 0.01 * sum(b["short"] for b in m["bins"])


def test_the_five_views_differ(five_views):
    totals = {v: np.array([b["total"] for b in m["bins"]]) for v, m in five_views.items()}
    views = list(totals)
    for i, a in enumerate(views):
        for b in views[i + 1:]:
            assert not np.allclose(totals[a], totals[b]), (a, b)
    # the leverage filters partition "all": high + medium + low = all, bin by bin
    np.testing.assert_allclose(totals["high"] + totals["medium"] + totals["low"], totals["all"], rtol=1e-9)
    # optical weights "all" down away from price, never up
    assert np.all(totals["optical"] <= totals["all"] + 1e-6)


def test_as_of_and_window(capsys):
    m = run_json(capsys, "--as-of", "2026-02-05T20:00", "--window", "7d")
    assert (m["as_of"], m["window"]) == ("2026-02-05T20:00:00Z", "7d")
    assert m["price"] == pytest.approx(m["price"])
    short = run_json(capsys, "--as-of", "2026-02-05T20:00", "--window", "1d")
    # a shorter window places less of the open interest (the map scales both to hold all of it)
    assert short["model"]["coverage"]["placed"] < m["model"]["coverage"]["placed"]


def test_csv_writes_the_bins(capsys):
    assert main(["map", "BTCUSDT", "--format", "csv", "--view", "high"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert set(rows[0]) == {"view"} | BIN_KEYS and {r["view"] for r in rows} == {"high"}
    assert len(rows) == 881 - 587  # bins of 100 from floor(0.8 * 73,399.9 / 100) to ceil(1.2 * 73,399.9 / 100)


def test_table_and_png(tmp_path, capsys):
    png = tmp_path / "map.png"
    assert main(["map", "BTCUSDT", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "73,399.9" in out and "LiqRatio" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_with_png_imports_only_what_it_needs(tmp_path):
    """The process that computes the map loads neither matplotlib (its drawing child does) nor the server,
    the interactive charts, the terminal tables, the HTTP client, pandas or Dask."""
    code = ("import sys; from liqmap.cli import main; "
            f"main(['map', 'BTCUSDT', '--format', 'json', '--png', {str(tmp_path / 'm.png')!r}]); "
            "import json; print(json.dumps(sorted({n.split('.')[0] for n in sys.modules} | set(sys.modules))),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stderr.strip().splitlines()[-1]))
    assert "numpy" in loaded and "liqmap.render.static" in loaded
    unwanted = {"matplotlib", "plotly", "rich", "httpx", "pandas", "dask", "liqmap.server", "liqmap.render.interactive",
                "liqmap.render.table"}
    assert loaded & unwanted == set()
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_per_view(tmp_path, capsys):
    assert main(["map", "BTCUSDT", "--view", "all,high", "--format", "csv", "--html", str(tmp_path / "m.html")]) == 0
    for view in ("all", "high"):
        page = (tmp_path / f"m_{view}.html").read_text()
        assert "<script" in page and f"view {view}" in page and '<script src="http' not in page  # offline


def test_model_parameters_change_the_map(capsys):
    base = run_json(capsys)
    tuned = run_json(capsys, "--param", "leverage_median=20")
    assert tuned["model"]["parameters"]["leverage_median"] == 20
    assert [b["total"] for b in tuned["bins"]] != [b["total"] for b in base["bins"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["map", "DOGEUSDX"], "DOGEUSDX"),
        (["map", "BTCUSDT", "--as-of", "2024-01-01"],
         "as-of time 2024-01-01T00:00:00Z is outside the data for BTCUSDT, which starts 2025-12-01T00:00:00Z"),
        (["map", "BTCUSDT", "--as-of", "yesterday"], "is not a date or time"),
        (["map", "BTCUSDT", "--window", "30 days"], "is not a span"),
        (["map", "BTCUSDT", "--window", "-5d"], "window '-5d' is not a span like 15m, 1h, 24h, 7d or 30d"),
        (["map", "BTCUSDT", "--max-age", "-1h"], "--max-age '-1h' is not a span like 15m, 1h, 24h, 7d or 30d"),
        (["map", "BTCUSDT", "--from", "2026-03-06", "--as-of", "2026-03-01"],
         "start 2026-03-06T00:00:00Z must be before the as-of time 2026-03-01T00:00:00Z"),
        (["map", "BTCUSDT", "--view", "extreme"], "unknown view 'extreme'"),
        (["map", "BTCUSDT", "--param", "leverage=5"], "--param 'leverage=5'"),
        (["map", "BTCUSDT", "--param", "side_split=magic"], "side_split must be one of"),
        (["map", "BTCUSDT", "--model", "peer"], "needs aggregate trades"),
        (["map", "BTCUSDT", "--source", "/nonexistent/folder"], "/nonexistent/folder"),
        (["map", "BTCUSDT", "--png", "map.txt"], "cannot write map.txt: the file name must end in one of .png, .svg, .pdf"),
        (["map", "BTCUSDT", "--png", "/nonexistent/map.png"], "folder /nonexistent does not exist"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(capsys, args, message):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"liqmap {args[0]}: error:") and message in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--setting", "bin_pct=1e-9"], "--setting bin_pct 1e-09 is outside [0.01, 10] (% of price per bin)"),
        (["--setting", "span_pct=1000"],
         "--setting span_pct 1000 is outside (0, 90] (% around price; 100 would reach price 0)"),
        (["--setting", "liq_ratio_bands=[-1,0]"], "--setting liq_ratio_bands -1 is outside (0, 100] (% around price)"),
        (["--setting", "bin_pct=inf"], "--setting bin_pct=inf: inf is not a finite number"),
        (["--setting", "atr_period=abc"], "--setting atr_period 'abc' is not a number"),
        (["--param", "leverage_median=nan"], "--param leverage_median=nan: nan is not a finite number"),
        (["--param", "leverages=[10,1e400]"], "--param leverages=[10,1e400]: [10,1e400] holds a number that is not finite (beyond 1.8e308)"),
        (["--view", ","], "--view is empty: give at least one of all, high, medium, low, optical"),
        (["--view", "all,all"], "--view lists 'all' twice"),
        (["--from", "2026-02-01", "--window", "7d"],
         "window '7d' and start 2026-02-01T00:00:00Z both set where the window begins; give one of them"),
        (["--window", "1m"], "window 1m holds less than two 1h candles of the BTCUSDT data; use at least 2h"),
        (["--as-of", "2025-12-01T01:00"],
         "as-of time 2025-12-01T01:00:00Z leaves less than two 1h candles of BTCUSDT data before it (the data starts "
         "2025-12-01T00:00:00Z); use 2025-12-01T02:00:00Z or later"),
        (["--as-of", "2030-01-01"],  # far past the data: nothing of the window loads either
         "as-of time 2030-01-01T00:00:00Z is outside the data for BTCUSDT, which ends 2026-03-05T11:00:00Z"),
        (["--as-of", "2026-04-01"],
         "as-of time 2026-04-01T00:00:00Z is outside the data for BTCUSDT, which ends 2026-03-05T11:00:00Z"),
        (["--window", "12345678901234567890123456d"],
         "window '12345678901234567890123456d' is outside the spans liqmap accepts (1ms .. 100 years)"),
    ],
)
def test_options_out_of_bounds_are_named_with_their_bound(capsys, args, message):
    assert main(["map", "BTCUSDT", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("liqmap map: error: ") and message in err, err


def test_top_must_be_a_positive_count(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["map", "BTCUSDT", "--top", "-3"])
    assert caught.value.code == 2
    assert "argument --top: '-3': value -3 is outside [1, 1000]" in capsys.readouterr().err


def test_a_window_longer_than_the_data_is_labelled_with_what_it_covered(capsys):
    m = run_json(capsys, "--window", "400d")
    assert m["window"] == "2267h"  # 2025-12-01T00:00 .. 2026-03-05T11:00
    assert any(n.startswith("window: 400d asked, but the data starts 2025-12-01T00:00:00Z") for n in m["model"]["notes"])


def test_output_piped_into_head_ends_quietly():
    # head reads three lines and exits; five views of CSV (about 250 kB) overflow the 64 kB pipe buffer, so the
    # writer then gets EPIPE: no traceback, exit 141 (128 + SIGPIPE)
    proc = subprocess.run(f"{sys.executable} -m liqmap map BTCUSDT --view all,high,medium,low,optical --format csv "
                          "| head -3; exit ${PIPESTATUS[0]}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True)
    assert proc.stdout.splitlines()[0] == "view,price_low,price_high,long,short,total,z"
    assert len(proc.stdout.splitlines()) == 3
    assert proc.stderr == "" and proc.returncode == 141


@pytest.mark.parametrize("command", ["map BTCUSDT --png {png}", "flow BTCUSDT", "setups BTCUSDT"])
def test_a_table_into_a_reader_that_has_gone_ends_quietly_with_its_files_written(tmp_path, command):
    # `true` exits without reading, long before the table is ready: the first write meets a closed pipe
    png = tmp_path / "m.png"
    proc = subprocess.run(f"{sys.executable} -m liqmap {command.format(png=png)} | true; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True)
    assert proc.returncode == 141 and proc.stderr in ("", f"wrote {png}\n")
    assert png.exists() == ("--png" in command)


def test_peer_mode_through_the_cli_equals_the_peer_levels(tmp_path, capsys, shared_dir):
    gen = shared_dir / "bench" / "gen_aggtrades.py"
    out = tmp_path / "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-15.csv"
    subprocess.run([sys.executable, str(gen), "--symbol", "BTCUSDT", "--date", "2025-01-15", "--trades", "20000",
                    "--seed", "5", "--out", str(out),
                    "--klines", str(tmp_path / "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-{date}.csv"),
                    "--metrics", str(tmp_path / "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-{date}.csv")],
                   check=True, capture_output=True)
    m = run_json(capsys, "--source", str(tmp_path), "--from", "2025-01-15", "--as-of", "2025-01-15T23:59:59",
                 "--model", "peer")
    from liqmap.model.peer import peer_levels
    from liqmap.venues.binance.vision import read_aggtrades

    expected = peer_levels(read_aggtrades([out]), 1736899200000, 1736985599000)
    assert m["model"]["name"] == "peer-compatible"
    assert m["peer_levels"] == expected.to_records()
    # the map's bins are the peer's tiers summed per bin on its own grid
    width = expected.bin_width
    assert {round(b["price_high"] - b["price_low"], 9) for b in m["bins"]} == {width}
    assert sum(b["long"] for b in m["bins"]) == pytest.approx(float(expected.amount[expected.is_long].sum()))
    book = run_json(capsys, "--source", str(tmp_path), "--from", "2025-01-15", "--as-of", "2025-01-15T23:59:59")
    assert any("exact taker side from aggregate trades" in n for n in book["model"]["notes"])


def test_a_symbol_without_brackets_in_force_needs_a_bracket_file(tmp_path, capsys, shared_dir):
    gen = shared_dir / "bench" / "gen_aggtrades.py"
    daily = tmp_path / "data/futures/um/daily"
    subprocess.run([sys.executable, str(gen), "--symbol", "ETHUSDT", "--date", "2025-01-15", "--trades", "5000",
                    "--seed", "9", "--out", str(daily / "aggTrades/ETHUSDT/ETHUSDT-aggTrades-{date}.csv"),
                    "--klines", str(daily / "klines/ETHUSDT/1m/ETHUSDT-1m-{date}.csv"),
                    "--metrics", str(daily / "metrics/ETHUSDT/ETHUSDT-metrics-{date}.csv")],
                   check=True, capture_output=True)
    args = ["map", "ETHUSDT", "--source", str(tmp_path), "--format", "json", "--window", "1d"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert ("no binance ETHUSDT brackets in force at 2025-01-15T" in err and "the oldest snapshot is of 2025-08-19" in err
            and "--param brackets=FILE" in err)
    # a user's table whose first bracket allows at most 50x: the 75-125x cohorts cannot exist
    brackets = tmp_path / "eth.json"
    brackets.write_text(json.dumps({
        "exchange": "binance", "symbol": "ETHUSDT", "date": "2024-01-01T00:00:00Z", "source": "test table",
        "size_unit": "quote",
        "tiers": [{"cap": 100000, "max_leverage": 50, "mmr": 0.005, "maintenance_amount": 0},
                  {"cap": 1000000, "max_leverage": 20, "mmr": 0.01, "maintenance_amount": 500}],
    }))
    assert main(args + ["--param", f"brackets={brackets}"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert any("cohorts above 50x left out" in n for n in m["model"]["notes"])
    assert sum(b["total"] for b in m["bins"]) > 0


def test_reading_settings_from_the_command_line(capsys):
    m = run_json(capsys, "--setting", "bin_pct=0.25", "--setting", "liq_ratio_bands=[1, 3]",
                 "--setting", "z_population=all")
    widths = {round(b["price_high"] - b["price_low"], 6) for b in m["bins"]}
    assert widths == {200.0}  # 0.25% of 73.4k = 183.5, nearest round step 200
    assert [b["pct"] for b in m["liq_ratio"]] == [1.0, 3.0]
    assert m["model"]["z_stats"]["population"] == len(m["bins"])
    assert main(["map", "BTCUSDT", "--setting", "bins=5"]) == 1
    assert "--setting 'bins=5': expected NAME=VALUE" in capsys.readouterr().err


def test_a_folder_of_aggtrades_alone_maps_in_peer_mode_and_the_book_says_what_it_needs(tmp_path, capsys):
    from pathlib import Path
    import shutil

    fixtures = Path(__file__).parents[1] / "fixtures" / "vision"
    for day in ("15", "16"):
        shutil.copy(fixtures / f"BTCUSDT-aggTrades-2025-01-{day}.csv", tmp_path)
    m = run_json(capsys, "--source", str(tmp_path), "--model", "peer", "--window", "2d")
    assert m["model"]["name"] == "peer-compatible" and m["price"] == 96011.0  # the last trade
    assert all(b["long"] >= 0 and b["short"] >= 0 for b in m["bins"])
    assert main(["map", "BTCUSDT", "--source", str(tmp_path), "--window", "2d"]) == 1
    assert capsys.readouterr().err == (
        "liqmap map: error: BTCUSDT: the position book needs open interest (metrics files), and the data has none; "
        "the peer-compatible model (--model peer, model='peer') maps from aggTrades alone\n"
    )


def test_liq_ratio_bands_wider_than_the_grid_count_the_whole_book(capsys, five_views):
    narrow = run_json(capsys, "--setting", "span_pct=2")
    assert narrow["bins"][0]["price_low"] >= narrow["price"] * 0.979 and len(narrow["bins"]) < 50
    assert narrow["liq_ratio"] == five_views["all"]["liq_ratio"]  # the ±5 % band too, on a ±2 % map
    multi = run_json(capsys, "--venue", "all", "--setting", "span_pct=2")
    whole = run_json(capsys, "--venue", "all")
    assert multi["liq_ratio"] == whole["liq_ratio"]
    assert multi["venues"]["binance"]["liq_ratio"] == whole["venues"]["binance"]["liq_ratio"]
    assert len(multi["venues"]["binance"]["bins"]["long"]) == len(multi["bins"])


def test_a_map_with_too_little_history_for_the_atr_says_so(capsys):
    assert main(["map", "BTCUSDT", "--as-of", "2025-12-01T03:00"]) == 0
    out = capsys.readouterr().out
    assert "ATR              — (too little history for Wilder 14 on 60-minute bars)" in out
    assert not re.search(r"\bnan\b", out) and "│  +1.69 │        — │ unknown │" in out
    m = run_json(capsys, "--as-of", "2025-12-01T03:00")
    assert m["atr"] is None and m["model"]["notes"][-1] == (
        "ATR: too little history before the as-of time for Wilder 14 on 60-minute bars (it needs 14 closed "
        "bars); distances in ATR and reach are unknown")


def test_help_texts_read_as_written():
    from liqmap.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert "distance in % and ATR" in commands["map"].format_help()
    assert "Hyperliquid and OKX tiers; the OKX tiers shipped cover ARBUSDT only" in " ".join(parser.format_help().split())


def test_an_as_of_time_inside_a_candle_says_which_candles_the_book_holds(capsys):
    inside = run_json(capsys, "--as-of", "2026-02-05T20:30")
    assert inside["as_of"] == "2026-02-05T20:30:00Z" and inside["model"]["notes"][-1] == (
        "as-of time 2026-02-05T20:30:00Z falls inside a 1h candle: the book holds the candles ended by "
        "2026-02-05T20:00:00Z; the price is that candle's close")
    on_the_hour = run_json(capsys, "--as-of", "2026-02-05T20:00")
    assert not any(n.startswith("as-of time") for n in on_the_hour["model"]["notes"])


def test_a_nearest_cluster_beyond_the_listed_ones_is_said_to_be(capsys):
    m = run_json(capsys)
    above = next(c for c in m["clusters"] if c["id"] == m["nearest"]["above"])
    assert above["id"] > 10  # the sample's nearest magnet above ranks below the top 10
    assert main(["map", "BTCUSDT"]) == 0
    out = capsys.readouterr().out
    assert (f"nearest above    #{above['id']} at {above['peak']:,.0f} ({above['distance_pct']:+.2f}%, beyond the top "
            f"10 listed)") in out
    assert main(["map", "BTCUSDT", "--top", str(above["id"])]) == 0
    assert f"#{above['id']} at {above['peak']:,.0f} ({above['distance_pct']:+.2f}%)" in capsys.readouterr().out

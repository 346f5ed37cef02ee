"""``liqmap backfill`` end to end in this process (--workers 0), and its refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from liqmap.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from backfill_data import write_market  # noqa: E402

ARGS = ["backfill", "--symbols", "BTCUSDT", "--from", "2025-09-29", "--to", "2025-10-02", "--every", "12h",
        "--window", "1d", "--param", "decay_half_life_10x=2", "--views", "all,low", "--workers", "0"]


def test_backfill_writes_a_dataset_duckdb_reads_and_a_rerun_skips_it(tmp_path, monkeypatch, capsys):
    write_market(tmp_path / "data", "binance", "BTCUSDT", "2025-09-25", "2025-10-03", candle_ms=5 * 60_000)
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "data"))
    out = tmp_path / "bf"
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "2 partitions written, 0 already done" in capsys.readouterr().out
    # 29th 00:00, 12:00, 30th 00:00, 12:00 in September; 1st 00:00, 12:00 in October: 6 moments x 2 views
    rows = duckdb.sql(f"SELECT month, count(*) FROM read_parquet('{out}/maps/**/*.parquet', hive_partitioning=true) "
                      "GROUP BY month ORDER BY month").fetchall()
    assert rows == [("2025-09", 8), ("2025-10", 4)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["views"] == ["all", "low"] and manifest["window_ms"] == 86_400_000
    assert manifest["parameters"]["binance"]["decay_half_life_10x"] == 2.0 and manifest["source"] == "cache"
    assert main([*ARGS, "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["skipped"]) == (0, 2)
    # the same store with other parameters is refused, naming them
    assert main([*ARGS[:-4], "--views", "all", "--workers", "0", "--out", str(out)]) == 1
    assert "this store was made with other views than asked" in capsys.readouterr().err


def test_backfill_refuses_unknown_views_and_venues(tmp_path, capsys):
    assert main([*ARGS, "--views", "all,foo", "--out", str(tmp_path)]) == 1
    assert "--views: unknown view 'foo'; choose from all, high, medium, low, optical" in capsys.readouterr().err
    assert main([*ARGS, "--venues", "nowhere", "--out", str(tmp_path)]) == 1
    assert "--venues: unknown venue 'nowhere'" in capsys.readouterr().err


def test_backfill_takes_a_venues_own_symbol_name_and_refuses_one_that_differs_across_venues(tmp_path, capsys):
    args = ["backfill", "--venues", "hyperliquid", "--symbols", "BTC", "--from", "2026-03-01T00:00", "--to",
            "2026-03-01T03:00", "--window", "1d", "--views", "all", "--workers", "0", "--source", "sample"]
    assert main([*args, "--out", str(tmp_path / "bf")]) == 0
    assert (tmp_path / "bf" / "maps" / "venue=hyperliquid" / "symbol=BTCUSDT").is_dir()
    capsys.readouterr()
    assert main([*args[:2], "binance,hyperliquid", *args[3:], "--out", str(tmp_path / "bf2")]) == 1
    assert capsys.readouterr().err == ("liqmap backfill: error: --symbols BTC names BTC on binance, BTCUSDT on "
                                       "hyperliquid; give liqmap's name (as BTCUSDT)\n")

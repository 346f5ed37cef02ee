"""Bybit end to end: `liqmap data backfill --venue bybit` from the local server, then `liqmap map --venue bybit
--source cache` from what it stored; symbols, kinds and an unknown symbol."""

from __future__ import annotations

import json

from liqmap.cli import main
from tests.exchange_servers.tape import synthetic_tape

from tests.exchange_servers.bybit import BybitServer

START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_backfill_then_map_from_the_cache(tmp_path, monkeypatch, capsys):
    tape = synthetic_tape(start_ms=START, minutes=3 * 24 * 60, trades_per_second=0.01)
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path))
    with BybitServer(tape, tape.end_ms) as server:
        assert main(["data", "backfill", "BTCUSDT", "--venue", "bybit", "--window", "3d",
                     "--base-url", server.rest_url]) == 0
    assert "backfilled BTCUSDT up to 2026-01-04" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "bybit" / "BTCUSDT").iterdir()) == [
        "fundingRate", "klines-1m", "markPriceKlines-1m", "metrics"]
    assert main(["map", "BTCUSDT", "--venue", "bybit", "--source", "cache", "--window", "2d", "--format", "json",
                 "--max-age", "3650d"]) == 0
    first = json.loads(capsys.readouterr().out)  # one view: one map object
    assert first["exchange"] == "bybit" and first["symbol"] == "BTCUSDT"
    assert first["as_of"].startswith("2026-01-03T23:59") or first["as_of"].startswith("2026-01-04")


def test_symbols_kinds_and_an_unknown_symbol(capsys):
    assert main(["venues"]) == 0
    text = capsys.readouterr().out
    block = text[text.index("bybit:"):]
    assert "klines, markPriceKlines, metrics, fundingRate" in block.splitlines()[1]
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"):
        assert symbol in block
    assert main(["data", "backfill", "XRPUSDT", "--venue", "bybit", "--base-url", "http://127.0.0.1:9"]) != 0
    assert "knows nothing about XRPUSDT; it knows: BTCUSDT, DOGEUSDT, ETHUSDT, SOLUSDT" in capsys.readouterr().err


"""OKX end to end: `liqmap data backfill --venue okx` from the local server (sizes in contracts), then
`liqmap map --venue okx --source cache` with the tiers the backfill fetched; symbols and an unknown one."""

from __future__ import annotations

import json

from liqmap.cli import main
from tests.exchange_servers.tape import synthetic_tape

from tests.exchange_servers.okx import OkxServer

START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_backfill_then_map_from_the_cache(tmp_path, monkeypatch, capsys):
    tape = synthetic_tape(start_ms=START, minutes=3 * 24 * 60, trades_per_second=0.01)
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path))
    with OkxServer(tape, tape.end_ms) as server:
        assert main(["data", "backfill", "BTCUSDT", "--venue", "okx", "--window", "3d",
                     "--base-url", server.rest_url]) == 0
    err = capsys.readouterr().err
    tiers = tmp_path / "okx" / "tiers" / "BTCUSDT_2026-01-04.json"
    assert "backfilled BTCUSDT up to 2026-01-04" in err and f"--param brackets={tiers}" in err
    assert json.loads(tiers.read_text())["contract_size"] == 0.01
    assert main(["map", "BTCUSDT", "--venue", "okx", "--source", "cache", "--window", "2d", "--format", "json",
                 "--max-age", "3650d", "--param", f"brackets={tiers}"]) == 0
    first = json.loads(capsys.readouterr().out)  # one view: one map object
    assert first["exchange"] == "okx" and first["symbol"] == "BTCUSDT"
    # without brackets the book says which it needs
    assert main(["map", "BTCUSDT", "--venue", "okx", "--source", "cache", "--max-age", "3650d"]) != 0
    assert "no shipped okx brackets for BTCUSDT" in capsys.readouterr().err


def test_symbols_and_an_unknown_symbol(capsys):
    assert main(["venues"]) == 0
    block = capsys.readouterr().out.split("okx:")[1]
    assert "klines, markPriceKlines, metrics, fundingRate" in block.splitlines()[1]
    assert "BTCUSDT  no shipped tiers (data backfill fetches today's); contract 0.01" in block  # ctVal
    assert main(["data", "backfill", "XRPUSDT", "--venue", "okx", "--base-url", "http://127.0.0.1:9"]) != 0
    assert "venue 'okx' knows nothing about XRPUSDT; it knows: ARBUSDT, BTCUSDT, DOGEUSDT, ETHUSDT, SOLUSDT" in (
        capsys.readouterr().err)

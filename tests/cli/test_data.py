"""``liqmap data backfill`` against the local exchange."""

from __future__ import annotations

from liqmap.cli import main
from liqmap.sources.cache import Store
from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.tape import synthetic_tape

START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_backfill_command_fills_the_cache_that_map_reads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path))
    tape = synthetic_tape(start_ms=START, minutes=6 * 60, trades_per_second=0.2)
    with BinanceServer(tape, START + 5 * 3_600_000 + 30_000) as server:
        code = main(["data", "backfill", "btcusdt", "--window", "5h", "--base-url", server.rest_url])
    assert code == 0
    err = capsys.readouterr().err
    assert "backfilled BTCUSDT up to 2026-01-01T05:00:00Z: 4 file(s) written" in err
    store = Store(tmp_path)
    assert len(store.read("BTCUSDT", "klines-1m")) == 300 and len(store.read("BTCUSDT", "metrics")) == 60
    code = main(["map", "BTCUSDT", "--source", "cache", "--window", "4h", "--format", "json"])
    assert code == 0, capsys.readouterr().err


def test_backfill_command_rejects_a_bad_window(capsys):
    assert main(["data", "backfill", "BTCUSDT", "--window", "soon", "--base-url", "http://127.0.0.1:9"]) == 1
    assert "--window 'soon' is not a span" in capsys.readouterr().err

"""A command that needs a server it cannot reach says so on one line, announces each retry, and exits 1."""

from __future__ import annotations

import socket

import pytest

import liqmap.net
from liqmap.cli import main


@pytest.fixture
def closed_url():
    """A port on 127.0.0.1 nothing listens on (bound for a free number, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("argv, command, request_, option", [
    (["data", "backfill", "BTCUSDT", "--window", "1d", "--base-url"], "data", "GET {}/fapi/v1/time", "--base-url"),
    (["data", "backfill", "BTCUSDT", "--venue", "bybit", "--window", "1d", "--base-url"], "data",
     "GET {}/v5/market/time", "--base-url"),
    (["live", "BTCUSDT", "--plain", "--rest-url"], "live", "GET {}/fapi/v1/time", "--rest-url"),
    (["live", "BTC", "--venue", "hyperliquid", "--plain", "--rest-url"], "live", "POST {}/info metaAndAssetCtxs",
     "--rest-url"),
    (["serve", "--port", "{port}", "--live", "BTCUSDT", "--rest-url"], "serve", "GET {}/fapi/v1/time", "--rest-url"),
    (["watch", "BTCUSDT", "--rules", "examples/alerts.yaml", "--live", "--rest-url"], "watch",
     "GET {}/fapi/v1/time", "--rest-url"),
    (["measured", "BTC", "--venue", "hyperliquid", "--addresses", "{wallets}", "--base-url"], "measured",
     "POST {}/info metaAndAssetCtxs", "--base-url"),
])
def test_an_unreachable_server_is_one_line_after_announced_retries(
        argv, command, request_, option, closed_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(liqmap.net, "BACKOFF_S", 0.001)
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "cache"))
    wallets = tmp_path / "wallets.txt"
    wallets.write_text("0x" + "0" * 39 + "1\n")
    free = closed_url.rsplit(":", 1)[1]  # nothing listens there: serve can bind it
    argv = [a.replace("{wallets}", str(wallets)).replace("{port}", free) for a in argv]
    assert main([*argv, closed_url]) == 1
    lines = capsys.readouterr().err.splitlines()
    what = request_.format(closed_url)
    failed = "connection failed ([Errno 111] Connection refused)"
    assert lines[-5:] == [
        *(f"liqmap {command}: {what}: {failed}; trying again in {0.001 * 2 ** n:g}s (try {n + 2} of 5)"
          for n in range(4)),
        f"liqmap {command}: error: {what}: {failed} (gave up after 5 tries); liqmap {command} needs the network, "
        f"or {option} naming a reachable server"]
    assert not any("Traceback" in line for line in lines)


def test_an_unreachable_dask_scheduler_is_one_line(tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    assert main(["backfill", "--venues", "binance", "--symbols", "BTCUSDT", "--from", "2026-02-01", "--to",
                 "2026-02-02", "--source", "../shared/data", "--out", str(tmp_path / "bf"),
                 "--scheduler", address]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"liqmap backfill: error: the Dask scheduler at {address} did not answer (")
    assert last.endswith("); start it, or leave out --scheduler to run on this machine's processes")

"""`liqmap serve` refuses bad options before it binds anything."""

from __future__ import annotations

import socket

import pytest

from liqmap.cli import main


@pytest.mark.parametrize("args, message", [
    (["--symbols", "BTC/USDT"], "--symbols 'BTC/USDT' is not a symbol like BTCUSDT (2-30 letters and digits)"),
    (["--symbols", "BTCUSDT,btcusdt"], "--symbols lists 'BTCUSDT' twice"),
    (["--symbols", ","], "--symbols is empty"),
    (["--port", "70000"], "--port 70000 is not a TCP port (1-65535)"),
    (["--venue", "kraken"], "unknown venue 'kraken'; registered venues: binance, bybit, hyperliquid, okx"),
    (["--source", "./nope"], "--source './nope' is not 'sample', 'cache', backfill:STORE or an existing folder"),
    (["--source", "backfill:./nope"], "--source backfill:./nope: no backfill store at nope"),
])
def test_bad_serve_options_are_named(capsys, args, message):
    assert main(["serve", *args]) == 1
    assert capsys.readouterr().err == f"liqmap serve: error: {message}\n"


def test_a_port_in_use_is_one_line_before_the_dashboard_is_announced(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert capsys.readouterr().err == f"liqmap serve: error: port {port} is in use; pick another with --port\n"

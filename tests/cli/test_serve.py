"""`liqmap serve` refuses bad options before it binds anything."""

from __future__ import annotations

import pytest

from liqmap.cli import main


@pytest.mark.parametrize("args, message", [
    (["--symbols", "BTC/USDT"], "--symbols 'BTC/USDT' is not a symbol like BTCUSDT (2-30 letters and digits)"),
    (["--symbols", "BTCUSDT,btcusdt"], "--symbols lists 'BTCUSDT' twice"),
    (["--symbols", ","], "--symbols is empty"),
    (["--port", "70000"], "--port 70000 is not a TCP port (1-65535)"),
])
def test_bad_serve_options_are_named(capsys, args, message):
    assert main(["serve", *args]) == 1
    assert capsys.readouterr().err == f"liqmap serve: error: {message}\n"

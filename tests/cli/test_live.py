"""``liqmap live --venue all`` takes no single venue's hosts; the commands that draw no Multi map say where it is."""

from __future__ import annotations

import pytest

from liqmap.cli import main


def test_venue_all_refuses_one_venues_urls(capsys):
    assert main(["live", "BTCUSDT", "--venue", "all", "--rest-url", "http://127.0.0.1:9"]) != 0
    assert "--rest-url and --ws-url name one venue's hosts; with --venue all each venue uses its own" in \
        capsys.readouterr().err


@pytest.mark.parametrize("argv", [["heatmap", "BTCUSDT", "--png", "unused.png"], ["flow", "BTCUSDT"],
                                  ["setups", "BTCUSDT"]])
def test_commands_without_a_multi_map_say_which_draw_it(argv, capsys):
    assert main([*argv, "--venue", "all"]) == 1
    assert capsys.readouterr().err == (
        f"liqmap {argv[0]}: error: venue 'all' (the Multi map) is drawn by liqmap map, liqmap live and the "
        "dashboard's map; this takes one venue: binance, bybit, hyperliquid, okx\n")

"""``liqmap live --venue all`` takes no single venue's hosts."""

from __future__ import annotations

from liqmap.cli import main


def test_venue_all_refuses_one_venues_urls(capsys):
    assert main(["live", "BTCUSDT", "--venue", "all", "--rest-url", "http://127.0.0.1:9"]) != 0
    assert "--rest-url and --ws-url name one venue's hosts; with --venue all each venue uses its own" in \
        capsys.readouterr().err

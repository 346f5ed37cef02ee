"""``liqmap venues``: the registered venues with their data kinds, margin rule and tier vintages."""

from __future__ import annotations

import json

from liqmap.cli import main


def test_table_lists_each_venue_its_kinds_and_tier_vintages(capsys):
    assert main(["venues"]) == 0
    out = capsys.readouterr().out
    assert "binance: Binance USDⓈ-M perpetuals" in out
    assert "  reads    aggTrades, klines, markPriceKlines, metrics, fundingRate\n" in out
    assert "  download https://data.binance.vision\n" in out
    assert "tier n covers [floor, cap)" in out and "tier n covers (floor, cap]" in out
    assert ("  BTCUSDT  tiers of 2021-03-18 (10 tiers, 125x), 2023-11-28 (10 tiers, 125x), "
            "2024-01-01 (12 tiers, 125x), 2025-08-19 (12 tiers, 150x)\n") in out
    assert "  SOLUSDT  tiers of 2025-06-23 (10 tiers, 100x)\n" in out
    assert "  reads    klines, markPriceKlines, metrics, fundingRate\n" in out  # bybit, okx: the REST backfill
    assert "  ARBUSDT  tiers of 2023-08-07 (3 tiers, 75x); contract 10\n" in out
    assert "  BTCUSDT  no shipped tiers (data backfill fetches today's); contract 0.01\n" in out  # okx
    assert out.rstrip().endswith("which public data cannot see.")


def test_json_names_every_vintage_file(capsys):
    assert main(["venues", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [v["name"] for v in payload["venues"]] == ["binance", "bybit", "hyperliquid", "okx"]
    binance = payload["venues"][0]
    assert binance["margin"]["tier_bounds"] == "[floor, cap)"
    eth = next(s for s in binance["symbols"] if s["symbol"] == "ETHUSDT")
    assert eth["contract_size"] == 1.0 and eth["tick"] is None
    assert [(t["date"], t["max_leverage"]) for t in eth["tiers"]] == [("2025-08-19", 150.0)]
    assert eth["tiers"][0]["file"].endswith("venues/binance/tiers/ETHUSDT_2025-08-19.json")
    okx = payload["venues"][3]["symbols"][0]
    assert okx["contract_size"] == 10 and okx["tiers"][0]["size_unit"] == "contracts"
    assert "notionalCoef" in payload["note"]

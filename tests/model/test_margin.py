"""Exact liquidation prices: hand-computed values per exchange, bracket edges, snapshots, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import liqmap
from liqmap.model.margin import (
    bracket_table,
    liq_price_factor,
    liquidation_price,
    load_bracket_file,
    normalize_symbol,
    parse_bracket_table,
    quote_liquidation,
    shipped_tables,
    table_in_force,
    tables_in_force,
)

BINANCE_2021 = "2021-06-01"  # inside the 2021-03-18 BTCUSDT snapshot


def binance_btc(side, entry, leverage, notional):
    return liquidation_price("binance", "BTCUSDT", side, entry, leverage, notional, as_of=BINANCE_2021)


# ---------------------------------------------------------------- Binance


def test_binance_published_example_100x_long_and_short():
    # bracket 1 (<= 50k, MMR 0.40 %, cum 0): long 100000 * (1 - 0.01) / (1 - 0.004) = 99000 / 0.996
    assert binance_btc("long", 100_000, 100, 10_000) == pytest.approx(99_397.5903614458, abs=1e-6)
    assert round(binance_btc("long", 100_000, 100, 10_000), 2) == 99_397.59
    # short 100000 * (1 + 0.01) / (1 + 0.004) = 101000 / 1.004
    assert binance_btc("short", 100_000, 100, 10_000) == pytest.approx(100_597.609561753, abs=1e-6)


def test_binance_maintenance_amount_of_every_bracket():
    # cum(n) = cum(n-1) + cap(n-1) * (MMR(n) - MMR(n-1)):
    # 50k*0.001=50; +250k*0.005=1300; +1M*0.015=16300; +10M*0.025=266300; +20M*0.05=1266300;
    # +50M*0.025=2516300; +100M*0.025=5016300; +200M*0.10=25016300; +300M*0.25=100016300
    table = bracket_table("binance", "BTCUSDT", as_of=BINANCE_2021)
    assert [b.maintenance_amount for b in table.brackets] == pytest.approx(
        [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300, 100_016_300]
    )
    assert [b.max_leverage for b in table.brackets] == [125, 100, 50, 20, 10, 5, 4, 3, 2, 1]


def test_binance_bracket_edges_below_at_and_above_a_cap():
    # Binance counts notionalFloor <= N < notionalCap.  20x long at 100,000.
    # Below 50,000 USDT: bracket 1, (1 - 0.05) / 0.996.
    in_first = 100_000 * 0.95 / 0.996  # 95,381.5261
    assert binance_btc("long", 100_000, 20, 49_999.99) == pytest.approx(in_first)
    # Exactly 50,000 is bracket 2's floor (MMR 0.5 %, cum 50): (1 - 0.05 - 50 / 50,000) / 0.995
    at_cap = 100_000 * (0.95 - 0.001) / 0.995
    assert at_cap == pytest.approx(95_376.88442, abs=1e-4)
    assert binance_btc("long", 100_000, 20, 50_000) == pytest.approx(at_cap, rel=1e-12)
    assert quote_liquidation("binance", "BTCUSDT", "long", 100_000, 20, 50_000, as_of=BINANCE_2021).bracket.number == 2
    above = 100_000 * (0.95 - 50 / 50_000.01) / 0.995
    assert binance_btc("long", 100_000, 20, 50_000.01) == pytest.approx(above)
    quote = quote_liquidation("binance", "BTCUSDT", "long", 100_000, 20, 50_000.01, as_of=BINANCE_2021)
    assert (quote.bracket.number, quote.bracket.mmr, quote.bracket.maintenance_amount) == (2, 0.005, 50)


def test_binance_fourth_bracket_uses_its_maintenance_amount():
    # 5M USDT at 20x: bracket 4 (MMR 2.5 %, cum 16,300); (1 - 0.05 - 16300 / 5e6) / 0.975 = 0.94674 / 0.975
    assert binance_btc("long", 100_000, 20, 5_000_000) == pytest.approx(97_101.538461538)
    # short: (1 + 0.05 + 0.00326) / 1.025 = 1.05326 / 1.025
    assert binance_btc("short", 100_000, 20, 5_000_000) == pytest.approx(102_757.073170732)


def test_leverage_above_the_bracket_maximum_is_refused_naming_the_bracket():
    assert binance_btc("long", 100_000, 100, 60_000) > 0  # bracket 2 allows 100x
    with pytest.raises(ValueError, match=r"101x is above the 100x maximum of bracket 2"):
        binance_btc("long", 100_000, 101, 60_000)
    with pytest.raises(ValueError, match=r"126x is above the 125x maximum of bracket 1"):
        binance_btc("long", 100_000, 126, 10_000)


def test_a_long_that_cannot_be_liquidated_reports_zero():
    # 1x, 400M USDT (bracket 10, MMR 50 %, cum 100,016,300): (1 - 1 - 0.25004075) / 0.5 < 0 -> none
    assert binance_btc("long", 100_000, 1, 400_000_000) == 0.0
    # the short of the same size: (1 + 1 + 0.25004075) / 1.5
    assert binance_btc("short", 100_000, 1, 400_000_000) == pytest.approx(150_002.7166667)


# ---------------------------------------------------------------- Bybit


def test_bybit_help_centre_example():
    # Bybit's own example: 1 BTC long at 20,000 with 50x, MMR 0.5 %: 20000 - (400 - 100) = 19,700
    assert liquidation_price("bybit", "BTCUSDT", "long", 20_000, 50, 20_000) == pytest.approx(19_700)
    # the short mirror: 20000 + (400 - 100)
    assert liquidation_price("bybit", "BTCUSDT", "short", 20_000, 50, 20_000) == pytest.approx(20_300)


def test_bybit_second_tier_deduction():
    # 2.5M USDT at 50x: tier 2 (MMR 0.56 %, deduction 1,200 = 2M * 0.06 %)
    # long 100000 * (1 - 0.02 + 0.0056) - 1200 / 25 BTC = 98,560 - 48 = 98,512
    assert liquidation_price("bybit", "BTCUSDT", "long", 100_000, 50, 2_500_000) == pytest.approx(98_512)
    assert liquidation_price("bybit", "BTCUSDT", "short", 100_000, 50, 2_500_000) == pytest.approx(101_488)
    table = bracket_table("bybit", "BTCUSDT")
    assert [b.maintenance_amount for b in table.brackets[:4]] == pytest.approx([0, 1_200, 3_020, 4_300])


# ---------------------------------------------------------------- OKX


def test_okx_formula_and_tiers_in_contracts():
    # ARB-USDT-SWAP, 10 ARB per contract, taker fee 0.05 %.  10,000 USDT at 1.0 = 1,000 contracts: tier 1 (0.5 %)
    assert liquidation_price("okx", "ARBUSDT", "long", 1.0, 10, 10_000) == pytest.approx(0.9 / 0.9945)
    assert liquidation_price("okx", "ARBUSDT", "short", 1.0, 10, 10_000) == pytest.approx(1.1 / 1.0055)
    # at 0.5 USDT, 25,000 USDT = 5,000 contracts (tier 1 cap); 25,000.5 USDT = 5,000.1 contracts (tier 2, 0.75 %)
    assert liquidation_price("okx", "ARB-USDT-SWAP", "long", 0.5, 10, 25_000) == pytest.approx(0.5 * 0.9 / 0.9945)
    assert liquidation_price("okx", "arb-usdt-swap", "long", 0.5, 10, 25_000.5) == pytest.approx(0.5 * 0.9 / 0.992)


def test_okx_factor_needs_the_entry_price_because_tiers_count_contracts():
    with pytest.raises(ValueError, match="give the entry price"):
        liq_price_factor("okx", "ARBUSDT", "long", np.array([10.0]), 10_000)
    factor = liq_price_factor("okx", "ARBUSDT", "long", np.array([10.0, 20.0]), 10_000, entry=1.0)
    assert factor == pytest.approx([0.9 / 0.9945, 0.95 / 0.9945])


# ---------------------------------------------------------------- symmetry, vectorised == scalar


def test_sides_mirror_each_other():
    leverage = np.array([1, 2, 3, 5, 10, 20, 50, 100])
    # Bybit with no deduction: (1 - 1/L + MMR) + (1 + 1/L - MMR) = 2 exactly
    long_ = liq_price_factor("bybit", "BTCUSDT", "long", leverage, 1_000_000)
    short = liq_price_factor("bybit", "BTCUSDT", "short", leverage, 1_000_000)
    np.testing.assert_allclose(long_ + short, 2.0, rtol=0, atol=1e-12)
    # Binance: long below entry, short above, for every leverage; equal distance only without MMR
    long_ = liq_price_factor("binance", "BTCUSDT", "long", leverage[1:], 10_000, as_of_ms=1_622_505_600_000)
    short = liq_price_factor("binance", "BTCUSDT", "short", leverage[1:], 10_000, as_of_ms=1_622_505_600_000)
    assert np.all(long_ < 1) and np.all(short > 1)
    # short(L) is long's formula with 1/L and MMR negated: (1 + 1/L) / (1 + 0.004)
    np.testing.assert_allclose(short, (1 + 1 / leverage[1:]) / 1.004)


@pytest.mark.parametrize("exchange,symbol", [("binance", "BTCUSDT"), ("bybit", "BTCUSDT")])
@pytest.mark.parametrize("side", ["long", "short"])
def test_vectorised_equals_scalar(exchange, symbol, side):
    leverage = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 20.0])[:, None]
    notional = np.array([1_000.0, 50_000.0, 50_000.01, 300_000.0, 2_000_000.0, 2_600_000.5])
    factor = liq_price_factor(exchange, symbol, side, leverage, notional)
    assert factor.shape == (6, 6)
    entry = 87_654.3
    for i, lev in enumerate(leverage[:, 0]):
        for j, size in enumerate(notional):
            expected = liquidation_price(exchange, symbol, side, entry, lev, size)
            assert entry * factor[i, j] == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- snapshots


def _table(date, mmr, exchange="binance", symbol="BTCUSDT"):
    raw = {"exchange": exchange, "symbol": symbol, "date": date, "source": "test", "tiers": [
        {"cap": 1_000_000, "max_leverage": 50, "mmr": mmr}]}
    return parse_bracket_table(raw, f"<{date}>")


def test_snapshot_in_force_is_the_latest_on_or_before_the_date():
    old, new = _table("2021-03-18", 0.004), _table("2024-01-01", 0.005)
    assert table_in_force((old, new), "2023-12-31T23:59") is old
    assert table_in_force((old, new), "2024-01-01") is new  # dated that very moment
    assert table_in_force((old, new), None) is new
    with pytest.raises(ValueError, match="no binance BTCUSDT brackets in force at 2020-01-01.*oldest snapshot is of 2021-03-18"):
        table_in_force((old, new), "2020-01-01")


def test_shipped_snapshots_record_date_and_source():
    tables = shipped_tables()
    assert {("binance", "BTCUSDT"), ("bybit", "BTCUSDT"), ("okx", "ARBUSDT")} <= set(tables)
    for snapshots in tables.values():
        for table in snapshots:
            assert table.source.count("http") >= 1 and len(table.date) == 10
    assert bracket_table("binance", "BTCUSDT").date == "2025-08-19"  # the newest when no time is given


def test_unknown_exchange_or_symbol_lists_what_exists():
    with pytest.raises(ValueError, match="unknown exchange 'kraken'; available: binance, bybit, hyperliquid, okx"):
        liquidation_price("kraken", "BTCUSDT", "long", 1, 2, 10)
    with pytest.raises(ValueError, match="no shipped binance brackets for PEPEUSDT; shipped binance symbols: BTCUSDT"):
        liquidation_price("binance", "PEPEUSDT", "long", 1, 2, 10)


def test_bad_position_inputs_are_named():
    with pytest.raises(ValueError, match="side must be 'long' or 'short'"):
        binance_btc("buy", 100_000, 10, 1_000)
    with pytest.raises(ValueError, match="leverage must be at least 1"):
        binance_btc("long", 100_000, 0.5, 1_000)
    with pytest.raises(ValueError, match="notional must be a positive number"):
        binance_btc("long", 100_000, 10, 0)
    with pytest.raises(ValueError, match="entry price must be a positive number"):
        binance_btc("long", -5, 10, 1_000)
    with pytest.raises(ValueError, match=r"600,000,000.00 USDT notional exceeds the largest bracket .* \(cap 500,000,000.00\)"):
        binance_btc("long", 100_000, 1, 600_000_000)


def test_symbols_are_normalised():
    assert normalize_symbol("btc-usdt-swap") == normalize_symbol("BTC/USDT") == "BTCUSDT"
    assert liqmap.liquidation_price is liquidation_price


# ---------------------------------------------------------------- user bracket files


def _write(tmp_path, content, name="brackets.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _valid():
    return {"exchange": "binance", "symbol": "BTCUSDT", "date": "2026-01-01", "source": "my account",
            "tiers": [{"cap": 100_000, "max_leverage": 75, "mmr": 0.005},
                      {"cap": 1_000_000, "max_leverage": 20, "mmr": 0.01, "maintenance_amount": 500}]}


def test_user_bracket_file_is_used(tmp_path):
    path = _write(tmp_path, _valid())
    # bracket 2 (MMR 1 %, cum = 100,000 * 0.005 = 500): (1 - 0.1 - 500 / 200,000) / 0.99 = 0.8975 / 0.99
    assert liquidation_price("binance", "BTCUSDT", "long", 100_000, 10, 200_000, brackets=path) == pytest.approx(
        100_000 * 0.8975 / 0.99
    )
    with pytest.raises(ValueError, match="hold binance BTCUSDT, not bybit BTCUSDT"):
        liquidation_price("bybit", "BTCUSDT", "long", 100_000, 10, 200_000, brackets=path)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda raw: raw.pop("tiers"), "missing field 'tiers'"),
        (lambda raw: raw.pop("date"), "missing field 'date'"),
        (lambda raw: raw.update(date="yesterday"), "field 'date': date 'yesterday' is not a date"),
        (lambda raw: raw.update(exchange="ftx"), "field 'exchange' is 'ftx'; known exchanges: binance, bybit, hyperliquid, okx"),
        (lambda raw: raw["tiers"][1].update(mmr="1%"), r"tiers\[1\]: field 'mmr' must be a number, got '1%'"),
        (lambda raw: raw["tiers"][1].update(cap=50_000), r"tiers\[1\]: cap 50,000.00 must be larger than the previous cap 100,000.00"),
        (lambda raw: raw["tiers"][0].update(max_leverage=0.5), r"tiers\[0\]: max_leverage must be at least 1"),
        (lambda raw: raw["tiers"][0].update(mmr=1.5), r"tiers\[0\]: mmr must be a fraction in \[0, 1\)"),
        (lambda raw: raw["tiers"][1].update(maintenance_amount=450),
         r"tiers\[1\]: maintenance_amount 450.0000 disagrees .* = 500.0000"),
        (lambda raw: raw.update(size_unit="contracts"), "missing field 'contract_size'"),
        (lambda raw: raw.update(exchange="okx"), "missing field 'taker_fee'"),
        (lambda raw: raw.update(tiers=[]), "field 'tiers' must be a non-empty list"),
    ],
)
def test_malformed_bracket_files_name_the_file_and_field(tmp_path, mutate, message):
    raw = _valid()
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ValueError, match=message) as excinfo:
        load_bracket_file(path)
    assert str(path) in str(excinfo.value)


def test_unreadable_bracket_files(tmp_path):
    path = _write(tmp_path, '{"exchange": "binance",\n "tiers": [}')
    with pytest.raises(ValueError, match=r"brackets\.json: not valid JSON \(.* at line 2, column"):
        load_bracket_file(path)
    with pytest.raises(ValueError, match="top level must be a JSON object, got list"):
        load_bracket_file(_write(tmp_path, "[1, 2]", "list.json"))
    with pytest.raises(FileNotFoundError, match="nope.json does not exist"):
        load_bracket_file(tmp_path / "nope.json")


# ---------------------------------------------------------------- dated Binance tiers

#: Each shipped vintage: (symbol, date in force) -> the last tier's maintenance amount as published.
BINANCE_VINTAGES = {
    ("BTCUSDT", "2021-03-18"): 100_016_300,
    ("BTCUSDT", "2023-11-28"): 103_046_300,
    ("BTCUSDT", "2024-01-01"): 421_481_450,
    ("BTCUSDT", "2025-08-19"): 421_482_000,
    ("ETHUSDT", "2025-08-19"): 280_507_000,
    ("SOLUSDT", "2025-06-23"): 66_731_475,
}


def test_every_shipped_table_keeps_the_cum_chain():
    # cum(n) = cum(n-1) + floor(n) * (MMR(n) - MMR(n-1)), checked on the numbers the files state
    tables = [t for found in shipped_tables().values() for t in found]
    assert {(t.symbol, t.date) for t in tables if t.exchange == "binance"} == set(BINANCE_VINTAGES)
    for table in tables:
        if not table.rule.uses_deduction:
            assert all(b.maintenance_amount == 0 for b in table.brackets)
            continue
        raw = json.loads(open(table.origin, encoding="utf-8").read())["tiers"]
        assert raw[0]["maintenance_amount"] == 0
        for n in range(1, len(raw)):
            floor = raw[n - 1]["cap"]
            expected = raw[n - 1]["maintenance_amount"] + floor * (raw[n]["mmr"] - raw[n - 1]["mmr"])
            assert raw[n]["maintenance_amount"] == pytest.approx(expected, abs=1e-6), (table.origin, n)
        if table.exchange == "binance":
            assert raw[-1]["maintenance_amount"] == BINANCE_VINTAGES[(table.symbol, table.date)]
            assert "notionalCoef" in table.source and "approximate" in table.source


@pytest.mark.parametrize(
    "symbol,at,cap,below,at_cap",
    [
        # 20x long at 100,000; below the cap the lower tier, at the cap (Binance's floor <= N < cap) the next.
        # 2021-03-18: 250k splits 0.5 % / cum 50 from 1 % / cum 1,300
        ("BTCUSDT", "2021-06-01", 250_000, (0.005, 50), (0.01, 1_300)),
        # 2023-11-28: 3M splits 1 % / cum 1,300 from 2.5 % / cum 46,300
        ("BTCUSDT", "2023-12-01", 3_000_000, (0.01, 1_300), (0.025, 46_300)),
        # about 2024: 600k splits 0.5 % / cum 50 from 0.65 % / cum 950
        ("BTCUSDT", "2024-06-01", 600_000, (0.005, 50), (0.0065, 950)),
        # 2025-08-19: 300k splits 0.4 % / cum 0 from 0.5 % / cum 300
        ("BTCUSDT", "2025-09-01", 300_000, (0.004, 0), (0.005, 300)),
        # ETHUSDT 2025-08-19: 12M splits 1 % / cum 12,000 from 2 % / cum 132,000
        ("ETHUSDT", "2025-09-01", 12_000_000, (0.01, 12_000), (0.02, 132_000)),
        # SOLUSDT 2025-06-23: 50k splits 0.5 % / cum 0 from 0.65 % / cum 75
        ("SOLUSDT", "2025-07-01", 50_000, (0.005, 0), (0.0065, 75)),
    ],
)
def test_prices_on_each_side_of_a_boundary_in_each_vintage(symbol, at, cap, below, at_cap):
    entry, leverage = 100_000.0, 20.0
    under = cap - 0.01
    for notional, (mmr, cum) in ((under, below), (cap, at_cap)):
        long = entry * (1 - 1 / leverage - cum / notional) / (1 - mmr)
        short = entry * (1 + 1 / leverage + cum / notional) / (1 + mmr)
        assert liquidation_price("binance", symbol, "long", entry, leverage, notional, as_of=at) == pytest.approx(long, rel=1e-12)
        assert liquidation_price("binance", symbol, "short", entry, leverage, notional, as_of=at) == pytest.approx(short, rel=1e-12)


def test_hand_computed_prices_at_the_2025_btc_boundary():
    # 300,000 USDT at 20x, long at 100,000: tier 2 -> 100000 * (0.95 - 300/300000) / 0.995 = 95,376.8844
    assert liquidation_price("binance", "BTCUSDT", "long", 100_000, 20, 300_000) == pytest.approx(95_376.884422, abs=1e-6)
    # one cent less: tier 1 -> 100000 * 0.95 / 0.996 = 95,381.5261
    assert liquidation_price("binance", "BTCUSDT", "long", 100_000, 20, 299_999.99) == pytest.approx(95_381.526104, abs=1e-6)


def test_tables_in_force_on_each_side_of_each_switch_date():
    from liqmap.frames import format_ms
    from liqmap.model.margin import tables_in_force
    from liqmap.timeutil import parse_time

    switches = ["2023-11-28", "2024-01-01", "2025-08-19"]
    times = [t for day in switches for t in (parse_time(day) - 1, parse_time(day))]
    tables, index = tables_in_force("binance", "BTCUSDT", times)
    picked = [tables[i].date for i in index]
    assert picked == ["2021-03-18", "2023-11-28", "2023-11-28", "2024-01-01", "2024-01-01", "2025-08-19"]
    assert format_ms(tables[index[-1]].date_ms) == "2025-08-19T00:00:00Z"
    tables, index = tables_in_force("binance", "SOLUSDT", [parse_time("2025-06-23"), parse_time("2026-01-01")])
    assert [tables[i].date for i in index] == ["2025-06-23", "2025-06-23"]
    with pytest.raises(ValueError, match="no binance SOLUSDT brackets in force at 2025-06-22T23:59:59.999Z"):
        tables_in_force("binance", "SOLUSDT", [parse_time("2025-06-23") - 1])


def test_a_folder_of_bracket_files_gives_each_symbol_its_dated_snapshots(tmp_path):
    import shutil

    shipped = Path(liqmap.__file__).parent / "venues" / "binance" / "tiers"
    for name in ("BTCUSDT_2023-11-28.json", "BTCUSDT_2025-08-19.json", "ETHUSDT_2025-08-19.json"):
        shutil.copy(shipped / name, tmp_path / name)
    times = [liqmap.timeutil.parse_time(t, "t") for t in ("2024-06-01", "2025-09-01", "2025-10-01")]
    tables, index = tables_in_force("binance", "BTCUSDT", times, str(tmp_path))
    assert [t.date for t in tables] == ["2023-11-28", "2025-08-19"] and index.tolist() == [0, 1, 1]
    assert bracket_table("binance", "ETHUSDT", None, str(tmp_path)).date == "2025-08-19"
    with pytest.raises(ValueError, match=f"brackets folder {tmp_path} holds no binance SOLUSDT file; it holds: "
                                         "binance BTCUSDT, binance ETHUSDT"):
        tables_in_force("binance", "SOLUSDT", times, str(tmp_path))

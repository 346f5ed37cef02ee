"""``liqmap liqprice`` end to end: text and JSON output, user bracket files, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from liqmap.cli import main

EXAMPLE = ["liqprice", "--exchange", "binance", "--symbol", "BTCUSDT", "--side", "long",
           "--entry", "100000", "--leverage", "100", "--notional", "10000"]


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_shows_price_bracket_distance_and_naive_level(capsys):
    code, out, _ = run(capsys, EXAMPLE)
    assert code == 0
    # 100000 * 0.99 / 0.996 = 99,397.59, i.e. 0.60 % below entry; naive 100000 * (1 - 1/100) = 99,000
    assert "liquidation price  99,397.59  (-0.60% from entry)" in out
    assert "99,000.00  (-1.00%)" in out
    # the newest table (2025-08-19): 150x up to 300,000 USDT, Binance's floor <= N < cap
    assert "bracket            1 of 12: [0, 300,000) USDT notional, MMR 0.40%, max leverage 150x, maintenance amount 0.00" in out
    assert "binance BTCUSDT brackets of 2025-08-19" in out


def test_at_picks_the_vintage_in_force(capsys):
    # 20x long at 100,000 with 100,000 USDT: bracket 2 before 2025-08-19 (MMR 0.5 %, cum 50):
    # 100000 * (1 - 0.05 - 50/100000) / 0.995 = 95,427.1357; bracket 1 after: 100000 * 0.95 / 0.996 = 95,381.5261
    argv = ["liqprice", "--side", "long", "--entry", "100000", "--leverage", "20", "--notional", "100000", "--format", "json"]
    for at, price, date in (("2024-06-01", 100_000 * 0.9495 / 0.995, "2024-01-01"),
                            ("2025-08-18", 100_000 * 0.9495 / 0.995, "2024-01-01"),
                            ("2025-08-19", 100_000 * 0.95 / 0.996, "2025-08-19"),
                            ("2021-06-01", 100_000 * 0.9495 / 0.995, "2021-03-18")):
        code, out, _ = run(capsys, argv + ["--at", at])
        payload = json.loads(out)
        assert code == 0 and payload["brackets_date"] == date
        assert payload["liquidation_price"] == pytest.approx(price, rel=1e-12)
    assert run(capsys, argv)[1] == run(capsys, argv + ["--at", "2026-01-01"])[1]  # default: the newest


def test_json_output(capsys):
    code, out, _ = run(capsys, EXAMPLE + ["--format", "json"])
    assert code == 0
    payload = json.loads(out)
    assert payload["liquidation_price"] == pytest.approx(100_000 * 0.99 / 0.996)
    assert payload["distance_pct"] == pytest.approx((0.99 / 0.996 - 1) * 100)
    assert payload["naive_price"] == pytest.approx(99_000)
    assert payload["bracket"] == {"number": 1, "floor": 0.0, "cap": 300_000.0, "size_unit": "quote",
                                  "mmr": 0.004, "max_leverage": 150.0, "maintenance_amount": 0.0}
    assert payload["brackets_date"] == "2025-08-19" and "binance.com" in payload["brackets_source"]


def test_quantity_is_turned_into_notional(capsys):
    # 0.5 BTC at 100,000 = 50,000 USDT: still bracket 1; short 20x: 100000 * 1.05 / 1.004
    argv = ["liqprice", "--side", "short", "--entry", "100000", "--leverage", "20", "--quantity", "0.5",
            "--format", "json"]
    code, out, _ = run(capsys, argv)
    assert code == 0
    payload = json.loads(out)
    assert payload["notional"] == pytest.approx(50_000)
    assert payload["liquidation_price"] == pytest.approx(100_000 * 1.05 / 1.004)


def test_user_brackets_file(tmp_path, capsys):
    path = tmp_path / "bybit_btc.json"
    path.write_text(json.dumps({
        "exchange": "bybit", "symbol": "BTCUSDT", "date": "2026-02-01", "source": "copied from my account",
        "tiers": [{"cap": 1_000_000, "max_leverage": 100, "mmr": 0.01}]}))
    argv = ["liqprice", "--exchange", "bybit", "--side", "long", "--entry", "50000", "--leverage", "25",
            "--notional", "100000", "--brackets", str(path)]
    code, out, _ = run(capsys, argv)
    assert code == 0
    # 50000 * (1 - 0.04 + 0.01) = 48,500
    assert "liquidation price  48,500.00  (-3.00% from entry)" in out
    assert str(path) in out


def test_cheap_coin_prices_keep_their_decimals(capsys):
    # OKX ARB, 100,000 ARB at 0.35 = 10,000 contracts (tier 2, MMR 0.75 %): 0.35 * 0.95 / (1 - 0.008)
    argv = ["liqprice", "--exchange", "okx", "--symbol", "ARB-USDT-SWAP", "--side", "long", "--entry", "0.35",
            "--leverage", "20", "--quantity", "100000"]
    code, out, _ = run(capsys, argv)
    assert code == 0
    assert f"liquidation price  {0.35 * 0.95 / 0.992:,.6f}" in out
    assert "contracts of 10 ARB" in out and "taker fee 0.050%" in out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--leverage", "151"], "151x is above the 150x maximum of bracket 1"),
        (["--exchange", "kraken"], "unknown exchange 'kraken'; available: binance, bybit, hyperliquid, okx"),
        (["--as-of", "2019-01-01"], "no binance BTCUSDT brackets in force at 2019-01-01"),
        (["--as-of", "soon"], "as-of 'soon' is not a date"),
        (["--leverage", "0"], "leverage must be at least 1, got 0\n"),
        (["--notional", "-5"], "notional must be a positive number, got -5\n"),
    ],
)
def test_errors_are_one_line_with_exit_1(capsys, extra, message):
    code, out, err = run(capsys, EXAMPLE + extra)
    assert code == 1 and out == ""
    assert err.startswith("liqmap liqprice: error: ") and message in err


def test_malformed_brackets_file_names_file_and_field(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"exchange": "binance", "symbol": "BTCUSDT", "date": "2026-01-01", "source": "x",
                                "tiers": [{"cap": 50_000, "mmr": 0.004}]}))
    code, _, err = run(capsys, EXAMPLE + ["--brackets", str(path)])
    assert code == 1
    assert f"brackets file {path}: tiers[0]: missing field 'max_leverage'" in err


def test_installed_command_runs_end_to_end():
    result = subprocess.run([sys.executable, "-m", "liqmap", *EXAMPLE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "99,397.59" in result.stdout

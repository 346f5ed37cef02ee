"""Peer-compatible mode: bin-for-bin agreement with py-liquidation-map 1.0.1.

The acceptance test regenerates workload W1 with the shared generator (it is
deterministic; the sha256 from shared/bench/README.md proves it is the same
file the peer ran on) and compares with the peer's captured output.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from liqmap.frames import DataError, Trades
from liqmap.model.peer import bin_decimals, peer_levels
from liqmap.venues.binance.vision import read_aggtrades
from liqmap.timeutil import parse_time

W1_SHA256 = "755ede87728dc9f63445c94f7486e6be972d238f7680acbe29842a2f50966078"
W1_START = parse_time("2025-01-15T00:00:00")
W1_END = parse_time("2025-01-15T23:59:59")  # the peer's end: 23:59:59.000, the last 999 ms excluded


@pytest.fixture(scope="session")
def w1_trades(shared_dir, tmp_path_factory) -> Trades:
    path = tmp_path_factory.mktemp("w1") / "BTCUSDT-aggTrades-2025-01-15.csv"
    subprocess.run(
        [sys.executable, str(shared_dir / "bench" / "gen_aggtrades.py"), "--symbol", "BTCUSDT",
         "--date", "2025-01-15", "--trades", "1000000", "--seed", "1", "--out", str(path), "--quiet"],
        check=True,
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != W1_SHA256:
        pytest.fail(f"W1 differs from the peer's input (sha256 {digest}); numpy must be 2.4.6, see shared/bench/README.md")
    return read_aggtrades([path], cache=False)


def trades(rows) -> Trades:
    """rows of (time_ms, price, quantity, taker_bought)."""
    time, price, quantity, bought = zip(*rows)
    return Trades(time=time, price=price, quantity=quantity, is_buyer_maker=[not b for b in bought])


def test_w1_matches_peer_binned_map(w1_trades, shared_dir):
    levels = peer_levels(w1_trades, W1_START, W1_END)
    ours = levels.to_frame()
    ref = pd.read_csv(shared_dir / "bench" / "peer_reference" / "w1_peer_levels.csv.gz")
    key = ["side", "leverage", "bin_left"]
    assert len(ours) == len(ref) == 236
    joined = ref.merge(ours, on=key, how="outer", suffixes=("_ref", "_ours"), indicator=True)
    assert (joined["_merge"] == "both").all(), joined[joined["_merge"] != "both"][key]
    assert (joined["bin_width_ours"] == 100.0).all()
    np.testing.assert_allclose(joined["amount_usdt_ours"], joined["amount_usdt_ref"], rtol=1e-9, atol=0)
    # key values quoted in the reference README
    assert levels.current_price == 94_951.9
    assert (levels.selected_long, levels.selected_short) == (8_840, 9_621)


def test_w1_matches_peer_raw_levels(w1_trades, shared_dir):
    ours = peer_levels(w1_trades, W1_START, W1_END).raw.to_frame()
    ref = pd.read_csv(shared_dir / "bench" / "peer_reference" / "w1_peer_raw_levels.csv.gz")
    order = ["side", "leverage", "liq_price", "amount_usdt"]
    ours = ours.sort_values(order, ignore_index=True)
    ref = ref.sort_values(order, ignore_index=True)
    assert len(ours) == len(ref) == 73_844  # 18,461 selected trades x 4 tiers
    assert (ours["side"] == ref["side"]).all() and (ours["leverage"] == ref["leverage"]).all()
    # the same float64 products as the peer's literals 0.90 ... 1.10: bit-identical
    assert (ours["liq_price"].to_numpy() == ref["liq_price"].to_numpy()).all()
    np.testing.assert_allclose(ours["amount_usdt"], ref["amount_usdt"], rtol=1e-12, atol=0)


def test_outer_edges_are_dropped_and_single_level_tiers_vanish():
    # all prices span 1000..1030 (30 USDT): d = 2 - ceil(log10 30) = 0, bins 1 USDT wide
    t = trades([
        (1, 1000.0, 200.0, True),   # long 10x at 900: equals lo -> dropped
        (2, 1010.0, 100.0, True),   # long 10x at 909: in (908, 909]
        (3, 1020.0, 100.0, True),   # long 10x at 918: hi; edges stop at 917 -> dropped
        (4, 1000.0, 150.0, False),  # the only short level (1100): lo == hi, no bins
        (5, 1030.0, 1.0, True),     # 1,030 USDT, not selected; the current price
    ])
    levels = peer_levels(t, 1, 5, leverages=(10,))
    assert levels.bin_width == 1.0 and levels.current_price == 1030.0
    assert (levels.selected_long, levels.selected_short) == (3, 1)
    assert levels.to_records() == [
        {"side": "long", "leverage": 10, "bin_left": 908.0, "bin_width": 1.0, "amount_usdt": 101_000.0}
    ]


def test_sub_unit_bins_use_rounded_edges():
    # span 3.5 -> d = 1, w = 0.1; long 100x levels 99.0, 99.99, 100.98, 101.97
    # lo = 99.0, hi = 102.0, g = 30 edges 99.0 .. 101.9
    t = trades([
        (1, 100.0, 2_000.0, True),
        (2, 101.0, 2_000.0, True),
        (3, 102.0, 1_000.0, True),
        (4, 103.0, 1_000.0, True),
        (5, 103.5, 0.01, True),
    ])
    levels = peer_levels(t, 0, 10, leverages=(100,))
    assert levels.bin_width == 0.1
    assert levels.bin_left.tolist() == [99.9, 100.9]  # 99.99 in (99.9, 100.0]; 100.98 in (100.9, 101.0]
    assert levels.amount.tolist() == [202_000.0, 102_000.0]


def _peer_binning(prices, amounts, decimals):
    """The peer's own binning code (mapping.py, one tier), kept literal as the oracle."""
    frame = pd.DataFrame({"price": prices, "amount": amounts})
    g_ids = int((round(frame["price"].max(), decimals) - round(frame["price"].min(), decimals)) * 10**decimals)
    bins = [round(round(frame["price"].min(), decimals) + i * 10**-decimals, decimals) for i in range(g_ids)]
    frame["group_id"] = pd.cut(frame["price"], bins=bins)
    agg = frame.groupby("group_id", observed=True)["amount"].sum()
    return [(interval.left, amount) for interval, amount in agg.items()]


@pytest.mark.parametrize("span", [0.7, 4.3, 37.0, 512.0, 3_300.0])
def test_binning_agrees_with_the_peer_code_at_every_width(span):
    rng = np.random.default_rng(7)
    n = 400
    price = np.round(50_000 + rng.uniform(0, span, n), 1)
    price[-1] = price.max()  # current price on top: every long level is kept
    quantity = rng.uniform(3, 30, n).round(3)
    t = Trades(time=np.arange(n), price=price, quantity=quantity, is_buyer_maker=np.zeros(n, bool))
    levels = peer_levels(t, 0, n, leverages=(100,))
    decimals = bin_decimals(price)
    expected = _peer_binning(price * 0.99, price * quantity, decimals)
    assert levels.bin_width == 10.0**-decimals
    assert levels.bin_left.tolist() == [left for left, _ in expected]
    np.testing.assert_allclose(levels.amount, [amount for _, amount in expected], rtol=1e-12)


def test_top_n_and_portion_break_ties_by_time():
    # long amounts 500k, 900k, 900k, 300k, 900k (prices differ so levels identify trades)
    t = trades([
        (1, 1000.0, 500.0, True),
        (2, 1001.0, 900_900.0 / 1001.0, True),
        (3, 1002.0, 900_900.0 / 1002.0, True),
        (4, 1003.0, 300.0, True),
        (5, 1004.0, 900_900.0 / 1004.0, True),
    ])
    top = peer_levels(t, 0, 10, mode="top_n", top_n=2, leverages=(10,)).raw
    assert top.liq_price.tolist() == [1001.0 * 0.9, 1002.0 * 0.9]  # the two earliest of the three tied
    half = peer_levels(t, 0, 10, mode="portion", portion=0.5, leverages=(10,)).raw  # int(5 * 0.5) = 2
    assert half.liq_price.tolist() == top.liq_price.tolist()
    assert peer_levels(t, 0, 10, mode="portion", portion=0.1, leverages=(10,)).raw.liq_price.size == 0  # int(0.5) = 0


def test_window_is_inclusive_at_both_ends():
    t = trades([(9, 90.0, 5_000.0, True), (10, 100.0, 5_000.0, True), (20, 110.0, 5_000.0, False), (21, 120.0, 5_000.0, True)])
    raw = peer_levels(t, 10, 20, leverages=(10,)).raw
    assert raw.is_long.tolist() == [True, False]
    assert raw.liq_price.tolist() == [100.0 * 0.9, 110.0 * 1.1]
    assert peer_levels(t, 10, 20).current_price == 110.0


def test_bad_input_is_named():
    t = trades([(1, 100.0, 5_000.0, True), (2, 100.0, 5_000.0, False)])
    with pytest.raises(DataError, match="no trades between 1970-01-01T00:00:00.003Z"):
        peer_levels(t, 3, 4)
    with pytest.raises(DataError, match="same price 100.0"):
        peer_levels(t, 0, 5)
    with pytest.raises(ValueError, match="mode must be one of gross_value, top_n, portion, not 'top'"):
        peer_levels(t, 0, 5, mode="top")
    with pytest.raises(ValueError, match="portion must be in"):
        peer_levels(t, 0, 5, mode="portion", portion=1.5)
    with pytest.raises(ValueError, match="leverages must be whole numbers > 1"):
        peer_levels(t, 0, 5, leverages=(1,))

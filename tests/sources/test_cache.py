"""The local Parquet store: round trips, range queries, period names."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import Candles, DataError, Funding, Liquidations, Trades
from liqmap.cli import main
from liqmap.sources.cache import Store, cache_root, migrate_legacy, period_bounds, store_venues
from liqmap.sources.tables import concat_frames

DAY = 86_400_000
JAN_15 = 1_736_899_200_000  # 2025-01-15 00:00 UTC


def trades(times, first_price=100.0):
    n = len(times)
    return Trades(
        time=np.array(times, np.int64),
        price=first_price + np.arange(n, dtype=float),
        quantity=np.full(n, 0.5),
        is_buyer_maker=np.arange(n) % 2 == 0,
    )


def test_period_bounds():
    assert period_bounds("2025-01-15") == (JAN_15, JAN_15 + DAY)
    # January has 31 days; December rolls over into the next year.
    assert period_bounds("2025-01") == (JAN_15 - 14 * DAY, JAN_15 + 17 * DAY)
    assert period_bounds("2025-12")[1] == 1_767_225_600_000  # 2026-01-01 00:00 UTC
    with pytest.raises(DataError, match="period '2025-1-5' is neither a day"):
        period_bounds("2025-1-5")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("LIQMAP_CACHE")
    assert cache_root().parts[-2:] == (".cache", "liqmap")


def test_round_trip_keeps_every_field(tmp_path):
    store = Store(tmp_path)
    candles = Candles(
        time=[JAN_15, JAN_15 + 3_600_000], open=[1.0, 2.0], high=[3.0, 4.0], low=[0.5, 1.5], close=[2.0, 3.0],
        volume=[10.0, 11.0], taker_buy_volume=[np.nan, 5.0], interval_ms=3_600_000, price_kind="mark",
    )
    liqs = Liquidations(time=[JAN_15], long_usd=[1e6], short_usd=[2e5], interval_ms=3_600_000, source="feed X")
    store.write("BTCUSDT", "markPriceKlines-1h", "2025-01-15", candles, {"origin": "test"})
    store.write("BTCUSDT", "liquidations", "2025-01", liqs)
    back = store.read("BTCUSDT", "markPriceKlines-1h")
    assert back.price_kind == "mark" and back.interval_ms == 3_600_000
    np.testing.assert_array_equal(back.taker_buy_volume, candles.taker_buy_volume)
    np.testing.assert_array_equal(back.close, candles.close)
    assert store.read("BTCUSDT", "liquidations").source == "feed X"
    assert store.extra("BTCUSDT", "markPriceKlines-1h") == {"origin": "test"}
    assert store.symbols() == ["BTCUSDT"]
    assert store.kinds("BTCUSDT") == ["liquidations", "markPriceKlines-1h"]
    assert store.read("ETHUSDT", "liquidations") is None


def test_range_query_over_day_files_keeps_file_order(tmp_path):
    store = Store(tmp_path)
    # Three trades share a millisecond at the day boundary's end; order inside a file must hold.
    store.write("BTCUSDT", "aggTrades", "2025-01-15", trades([JAN_15 + 10, JAN_15 + DAY - 1, JAN_15 + DAY - 1]))
    store.write("BTCUSDT", "aggTrades", "2025-01-16", trades([JAN_15 + DAY, JAN_15 + DAY + 5], first_price=200.0))
    (tmp_path / "parsed").mkdir()  # the parsed-file cache beside the store is not a symbol
    assert store.symbols() == ["BTCUSDT"]
    assert store.periods("BTCUSDT", "aggTrades") == ["2025-01-15", "2025-01-16"]
    everything = store.read("BTCUSDT", "aggTrades")
    assert everything.price.tolist() == [100.0, 101.0, 102.0, 200.0, 201.0]
    window = store.read("BTCUSDT", "aggTrades", JAN_15 + DAY - 1, JAN_15 + DAY + 5)
    assert window.price.tolist() == [101.0, 102.0, 200.0]
    assert window.is_buyer_maker.tolist() == [False, True, True]
    assert len(store.read("BTCUSDT", "aggTrades", JAN_15 + 2 * DAY, JAN_15 + 3 * DAY)) == 0
    assert store.time_range("BTCUSDT", "aggTrades") == (JAN_15 + 10, JAN_15 + DAY + 5)


def test_concat_frames_orders_by_first_time_and_refuses_mismatches():
    later, earlier = Funding(time=[300, 400], rate=[0.03, 0.04]), Funding(time=[100, 200], rate=[0.01, 0.02])
    assert concat_frames([later, earlier]).rate.tolist() == [0.01, 0.02, 0.03, 0.04]
    hourly = Liquidations(time=[0], long_usd=[1.0], short_usd=[0.0], interval_ms=3_600_000)
    halfhour = Liquidations(time=[1], long_usd=[1.0], short_usd=[0.0], interval_ms=1_800_000)
    with pytest.raises(DataError, match="cannot join Liquidations with different interval_ms: 3600000 and 1800000"):
        concat_frames([hourly, halfhour])


def test_each_venue_has_its_own_folder(tmp_path):
    binance, bybit = Store(tmp_path, "binance"), Store(tmp_path, "bybit")
    binance.write("BTCUSDT", "aggTrades", "2025-01-15", trades([JAN_15]))
    bybit.write("ETHUSDT", "aggTrades", "2025-01-15", trades([JAN_15 + 1]))
    assert binance.path("BTCUSDT", "aggTrades", "2025-01-15") == tmp_path / "binance/BTCUSDT/aggTrades/2025-01-15.parquet"
    assert (binance.symbols(), bybit.symbols()) == (["BTCUSDT"], ["ETHUSDT"])
    (tmp_path / "parsed").mkdir()
    assert store_venues(tmp_path) == ["binance", "bybit"]
    with pytest.raises(DataError, match="venue 'Binance' is not a lower-case name"):
        Store(tmp_path, "Binance")


def _old_layout(root):
    """A cache as written before the venue level: symbols straight under the root."""
    Store(root / "staging").write("BTCUSDT", "aggTrades", "2025-01-15", trades([JAN_15, JAN_15 + 5]))
    (root / "staging" / "binance" / "BTCUSDT").rename(root / "BTCUSDT")
    (root / "parsed").mkdir()


def test_a_cache_in_the_old_layout_is_moved_under_binance_once(tmp_path, capsys):
    _old_layout(tmp_path)
    assert main(["data", "list", "--cache", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert err == (f"moved {tmp_path / 'BTCUSDT'} to {tmp_path / 'binance' / 'BTCUSDT'} "
                   "(the cache now has a venue level)\n")
    assert "binance  BTCUSDT  aggTrades  2025-01-15  2025-01-15  1" in out
    assert not (tmp_path / "BTCUSDT").exists() and (tmp_path / "parsed").is_dir()
    assert Store(tmp_path).read("BTCUSDT", "aggTrades").time.tolist() == [JAN_15, JAN_15 + 5]
    assert migrate_legacy(tmp_path) == []  # once: nothing left to move, nothing printed
    assert capsys.readouterr().err == ""


def test_an_old_layout_clashing_with_the_new_is_refused_with_what_to_run(tmp_path, capsys, monkeypatch):
    _old_layout(tmp_path)
    Store(tmp_path).write("BTCUSDT", "aggTrades", "2025-01-16", trades([JAN_15 + DAY]))
    old, new = tmp_path / "BTCUSDT", tmp_path / "binance" / "BTCUSDT"
    message = (f"the cache at {tmp_path} holds BTCUSDT both in the old layout ({old}) and under binance/ ({new}); "
               f"keep one: run `rm -r {old}` to drop the old copy, or `rm -r {new} && mv {old} {new}` to keep it")
    with pytest.raises(DataError) as err:
        migrate_legacy(tmp_path)
    assert str(err.value) == message
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path))
    assert main(["map", "BTCUSDT", "--source", "cache"]) == 1
    assert capsys.readouterr().err == f"liqmap map: error: {message}\n"
    assert old.is_dir() and new.is_dir()  # nothing moved

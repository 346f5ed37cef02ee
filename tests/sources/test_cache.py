"""The local Parquet store and the parse cache: round trips, range queries, period names, faults."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.frames import Candles, DataError, Funding, Liquidations, Trades
from liqmap.cli import main
from liqmap.sources.cache import CacheWarning, Store, cache_root, migrate_legacy, period_bounds, read_frame, store_venues
from liqmap.sources.tables import concat_frames, frame_to_table
from liqmap.venues.binance.vision import read_aggtrades

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
    assert store.time_range("BTCUSDT", "aggTrades") == (JAN_15 + 10, JAN_15 + DAY + 6)  # the end: 1 ms after the last trade


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


# ---------------------------------------------------------------- faults: damaged files, unwritable caches, threads

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vision"
AGG = "BTCUSDT-aggTrades-2025-01-15.csv"


@pytest.fixture
def cache_everything(monkeypatch, tmp_path):
    """A private cache that memoises even the tiny fixtures."""
    import liqmap.venues.binance.vision as vision

    monkeypatch.setattr(vision, "_CACHE_MIN_BYTES", 0)
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_store_file_that_cannot_be_read_is_named_with_what_to_do(tmp_path):
    store = Store(tmp_path)
    store.write("BTCUSDT", "aggTrades", "2025-01-15", trades([JAN_15 + 10, JAN_15 + 20]))
    store.write("BTCUSDT", "aggTrades", "2025-01-16", trades([JAN_15 + DAY]))
    damaged = store.path("BTCUSDT", "aggTrades", "2025-01-16")
    damaged.write_bytes(damaged.read_bytes()[:-20])  # the footer is gone
    for read in (lambda: store.read("BTCUSDT", "aggTrades"), lambda: store.time_range("BTCUSDT", "aggTrades")):
        with pytest.raises(DataError) as err:
            read()
        assert str(err.value).startswith(f"{damaged}: not a readable liqmap Parquet file (")
        assert str(err.value).endswith("); delete it and fetch or import that period again")
    # bytes that parse but hold a price no market has: named the same way
    table = pa.table({"time": np.array([JAN_15 + DAY]), "price": np.array([np.inf]), "quantity": np.array([1.0]),
                      "is_buyer_maker": np.array([True])})
    pq.write_table(table.replace_schema_metadata(frame_to_table(trades([0])).schema.metadata), damaged)
    with pytest.raises(DataError) as err:
        store.read("BTCUSDT", "aggTrades")
    assert str(err.value) == (f"{damaged}: not a readable liqmap Parquet file (trades: row 0, column 'price': value inf "
                              "is not a finite number above 0); delete it and fetch or import that period again")


def test_parse_cache_is_keyed_on_content_not_size_and_mtime(cache_everything, tmp_path):
    path = tmp_path / AGG
    shutil.copy(FIXTURES / AGG, path)
    stat = path.stat()
    assert read_aggtrades(path).price.tolist() == [96002.9, 96002.1, 96003.0]
    # same size, same mtime, other content (a replaced download): parsed again, not served stale
    path.write_text(path.read_text().replace("96002.1", "96002.7"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert read_aggtrades(path).price.tolist() == [96002.9, 96002.7, 96003.0]
    assert len(list((cache_everything / "parsed").rglob("*.parquet"))) == 2


def test_a_damaged_parsed_copy_is_parsed_again(cache_everything, tmp_path):
    path = tmp_path / AGG
    shutil.copy(FIXTURES / AGG, path)
    read_aggtrades(path)
    [copy] = (cache_everything / "parsed").rglob("*.parquet")
    copy.write_bytes(b"PAR1 not really")
    with pytest.warns(CacheWarning, match=rf"^{re.escape(str(copy))}: not a readable liqmap Parquet file .*; "
                                          rf"parsing {re.escape(str(path))} again$"):
        assert read_aggtrades(path).price.tolist() == [96002.9, 96002.1, 96003.0]
    assert read_frame(copy).price.tolist() == [96002.9, 96002.1, 96003.0]  # and the copy is whole again


def test_an_unwritable_cache_still_gives_the_data(monkeypatch, tmp_path):
    import liqmap.venues.binance.vision as vision

    monkeypatch.setattr(vision, "_CACHE_MIN_BYTES", 0)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")  # (root ignores chmod; this fails for everyone)
    monkeypatch.setenv("LIQMAP_CACHE", str(blocker))
    path = tmp_path / AGG
    shutil.copy(FIXTURES / AGG, path)
    with pytest.warns(CacheWarning) as caught:
        assert len(read_aggtrades(path)) == 3
    assert str(caught[0].message) == (f"cannot write the parse cache at {blocker / 'parsed'} (Not a directory); "
                                      f"{AGG} will be parsed again next time")


@pytest.mark.filterwarnings("error::liqmap.sources.cache.CacheWarning")  # a collision would only warn
def test_threads_filling_one_cache_do_not_collide(cache_everything, tmp_path):
    folder = tmp_path / "vision"
    folder.mkdir()
    for name in (AGG, "BTCUSDT-aggTrades-2025-01-16.csv"):
        shutil.copy(FIXTURES / name, folder / name)
    paths = sorted(folder.iterdir())

    def load(_):
        return read_aggtrades(paths).time.tolist()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load, range(40)))
    assert all(r == results[0] for r in results) and len(results[0]) == 5
    assert not [p for p in (cache_everything / "parsed").rglob("*") if p.name.endswith(".tmp")]


@settings(max_examples=50, deadline=None)
@given(damage=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_damaged_store_and_parse_cache_files_never_give_a_traceback(damage, cut):
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        written = store.write("BTCUSDT", "aggTrades", "2025-01-15", trades([JAN_15 + 10, JAN_15 + 20, JAN_15 + 30]))
        data = bytearray(written.read_bytes())
        for where, value in damage:
            data[int(where * len(data))] = value
        if cut is not None:
            del data[int(cut * len(data)):]
        written.write_bytes(bytes(data))
        try:
            frame = store.read("BTCUSDT", "aggTrades")
        except DataError as exc:
            assert str(exc).startswith(str(written)) or str(exc).startswith(store.label), exc
        else:  # the damage missed what is read, or left values a frame accepts
            assert len(frame) <= 3 and np.isfinite(frame.price).all() and (frame.price > 0).all()
        # the same bytes as a parsed copy: the source is parsed again, with a warning
        source = Path(folder) / AGG
        shutil.copy(FIXTURES / AGG, source)
        with pytest.MonkeyPatch.context() as patch:
            import liqmap.venues.binance.vision as vision

            patch.setattr(vision, "_CACHE_MIN_BYTES", 0)
            patch.setenv("LIQMAP_CACHE", str(Path(folder) / "cache"))
            read_aggtrades(source)
            [copy] = (Path(folder) / "cache" / "parsed").rglob("*.parquet")
            copy.write_bytes(bytes(data))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CacheWarning)
                assert read_aggtrades(source).price.tolist() == [96002.9, 96002.1, 96003.0]


def test_the_cli_maps_with_an_unwritable_cache_and_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    import liqmap.venues.binance.vision as vision

    monkeypatch.setattr(vision, "_CACHE_MIN_BYTES", 0)
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LIQMAP_CACHE", str(blocker))
    folder = tmp_path / "vision"
    folder.mkdir()
    days = (AGG, "BTCUSDT-aggTrades-2025-01-16.csv")
    for name in days:
        shutil.copy(FIXTURES / name, folder / name)
    with warnings.catch_warnings():
        warnings.simplefilter("always", CacheWarning)
        assert main(["map", "BTCUSDT", "--source", str(folder), "--model", "peer", "--window", "2d",
                     "--format", "json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert sorted(lines) == [f"liqmap map: warning: cannot write the parse cache at {blocker / 'parsed'} "
                             f"(Not a directory); {name} will be parsed again next time" for name in days]


def test_importing_into_a_cache_that_cannot_be_written_is_a_named_error(tmp_path, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    folder = tmp_path / "vision"
    folder.mkdir()
    shutil.copy(FIXTURES / AGG, folder / AGG)
    assert main(["data", "import", str(folder), "--cache", str(blocker)]) == 1
    target = blocker / "binance" / "BTCUSDT" / "aggTrades" / "2025-01-15.parquet"
    assert capsys.readouterr().err == (f"liqmap data: error: cannot write {target} (Not a directory); check that "
                                       f"{blocker} is a writable folder with free space\n")

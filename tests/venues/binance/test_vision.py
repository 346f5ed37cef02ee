"""Binance Vision readers on every published variant, and on broken files."""

from __future__ import annotations

import gzip
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.venues.binance.vision import read_aggtrades, read_funding, read_klines, read_metrics

FIXTURES = Path(__file__).parents[2] / "fixtures" / "vision"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def zipped(src: Path, folder: Path, drop_header: bool = False) -> Path:
    """``src`` as Binance ships it: a zip named like the CSV, holding that one CSV."""
    text = src.read_text()
    if drop_header:
        text = text.split("\n", 1)[1]
    target = folder / (src.stem + ".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(src.name, text)
    return target


def written(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- aggTrades


def test_aggtrades_header_csv_exact_values():
    trades = read_aggtrades(FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv")
    assert trades.time.tolist() == [1736899200052, 1736899200100, 1736899200100]
    assert trades.price.tolist() == [96002.9, 96002.1, 96003.0]
    assert trades.quantity.tolist() == [0.002, 0.024, 1.5]
    assert trades.is_buyer_maker.tolist() == [False, True, False]


def test_aggtrades_several_files_join_in_time_order_given_in_any_order(tmp_path):
    # The 16th has no header and capitalised booleans; passed first, it must still come second.
    day16 = zipped(FIXTURES / "BTCUSDT-aggTrades-2025-01-16.csv", tmp_path)
    trades = read_aggtrades([day16, FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv"])
    assert trades.time.tolist() == [1736899200052, 1736899200100, 1736899200100, 1736985600007, 1736985601000]
    assert trades.is_buyer_maker.tolist() == [False, True, False, True, False]


def test_aggtrades_zip_with_and_without_header_equal_the_csv(tmp_path):
    src = FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv"
    plain = read_aggtrades(src)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (zipped(src, tmp_path / "a"), zipped(src, tmp_path / "b", drop_header=True)):
        again = read_aggtrades(path)
        np.testing.assert_array_equal(again.time, plain.time)
        np.testing.assert_array_equal(again.price, plain.price)
        np.testing.assert_array_equal(again.is_buyer_maker, plain.is_buyer_maker)


def test_spot_variant_microseconds_and_is_best_match():
    # transact_time 1767225600039409 us -> 1767225600039 ms (floor).
    trades = read_aggtrades(FIXTURES / "spot-BTCUSDT-aggTrades-2026-01-01.csv")
    assert trades.time.tolist() == [1767225600039, 1767225600272]
    assert trades.price.tolist() == [87648.21, 87648.22]
    assert trades.is_buyer_maker.tolist() == [True, False]


def test_real_spot_sample_from_shared_data(shared_data, tmp_path):
    # The shared file is the spot layout with two leading columns added (timestamp,
    # datetime_utc) and the time column named transact_time_us; columns are found by name.
    src = shared_data / "binance_aggtrades_sample" / "BTCUSDT-aggTrades-2026-01-01-first5000.csv.gz"
    target = tmp_path / "BTCUSDT-aggTrades-2026-01-01.csv"
    with gzip.open(src, "rb") as fin, open(target, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    trades = read_aggtrades(target)
    assert len(trades) == 5000
    assert trades.time[0] == 1767225600039  # README: 00:00:00.039 UTC
    assert trades.time[-1] == 1767226339347  # README: 00:12:19.347 UTC
    assert trades.price[0] == 87648.21
    assert trades.is_buyer_maker[:2].tolist() == [True, False]


def test_small_files_are_parsed_every_time(tmp_path, private_cache):
    # the fixture is far below the 1 MiB threshold: parsing it beats reading a cached copy
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-15.csv"
    shutil.copy(FIXTURES / path.name, path)
    assert len(read_aggtrades(path)) == 3
    assert not (private_cache / "parsed").exists() or not list((private_cache / "parsed").rglob("*.parquet"))


def test_parsed_file_cache_is_reused_and_invalidated_by_a_change(tmp_path, private_cache, monkeypatch):
    import liqmap.venues.binance.vision as vision

    monkeypatch.setattr(vision, "_CACHE_MIN_BYTES", 0)  # cache even this tiny fixture
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-15.csv"
    shutil.copy(FIXTURES / path.name, path)
    first = read_aggtrades(path)
    cached = list((private_cache / "parsed").rglob("*.parquet"))
    assert len(cached) == 1
    assert read_aggtrades(path).time.tolist() == first.time.tolist()
    assert list((private_cache / "parsed").rglob("*.parquet")) == cached
    # Append one trade: the size and mtime change, so the file is parsed again.
    with open(path, "a") as f:
        f.write("2504731899,96100.0,0.5,5805118230,5805118230,1736899300000,true\n")
    os.utime(path, ns=(1, 2))
    assert len(read_aggtrades(path)) == 4
    assert len(list((private_cache / "parsed").rglob("*.parquet"))) == 2


# ---------------------------------------------------------------- klines


def test_klines_header_csv():
    candles = read_klines(FIXTURES / "BTCUSDT-1m-2025-01-15.csv")
    assert candles.interval_ms == 60_000  # 1736899259999 - 1736899200000 + 1
    assert candles.price_kind == "last"
    assert candles.time.tolist() == [1736899200000, 1736899260000, 1736899320000]
    assert candles.open[0] == 96002.90 and candles.high[1] == 96086.10 and candles.low[2] == 96050.00
    assert candles.close.tolist() == [96003.10, 96071.60, 96060.00]
    assert candles.volume.tolist() == [75.090, 79.839, 10.0]
    assert candles.taker_buy_volume.tolist() == [25.828, 45.915, 4.0]


def test_klines_microseconds_without_header_zip(tmp_path):
    path = zipped(FIXTURES / "us-BTCUSDT-1m-2025-01-15.csv", tmp_path)
    candles = read_klines(path)
    assert candles.interval_ms == 60_000  # (1736899259999999 - 1736899200000000 + 1) us
    assert candles.time.tolist() == [1736899200000, 1736899260000]


def test_mark_price_klines_have_unknown_volumes():
    candles = read_klines(FIXTURES / "mark-BTCUSDT-1m-2025-01-15.csv", price_kind="mark")
    assert candles.price_kind == "mark"
    assert candles.close.tolist() == [96044.7, 96100.0]
    assert np.isnan(candles.volume).all() and np.isnan(candles.taker_buy_volume).all()
    assert not candles.has_taker_volume


def test_klines_with_inconsistent_interval(tmp_path):
    text = (FIXTURES / "BTCUSDT-1m-2025-01-15.csv").read_text().replace("1736899379999", "1736899439999")
    path = written(tmp_path, "BTCUSDT-1m-2025-01-15.csv", text)
    with pytest.raises(DataError) as err:
        read_klines(path, cache=False)
    assert str(err.value) == (
        f"{path}: line 4, column 'close_time': value 1736899439999 gives a bar of 120000 ms "
        "but the file's first bar is 60000 ms"
    )


# ---------------------------------------------------------------- metrics and funding


def test_metrics_round_jitter_to_five_minutes():
    oi = read_metrics(FIXTURES / "BTCUSDT-metrics-2025-01-15.csv")
    # 00:05:00, 00:10:01 -> 00:10:00, 00:14:59 -> 00:15:00 (2025-01-15 00:00 = 1736899200000)
    assert oi.time.tolist() == [1736899500000, 1736899800000, 1736900100000]
    assert oi.oi.tolist() == [78118.37, 78015.092, 78020.0]
    assert oi.oi_value.tolist() == [7507190980.674, 7499044688.316, 7500000000.0]


def test_metrics_wrong_symbol(tmp_path):
    text = (FIXTURES / "BTCUSDT-metrics-2025-01-15.csv").read_text()
    text = text.replace("00:10:01,BTCUSDT", "00:10:01,ETHUSDT")
    path = written(tmp_path, "BTCUSDT-metrics-2025-01-15.csv", text)
    with pytest.raises(DataError) as err:
        read_metrics(path)
    assert str(err.value) == f"{path}: line 3, column 'symbol': value 'ETHUSDT' but the file is for BTCUSDT"
    with pytest.raises(DataError, match="value 'BTCUSDT' but the file is for ETHUSDT"):
        read_metrics(FIXTURES / "BTCUSDT-metrics-2025-01-15.csv", symbol="ETHUSDT")


def test_funding_rate_per_8h():
    funding = read_funding(FIXTURES / "BTCUSDT-fundingRate-2025-01.csv")
    assert funding.time.tolist() == [1735689600000, 1735718400001, 1735747200000]
    # 8h rows unchanged; the 4h row's -0.00002 per 4h is -0.00004 per 8h.
    np.testing.assert_allclose(funding.rate, [0.0001, 0.00005, -0.00004], rtol=0, atol=1e-18)


# ---------------------------------------------------------------- broken files


BROKEN = [
    # (fixture, text replaced, replacement, reader, message after "<path>: ")
    ("BTCUSDT-aggTrades-2025-01-15.csv", "96002.1", "96O02.1", read_aggtrades,
     "line 3, column 'price': bad value '96O02.1' (expected a number)"),
    ("BTCUSDT-1m-2025-01-15.csv", ",45.915,", ",,", read_klines,
     "line 3, column 'taker_buy_volume': bad value '' (expected a number)"),
    ("BTCUSDT-aggTrades-2025-01-16.csv", "False", "maybe", read_aggtrades,
     "line 2, column 'is_buyer_maker': bad value 'maybe' (expected true or false)"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", ",true\n", ",true\n2504731889,96003.0,0.1\n", read_aggtrades,
     "line 4 has 3 columns, expected 7: '2504731889,96003.0,0.1'"),
    ("BTCUSDT-metrics-2025-01-15.csv", "2025-01-15 00:10:01", "2025-01-15T00:10:01", read_metrics,
     "line 3, column 'create_time': bad value '2025-01-15T00:10:01' (expected YYYY-MM-DD HH:MM:SS)"),
    ("BTCUSDT-fundingRate-2025-01.csv", "last_funding_rate", "rate", read_funding,
     "missing column 'last_funding_rate' for a fundingRate file (header has: calc_time, funding_interval_hours, rate)"),
    ("BTCUSDT-aggTrades-2025-01-16.csv", "1736985601000", "1736985601000000", read_aggtrades,
     "line 2, column 'transact_time': value 1736985601000000 is in microseconds but the file starts in milliseconds"),
]


@pytest.mark.parametrize("fixture, old, new, reader, message", BROKEN, ids=[b[4][:32] for b in BROKEN])
def test_broken_file_names_file_line_column_and_value(tmp_path, fixture, old, new, reader, message):
    text = (FIXTURES / fixture).read_text()
    assert old in text
    path = written(tmp_path, fixture, text.replace(old, new, 1))
    with pytest.raises(DataError) as err:
        reader(path)
    assert str(err.value) == f"{path}: {message}"


def test_headerless_file_with_wrong_column_count(tmp_path):
    path = written(tmp_path, "BTCUSDT-1m-2025-01-15.csv", "1736899200000,1,2,3\n")
    with pytest.raises(DataError) as err:
        read_klines(path)
    assert str(err.value).startswith(f"{path}: line 1 has 4 columns; a klines file without a header has 12 (open_time,")


def test_empty_file_and_header_only(tmp_path):
    empty = written(tmp_path, "BTCUSDT-aggTrades-2025-01-15.csv", "")
    with pytest.raises(DataError) as err:
        read_aggtrades(empty)
    assert str(err.value) == f"{empty}: the file is empty"
    header = (FIXTURES / "BTCUSDT-fundingRate-2025-01.csv").read_text().split("\n")[0] + "\n"
    only = written(tmp_path, "BTCUSDT-fundingRate-2025-02.csv", header)
    with pytest.raises(DataError) as err:
        read_funding(only)
    assert str(err.value) == f"{only}: the file has a header but no data rows"


def test_zip_with_two_members(tmp_path):
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-15.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "x")
        archive.writestr("b.csv", "y")
    with pytest.raises(DataError) as err:
        read_aggtrades(path)
    assert str(err.value) == f"{path}: expected one CSV inside the zip, found 2: ['a.csv', 'b.csv']"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_aggtrades(tmp_path / "nope.csv")

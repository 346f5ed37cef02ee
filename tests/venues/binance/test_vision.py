"""Binance Vision readers on every published variant, and on broken files."""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ---------------------------------------------------------------- values no market produces


IMPOSSIBLE = [
    ("BTCUSDT-aggTrades-2025-01-15.csv", "96002.1", "inf", read_aggtrades,
     "line 3, column 'price': value inf is not a finite number above 0"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "96002.1", "1e400", read_aggtrades,  # overflows to inf
     "line 3, column 'price': value inf is not a finite number above 0"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "96002.1", "-5", read_aggtrades,
     "line 3, column 'price': value -5.0 is not a finite number above 0"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "0.024", "0", read_aggtrades,
     "line 3, column 'quantity': value 0.0 is not a finite number above 0"),
    ("BTCUSDT-1m-2025-01-15.csv", "96060.00", "inf", read_klines,
     "line 4, column 'close': value inf is not a finite number above 0"),
    ("BTCUSDT-1m-2025-01-15.csv", ",96086.10,", ",0,", read_klines,
     "line 3, column 'high': value 0.0 is not a finite number above 0"),
    ("BTCUSDT-1m-2025-01-15.csv", ",75.090,", ",-75.090,", read_klines,
     "line 2, column 'volume': value -75.09 is not a finite number at or above 0"),
    ("BTCUSDT-metrics-2025-01-15.csv", "78015.0920000000000000", "0", read_metrics,
     "line 3, column 'sum_open_interest': value 0.0 is not a finite number above 0"),
    ("BTCUSDT-metrics-2025-01-15.csv", "7499044688.3160000000000000", "-1", read_metrics,
     "line 3, column 'sum_open_interest_value': value -1.0 is not a finite number above 0"),
    # 0.2 per 4 h is 0.4 per 8 h: no exchange's cap comes near
    ("BTCUSDT-fundingRate-2025-01.csv", "-0.00002000", "0.2", read_funding,
     "line 4, column 'last_funding_rate': value 0.4 is not a number within ±0.3 per 8 h"),
    ("BTCUSDT-fundingRate-2025-01.csv", "0.00010000", "nan", read_funding,
     "line 2, column 'last_funding_rate': value nan is not a number within ±0.3 per 8 h"),
    # timestamps: seconds, nanoseconds, another day or month than the name's
    ("BTCUSDT-aggTrades-2025-01-15.csv", "1736899200100", "1736899200", read_aggtrades,
     "line 3, column 'transact_time': value 1736899200 is in seconds (2025-01-15T00:00:00Z); "
     "Vision files count milliseconds or microseconds"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "1736899200052", "1736812800052", read_aggtrades,
     "line 2, column 'transact_time': time 2025-01-14T00:00:00.052Z is outside 2025-01-15, the day the file's "
     "name gives (rows outside: 1 of 3)"),
    ("BTCUSDT-fundingRate-2025-01.csv", "1735747200000", "1738368000000", read_funding,
     "line 4, column 'calc_time': time 2025-02-01T00:00:00Z is outside 2025-01, the month the file's "
     "name gives (rows outside: 1 of 3)"),
    # a stray quote is a bad value (it used to swallow the rest of the file as one field)
    ("BTCUSDT-aggTrades-2025-01-15.csv", "96002.1", '"96002.1', read_aggtrades,
     "line 3, column 'price': bad value '\"96002.1' (expected a number)"),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "5805118217", "99999999999999999999", read_aggtrades,  # not read: fine
     None),
    ("BTCUSDT-aggTrades-2025-01-15.csv", "1736899200100", "99999999999999999999", read_aggtrades,
     "line 3, column 'transact_time': bad value '99999999999999999999' (expected an integer of at most 19 digits)"),
]


@pytest.mark.parametrize("fixture, old, new, reader, message", IMPOSSIBLE, ids=[f"{b[2]}-{b[3].__name__}" for b in IMPOSSIBLE])
def test_impossible_values_are_refused_with_file_line_and_column(tmp_path, fixture, old, new, reader, message):
    text = (FIXTURES / fixture).read_text()
    assert old in text
    path = written(tmp_path, fixture, text.replace(old, new, 1))
    if message is None:
        assert len(reader(path)) == 3
        return
    with pytest.raises(DataError) as err:
        reader(path)
    assert str(err.value) == f"{path}: {message}"


def test_metrics_end_with_the_next_midnight_but_not_later(tmp_path):
    text = (FIXTURES / "BTCUSDT-metrics-2025-01-15.csv").read_text()
    ok = written(tmp_path, "BTCUSDT-metrics-2025-01-15.csv", text.replace("2025-01-15 00:14:59", "2025-01-16 00:00:01"))
    assert read_metrics(ok).time[-1] == 1736985600000  # 2025-01-16T00:00:00Z, the day's closing snapshot
    late = written(tmp_path, "BTCUSDT-metrics-2025-01-16.csv",
                   text.replace("2025-01-15", "2025-01-16").replace("2025-01-16 00:14:59", "2025-01-17 00:05:00"))
    with pytest.raises(DataError) as err:
        read_metrics(late)
    assert str(err.value) == (
        f"{late}: line 4, column 'create_time': time 2025-01-17T00:05:00Z is outside 2025-01-16, the day the "
        "file's name gives (rows outside: 1 of 3)"
    )


def test_zero_volume_bars_are_kept(tmp_path):
    # a minute without trades: Binance publishes the bar with volume 0
    text = (FIXTURES / "BTCUSDT-1m-2025-01-15.csv").read_text().replace(",75.090,", ",0,").replace(",25.828,", ",0,")
    candles = read_klines(written(tmp_path, "BTCUSDT-1m-2025-01-15.csv", text))
    assert candles.volume.tolist() == [0.0, 79.839, 10.0]


# ---------------------------------------------------------------- compression: gz, and broken or hostile archives


def test_csv_gz_reads_like_the_csv(tmp_path):
    src = FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv"
    path = tmp_path / (src.name + ".gz")
    path.write_bytes(gzip.compress(src.read_bytes()))
    assert read_aggtrades(path).price.tolist() == [96002.9, 96002.1, 96003.0]


def _zip_bytes(text: bytes, method=zipfile.ZIP_DEFLATED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("BTCUSDT-aggTrades-2025-01-15.csv", text)
    return bytearray(buffer.getvalue())


def test_zip_faults_name_the_file(tmp_path):
    src = (FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv").read_bytes()
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-15.zip"
    stored = _zip_bytes(src, zipfile.ZIP_STORED)
    stored[stored.find(b"96002.9") + 1] = ord("7")  # the bytes no longer match the CRC
    path.write_bytes(stored)
    with pytest.raises(DataError) as err:
        read_aggtrades(path)
    assert str(err.value) == f"{path}: corrupt compressed data (Bad CRC-32 for file 'BTCUSDT-aggTrades-2025-01-15.csv')"
    deflated = _zip_bytes(src * 20)
    start = deflated.find(b".csv") + 4
    deflated[start + 20] ^= 0xFF
    deflated[start + 21] ^= 0x55
    path.write_bytes(deflated)
    with pytest.raises(DataError, match=r"^.*\.zip: corrupt compressed data \(Error -3 while decompressing data"):
        read_aggtrades(path)
    encrypted = _zip_bytes(src)
    encrypted[encrypted.find(b"PK\x03\x04") + 6] |= 1  # the "encrypted" flag, local and central headers
    encrypted[encrypted.find(b"PK\x01\x02") + 8] |= 1
    path.write_bytes(encrypted)
    with pytest.raises(DataError) as err:
        read_aggtrades(path)
    assert str(err.value) == f"{path}: 'BTCUSDT-aggTrades-2025-01-15.csv' inside the zip is encrypted (Vision files are not)"


def test_compression_bombs_are_refused_early(tmp_path):
    src = (FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv").read_bytes()
    zeros = b"0" * (1 << 20)
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-15.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("BTCUSDT-aggTrades-2025-01-15.csv", "w", force_zip64=True) as member:
            member.write(src)
            for _ in range(200):
                member.write(zeros)
    size = path.stat().st_size
    with pytest.raises(DataError) as err:  # refused from the zip's directory, before any inflating
        read_aggtrades(path)
    assert str(err.value) == (
        f"{path}: 'BTCUSDT-aggTrades-2025-01-15.csv' would expand to {len(src) + 200 * len(zeros):,} bytes, "
        f"more than the {100 * size:,} allowed for a {size:,}-byte file"
    )
    gz = tmp_path / "BTCUSDT-aggTrades-2025-01-15.csv.gz"
    with gzip.open(gz, "wb") as out:  # gzip keeps no trustworthy size: counted while inflating
        out.write(src)
        for _ in range(200):
            out.write(zeros)
    with pytest.raises(DataError) as err:
        read_aggtrades(gz)
    limit = max(100 * gz.stat().st_size, 1 << 20)
    assert str(err.value) == (
        f"{gz}: expands to more than {limit:,} bytes (over 100x its size, or over 8,589,934,592); "
        "refused as a compression bomb"
    )


def test_nanoseconds_are_named(tmp_path):
    path = written(tmp_path, "BTCUSDT-1d-2025-01-15.csv", "1736899200000000000,1,2,1,2,3,1736985599999999999,1,1,1,1,0\n")
    with pytest.raises(DataError) as err:
        read_klines(path)
    assert str(err.value) == (f"{path}: line 1, column 'open_time': value 1736899200000000000 is in nanoseconds "
                              "(2025-01-15T00:00:00Z); Vision files count milliseconds or microseconds")


def test_long_garbage_is_quoted_in_short(tmp_path):
    fixture = (FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv").read_text()
    path = written(tmp_path, "BTCUSDT-aggTrades-2025-01-15.csv", fixture + "x" * 100_000 + "\n")
    with pytest.raises(DataError) as err:
        read_aggtrades(path)
    assert str(err.value) == f"{path}: line 5 has 1 columns, expected 7: '{'x' * 80}... (100,000 characters)'"
    path.write_text(fixture + "x" * 500_000 + "\n")
    with pytest.raises(DataError) as err:
        read_aggtrades(path)
    assert str(err.value) == f"{path}: line 5: a field longer than 131,072 characters"


# ---------------------------------------------------------------- fuzzing: any input gives a frame or a named DataError


#: Cell values that broke readers before, or sit on a bound: each is tried in every column.
NASTY = ["", "inf", "-inf", "nan", "1e400", "-1e400", "1e-400", "-1", "0", "-0", '"', '"96002.1', "1736899200",
         "1736899200000000000", "9" * 25, "true", "maybe", "x", "\x00", "1_000", " 1", "2025-01-15 00:00:00",
         "2025-01-14 23:59:59", "2025-01-17 00:00:00", "0.3", "-5", "1e308", "\u00e9", "BTCUSDT", "ETHUSDT"]
KINDS = {  # fixture -> reader
    "BTCUSDT-aggTrades-2025-01-15.csv": read_aggtrades,
    "BTCUSDT-1m-2025-01-15.csv": read_klines,
    "BTCUSDT-metrics-2025-01-15.csv": read_metrics,
    "BTCUSDT-fundingRate-2025-01.csv": read_funding,
}


@st.composite
def mutated_file(draw):
    """(fixture name, bytes, container) for a fixture with cells, rows or bytes changed."""
    name = draw(st.sampled_from(sorted(KINDS)))
    lines = (FIXTURES / name).read_text().splitlines()
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(0, len(lines) - 1))
        cells = lines[row].split(",")
        op = draw(st.sampled_from(["cell", "cell", "cell", "drop", "repeat", "swap", "text"]))
        if op == "cell":
            col = draw(st.integers(0, len(cells) - 1))
            cells[col] = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=12)))
            lines[row] = ",".join(cells)
        elif op == "drop" and len(lines) > 1:
            del lines[row]
        elif op == "repeat":
            lines.insert(row, lines[row])
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[row], lines[other] = lines[other], lines[row]
        elif op == "text":
            lines.insert(row, draw(st.text(max_size=40)))
    data = bytearray(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    container = draw(st.sampled_from(["csv", "zip", "gz"]))
    if container == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, bytes(data))
        data = bytearray(buffer.getvalue())
    elif container == "gz":
        data = bytearray(gzip.compress(bytes(data)))
    for _ in range(draw(st.integers(0, 2))):  # damage the bytes themselves (compressed or not)
        if data and draw(st.booleans()):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif data:
            del data[draw(st.integers(0, len(data) - 1)):]
    return name, bytes(data), container


def _finite_positive_map(m) -> None:
    # (a peer bin may start at 0: its rules put a level in (0, width] when one window's prices span 10,000x)
    assert np.isfinite(m.price_low).all() and (m.price_low >= 0).all(), m.price_low
    assert np.isfinite(m.price_high).all() and (m.price_high > m.price_low).all()
    for side in (m.long, m.short):
        assert np.isfinite(side).all() and (side >= 0).all()
    assert math.isfinite(m.price) and m.price > 0


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated_file())
def test_any_file_gives_a_frame_or_a_named_error_and_maps_from_it_are_sane(case):
    from liqmap.api import build_maps
    from liqmap.frames import MarketData, OpenInterest
    from liqmap.sources.loader import candles_from_trades

    name, data, container = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (name if container == "csv" else name.replace(".csv", f".{container}").replace(".gz", ".csv.gz"))
        path.write_bytes(data)
        try:
            frame = KINDS[name](path, cache=False)
        except DataError as exc:
            assert str(exc).startswith(str(path)) or "no " in str(exc), exc  # the file is named
            return
    assert len(frame) > 0
    for column in ("price", "quantity", "open", "high", "low", "close", "oi"):
        if hasattr(frame, column):
            values = getattr(frame, column)
            assert np.isfinite(values).all() and (values > 0).all()
    if name.startswith("BTCUSDT-aggTrades"):
        market = MarketData("BTCUSDT", "binance", candles_from_trades(frame), trades=frame)
        options = {"model": "peer"}
    elif name.startswith("BTCUSDT-1m") and len(frame) >= 2:
        end = int(frame.time[-1]) + frame.interval_ms
        oi = OpenInterest(time=[int(frame.time[0]), end], oi=[1000.0, 1200.0], oi_value=[np.nan, np.nan],
                          interval_ms=end - int(frame.time[0]))
        market, options = MarketData("BTCUSDT", "binance", frame, open_interest=oi), {}
    else:
        return
    try:
        maps = build_maps(market=market, window="1d", views=["all"], now=0, **options)
    except DataError as exc:  # e.g. missing candles (a dropped row), or one price only: named
        assert str(exc), exc
        return
    for m in maps:
        _finite_positive_map(m)


def test_a_low_above_the_high_is_refused(tmp_path):
    text = (FIXTURES / "BTCUSDT-1m-2025-01-15.csv").read_text().replace(",96050.00,", ",96200.00,")
    path = written(tmp_path, "BTCUSDT-1m-2025-01-15.csv", text)
    with pytest.raises(DataError) as err:
        read_klines(path)
    assert str(err.value) == f"{path}: line 4, column 'low': value 96200.0 is above the bar's high (96100.0)"

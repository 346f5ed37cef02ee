"""Readers for Binance Vision USD-M bulk files, exactly as published.

Each file is a CSV, a zip holding one CSV, or a gzipped CSV (``.csv.gz``),
with or without a header row (older files have none).  Timestamps may be milliseconds or microseconds
(Binance spot files use microseconds since 2025); they are told apart by
magnitude and returned in milliseconds.  Parsing goes through pyarrow's CSV
reader with explicit column types, reading only the columns liqmap uses, and
each parsed file is memoised as Parquet (see :func:`liqmap.sources.cache.cached_parse`).

Real rows, for reference::

    aggTrades        2504731886,96002.9,0.002,5805118216,5805118216,1736899200052,false
    klines (1m)      1736899200000,96002.90,96081.90,95986.30,96003.10,75.090,1736899259999,7210456.08460,1462,25.828,2480399.79470,0
    metrics          2025-01-15 00:05:00,BTCUSDT,78118.3700000000000000,7507190980.6740000000000000,1.25,1.10,1.52,0.96
    fundingRate      1735689600000,8,0.00010000

Bad input raises :class:`~liqmap.frames.DataError` naming the file, the line
(1-based, counting the header), the column and the value: broken structure,
broken compression, and values no market produces (not finite, not above 0,
timestamps in seconds or outside the day or month the file's name gives).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from ...frames import MS_PER_HOUR, BadValue, Candles, DataError, Funding, OpenInterest, Trades, format_ms
from . import BINANCE
from .layout import name_period

#: Epoch values at or above this are microseconds (ms would be the year 5138).
_MICROS_FROM = 10**14
#: Plausible epoch milliseconds: 2010-01-01 .. 2100-01-01 (crypto futures exist in between).
_MS_RANGE = (1_262_304_000_000, 4_102_444_800_000)
#: A compressed CSV may expand to at most this many times its file size (Vision files expand 4-10x) ...
MAX_EXPANSION = 100
#: ... and never beyond this (a month of BTCUSDT aggTrades is a few GiB); larger is refused before parsing.
MAX_CSV_BYTES = 8 << 30
#: Longest excerpt of a file's text an error message quotes.
_EXCERPT = 80
_BOOL_TEXT = {"true", "false", "True", "False", "TRUE", "FALSE"}


@dataclass(frozen=True)
class FileFormat:
    """A Vision file kind: its published column order and the columns liqmap reads."""

    kind: str
    columns: tuple[str, ...]
    #: column -> "float" | "int" | "bool" | "time" (YYYY-MM-DD HH:MM:SS) | "text"
    read: dict[str, str]
    #: trailing columns some variants add (e.g. spot aggTrades' is_best_match)
    optional_tail: tuple[str, ...] = ()
    #: header names some variants use -> our name
    aliases: dict[str, str] = field(default_factory=dict)
    #: frame field -> the file column it comes from (where they differ), for error messages
    sources: dict[str, str] = field(default_factory=dict)
    #: metrics files end with the next midnight's snapshot: the period's end is included
    period_end_included: bool = False


AGGTRADES = FileFormat(
    "aggTrades",
    ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time", "is_buyer_maker"),
    {"price": "float", "quantity": "float", "transact_time": "int", "is_buyer_maker": "bool"},
    optional_tail=("is_best_match",),
    aliases={"transact_time_us": "transact_time"},
    sources={"time": "transact_time"},
)
KLINES = FileFormat(
    "klines",
    (
        "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
        "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
    ),
    {
        "open_time": "int", "open": "float", "high": "float", "low": "float", "close": "float",
        "volume": "float", "close_time": "int", "taker_buy_volume": "float",
    },
    sources={"time": "open_time"},
)
METRICS = FileFormat(
    "metrics",
    (
        "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
        "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
        "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
    ),
    {"create_time": "time", "symbol": "text", "sum_open_interest": "float", "sum_open_interest_value": "float"},
    sources={"time": "create_time", "oi": "sum_open_interest", "oi_value": "sum_open_interest_value"},
    period_end_included=True,
)
FUNDING = FileFormat(
    "fundingRate",
    ("calc_time", "funding_interval_hours", "last_funding_rate"),
    {"calc_time": "int", "funding_interval_hours": "float", "last_funding_rate": "float"},
    sources={"time": "calc_time", "rate": "last_funding_rate"},
)


# ---------------------------------------------------------------- public readers


def read_aggtrades(paths, *, cache: bool = True) -> Trades:
    """aggTrades files (futures, or the spot variant with ``is_best_match``) -> :class:`Trades`.

    Several files are joined in time order.  ``is_buyer_maker`` true means the
    taker sold.
    """
    return _read_all(paths, AGGTRADES, _aggtrades_frame, cache)


def read_klines(paths, price_kind: str = "last", *, cache: bool = True) -> Candles:
    """klines (``price_kind="last"``) or markPriceKlines (``"mark"``) files -> :class:`Candles`.

    The bar interval is ``close_time - open_time + 1`` and must be the same on
    every row.  Mark-price files carry zero volumes, so their ``volume`` and
    ``taker_buy_volume`` are NaN (unknown, not zero).
    """
    if price_kind not in ("last", "mark"):
        raise ValueError(f"price_kind must be 'last' or 'mark', not {price_kind!r}")
    return _read_all(paths, KLINES, lambda path, cols: _klines_frame(path, cols, price_kind), cache, price_kind)


def read_metrics(paths, symbol: str | None = None, *, cache: bool = True) -> OpenInterest:
    """Daily ``metrics`` files -> :class:`OpenInterest` (``oi`` = sum_open_interest, base units).

    ``create_time`` carries 1-2 s of jitter in real files and is rounded to the
    5-minute mark.  Every row's ``symbol`` must equal ``symbol`` (default: the
    symbol in the first file's name, else its first row).
    """
    return _read_all(paths, METRICS, lambda path, cols: _metrics_frame(path, cols, symbol), cache, symbol or "")


def read_funding(paths, *, cache: bool = True) -> Funding:
    """Monthly ``fundingRate`` files -> :class:`Funding` with the rate per 8 hours.

    ``last_funding_rate`` is paid every ``funding_interval_hours``; it is
    rescaled to 8 h (``rate * 8 / interval``) so symbols settling every 4 h
    compare with the 8-hour convention.
    """
    return _read_all(paths, FUNDING, _funding_frame, cache)


# ---------------------------------------------------------------- per-kind conversion


def _aggtrades_frame(path: Path, cols: dict) -> Trades:
    return Trades(
        time=_to_ms(cols["transact_time"], path, "transact_time", cols),
        price=cols["price"],
        quantity=cols["quantity"],
        is_buyer_maker=cols["is_buyer_maker"],
    )


def _klines_frame(path: Path, cols: dict, price_kind: str) -> Candles:
    open_time, close_time = cols["open_time"], cols["close_time"]
    time = _to_ms(open_time, path, "open_time", cols)
    scale = 1000 if open_time.size and open_time[0] >= _MICROS_FROM else 1
    span = close_time - open_time + 1
    bad = np.flatnonzero(span != span[0]) if span.size else span
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column 'close_time': value {int(close_time[i])} gives a bar of "
            f"{int(span[i]) // scale} ms but the file's first bar is {int(span[0]) // scale} ms"
        )
    interval_ms = int(span[0]) // scale if span.size else 0
    volume = cols["volume"]
    taker = cols["taker_buy_volume"]
    if price_kind == "mark":
        volume = taker = np.full(open_time.size, np.nan)
    return Candles(
        time=time,
        open=cols["open"],
        high=cols["high"],
        low=cols["low"],
        close=cols["close"],
        volume=volume,
        taker_buy_volume=taker,
        interval_ms=interval_ms,
        price_kind=price_kind,
    )


def _metrics_frame(path: Path, cols: dict, symbol: str | None) -> OpenInterest:
    symbols = cols["symbol"]
    expected = symbol or _symbol_from_name(path, "metrics") or str(symbols[0])
    bad = np.flatnonzero(symbols != expected)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column 'symbol': value {symbols[i]!r} but the file is for {expected}"
        )
    step = BINANCE.open_interest_interval_ms
    time = (_to_ms(cols["create_time"], path, "create_time", cols) + step // 2) // step * step
    return OpenInterest(time=time, oi=cols["sum_open_interest"], oi_value=cols["sum_open_interest_value"], interval_ms=step)


def _funding_frame(path: Path, cols: dict) -> Funding:
    hours = cols["funding_interval_hours"]
    bad = np.flatnonzero(~(hours > 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column 'funding_interval_hours': value {hours[i]!r} is not a positive number of hours"
        )
    per = BINANCE.funding_interval_ms
    return Funding(
        time=_to_ms(cols["calc_time"], path, "calc_time", cols),
        rate=cols["last_funding_rate"] * (per / MS_PER_HOUR) / hours,
        interval_ms=per,
    )


def _symbol_from_name(path: Path, kind: str) -> str | None:
    match = re.match(rf"^([A-Z0-9]+)-{kind}-", path.name)
    return match.group(1) if match else None


def _to_ms(values: np.ndarray, path: Path, column: str, cols: dict) -> np.ndarray:
    """Epoch ms, or µs divided down; a file mixing the two, or holding seconds or
    nanoseconds, is an error."""
    if not values.size:
        return values
    micros = values >= _MICROS_FROM
    if micros.any() and not micros.all():
        i = int(np.flatnonzero(micros != micros[0])[0])
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column {column!r}: value {int(values[i])} is in "
            f"{'microseconds' if micros[i] else 'milliseconds'} but the file starts in "
            f"{'microseconds' if micros[0] else 'milliseconds'}"
        )
    ms = values // 1000 if micros[0] else values
    lo, hi = _MS_RANGE
    bad = np.flatnonzero((ms < lo) | (ms >= hi))
    if bad.size:
        i = int(bad[0])
        value = int(values[i])
        if lo <= value * 1000 < hi:
            unit = f"in seconds ({format_ms(value * 1000)}); Vision files count milliseconds or microseconds"
        elif lo <= value // 1_000_000 < hi:
            unit = f"in nanoseconds ({format_ms(value // 1_000_000)}); Vision files count milliseconds or microseconds"
        else:
            unit = f"not a time between {format_ms(lo)[:10]} and {format_ms(hi)[:10]} in milliseconds or microseconds"
        raise DataError(f"{path}: line {cols['_line'][i]}, column {column!r}: value {value} is {unit}")
    return ms


def _check_period(path: Path, fmt: FileFormat, frame, cols: dict) -> None:
    """Every row inside the day or month the file's name gives (a file of another day would shift the map)."""
    period = name_period(path)
    if period is None or not len(frame):
        return
    from ...sources.cache import period_bounds

    start, end = period_bounds(period)
    after_end = frame.time > end if fmt.period_end_included else frame.time >= end
    bad = np.flatnonzero((frame.time < start) | after_end)
    if bad.size:
        i = int(bad[0])
        column = fmt.sources.get("time", "time")
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column {column!r}: time {format_ms(frame.time[i])} is outside "
            f"{period}, the {'day' if len(period) == 10 else 'month'} the file's name gives "
            f"(rows outside: {bad.size} of {len(frame)})"
        )


# ---------------------------------------------------------------- generic CSV reading


#: Files smaller than this are parsed every time (a day of 1-minute klines is about 130 kB).
_CACHE_MIN_BYTES = 1 << 20


def _read_all(paths, fmt: FileFormat, convert, cache: bool, variant: str = ""):
    from ...sources.tables import concat_frames

    files = _as_paths(paths)
    if not files:
        raise DataError(f"no {fmt.kind} files given")

    def parse(path: Path):
        cols = read_columns(path, fmt)
        try:
            frame = convert(path, cols)
        except BadValue as bad:
            column = fmt.sources.get(bad.column, bad.column)
            raise DataError(f"{path}: line {cols['_line'][bad.row]}, column {column!r}: value {bad.value!r} {bad.problem}") from None
        _check_period(path, fmt, frame, cols)
        return frame

    if cache:
        from ...sources.cache import cached_parse

        def load(path: Path):
            # a small file parses faster than its cached copy reads: cache only the large ones
            if path.stat().st_size < _CACHE_MIN_BYTES:
                return parse(path)
            return cached_parse(path, f"{fmt.kind}{variant}", parse)
    else:
        load = parse
    if len(files) == 1:
        return concat_frames([load(files[0])])
    # pyarrow parses and reads outside the GIL: one file per core at a time
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(files), os.cpu_count() or 1)) as pool:
        return concat_frames(list(pool.map(load, files)))


def _as_paths(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    result = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        result.append(p)
    return result


def _open_csv(path: Path) -> IO[bytes]:
    """The CSV bytes of a plain file, of the one CSV inside a zip, or of a gzipped CSV.

    Compressed input is bounded (see :class:`_Guarded`) and its faults (bad
    CRC, corrupt deflate, truncation) become :class:`DataError` naming the file.
    """
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix not in (".zip", ".gz"):
        if size > MAX_CSV_BYTES:
            raise DataError(f"{path}: {size:,} bytes is more than the {MAX_CSV_BYTES:,} a CSV may have")
        return open(path, "rb")
    limit = min(max(size * MAX_EXPANSION, 1 << 20), MAX_CSV_BYTES)
    if suffix == ".gz":
        return io.BufferedReader(_Guarded(gzip.open(path, "rb"), path, limit), 1 << 20)
    try:
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
    except Exception as exc:  # zipfile raises many kinds for broken archives (BadZipFile, NotImplementedError, ...)
        raise DataError(f"{path}: not a valid zip file ({exc or type(exc).__name__})") from None
    if len(members) != 1:
        raise DataError(f"{path}: expected one CSV inside the zip, found {len(members)}: {[m.filename for m in members[:5]]}")
    member = members[0]
    if member.flag_bits & 0x1:
        raise DataError(f"{path}: {member.filename!r} inside the zip is encrypted (Vision files are not)")
    if member.file_size > limit:
        raise DataError(
            f"{path}: {member.filename!r} would expand to {member.file_size:,} bytes, more than the {limit:,} "
            f"allowed for a {size:,}-byte file"
        )
    try:
        stream = archive.open(member)
    except Exception as exc:  # as above
        raise DataError(f"{path}: cannot open {member.filename!r} inside the zip ({exc or type(exc).__name__})") from None
    return io.BufferedReader(_Guarded(stream, path, limit), 1 << 20)


class _Guarded(io.RawIOBase):
    """A decompressing stream that stops at ``limit`` bytes and names the file on any fault.

    A zip bomb is refused after ``limit`` bytes instead of filling memory, and
    a bad CRC, corrupt deflate data or a truncated archive raise DataError.
    """

    def __init__(self, stream, path: Path, limit: int):
        self._stream, self._path, self._limit, self._seen = stream, path, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._stream.read(len(buffer))
        except Exception as exc:  # BadZipFile, BadGzipFile, zlib.error, EOFError, ...: any is a damaged archive
            raise DataError(f"{self._path}: corrupt compressed data ({exc or type(exc).__name__})") from None
        self._seen += len(data)
        if self._seen > self._limit:
            raise DataError(
                f"{self._path}: expands to more than {self._limit:,} bytes (over {MAX_EXPANSION}x its size, "
                f"or over {MAX_CSV_BYTES:,}); refused as a compression bomb"
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def _excerpt(text: str) -> str:
    """``text`` cut to a length an error message can quote."""
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + f"... ({len(text):,} characters)"


def _header_names(path: Path, first_line: str, fmt: FileFormat) -> tuple[list[str], bool]:
    """(column names, has_header) from the file's first line."""
    fields = [f.strip() for f in first_line.rstrip("\r\n").split(",")]
    known = set(fmt.columns) | set(fmt.optional_tail) | set(fmt.aliases)
    if known.intersection(fields):
        names = [fmt.aliases.get(f, f) for f in fields]
        missing = [c for c in fmt.read if c not in names]
        if missing:
            raise DataError(
                f"{path}: missing column {missing[0]!r} for a {fmt.kind} file (header has: {', '.join(fields)})"
            )
        return names, True
    for size in range(len(fmt.columns), len(fmt.columns) + len(fmt.optional_tail) + 1):
        if len(fields) == size:
            return list(fmt.columns) + list(fmt.optional_tail[: size - len(fmt.columns)]), False
    raise DataError(
        f"{path}: line 1 has {len(fields)} columns; a {fmt.kind} file without a header has "
        f"{len(fmt.columns)} ({', '.join(fmt.columns)})"
    )


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def read_columns(path: Path, fmt: FileFormat) -> dict[str, np.ndarray]:
    """The ``fmt.read`` columns of one file as numpy arrays, plus ``_line`` (file line of each row)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ...sources.tables import column_to_numpy

    with _open_csv(path) as stream:
        raw_first = stream.readline(1 << 16)
        first_line = raw_first.decode("utf-8", "replace")
        if not first_line.strip():
            raise DataError(f"{path}: the file is empty")
        names, has_header = _header_names(path, first_line, fmt)
        body = stream if has_header else _Prepend(raw_first, stream)
        arrow_types = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "time": pa.timestamp("s"), "text": pa.string()}
        try:
            table = pacsv.read_csv(
                body,
                read_options=pacsv.ReadOptions(column_names=names),
                # Vision files never quote: a stray quote is a bad value, not the start of a huge field
                parse_options=pacsv.ParseOptions(quote_char=False),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(fmt.read),
                    column_types={c: arrow_types[t] for c, t in fmt.read.items()},
                    null_values=[""],  # "nan" is a number (refused later, with its line), "" is missing
                    true_values=["true", "True", "TRUE"],
                    false_values=["false", "False", "FALSE"],
                    timestamp_parsers=["%Y-%m-%d %H:%M:%S"],
                ),
            )
        except pa.ArrowInvalid as exc:
            _raise_first_bad_cell(path, fmt, names, has_header)
            raise DataError(f"{path}: cannot parse as a {fmt.kind} file: {_excerpt(str(exc))}") from None
    if table.num_rows == 0 or any(table.column(c).null_count for c in fmt.read):
        _raise_first_bad_cell(path, fmt, names, has_header)
        column = next(c for c in fmt.read if table.column(c).null_count)
        raise DataError(f"{path}: column {column!r} has {table.column(column).null_count} missing values")
    first_data_line = 2 if has_header else 1
    cols = {"_line": np.arange(first_data_line, first_data_line + table.num_rows)}
    for name, kind in fmt.read.items():
        cols[name] = column_to_numpy(table.column(name))
        if kind == "time":
            cols[name] = cols[name] * 1000
    return cols


class _Prepend(io.RawIOBase):
    """A stream that replays an already-read first line before the rest."""

    def __init__(self, head: bytes, rest):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _raise_first_bad_cell(path: Path, fmt: FileFormat, names: list[str], has_header: bool) -> None:
    """Scan the file row by row (only on the error path) and raise for the first bad cell."""
    wanted = [(names.index(c), c, kind) for c, kind in fmt.read.items()]
    data_rows = 0
    with _open_csv(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, quoting=csv.QUOTE_NONE)
        for line_no, row in enumerate(_rows(reader, path), start=1):
            if line_no == 1 and has_header or not row:
                continue
            data_rows += 1
            if len(row) != len(names):
                raise DataError(
                    f"{path}: line {line_no} has {len(row)} columns, expected {len(names)}: {_excerpt(','.join(row))!r}"
                )
            for index, column, kind in wanted:
                value = row[index].strip()
                if not _cell_ok(value, kind):
                    raise DataError(
                        f"{path}: line {line_no}, column {column!r}: bad value {_excerpt(value)!r} ({_EXPECTED[kind]})"
                    )
    if not data_rows:
        raise DataError(f"{path}: the file has a header but no data rows")


def _rows(reader, path: Path):
    """The reader's rows; its own faults (a NUL byte, a line over the field limit) name the file and line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = f"a field longer than {csv.field_size_limit():,} characters" if "field limit" in str(exc) else exc
            raise DataError(f"{path}: line {reader.line_num}: {problem}") from None


_EXPECTED = {
    "float": "expected a number",
    "int": "expected an integer of at most 19 digits",
    "bool": "expected true or false",
    "time": "expected YYYY-MM-DD HH:MM:SS",
    "text": "expected text",
}
_TIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _cell_ok(value: str, kind: str) -> bool:
    if kind == "float":
        return _is_number(value)
    if kind == "int":
        return re.fullmatch(r"[+-]?\d+", value) is not None and -(2**63) <= int(value) < 2**63
    if kind == "bool":
        return value in _BOOL_TEXT
    if kind == "time":
        return _TIME_TEXT.match(value) is not None
    return bool(value)


"""Readers for Binance Vision USD-M bulk files, exactly as published.

Each file is a CSV, or a zip holding one CSV, with or without a header row
(older files have none).  Timestamps may be milliseconds or microseconds
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
(1-based, counting the header), the column and the value.
"""

from __future__ import annotations

import os

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from ...frames import Candles, DataError, Funding, OpenInterest, Trades

#: Epoch values at or above this are microseconds (ms would be the year 5138).
_MICROS_FROM = 10**14
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


AGGTRADES = FileFormat(
    "aggTrades",
    ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time", "is_buyer_maker"),
    {"price": "float", "quantity": "float", "transact_time": "int", "is_buyer_maker": "bool"},
    optional_tail=("is_best_match",),
    aliases={"transact_time_us": "transact_time"},
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
)
METRICS = FileFormat(
    "metrics",
    (
        "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
        "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio",
        "count_long_short_ratio", "sum_taker_long_short_vol_ratio",
    ),
    {"create_time": "time", "symbol": "text", "sum_open_interest": "float", "sum_open_interest_value": "float"},
)
FUNDING = FileFormat(
    "fundingRate",
    ("calc_time", "funding_interval_hours", "last_funding_rate"),
    {"calc_time": "int", "funding_interval_hours": "float", "last_funding_rate": "float"},
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
        time=_to_ms(open_time, path, "open_time", cols),
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
    five_min = 300_000
    time = (cols["create_time"] + five_min // 2) // five_min * five_min
    return OpenInterest(time=time, oi=cols["sum_open_interest"], oi_value=cols["sum_open_interest_value"])


def _funding_frame(path: Path, cols: dict) -> Funding:
    hours = cols["funding_interval_hours"]
    bad = np.flatnonzero(~(hours > 0))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: line {cols['_line'][i]}, column 'funding_interval_hours': value {hours[i]!r} is not a positive number of hours"
        )
    return Funding(
        time=_to_ms(cols["calc_time"], path, "calc_time", cols),
        rate=cols["last_funding_rate"] * 8.0 / hours,
    )


def _symbol_from_name(path: Path, kind: str) -> str | None:
    match = re.match(rf"^([A-Z0-9]+)-{kind}-", path.name)
    return match.group(1) if match else None


def _to_ms(values: np.ndarray, path: Path, column: str, cols: dict) -> np.ndarray:
    """Epoch ms, or µs divided down; a file mixing the two is an error."""
    if not values.size:
        return values
    micros = values >= _MICROS_FROM
    if not micros.any():
        return values
    if micros.all():
        return values // 1000
    i = int(np.flatnonzero(micros != micros[0])[0])
    raise DataError(
        f"{path}: line {cols['_line'][i]}, column {column!r}: value {int(values[i])} is in "
        f"{'microseconds' if micros[i] else 'milliseconds'} but the file starts in "
        f"{'microseconds' if micros[0] else 'milliseconds'}"
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
        return convert(path, read_columns(path, fmt))

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
    """The CSV bytes of a plain file, or of the one CSV inside a zip."""
    if path.suffix.lower() != ".zip":
        return open(path, "rb")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file") from None
    members = [m for m in archive.namelist() if not m.endswith("/")]
    if len(members) != 1:
        raise DataError(f"{path}: expected one CSV inside the zip, found {len(members)}: {members[:5]}")
    return archive.open(members[0])


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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_columns(path: Path, fmt: FileFormat) -> dict[str, np.ndarray]:
    """The ``fmt.read`` columns of one file as numpy arrays, plus ``_line`` (file line of each row)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ...sources.tables import column_to_numpy

    with _open_csv(path) as stream:
        first_line = stream.readline().decode("utf-8", "replace")
        if not first_line.strip():
            raise DataError(f"{path}: the file is empty")
        names, has_header = _header_names(path, first_line, fmt)
        body = stream if has_header else _Prepend(first_line.encode(), stream)
        arrow_types = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "time": pa.timestamp("s"), "text": pa.string()}
        try:
            table = pacsv.read_csv(
                body,
                read_options=pacsv.ReadOptions(column_names=names),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(fmt.read),
                    column_types={c: arrow_types[t] for c, t in fmt.read.items()},
                    true_values=["true", "True", "TRUE"],
                    false_values=["false", "False", "FALSE"],
                    timestamp_parsers=["%Y-%m-%d %H:%M:%S"],
                ),
            )
        except pa.ArrowInvalid as exc:
            _raise_first_bad_cell(path, fmt, names, has_header)
            raise DataError(f"{path}: cannot parse as a {fmt.kind} file: {exc}") from None
    if table.num_rows == 0 or any(table.column(c).null_count for c in fmt.read):
        _raise_first_bad_cell(path, fmt, names, has_header)
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
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""))
        for line_no, row in enumerate(reader, start=1):
            if line_no == 1 and has_header or not row:
                continue
            data_rows += 1
            if len(row) != len(names):
                raise DataError(f"{path}: line {line_no} has {len(row)} columns, expected {len(names)}: {','.join(row)!r}")
            for index, column, kind in wanted:
                value = row[index].strip()
                if not _cell_ok(value, kind):
                    raise DataError(f"{path}: line {line_no}, column {column!r}: bad value {value!r} ({_EXPECTED[kind]})")
    if not data_rows:
        raise DataError(f"{path}: the file has a header but no data rows")


_EXPECTED = {
    "float": "expected a number",
    "int": "expected an integer",
    "bool": "expected true or false",
    "time": "expected YYYY-MM-DD HH:MM:SS",
    "text": "expected text",
}
_TIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _cell_ok(value: str, kind: str) -> bool:
    if kind == "float":
        return _is_number(value)
    if kind == "int":
        return re.fullmatch(r"[+-]?\d+", value) is not None
    if kind == "bool":
        return value in _BOOL_TEXT
    if kind == "time":
        return _TIME_TEXT.match(value) is not None
    return bool(value)


"""The local store: parsed market data as Parquet, one file per (venue, symbol, kind, period).

Layout under a root folder (the user cache ``$LIQMAP_CACHE`` or
``~/.cache/liqmap``, or the bundled sample inside the package)::

    <root>/<venue>/<SYMBOL>/<kind>/<period>.parquet   venue: binance, ... (lower case)
                                                       kind: see KINDS (aggTrades, klines-1m, ...)
                                                       period: YYYY-MM-DD (day), YYYY-MM (month) or
                                                       YYYY-MM-DDTHH (an hour: the live recorder's files)

A cache written before the venue level existed (``<root>/<SYMBOL>/...``) held
Binance data only; :func:`migrate_legacy` moves it under ``binance/``.

Each file is a frame written by :func:`liqmap.sources.tables.frame_to_table`;
range queries go through DuckDB (``read_parquet([...]) WHERE time >= ? AND
time < ?``) so only the rows asked for are materialised.

The same root also holds ``parsed/``: a cache of Vision files already parsed,
keyed by the file's content (SHA-256), name and parser, so re-reading a 66 MB
CSV costs one hash and one Parquet read.

Faults never stop a map that can be made: an unreadable parsed copy is parsed
again from its source, a cache that cannot be written (read-only, full) is
skipped with a :class:`CacheWarning`, and an unreadable store file is named
with what to do about it.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path

from ..frames import MS_PER_DAY, MS_PER_HOUR, DataError

#: The store's data kinds: one folder each; bar kinds carry their interval (``klines-1m``).
TRADES = "aggTrades"  # Trades
CANDLES = "klines"  # Candles, last price
MARK_CANDLES = "markPriceKlines"  # Candles, mark price
OPEN_INTEREST = "metrics"  # OpenInterest
FUNDING = "fundingRate"  # Funding
LIQUIDATIONS = "liquidations"  # Liquidations (realized)
FORCE_ORDERS = "forceOrders"  # LiquidationEvents, one per liquidation (the live recorder)
OI_POLLS = "oiPolls"  # OpenInterest, every live poll (the live recorder)
MARK_PRICES = "markPrice"  # MarkPrices, each second (the live recorder)
KINDS = (TRADES, CANDLES, MARK_CANDLES, OPEN_INTEREST, FUNDING, LIQUIDATIONS, FORCE_ORDERS, OI_POLLS, MARK_PRICES)
BAR_KINDS = (CANDLES, MARK_CANDLES)


def data_end(kind: str, last_time: int) -> int:
    """The moment just after a kind's last row: the end of its last bar (``klines-1h``), else 1 ms later."""
    prefix, _, interval = kind.partition("-")
    if prefix in BAR_KINDS and interval:
        from ..timeutil import parse_span

        return int(last_time) + parse_span(interval)
    return int(last_time) + 1

#: Bump when a parser's output changes, so stale parsed files are ignored.
PARSED_FORMAT = 2
_SYMBOL = re.compile(r"^[A-Z0-9]+$")  # keeps parsed/ and downloads/ out of the symbol list
_VENUE = re.compile(r"^[a-z][a-z0-9_]*$")
#: The venue a cache written before the venue level held.
LEGACY_VENUE = "binance"
_PERIOD = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2}))?)?$")


def cache_root() -> Path:
    """``$LIQMAP_CACHE`` if set, else ``~/.cache/liqmap``."""
    env = os.environ.get("LIQMAP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "liqmap"


def period_bounds(period: str) -> tuple[int, int]:
    """``'2026-01-31'`` (a UTC day), ``'2026-01'`` (a month) or ``'2026-01-31T13'`` (an hour) -> ``[start_ms, end_ms)``."""
    match = _PERIOD.match(period)
    if not match:
        raise DataError(f"period {period!r} is neither a day (YYYY-MM-DD), a month (YYYY-MM) nor an hour (YYYY-MM-DDTHH)")
    year, month, day, hour = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
    if hour is not None:
        start = datetime(year, month, int(day), int(hour), tzinfo=timezone.utc)
        return _ms(start), _ms(start) + MS_PER_HOUR
    if day is not None:
        start = datetime(year, month, int(day), tzinfo=timezone.utc)
        return _ms(start), _ms(start) + MS_PER_DAY
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
    return _ms(start), _ms(end)


def period_overlaps(period: str, start_ms: int | None, end_ms: int | None) -> bool:
    """Whether the period meets ``[start_ms, end_ms)``, with one day of slack on each side:
    a daily metrics file ends with the next midnight's snapshot."""
    lo, hi = period_bounds(period)
    return (end_ms is None or lo - MS_PER_DAY < end_ms) and (start_ms is None or hi + MS_PER_DAY > start_ms)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


class CacheWarning(UserWarning):
    """The cache could not be used as intended (unwritable, or a damaged copy); the result is still right."""


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (about 50 ms for a 66 MB day of trades)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_parquet_atomic(table, path: Path) -> None:
    """Write next to ``path`` under a name unique to this process and thread, then rename into place."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def cached_parse(path: Path, kind: str, parse, root: Path | None = None):
    """``parse(path)`` -> frame, memoised as Parquet under ``<root>/parsed/``.

    The key is the file's content (SHA-256), its name (a file's name says
    its symbol and period, which parsing checks), the kind and the parser
    format: a replaced file is parsed again whatever its size and mtime.
    A damaged copy is parsed again; an unwritable cache is skipped.
    """
    from .tables import frame_to_table

    path = Path(path).resolve()
    key = hashlib.sha256(f"{file_sha256(path)}|{path.name}|{kind}|{PARSED_FORMAT}".encode()).hexdigest()
    target = (root or cache_root()) / "parsed" / key[:2] / f"{key}.parquet"
    if target.exists():
        try:
            return read_frame(target, expect={"key": key})
        except DataError as exc:
            warnings.warn(f"{exc}; parsing {path} again", CacheWarning, stacklevel=2)
    frame = parse(path)
    try:
        _write_parquet_atomic(frame_to_table(frame, {"file": str(path), "key": key}), target)
    except OSError as exc:
        warnings.warn(f"cannot write the parse cache at {target.parents[1]} ({exc.strerror or exc}); "
                      f"{path.name} will be parsed again next time", CacheWarning, stacklevel=2)
    return frame


def read_frame(path: Path, expect: dict | None = None):
    """The frame one liqmap Parquet file holds; any fault (bad bytes, foreign file, impossible values,
    ``extra`` metadata other than ``expect``) is a DataError naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .tables import frame_meta, table_to_frame

    try:
        table = pq.ParquetFile(path).read()  # (read_table would import pandas)
        extra = frame_meta(table.schema.metadata)["extra"]
        if expect and any(extra.get(k) != v for k, v in expect.items()):
            raise DataError(f"holds {extra.get('file') or 'another file'}, not the file asked for")
        return table_to_frame(table)
    except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a readable liqmap Parquet file ({exc})") from None


def store_venues(root: Path) -> list[str]:
    """The venue folders below a store root."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _VENUE.match(p.name) and p.name != "parsed"
                  and p.name != "downloads")


def legacy_symbols(root: Path) -> list[str]:
    """Symbol folders directly under ``root``: the layout before the venue level."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _SYMBOL.match(p.name))


def migrate_legacy(root: Path) -> list[str]:
    """Move a cache in the layout without venues under ``binance/``, one symbol at a time.

    Each move is one rename (atomic on one file system) and prints a line.  A
    symbol that ``binance/`` already holds is not merged: the error says what
    to run.  Returns the symbols moved.
    """
    root = Path(root)
    moved = []
    for symbol in legacy_symbols(root):
        source, target = root / symbol, root / LEGACY_VENUE / symbol
        if target.exists():
            raise DataError(
                f"the cache at {root} holds {symbol} both in the old layout ({source}) and under "
                f"{LEGACY_VENUE}/ ({target}); keep one: run `rm -r {source}` to drop the old copy, or "
                f"`rm -r {target} && mv {source} {target}` to keep it"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        print(f"moved {source} to {target} (the cache now has a venue level)", file=sys.stderr)
        moved.append(symbol)
    return moved


class Store:
    """The per-period Parquet files of one venue below a store root (see the module docstring)."""

    def __init__(self, root: Path, venue: str = LEGACY_VENUE, label: str | None = None,
                 remedy: str = "delete it and fetch or import that period again"):
        if not _VENUE.match(venue):
            raise DataError(f"venue {venue!r} is not a lower-case name like 'binance'")
        self.root = Path(root)
        self.venue = venue
        self.folder = self.root / venue
        self.label = label or f"the cache at {self.root} ({venue})"
        #: what a user can do about an unreadable file of this store
        self.remedy = remedy

    def path(self, symbol: str, kind: str, period: str) -> Path:
        return self.folder / symbol / kind / f"{period}.parquet"

    def has(self, symbol: str, kind: str, period: str) -> bool:
        return self.path(symbol, kind, period).exists()

    def write(self, symbol: str, kind: str, period: str, frame, extra: dict | None = None) -> Path:
        """Store one period of one kind (replacing what was there)."""
        from .tables import frame_to_table

        period_bounds(period)  # validates the name
        target = self.path(symbol, kind, period)
        try:
            _write_parquet_atomic(frame_to_table(frame, extra), target)
        except OSError as exc:
            raise DataError(f"cannot write {target} ({exc.strerror or exc}); check that {self.root} is a "
                            "writable folder with free space") from None
        return target

    def summary(self) -> list[tuple[str, str, str, str, int]]:
        """(symbol, kind, first period, last period, number of files) for everything held."""
        rows = []
        for symbol in self.symbols():
            for kind in self.kinds(symbol):
                periods = self.periods(symbol, kind)
                rows.append((symbol, kind, periods[0], periods[-1], len(periods)))
        return rows

    def symbols(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and _SYMBOL.match(p.name) and self.kinds(p.name))

    def kinds(self, symbol: str) -> list[str]:
        folder = self.folder / symbol
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.parquet")))

    def periods(self, symbol: str, kind: str) -> list[str]:
        return sorted(p.stem for p in (self.folder / symbol / kind).glob("*.parquet") if _PERIOD.match(p.stem))

    def extra(self, symbol: str, kind: str) -> dict:
        """The ``extra`` metadata written with the kind's first period (e.g. its origin)."""
        import pyarrow.parquet as pq

        from .tables import frame_meta

        periods = self.periods(symbol, kind)
        if not periods:
            return {}
        first = self.path(symbol, kind, periods[0])
        try:
            return frame_meta(pq.read_schema(first).metadata)["extra"]
        except Exception as exc:  # any fault of the file's bytes
            raise self._unreadable([str(first)], exc) from None

    def read(self, symbol: str, kind: str, start_ms: int | None = None, end_ms: int | None = None):
        """The kind's rows with ``start_ms <= time < end_ms`` as one frame (None if no files).

        Period files are picked by :func:`period_overlaps`; the exact cut is
        DuckDB's WHERE clause.  Rows keep the order of the files
        and of the rows inside them (DuckDB preserves insertion order unless
        told otherwise), so trades sharing a millisecond stay in tape order.
        """
        import duckdb
        import pyarrow.parquet as pq

        from .tables import frame_meta, table_to_frame

        files = [str(self.path(symbol, kind, p)) for p in self.periods(symbol, kind) if period_overlaps(p, start_ms, end_ms)]
        if not files:
            return None
        lo = -(2**63) if start_ms is None else int(start_ms)
        hi = 2**63 - 1 if end_ms is None else int(end_ms)
        try:
            meta = frame_meta(pq.read_schema(files[0]).metadata)
            with duckdb.connect() as con:
                table = con.sql(
                    "SELECT * FROM read_parquet($files) WHERE time >= $lo AND time < $hi",
                    params={"files": files, "lo": lo, "hi": hi},
                ).to_arrow_table()
            return table_to_frame(table, meta)
        except Exception as exc:  # DuckDB, Arrow and the frame checks each raise their own kinds
            raise self._unreadable(files, exc) from None

    def time_range(self, symbol: str, kind: str) -> tuple[int, int] | None:
        """(first time, end of the data) stored for the kind (see :func:`data_end`), or None."""
        import duckdb

        files = [str(self.path(symbol, kind, p)) for p in self.periods(symbol, kind)]
        if not files:
            return None
        try:
            with duckdb.connect() as con:
                row = con.execute("SELECT min(time), max(time) FROM read_parquet(?)", [files]).fetchone()
        except Exception as exc:
            raise self._unreadable(files, exc) from None
        return None if row is None or row[0] is None else (int(row[0]), data_end(kind, row[1]))

    def _unreadable(self, files: list[str], exc: Exception) -> DataError:
        """The error naming the first file of ``files`` that cannot be read (only on the error path)."""
        for name in files:
            try:
                read_frame(Path(name))
            except DataError as bad:
                return DataError(f"{bad}; {self.remedy}")
        return DataError(f"{self.label}: cannot read {len(files)} file(s) from {files[0]} on ({exc})")

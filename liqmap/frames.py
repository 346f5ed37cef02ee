"""Columnar market-data values: the one schema each data kind has inside liqmap.

Every source (Binance Vision files, the local cache, the bundled sample, a live
feed) produces these; the model and analysis read nothing else.  They hold
plain numpy arrays so the hot paths never touch pandas.

Conventions (all kinds):
  * ``time`` is int64 milliseconds since the Unix epoch, UTC.  For bars it is
    the bar *open*; the bar covers ``[time, time + interval_ms)``.
  * prices are float64 in quote currency (USDT), sizes in base units (BTC),
    notionals in quote units.
  * rows are sorted by ``time`` and times are unique (constructors check).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


class DataError(ValueError):
    """Input data that cannot be used; the message names what and where."""


def _as_array(values, dtype) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    array.setflags(write=False)
    return array


def _check_sorted_unique(time: np.ndarray, what: str) -> None:
    if time.size > 1:
        steps = np.diff(time)
        bad = np.flatnonzero(steps <= 0)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{what}: times must be strictly increasing; row {i + 1} "
                f"({format_ms(time[i + 1])}) does not follow row {i} ({format_ms(time[i])})"
            )


def format_ms(ms: int) -> str:
    """ISO 8601 UTC text for a millisecond timestamp (``2026-01-01T00:00:00Z``)."""
    seconds, milli = divmod(int(ms), 1000)
    text = np.datetime64(seconds, "s").astype(str) + "Z"
    if milli:
        text = text[:-1] + f".{milli:03d}Z"
    return text


class _Columns:
    """Shared helpers for the frozen column dataclasses below."""

    def __len__(self) -> int:
        return int(self.time.size)  # type: ignore[attr-defined]

    def to_frame(self):
        """A pandas DataFrame with one column per field and a UTC ``datetime`` column."""
        import pandas as pd

        data = {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)}
        frame = pd.DataFrame(data)
        frame.insert(0, "datetime", pd.to_datetime(frame["time"], unit="ms", utc=True))
        return frame

    def slice_time(self, start_ms: int | None = None, end_ms: int | None = None):
        """Rows with ``start_ms <= time < end_ms`` (either bound may be None)."""
        time: np.ndarray = self.time  # type: ignore[attr-defined]
        lo = 0 if start_ms is None else int(np.searchsorted(time, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(time, end_ms, "left"))
        return self._take(slice(lo, hi))

    def _take(self, index):
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kwargs[f.name] = value[index] if isinstance(value, np.ndarray) else value
        return type(self)(**kwargs)


@dataclass(frozen=True)
class Candles(_Columns):
    """OHLC bars.  ``price_kind`` says whether they are mark-price or last-price bars.

    ``taker_buy_volume`` is NaN where the source does not carry it (then the
    model falls back to a candle-based side estimate and says so).
    """

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    taker_buy_volume: np.ndarray
    interval_ms: int
    price_kind: str = "last"  # "last" or "mark"

    def __post_init__(self):
        n = np.asarray(self.time).size
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("interval_ms", "price_kind"):
                continue
            dtype = np.int64 if f.name == "time" else np.float64
            value = _as_array(value, dtype)
            if value.size != n:
                raise DataError(f"candles: column {f.name!r} has {value.size} rows, expected {n}")
            object.__setattr__(self, f.name, value)
        if self.price_kind not in ("last", "mark"):
            raise DataError(f"candles: price_kind must be 'last' or 'mark', not {self.price_kind!r}")
        _check_sorted_unique(self.time, "candles")

    @property
    def has_taker_volume(self) -> bool:
        return bool(self.time.size) and not np.isnan(self.taker_buy_volume).any()


@dataclass(frozen=True)
class OpenInterest(_Columns):
    """Open-interest snapshots: ``oi`` in base units at ``time`` (the snapshot moment)."""

    time: np.ndarray
    oi: np.ndarray
    oi_value: np.ndarray  # quote units; NaN where unknown
    interval_ms: int = 5 * MS_PER_MINUTE

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        object.__setattr__(self, "oi", _as_array(self.oi, np.float64))
        object.__setattr__(self, "oi_value", _as_array(self.oi_value, np.float64))
        if not (self.oi.size == self.time.size == self.oi_value.size):
            raise DataError("open interest: columns have different lengths")
        _check_sorted_unique(self.time, "open interest")
        if self.oi.size and (np.isnan(self.oi).any() or (self.oi < 0).any()):
            i = int(np.flatnonzero(np.isnan(self.oi) | (self.oi < 0))[0])
            raise DataError(f"open interest: row {i} ({format_ms(self.time[i])}) has invalid oi {self.oi[i]!r}")


@dataclass(frozen=True)
class Funding(_Columns):
    """Settled funding rates: ``rate`` is the fraction paid per 8 hours (Binance convention)."""

    time: np.ndarray
    rate: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        object.__setattr__(self, "rate", _as_array(self.rate, np.float64))
        if self.rate.size != self.time.size:
            raise DataError("funding: columns have different lengths")
        _check_sorted_unique(self.time, "funding")


@dataclass(frozen=True)
class Trades(_Columns):
    """Aggregate trades.  ``is_buyer_maker`` True means the taker sold.

    Times may repeat (several trades in one millisecond), so only order is checked.
    """

    time: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    is_buyer_maker: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        object.__setattr__(self, "price", _as_array(self.price, np.float64))
        object.__setattr__(self, "quantity", _as_array(self.quantity, np.float64))
        object.__setattr__(self, "is_buyer_maker", _as_array(self.is_buyer_maker, np.bool_))
        n = self.time.size
        if not (self.price.size == self.quantity.size == self.is_buyer_maker.size == n):
            raise DataError("trades: columns have different lengths")
        if n > 1:
            bad = np.flatnonzero(np.diff(self.time) < 0)
            if bad.size:
                raise DataError(f"trades: time goes backwards at row {int(bad[0]) + 1}")


@dataclass(frozen=True)
class Liquidations(_Columns):
    """Realized liquidations per bar: USD of longs liquidated (forced sells) and of shorts.

    Ground truth for validation and the heatmap overlay; ``source`` says whose
    feed (e.g. Coinglass aggregated over Binance + Bybit + OKX).
    """

    time: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    interval_ms: int = MS_PER_HOUR
    source: str = ""

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        object.__setattr__(self, "long_usd", _as_array(self.long_usd, np.float64))
        object.__setattr__(self, "short_usd", _as_array(self.short_usd, np.float64))
        if not (self.long_usd.size == self.short_usd.size == self.time.size):
            raise DataError("liquidations: columns have different lengths")
        _check_sorted_unique(self.time, "liquidations")


@dataclass(frozen=True)
class MarketData:
    """Everything known about one symbol over a span: what the model consumes.

    ``candles`` (last-price bars) is required.  ``mark_candles`` (optional)
    are mark-price bars: exchanges trigger liquidations on the mark price, so
    the model uses them for the price path where present.  ``open_interest``
    is required to build a position book.  ``trades`` (optional) give exact
    entry prices and taker sides; ``funding`` (optional) can tilt the side
    split; ``liquidations`` (optional) are realized ones, for comparison
    only.  ``notes`` carries provenance lines that end up in every result's
    ``model`` record.
    """

    symbol: str
    exchange: str
    candles: Candles
    mark_candles: Candles | None = None
    open_interest: OpenInterest | None = None
    funding: Funding | None = None
    trades: Trades | None = None
    liquidations: Liquidations | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def start_ms(self) -> int:
        return int(self.candles.time[0])

    @property
    def end_ms(self) -> int:
        """End of the last candle (exclusive)."""
        return int(self.candles.time[-1] + self.candles.interval_ms)

    def slice_time(self, start_ms: int | None = None, end_ms: int | None = None) -> "MarketData":
        """The same data restricted to ``[start_ms, end_ms)``."""

        def cut(value):
            return None if value is None else value.slice_time(start_ms, end_ms)

        return MarketData(
            symbol=self.symbol,
            exchange=self.exchange,
            candles=self.candles.slice_time(start_ms, end_ms),
            mark_candles=cut(self.mark_candles),
            open_interest=cut(self.open_interest),
            funding=cut(self.funding),
            trades=cut(self.trades),
            liquidations=cut(self.liquidations),
            notes=self.notes,
        )

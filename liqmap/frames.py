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

#: Time units in milliseconds: the one definition every module uses (times are int64 ms, see above).
MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60 * MS_PER_SECOND
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR
MS_PER_WEEK = 7 * MS_PER_DAY


class DataError(ValueError):
    """Input data that cannot be used; the message names what and where."""


def _as_array(values, dtype) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype)
    array.setflags(write=False)
    return array


class BadValue(DataError):
    """One cell a frame refuses; readers re-raise it with their file, line and column.

    ``row`` is the 0-based row of the frame, ``column`` the frame's field name,
    ``problem`` finishes the sentence "value X ...".
    """

    def __init__(self, what: str, row: int, column: str, value, problem: str):
        self.what, self.row, self.column, self.value, self.problem = what, row, column, value, problem
        super().__init__(f"{what}: row {row}, column {column!r}: value {value!r} {problem}")


#: Largest funding rate per 8 h a frame accepts: Binance caps a settlement at a few percent
#: (3 % on 1-hour settlements is 24 % per 8 h); anything beyond is a broken file.
MAX_FUNDING_PER_8H = 0.3


def _first(bad: np.ndarray) -> int | None:
    where = np.flatnonzero(bad)
    return int(where[0]) if where.size else None


def check_values(what: str, column: str, values: np.ndarray, *, positive: bool = False, nan_ok: bool = False,
                 bound: float | None = None, unit: str = "") -> None:
    """Raise :class:`BadValue` for the first value that is not finite, not > 0 (``positive``),
    negative (otherwise), or beyond ``±bound``; NaN passes only when ``nan_ok`` (unknown)."""
    with np.errstate(invalid="ignore"):
        if bound is not None:
            ok = np.abs(values) <= bound
            problem = f"is not a number within ±{bound:g}{unit}"
        elif positive:
            ok = np.isfinite(values) & (values > 0)
            problem = "is not a finite number above 0"
        else:
            ok = np.isfinite(values) & (values >= 0)
            problem = "is not a finite number at or above 0"
        if nan_ok:
            ok |= np.isnan(values)
    i = _first(~ok)
    if i is not None:
        raise BadValue(what, i, column, float(values[i]), problem)


def _check_sorted_unique(time: np.ndarray, what: str, strict: bool = True) -> None:
    if time.size > 1:
        steps = np.diff(time)
        i = _first(steps <= 0 if strict else steps < 0)
        if i is not None:
            order = "after" if strict else "at or after"
            raise BadValue(what, i + 1, "time", format_ms(time[i + 1]),
                           f"does not come {order} the previous row's {format_ms(time[i])}")


def sampling_interval(time: np.ndarray) -> int:
    """The usual step between rows (the median step), or 0 (unknown) with fewer than two rows."""
    return int(np.median(np.diff(time))) if time.size > 1 else 0


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
        for name in ("open", "high", "low", "close"):
            check_values("candles", name, getattr(self, name), positive=True)
        i = _first(self.low > self.high)
        if i is not None:
            raise BadValue("candles", i, "low", float(self.low[i]), f"is above the bar's high ({float(self.high[i])!r})")
        # a minute without trades is a bar of zero volume; unknown volumes (mark price) are NaN
        check_values("candles", "volume", self.volume, nan_ok=True)
        check_values("candles", "taker_buy_volume", self.taker_buy_volume, nan_ok=True)

    @property
    def has_taker_volume(self) -> bool:
        return bool(self.time.size) and not np.isnan(self.taker_buy_volume).any()


@dataclass(frozen=True)
class OpenInterest(_Columns):
    """Open-interest snapshots: ``oi`` in base units at ``time`` (the snapshot moment).

    ``interval_ms`` is the venue's snapshot step (Binance metrics: 5 minutes);
    left out (0), it is the median step of the snapshots (still 0 with fewer
    than two: then the loader takes the venue's).
    """

    time: np.ndarray
    oi: np.ndarray
    oi_value: np.ndarray  # quote units; NaN where unknown
    interval_ms: int = 0

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        if not self.interval_ms:
            object.__setattr__(self, "interval_ms", sampling_interval(self.time))
        object.__setattr__(self, "oi", _as_array(self.oi, np.float64))
        object.__setattr__(self, "oi_value", _as_array(self.oi_value, np.float64))
        if not (self.oi.size == self.time.size == self.oi_value.size):
            raise DataError("open interest: columns have different lengths")
        _check_sorted_unique(self.time, "open interest")
        check_values("open interest", "oi", self.oi, positive=True)
        check_values("open interest", "oi_value", self.oi_value, positive=True, nan_ok=True)


@dataclass(frozen=True)
class Funding(_Columns):
    """Settled funding rates: ``rate`` is the fraction paid per ``interval_ms``.

    Binance's reader expresses every rate per 8 hours (its usual interval);
    left out (0), ``interval_ms`` is the median step between settlements
    (still 0 with fewer than two: then the loader takes the venue's).
    """

    time: np.ndarray
    rate: np.ndarray
    interval_ms: int = 0

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        if not self.interval_ms:
            object.__setattr__(self, "interval_ms", sampling_interval(self.time))
        object.__setattr__(self, "rate", _as_array(self.rate, np.float64))
        if self.rate.size != self.time.size:
            raise DataError("funding: columns have different lengths")
        _check_sorted_unique(self.time, "funding")
        check_values("funding", "rate", self.rate, bound=MAX_FUNDING_PER_8H, unit=" per 8 h")


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
        _check_sorted_unique(self.time, "trades", strict=False)
        check_values("trades", "price", self.price, positive=True)
        check_values("trades", "quantity", self.quantity, positive=True)


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
        check_values("liquidations", "long_usd", self.long_usd)
        check_values("liquidations", "short_usd", self.short_usd)


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
    exchange: str  # the venue: a name in liqmap.venues (its margin rule prices the levels)
    candles: Candles
    mark_candles: Candles | None = None
    open_interest: OpenInterest | None = None
    funding: Funding | None = None
    trades: Trades | None = None
    liquidations: Liquidations | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        for name in ("open_interest", "funding"):
            frame = getattr(self, name)
            if frame is not None and not frame.interval_ms:
                raise DataError(f"{self.symbol} {name.replace('_', ' ')}: the interval is unknown (fewer than two rows); give interval_ms")

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


@dataclass(frozen=True)
class LiquidationEvents(_Columns):
    """Single realized liquidations, as a venue's stream reports them (the recorder's ``forceOrders``).

    ``is_long`` True when a long position was liquidated; ``price`` is the
    fill price, ``size`` in base units, ``usd`` = price x size.  Times may
    repeat, so only order is checked.  Binance pushes at most one liquidation
    per symbol per second: totals from its events are lower bounds.
    """

    time: np.ndarray
    is_long: np.ndarray
    price: np.ndarray
    size: np.ndarray
    usd: np.ndarray
    venue: str = ""

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        object.__setattr__(self, "is_long", _as_array(self.is_long, np.bool_))
        for name in ("price", "size", "usd"):
            object.__setattr__(self, name, _as_array(getattr(self, name), np.float64))
        if not (self.is_long.size == self.price.size == self.size.size == self.usd.size == self.time.size):
            raise DataError("liquidation events: columns have different lengths")
        if self.time.size > 1 and (np.diff(self.time) < 0).any():
            raise DataError(f"liquidation events: time goes backwards at row {int(np.flatnonzero(np.diff(self.time) < 0)[0]) + 1}")


@dataclass(frozen=True)
class MarkPrices(_Columns):
    """Mark-price samples (Binance streams one a second): mark, index and the current funding rate."""

    time: np.ndarray
    mark: np.ndarray
    index: np.ndarray
    funding_rate: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "time", _as_array(self.time, np.int64))
        for name in ("mark", "index", "funding_rate"):
            object.__setattr__(self, name, _as_array(getattr(self, name), np.float64))
        if not (self.mark.size == self.index.size == self.funding_rate.size == self.time.size):
            raise DataError("mark prices: columns have different lengths")
        _check_sorted_unique(self.time, "mark prices")

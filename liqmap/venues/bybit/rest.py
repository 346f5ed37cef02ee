"""Bybit v5 public REST (linear USDT perpetuals): parsers (wire -> :mod:`liqmap.frames`) and a paced client.

Every answer is wrapped as ``{"retCode": 0, "retMsg": "OK", "result": {...}, "time": ms}``; lists come
newest first and every number is a string.  Real responses, for reference
(``tests/fixtures/frames/bybit``)::

    GET /v5/market/kline              result.list [["1786820400000","63027.8","63032.3","63027.7","63032.3",
                                      "4.591","289363.9178"], ...]   [start, open, high, low, close, volume, turnover]
    GET /v5/market/mark-price-kline   result.list [["1670608800000","17164.16","17164.16","17121.5","17131.64"]]
    GET /v5/market/open-interest      result.list [{"openInterest":"64992.05400000","timestamp":"1786820400000"}]
    GET /v5/market/funding/history    result.list [{"symbol":"BTCUSDT","fundingRate":"0.00004403",
                                      "fundingRateTimestamp":"1786809600000"}]
    GET /v5/market/risk-limit         result.list [{"riskLimitValue":"2000000","maintenanceMargin":"0.005",
                                      "initialMargin":"0.01","maxLeverage":"100.00","mmDeduction":""}, ...]

The client reuses the Binance client's pacing, retries and clock (:class:`~liqmap.venues.binance.rest.RestClient`)
and overrides the endpoints; the store backfill is the same function.  Parsers raise
:class:`~liqmap.frames.DataError` naming the endpoint, the row and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...frames import MS_PER_MINUTE, Candles, DataError, Funding, OpenInterest
from ...net import TransientError
from ...timeutil import parse_span
from ..binance.rest import RestClient, WeightBudget, funding_per_8h
from ..wire import as_number, as_timestamp, time_series
from ..wire import field as _field

DEFAULT_REST_URL = "https://api.bybit.com"
KLINE_PATH = "/v5/market/kline"
MARK_KLINE_PATH = "/v5/market/mark-price-kline"
OI_PATH = "/v5/market/open-interest"
FUNDING_PATH = "/v5/market/funding/history"
RISK_LIMIT_PATH = "/v5/market/risk-limit"
TICKERS_PATH = "/v5/market/tickers"
TIME_PATH = "/v5/market/time"
#: Rows per request: klines 1000, open interest and funding 200 (Bybit's maxima).
KLINE_LIMIT, OI_LIMIT, FUNDING_LIMIT = 1000, 200, 200
OI_PERIOD_MS = 5 * MS_PER_MINUTE  # intervalTime=5min
#: Bybit allows 600 requests per 5 seconds per IP; liqmap keeps to 10 a second.
REQUESTS_PER_MINUTE = 600
#: retCode of "too many visits" (answered with HTTP 200): waited out like an HTTP 429.
RATE_LIMIT_CODES = frozenset({10006, 10018})
#: Bybit's kline interval names for liqmap's spans.
INTERVALS = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120", "4h": "240",
             "6h": "360", "12h": "720", "1d": "D"}


# ---------------------------------------------------------------- parsers


def result_of(payload: Any, what: str) -> dict:
    """The ``result`` object of an answer whose ``retCode`` is 0 (else a named error)."""
    if not isinstance(payload, dict) or "retCode" not in payload:
        raise DataError(f"{what}: expected a Bybit answer {{retCode, retMsg, result}}, got {str(payload)[:80]}")
    code = payload["retCode"]
    if code != 0:
        message = f"{what}: retCode {code} ({payload.get('retMsg', '')})"
        if code in RATE_LIMIT_CODES:
            raise TransientError(message)
        raise DataError(message)
    result = payload.get("result")
    if not isinstance(result, dict):
        raise DataError(f"{what}: field 'result' is not an object")
    return result


def _list(payload: Any, what: str) -> list:
    rows = result_of(payload, what).get("list")
    if not isinstance(rows, list):
        raise DataError(f"{what}: field 'result.list' is not an array")
    return rows


def parse_klines(payload: Any, interval_ms: int, mark: bool = False, what: str = KLINE_PATH) -> Candles:
    """kline / mark-price-kline rows (newest first) -> :class:`Candles`, oldest first.

    Bybit's klines carry no taker-buy volume (NaN, as the model expects); mark
    klines carry no volume at all."""
    rows = _list(payload, what)
    width = 5 if mark else 6
    names = ("start", "open", "high", "low", "close", "volume")[:width]
    table: list[list[float]] = [[] for _ in range(width - 1)]
    times: list[int] = []
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        if not isinstance(row, list) or len(row) < width:
            raise DataError(f"{where}: expected a list of {width} or more fields, got {str(row)[:80]}")
        times.append(as_timestamp(row[0], f"{where}, field 0 (start)"))
        for k in range(1, width):
            table[k - 1].append(as_number(row[k], f"{where}, field {k} ({names[k]})"))
    order = np.argsort(np.array(times, np.int64), kind="stable")
    o, h, low, c = (np.array(col, np.float64)[order] for col in table[:4])
    n = len(times)
    volume = np.array(table[4], np.float64)[order] if not mark else np.full(n, np.nan)
    return Candles(time=np.array(times, np.int64)[order], open=o, high=h, low=low, close=c, volume=volume,
                   taker_buy_volume=np.full(n, np.nan), interval_ms=interval_ms,
                   price_kind="mark" if mark else "last")


def parse_open_interest(payload: Any, what: str = OI_PATH) -> OpenInterest:
    """open-interest rows (newest first; ``openInterest`` in base coin) -> :class:`OpenInterest`."""
    t, oi = time_series(_list(payload, what), what, "timestamp", "openInterest")
    order = np.argsort(np.array(t, np.int64), kind="stable")
    return OpenInterest(time=np.array(t, np.int64)[order], oi=np.array(oi, np.float64)[order],
                        oi_value=np.full(len(t), np.nan), interval_ms=OI_PERIOD_MS)


def parse_funding(payload: Any, what: str = FUNDING_PATH) -> Funding:
    """funding/history rows (newest first) -> :class:`Funding`, rates per 8 hours."""
    t, rate = time_series(_list(payload, what), what, "fundingRateTimestamp", "fundingRate")
    return funding_per_8h(t, rate)


def parse_ticker_open_interest(payload: Any, what: str = TICKERS_PATH) -> tuple[int, float]:
    """The current open interest from tickers -> ``(answer time ms, oi in base coin)``."""
    rows = _list(payload, what)
    if not rows or not isinstance(rows[0], dict):
        raise DataError(f"{what}: no ticker in the answer")
    when = as_timestamp(_field(payload, "time", what), f"{what}, field 'time'")
    return when, as_number(_field(rows[0], "openInterest", what), f"{what}, field 'openInterest'")


def parse_risk_limit(payload: Any, symbol: str, date: str, what: str = RISK_LIMIT_PATH) -> dict:
    """risk-limit tiers -> a bracket file (the JSON of ``docs/liqprice.md``, ``liqmap liqprice --brackets``).

    ``riskLimitValue`` is the tier's cap in USDT (a tier covers values up to and
    including it), ``maintenanceMargin`` and ``initialMargin`` are fractions and
    ``mmDeduction`` the tier's maintenance deduction (empty on the lowest tier: 0).
    """
    rows = [row for row in _list(payload, what) if isinstance(row, dict) and row.get("symbol", symbol) == symbol]
    if not rows:
        raise DataError(f"{what}: no risk-limit tier of {symbol} in the answer")
    tiers = []
    for i, row in enumerate(rows):
        where = f"{what} tier {i} of {symbol}"
        deduction = _field(row, "mmDeduction", where)
        tiers.append({
            "cap": as_number(_field(row, "riskLimitValue", where), f"{where}, field 'riskLimitValue'"),
            "max_leverage": as_number(_field(row, "maxLeverage", where), f"{where}, field 'maxLeverage'"),
            "mmr": as_number(_field(row, "maintenanceMargin", where), f"{where}, field 'maintenanceMargin'"),
            "maintenance_amount": 0.0 if deduction == "" else as_number(deduction, f"{where}, field 'mmDeduction'"),
        })
    tiers.sort(key=lambda tier: tier["cap"])
    return {"exchange": "bybit", "symbol": symbol, "date": date, "size_unit": "quote", "tiers": tiers,
            "source": f"Bybit GET {RISK_LIMIT_PATH}?category=linear&symbol={symbol} on {date}"}


def bybit_interval(interval: str) -> str:
    """liqmap's ``1m`` -> Bybit's ``1`` (a named error for intervals Bybit has not got)."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(f"interval {interval!r}: Bybit serves {', '.join(INTERVALS)}") from None


# ---------------------------------------------------------------- client


@dataclass
class BybitClient(RestClient):
    """GETs against Bybit's v5 host (``category=linear``), paced, retried, with Bybit's endpoints.

    Newest-first lists are read backwards from the end of the span (see :func:`fill_span`)."""

    venue: ClassVar[str] = "bybit"
    oi_history_ms: ClassVar[int | None] = None  # Bybit serves open interest back to the listing

    base_url: str = DEFAULT_REST_URL
    budget: WeightBudget = field(default_factory=lambda: WeightBudget(REQUESTS_PER_MINUTE))

    def result(self, path: str, params: dict, retries: int | None = None) -> Any:
        """The answer of ``path`` checked by :func:`result_of` (a rate-limit retCode is retried)."""
        return self.get(path, {"category": "linear", **params}, retries)

    def check(self, path: str, body: Any) -> Any:
        """Bybit answers "too many visits" with HTTP 200 and a retCode: counted and retried like a 429."""
        result_of(body, f"GET {path}")
        return body

    def server_time(self) -> int:
        answer = self.get(TIME_PATH)
        result_of(answer, f"GET {TIME_PATH}")
        return as_timestamp(_field(answer, "time", f"GET {TIME_PATH}"), f"GET {TIME_PATH}, field 'time'")

    def klines(self, symbol: str, start_ms: int, end_ms: int, interval: str = "1m", mark: bool = False) -> Candles:
        step = parse_span(interval, "interval")
        path = MARK_KLINE_PATH if mark else KLINE_PATH
        code = bybit_interval(interval)

        def page(lo: int, hi: int) -> Candles:
            return parse_klines(self.result(path, {"symbol": symbol, "interval": code, "start": lo, "end": hi,
                                                   "limit": KLINE_LIMIT}), step, mark, f"GET {path}")

        return fill_span(page, start_ms, end_ms, step, parse_klines({"retCode": 0, "result": {"list": []}},
                                                                    step, mark))

    def open_interest_hist(self, symbol: str, start_ms: int, end_ms: int) -> OpenInterest:
        def page(lo: int, hi: int) -> OpenInterest:
            return parse_open_interest(self.result(OI_PATH, {"symbol": symbol, "intervalTime": "5min",
                                                             "startTime": lo, "endTime": hi, "limit": OI_LIMIT}),
                                       f"GET {OI_PATH}")

        return fill_span(page, start_ms, end_ms, OI_PERIOD_MS, parse_open_interest({"retCode": 0,
                                                                                     "result": {"list": []}}))

    def open_interest(self, symbol: str, retries: int | None = None) -> tuple[int, float]:
        return parse_ticker_open_interest(self.result(TICKERS_PATH, {"symbol": symbol}, retries), f"GET {TICKERS_PATH}")

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Funding:
        def page(lo: int, hi: int) -> Funding:
            return parse_funding(self.result(FUNDING_PATH, {"symbol": symbol, "startTime": lo, "endTime": hi,
                                                            "limit": FUNDING_LIMIT}), f"GET {FUNDING_PATH}")

        return fill_span(page, start_ms, end_ms, 1, parse_funding({"retCode": 0, "result": {"list": []}}))

    def tiers(self, symbol: str, date: str) -> dict:
        """The symbol's risk-limit tiers today, as a bracket file (see :func:`parse_risk_limit`)."""
        return parse_risk_limit(self.result(RISK_LIMIT_PATH, {"symbol": symbol}), symbol, date,
                                f"GET {RISK_LIMIT_PATH}")


def fill_span(page: Callable[[int, int], Any], start_ms: int, end_ms: int, step: int, empty):
    """Every row of ``[start_ms, end_ms)`` from ``page(lo, hi)`` (bounds inclusive, at most a page of rows).

    A page holding the newest rows of the span moves the end back below its
    oldest row; one holding the oldest moves the start past its newest, so
    either way the server answers, the span is covered without a hole."""
    from ...sources.tables import concat_frames

    parts, lo, hi = [], start_ms, end_ms - 1
    while lo <= hi:
        part = page(lo, hi).slice_time(lo, hi + 1)
        if not len(part):
            break
        parts.append(part)
        first, last = int(part.time[0]), int(part.time[-1])
        if first > lo:
            hi = first - 1
        elif last + step <= hi:
            lo = last + step
        else:
            break
    if not parts:
        return empty
    parts.sort(key=lambda p: int(p.time[0]))
    return concat_frames(parts)


"""Binance USDⓈ-M public REST: parsers (wire -> :mod:`liqmap.frames`), a paced client, and the backfill.

Real responses, for reference (``tests/fixtures/frames/binance``)::

    GET /fapi/v1/klines              [[1786816800000,"63043.40","63083.00","63011.60","63026.30","1116.068",
                                       1786820399999,"70342488.01700",16911,"460.737","29038581.72240","0"], ...]
    GET /fapi/v1/markPriceKlines     same rows; the volume columns are "0"
    GET /futures/data/openInterestHist  [{"symbol":"BTCUSDT","sumOpenInterest":"111856.664",
                                       "sumOpenInterestValue":"7051831069.12","timestamp":1786816800000}, ...]
    GET /fapi/v1/openInterest        {"symbol":"BTCUSDT","openInterest":"70056.543","time":1723425441998}
    GET /fapi/v1/fundingRate         [{"symbol":"BTCUSDT","fundingTime":1786780800002,"fundingRate":"0.00006523",...}]
    GET /fapi/v1/aggTrades           [{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,
                                       "T":1498793709153,"m":true}, ...]

Parsers raise :class:`~liqmap.frames.DataError` naming the endpoint, the row and the field.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError, Funding, OpenInterest, format_ms
from ...live.events import Trade
from ..wire import as_number, as_object, as_timestamp, time_series
from ...net import TransientError, raise_for_transient, retry_after_seconds, with_retries
from ...sources.cache import CANDLES, FUNDING, MARK_CANDLES, OPEN_INTEREST, Store, period_bounds
from ...timeutil import parse_span
from .stream import parse_agg_trade

DEFAULT_REST_URL = "https://fapi.binance.com"
KLINES_PATH = "/fapi/v1/klines"
MARK_KLINES_PATH = "/fapi/v1/markPriceKlines"
OI_HIST_PATH = "/futures/data/openInterestHist"
OI_PATH = "/fapi/v1/openInterest"
FUNDING_PATH = "/fapi/v1/fundingRate"
TIME_PATH = "/fapi/v1/time"
AGG_TRADES_PATH = "/fapi/v1/aggTrades"
#: openInterestHist serves only its latest 30 days.
OI_HISTORY_MS = 30 * MS_PER_DAY
OI_PERIOD_MS = 5 * MS_PER_MINUTE  # the period=5m asked for: Binance's metrics step
#: Rows per request (klines at 1000 rows weigh 5; openInterestHist caps at 500; fundingRate at 1000).
KLINES_LIMIT, OI_LIMIT, FUNDING_LIMIT, AGG_TRADES_LIMIT = 1000, 500, 1000, 1000
#: Request weight per call, from Binance's published table.
WEIGHTS = {KLINES_PATH: 5, MARK_KLINES_PATH: 5, OI_HIST_PATH: 1, OI_PATH: 1, FUNDING_PATH: 1, TIME_PATH: 1,
           AGG_TRADES_PATH: 20}
#: Binance allows 2400 weight per minute per IP; liqmap keeps to half of it.
DEFAULT_WEIGHT_PER_MINUTE = 1200


# ---------------------------------------------------------------- parsers


def _rows(payload: Any, what: str) -> list:
    if not isinstance(payload, list):
        raise DataError(f"{what}: expected a JSON array, got {type(payload).__name__}: {str(payload)[:80]}")
    return payload


def parse_klines(payload: Any, price_kind: str = "last", what: str = KLINES_PATH,
                 interval_ms: int = MS_PER_MINUTE) -> Candles:
    """Kline rows -> :class:`Candles` (mark klines carry no volume: NaN there, as for Vision files).

    ``interval_ms`` is used only when there are no rows to read it from."""
    rows = _rows(payload, what)
    columns: list[list[float]] = [[] for _ in range(6)]  # open, high, low, close, volume, taker buy volume
    times: list[int] = []
    interval = None
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        if not isinstance(row, list) or len(row) < 10:
            raise DataError(f"{where}: expected a list of 12 fields, got {str(row)[:80]}")
        t = as_timestamp(row[0], f"{where}, field 0 (open time)")
        span = as_timestamp(row[6], f"{where}, field 6 (close time)") - t + 1
        if interval is None:
            interval = span
        elif span != interval:
            raise DataError(f"{where}: a bar of {span} ms among bars of {interval} ms")
        times.append(t)
        for out, (k, name) in zip(columns, _KLINE_FIELDS):
            out.append(as_number(row[k], f"{where}, field {k} ({name})"))
    o, h, low, c, vol, taker = (np.array(col, np.float64) for col in columns)
    if price_kind == "mark":
        vol = taker = np.full(len(times), np.nan)
    return Candles(time=np.array(times, np.int64), open=o, high=h, low=low, close=c, volume=vol,
                   taker_buy_volume=taker, interval_ms=interval or interval_ms, price_kind=price_kind)


_KLINE_FIELDS = ((1, "open"), (2, "high"), (3, "low"), (4, "close"), (5, "volume"), (9, "taker buy volume"))


def parse_open_interest_hist(payload: Any, what: str = OI_HIST_PATH) -> OpenInterest:
    """openInterestHist rows -> :class:`OpenInterest` (``oi`` = sumOpenInterest in base units)."""
    rows = _rows(payload, what)
    t, oi, value = [], [], []
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        as_object(row, where)
        try:
            t.append(as_timestamp(row["timestamp"], f"{where}, field 'timestamp'"))
            oi.append(as_number(row["sumOpenInterest"], f"{where}, field 'sumOpenInterest'"))
            value.append(as_number(row.get("sumOpenInterestValue", "nan"), f"{where}, field 'sumOpenInterestValue'")
                         if "sumOpenInterestValue" in row else math.nan)
        except KeyError as exc:
            raise DataError(f"{where}: field {exc.args[0]!r} is missing") from None
    order = np.argsort(t, kind="stable")
    return OpenInterest(time=np.array(t, np.int64)[order], oi=np.array(oi)[order], oi_value=np.array(value)[order],
                        interval_ms=OI_PERIOD_MS)


def parse_open_interest(payload: Any, what: str = OI_PATH) -> tuple[int, float]:
    """The current open interest -> ``(time_ms, oi in base units)``."""
    as_object(payload, what)
    try:
        return (as_timestamp(payload["time"], f"{what}, field 'time'"),
                as_number(payload["openInterest"], f"{what}, field 'openInterest'"))
    except KeyError as exc:
        raise DataError(f"{what}: field {exc.args[0]!r} is missing") from None


def parse_funding(payload: Any, what: str = FUNDING_PATH) -> Funding:
    """fundingRate rows -> :class:`Funding`, rates per 8 hours (as the Vision reader gives them).

    The response does not say the funding interval; it is read off the spacing
    of the rows (Binance settles every 8 h, some symbols every 4 h or 1 h).
    """
    t, rate = time_series(_rows(payload, what), what, "fundingTime", "fundingRate")
    return funding_per_8h(t, rate)


def funding_per_8h(times_ms: list[int], rates: list[float]) -> Funding:
    """Settled rates sorted by time and expressed per 8 hours, the interval read off the rows' spacing
    (venues settle every 8 h, some symbols every 4 h or 1 h, and responses do not say which)."""
    order = np.argsort(np.array(times_ms, np.int64), kind="stable")
    times = np.array(times_ms, np.int64)[order]
    rate = np.array(rates, np.float64)[order]
    hours = np.full(times.size, 8.0)
    if times.size > 1:
        spacing = np.maximum(np.rint(np.diff(times) / MS_PER_HOUR), 1.0)
        hours[1:] = spacing
        hours[0] = spacing[0]
    return Funding(time=times, rate=rate * 8.0 / hours, interval_ms=8 * MS_PER_HOUR)


def parse_agg_trades(payload: Any, what: str = AGG_TRADES_PATH) -> list[Trade]:
    """aggTrades rows -> live :class:`~liqmap.live.events.Trade` values (the stream's fields without its
    ``e, E, s``: one parser for both)."""
    trades = []
    for i, row in enumerate(_rows(payload, what)):
        trades.append(parse_agg_trade(as_object(row, f"{what} row {i}"), f"{what} row {i}"))
    return trades


def parse_server_time(payload: Any, what: str = TIME_PATH) -> int:
    if not isinstance(payload, dict) or "serverTime" not in payload:
        raise DataError(f"{what}: expected {{'serverTime': ms}}, got {str(payload)[:80]}")
    return as_timestamp(payload["serverTime"], f"{what}, field 'serverTime'")


# ---------------------------------------------------------------- client


class WeightBudget:
    """Request weight spent per rolling minute, kept under a ceiling by waiting (thread-safe)."""

    def __init__(self, per_minute: int = DEFAULT_WEIGHT_PER_MINUTE, clock=time.monotonic, sleep=time.sleep):
        self.per_minute, self.clock, self.sleep = per_minute, clock, sleep
        self._spent: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def take(self, weight: int) -> None:
        while True:
            with self._lock:
                now = self.clock()
                self._spent = [(t, w) for t, w in self._spent if now - t < 60.0]
                if sum(w for _, w in self._spent) + weight <= self.per_minute or not self._spent:
                    self._spent.append((now, weight))
                    return
                wait = 60.0 - (now - self._spent[0][0])
            self.sleep(max(wait, 0.01))


@dataclass
class RestClient:
    """GETs against the USDⓈ-M REST host, retried (liqmap.net) and paced by request weight.

    ``rate_limited`` counts the 429/418 answers met (each waited out as the
    server's ``Retry-After`` says); ``skew_ms`` is server time minus local
    time, measured by :meth:`measure_skew`.
    """

    #: the venue (store origin, notes), how far back its open-interest history reaches (None: all of it;
    #: 0: it has none) and whether it serves mark-price klines
    venue: ClassVar[str] = "binance"
    oi_history_ms: ClassVar[int | None] = OI_HISTORY_MS
    mark_klines: ClassVar[bool] = True

    base_url: str = DEFAULT_REST_URL
    timeout_s: float = 10.0
    retries: int = 4
    budget: WeightBudget = field(default_factory=WeightBudget)
    sleep: Callable[[float], None] = time.sleep
    rate_limited: int = 0
    skew_ms: int | None = None
    #: told ``(path, status, Retry-After seconds or None)`` on each 429/418 (the live health line shows it)
    on_rate_limit: Callable[[str, int, float | None], None] | None = None
    #: the server's clock (ms) from the HTTP Date header of the last answer (1-second resolution), if sent
    last_date_ms: int | None = None

    def __post_init__(self):
        import httpx

        self._http = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout_s,
                                  headers={"User-Agent": "liqmap"})

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict | None = None, retries: int | None = None) -> Any:
        return self.request("GET", path, params=params, weight=WEIGHTS.get(path, 1), retries=retries)

    def request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                weight: int = 1, retries: int | None = None, what: str = "") -> Any:
        """One paced, retried request; ``what`` names it in errors beside the method and URL."""
        label = f"{method} {self.base_url}{path}" + (f" {what}" if what else "")

        def call():
            self.budget.take(weight)
            response = self._http.request(method, path, params=params, json=body)
            if response.status_code in (418, 429):
                self._note_rate_limit(path, response.status_code, retry_after_seconds(response))
            raise_for_transient(response, "")
            if response.status_code != 200:
                raise DataError(f"{label}: HTTP {response.status_code}: {response.text[:200]}")
            self.last_date_ms = _date_ms(response.headers.get("Date"))
            try:
                decoded = response.json()
            except ValueError:
                raise DataError(f"{method} {path}{' ' + what if what else ''}: the body is not JSON: "
                                f"{response.text[:80]!r}") from None
            try:
                return self.check(path, decoded)
            except TransientError:  # a venue's "too many requests" sent with HTTP 200
                self._note_rate_limit(path, 200, None)
                raise

        return with_retries(call, what=label, retries=self.retries if retries is None else retries, sleep=self.sleep)

    def check(self, path: str, body: Any) -> Any:
        """A venue's own check of a decoded answer (raise TransientError to have it counted as a
        rate limit and retried)."""
        return body

    def _note_rate_limit(self, path: str, status: int, retry_after_s: float | None) -> None:
        self.rate_limited += 1
        if self.on_rate_limit is not None:
            self.on_rate_limit(path, status, retry_after_s)

    def measure_skew(self) -> int:
        """Server time minus local time (ms), from the midpoint of one round trip."""
        before = time.time() * 1000
        server = self.server_time()
        after = time.time() * 1000
        self.skew_ms = int(round(server - (before + after) / 2))
        return self.skew_ms

    def server_time(self) -> int:
        """The exchange's clock (ms), as its time endpoint answers it."""
        return parse_server_time(self.get(TIME_PATH))

    def server_now(self) -> int:
        """The exchange's clock now (ms): local time corrected by the measured skew."""
        if self.skew_ms is None:
            self.measure_skew()
        return int(time.time() * 1000) + int(self.skew_ms or 0)

    def klines(self, symbol: str, start_ms: int, end_ms: int, interval: str = "1m", mark: bool = False) -> Candles:
        """Bars opening in ``[start_ms, end_ms)``, paginated."""
        path = MARK_KLINES_PATH if mark else KLINES_PATH
        step = parse_span(interval, "interval")
        parts, cursor = [], start_ms
        while cursor < end_ms:
            rows = self.get(path, {"symbol": symbol, "interval": interval, "startTime": cursor,
                                   "endTime": end_ms - 1, "limit": KLINES_LIMIT})
            part = parse_klines(rows, "mark" if mark else "last", f"GET {path}")
            if not len(part):
                break
            parts.append(part)
            cursor = int(part.time[-1]) + step
        return _join(parts, parse_klines([], "mark" if mark else "last", path, interval_ms=step))

    def open_interest_hist(self, symbol: str, start_ms: int, end_ms: int) -> OpenInterest:
        """5-minute snapshots in ``[start_ms, end_ms)``, paginated."""
        parts, cursor = [], start_ms
        while cursor < end_ms:
            rows = self.get(OI_HIST_PATH, {"symbol": symbol, "period": "5m", "startTime": cursor,
                                           "endTime": end_ms - 1, "limit": OI_LIMIT})
            part = parse_open_interest_hist(rows, f"GET {OI_HIST_PATH}").slice_time(cursor, end_ms)
            if not len(part):
                break
            parts.append(part)
            cursor = int(part.time[-1]) + 1
        return _join(parts, parse_open_interest_hist([]))

    def open_interest(self, symbol: str, retries: int | None = None) -> tuple[int, float]:
        """The current open interest (a live poll passes ``retries=0``: the next poll is its retry)."""
        return parse_open_interest(self.get(OI_PATH, {"symbol": symbol}, retries), f"GET {OI_PATH}")

    def agg_trades(self, symbol: str, first_id: int, last_id: int) -> list[Trade]:
        """The aggregate trades with ids ``first_id .. last_id`` (inclusive), paginated by ``fromId``
        (weight 20 per 1000 trades): what a jump in the stream's trade ids missed."""
        trades: list[Trade] = []
        cursor = first_id
        while cursor <= last_id:
            rows = self.get(AGG_TRADES_PATH, {"symbol": symbol, "fromId": cursor, "limit": AGG_TRADES_LIMIT})
            page = [t for t in parse_agg_trades(rows, f"GET {AGG_TRADES_PATH}") if cursor <= t.trade_id <= last_id]
            if not page:
                break
            trades.extend(page)
            cursor = page[-1].trade_id + 1
        return trades

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Funding:
        parts, cursor = [], start_ms
        while cursor < end_ms:
            rows = self.get(FUNDING_PATH, {"symbol": symbol, "startTime": cursor, "endTime": end_ms - 1,
                                           "limit": FUNDING_LIMIT})
            part = parse_funding(rows, f"GET {FUNDING_PATH}").slice_time(cursor, end_ms)
            if not len(part):
                break
            parts.append(part)
            cursor = int(part.time[-1]) + 1
        return _join(parts, parse_funding([]))


def _date_ms(header: str | None) -> int | None:
    """An HTTP Date header as epoch ms (None when absent or unreadable)."""
    from email.utils import parsedate_to_datetime

    if not header:
        return None
    try:
        return int(parsedate_to_datetime(header).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def _join(parts: list, empty):
    from ...sources.tables import concat_frames

    return concat_frames(parts) if parts else empty


# ---------------------------------------------------------------- backfill into the store

@dataclass
class BackfillReport:
    """What a backfill did: periods written, periods already complete, and notes for the user."""

    written: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tiers_file: Path | None = None  # the venue's margin tiers of today, where its client serves them


def day_periods(start_ms: int, end_ms: int) -> list[str]:
    """UTC days ``YYYY-MM-DD`` meeting ``[start_ms, end_ms)``."""
    first = start_ms // MS_PER_DAY * MS_PER_DAY
    return [_day(t) for t in range(first, end_ms, MS_PER_DAY)]


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def _is_complete(store: Store, symbol: str, kind: str, period: str) -> bool:
    import pyarrow.parquet as pq

    from ...sources.tables import frame_meta

    path = store.path(symbol, kind, period)
    if not path.exists():
        return False
    return bool(frame_meta(pq.read_schema(path).metadata)["extra"].get("complete"))


def backfill(
    client: RestClient,
    store: Store,
    symbol: str,
    start_ms: int,
    end_ms: int,
    interval: str = "1m",
    progress: Callable[[str, int, int], None] | None = None,
) -> BackfillReport:
    """Fetch ``[start_ms, end_ms)`` of klines, mark klines, open interest and funding into ``store``.

    One Parquet file per UTC day and kind (the Vision layout, so every
    command reads it with ``--source cache``).  A day wholly before
    ``end_ms`` is marked complete and never fetched again (so an interrupted
    backfill resumes where it stopped); the last, partial day is fetched
    again next time.  ``progress(kind, done, total)`` is called per period.
    """
    report = BackfillReport()
    days = day_periods(start_ms, end_ms)
    reach = client.oi_history_ms
    oi_first = start_ms if reach is None else max(start_ms, end_ms - reach + OI_PERIOD_MS)
    if reach == 0:
        report.notes.append(
            f"open interest: {client.venue} publishes no open-interest history; the book's open interest before "
            "this session is what the cache already holds (earlier recordings, imported exports)")
    elif reach is not None and oi_first > start_ms:
        report.notes.append(
            f"open interest: {client.venue} serves only the latest {reach // MS_PER_DAY} days of 5-minute "
            f"history; before {format_ms(oi_first)} there is none, so no openings are placed there"
            + (" (import Vision metrics files for older open interest)" if client.venue == "binance" else ""))
    fetchers: dict[str, Callable[[int, int], Any]] = {f"{CANDLES}-{interval}": lambda a, b: client.klines(symbol, a, b,
                                                                                                      interval)}
    if client.mark_klines:
        fetchers[f"{MARK_CANDLES}-{interval}"] = lambda a, b: client.klines(symbol, a, b, interval, mark=True)
    if reach != 0:
        fetchers[OPEN_INTEREST] = lambda a, b: client.open_interest_hist(symbol, max(a, oi_first), b)
    total = len(days) * len(fetchers) + 1
    done = 0
    for kind, fetch in fetchers.items():
        for day in days:
            lo, hi = period_bounds(day)
            if kind == OPEN_INTEREST and hi <= oi_first:
                done += 1
                continue
            if _is_complete(store, symbol, kind, day):
                report.skipped.append((kind, day))
            else:
                frame = fetch(max(lo, start_ms), min(hi, end_ms))
                if len(frame):
                    complete = hi <= end_ms and lo >= start_ms
                    store.write(symbol, kind, day, frame, {"origin": f"{client.venue} REST {client.base_url}",
                                                           "complete": complete})
                    report.written.append((kind, day))
            done += 1
            if progress:
                progress(kind, done, total)
    funding = client.funding(symbol, start_ms, end_ms)
    _write_months(store, symbol, funding, f"{client.venue} REST {client.base_url}", end_ms, report)
    if hasattr(client, "tiers"):
        _save_tiers(client, store, symbol, end_ms, report)
    if progress:
        progress(FUNDING, total, total)
    return report


def _save_tiers(client, store: Store, symbol: str, end_ms: int, report: BackfillReport) -> None:
    """The venue's margin tiers of today as a bracket file beside the data (``<store>/tiers/``), checked as
    any bracket file is; a venue that cannot serve them leaves a note, not a failed backfill."""
    import json

    from ...model.margin import parse_bracket_table
    from ...net import TransientError

    day = _day(end_ms)
    path = store.folder / "tiers" / f"{symbol}_{day}.json"
    try:
        table = client.tiers(symbol, day)
        parse_bracket_table(table, str(path))
    except (DataError, TransientError, ValueError) as exc:
        report.notes.append(f"margin tiers: not fetched ({exc}); the shipped ones apply")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    report.tiers_file = path
    report.notes.append(f"margin tiers of {day} are in {path}; maps use them with --param brackets={path}")


def _write_months(store: Store, symbol: str, funding: Funding, origin: str, end_ms: int,
                  report: BackfillReport) -> None:
    """Funding goes into monthly periods, as Vision publishes it (a month already held is merged)."""
    from ...sources.tables import concat_frames

    months = sorted({_day(int(t))[:7] for t in funding.time})
    for month in months:
        lo, hi = period_bounds(month)
        part = funding.slice_time(lo, hi)
        held = store.read(symbol, FUNDING, lo, hi) if store.has(symbol, FUNDING, month) else None
        if held is not None and len(held):
            older = held.slice_time(None, int(part.time[0]))
            part = concat_frames([older, part]) if len(older) else part
        store.write(symbol, FUNDING, month, part, {"origin": origin, "complete": hi <= end_ms})
        report.written.append((FUNDING, month))


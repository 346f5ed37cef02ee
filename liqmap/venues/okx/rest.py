"""OKX v5 public REST (USDT-margined swaps): symbols, parsers (wire -> :mod:`liqmap.frames`) and a paced client.

liqmap names a swap as Binance does (``BTCUSDT``); OKX's instrument is ``BTC-USDT-SWAP``.  Sizes come in
contracts of ``ctVal`` base units (``/api/v5/public/instruments``: BTC 0.01, ETH 0.1, SOL 1, DOGE 1000) and
are turned into base units here.  Every answer is ``{"code": "0", "msg": "", "data": [...]}``, rows newest
first, numbers as strings.  Real responses, for reference (``tests/fixtures/frames/okx``)::

    GET /api/v5/market/history-candles   data [["1786820400000","63028","63032.2","63028","63032.2","861.8",
                                          "8.618","543180.43308","0"], ...]  [ts, o, h, l, c, vol (contracts),
                                          volCcy (base), volCcyQuote, confirm]
    GET /api/v5/market/history-mark-price-candles   [ts, o, h, l, c, confirm]
    GET /api/v5/rubik/stat/contracts/open-interest-history   [[ts, oi (contracts), oiCcy, oiUsd], ...]
    GET /api/v5/public/funding-rate-history   [{"fundingRate":"0.0000647375951599","fundingTime":"1786809600000",
                                          "instId":"BTC-USDT-SWAP"}, ...]
    GET /api/v5/public/open-interest     [{"instId":"BTC-USDT-SWAP","oi":"3384273.06","ts":"1786820650933"}]
    GET /api/v5/public/position-tiers    [{"tier":"1","minSz":"0","maxSz":"...","mmr":"0.004","imr":"0.008",
                                          "maxLever":"125"}, ...]  (sizes in contracts)

The client reuses the Binance client's pacing, retries and clock and Bybit's span filler; the store
backfill is the same function.  Parsers raise :class:`~liqmap.frames.DataError` naming the endpoint,
the row and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...frames import MS_PER_DAY, MS_PER_MINUTE, Candles, DataError, Funding, OpenInterest
from ...net import TransientError
from ...timeutil import parse_span
from ..base import VenueError
from ..binance.rest import RestClient, WeightBudget, funding_per_8h
from ..wire import as_number, as_object, as_timestamp, time_series
from ..wire import field as _field
from ..bybit.rest import fill_span

DEFAULT_REST_URL = "https://www.okx.com"
CANDLES_PATH = "/api/v5/market/history-candles"
MARK_CANDLES_PATH = "/api/v5/market/history-mark-price-candles"
OI_HIST_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
OI_PATH = "/api/v5/public/open-interest"
FUNDING_PATH = "/api/v5/public/funding-rate-history"
TIERS_PATH = "/api/v5/public/position-tiers"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
TIME_PATH = "/api/v5/public/time"
#: Rows per request (the history endpoints' maxima).
CANDLES_LIMIT, OI_LIMIT, FUNDING_LIMIT = 100, 100, 100
OI_PERIOD_MS = 5 * MS_PER_MINUTE  # period=5m
#: The open-interest history serves its latest 1,440 rows: five days at 5 minutes.
OI_HISTORY_MS = 5 * MS_PER_DAY
#: OKX allows 10 to 40 requests per 2 seconds per endpoint (the history mark candles 10); liqmap keeps to 4 a second.
REQUESTS_PER_MINUTE = 240
#: ``code`` of "too many requests" (OKX sends it with HTTP 429, sometimes with 200): retried.
RATE_LIMIT_CODES = frozenset({"50011", "50061"})
#: OKX's taker fee for regular (Lv1) users on swaps, what the shipped tier files state too.
TAKER_FEE = 0.0005
#: ``ctVal`` of each swap liqmap knows (GET /api/v5/public/instruments?instType=SWAP), base units a contract.
CONTRACT_VALUES = {"BTCUSDT": 0.01, "ETHUSDT": 0.1, "SOLUSDT": 1.0, "DOGEUSDT": 1000.0, "ARBUSDT": 10.0}
BARS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
        "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc"}


def inst_id(symbol: str) -> str:
    """liqmap's ``BTCUSDT`` -> OKX's ``BTC-USDT-SWAP``."""
    symbol = symbol.upper()
    if not symbol.endswith("USDT") or len(symbol) <= 4:
        raise VenueError(f"okx: {symbol!r} is not a USDT swap like BTCUSDT; known: {', '.join(sorted(CONTRACT_VALUES))}")
    return f"{symbol[:-4]}-USDT-SWAP"


def okx_bar(interval: str) -> str:
    try:
        return BARS[interval]
    except KeyError:
        raise ValueError(f"interval {interval!r}: OKX serves {', '.join(BARS)}") from None


# ---------------------------------------------------------------- parsers


def data_of(payload: Any, what: str) -> list:
    """The ``data`` array of an answer whose ``code`` is "0" (else a named error; a rate limit is retried)."""
    if not isinstance(payload, dict) or "code" not in payload:
        raise DataError(f"{what}: expected an OKX answer {{code, msg, data}}, got {str(payload)[:80]}")
    code = str(payload["code"])
    if code != "0":
        message = f"{what}: code {code} ({payload.get('msg', '')})"
        if code in RATE_LIMIT_CODES:
            raise TransientError(message)
        raise DataError(message)
    rows = payload.get("data")
    if not isinstance(rows, list):
        raise DataError(f"{what}: field 'data' is not an array")
    return rows


def parse_candles(payload: Any, ct_val: float, interval_ms: int, mark: bool = False,
                  what: str = CANDLES_PATH) -> Candles:
    """Candle rows (newest first) -> :class:`Candles` oldest first; volume = contracts x ``ctVal``.

    A bar still forming (``confirm`` "0") is left out: it is not history yet."""
    rows = data_of(payload, what)
    width = 6 if mark else 9
    times: list[int] = []
    cols: list[list[float]] = [[] for _ in range(5)]
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        if not isinstance(row, list) or len(row) < width:
            raise DataError(f"{where}: expected a list of {width} fields, got {str(row)[:80]}")
        if str(row[width - 1]) == "0":
            continue
        times.append(as_timestamp(row[0], f"{where}, field 0 (ts)"))
        for k, name in enumerate(("o", "h", "l", "c")):
            cols[k].append(as_number(row[k + 1], f"{where}, field {k + 1} ({name})"))
        cols[4].append(np.nan if mark else as_number(row[5], f"{where}, field 5 (vol, contracts)") * ct_val)
    order = np.argsort(np.array(times, np.int64), kind="stable")
    o, h, low, c, volume = (np.array(col, np.float64)[order] for col in cols)
    return Candles(time=np.array(times, np.int64)[order], open=o, high=h, low=low, close=c, volume=volume,
                   taker_buy_volume=np.full(len(times), np.nan), interval_ms=interval_ms,
                   price_kind="mark" if mark else "last")


def parse_open_interest_history(payload: Any, ct_val: float, what: str = OI_HIST_PATH) -> OpenInterest:
    """[ts, oi (contracts), oiCcy, oiUsd] rows -> :class:`OpenInterest` in base units (oi x ``ctVal``)."""
    rows = data_of(payload, what)
    t, oi, usd = [], [], []
    for i, row in enumerate(rows):
        where = f"{what} row {i}"
        if not isinstance(row, list) or len(row) < 2:
            raise DataError(f"{where}: expected [ts, oi, oiCcy, oiUsd], got {str(row)[:80]}")
        t.append(as_timestamp(row[0], f"{where}, field 0 (ts)"))
        oi.append(as_number(row[1], f"{where}, field 1 (oi, contracts)") * ct_val)
        usd.append(as_number(row[3], f"{where}, field 3 (oiUsd)") if len(row) > 3 else np.nan)
    order = np.argsort(np.array(t, np.int64), kind="stable")
    return OpenInterest(time=np.array(t, np.int64)[order], oi=np.array(oi, np.float64)[order],
                        oi_value=np.array(usd, np.float64)[order], interval_ms=OI_PERIOD_MS)


def parse_open_interest(payload: Any, ct_val: float, what: str = OI_PATH) -> tuple[int, float]:
    """The current open interest -> ``(ts, base units)``."""
    rows = data_of(payload, what)
    if not rows or not isinstance(rows[0], dict):
        raise DataError(f"{what}: no open interest in the answer")
    row = rows[0]
    return (as_timestamp(_field(row, "ts", what), f"{what}, field 'ts'"),
            as_number(_field(row, "oi", what), f"{what}, field 'oi'") * ct_val)


def parse_funding(payload: Any, what: str = FUNDING_PATH) -> Funding:
    """funding-rate-history rows -> :class:`Funding`, rates per 8 hours."""
    t, rate = time_series(data_of(payload, what), what, "fundingTime", "fundingRate")
    return funding_per_8h(t, rate)


def parse_contract_value(payload: Any, instrument: str, what: str = INSTRUMENTS_PATH) -> float:
    """``ctVal`` of ``instrument`` (base units per contract); missing or not positive is a named error."""
    for row in data_of(payload, what):
        if isinstance(row, dict) and row.get("instId") == instrument:
            if row.get("ctVal") in (None, ""):
                raise DataError(f"{what}: {instrument} has no contract size (field 'ctVal' is missing)")
            value = as_number(row["ctVal"], f"{what}, {instrument} field 'ctVal'")
            if value <= 0:
                raise DataError(f"{what}: {instrument} field 'ctVal' is {value!r}, not a positive size")
            return value
    raise DataError(f"{what}: {instrument} is not in the answer")


def parse_position_tiers(payload: Any, symbol: str, ct_val: float, date: str, what: str = TIERS_PATH) -> dict:
    """position-tiers -> a bracket file (``docs/liqprice.md``): ``maxSz`` in contracts is each tier's cap
    (a tier covers sizes up to and including it), ``mmr``, ``maxLever``; ``contract_size`` = ``ctVal``."""
    rows = data_of(payload, what)
    if not rows:
        raise DataError(f"{what}: no position tier of {symbol} in the answer")
    tiers = []
    for i, row in enumerate(rows):
        where = f"{what} tier {i} of {symbol}"
        as_object(row, where)
        tiers.append({"cap": as_number(_field(row, "maxSz", where), f"{where}, field 'maxSz'"),
                      "max_leverage": as_number(_field(row, "maxLever", where), f"{where}, field 'maxLever'"),
                      "mmr": as_number(_field(row, "mmr", where), f"{where}, field 'mmr'")})
    tiers.sort(key=lambda tier: tier["cap"])
    return {"exchange": "okx", "symbol": symbol, "date": date, "size_unit": "contracts", "contract_size": ct_val,
            "taker_fee": TAKER_FEE, "tiers": tiers,
            "source": f"OKX GET {TIERS_PATH}?instType=SWAP&tdMode=isolated&instFamily={inst_id(symbol)[:-5]} on "
                      f"{date}; taker fee {TAKER_FEE:.2%} (regular users)"}


# ---------------------------------------------------------------- client


@dataclass
class OkxClient(RestClient):
    """GETs against OKX's v5 host, paced and retried; methods take liqmap's symbol (``BTCUSDT``).

    ``ctVal`` is read once per symbol from ``/api/v5/public/instruments`` (sizes are contracts)."""

    venue: ClassVar[str] = "okx"
    oi_history_ms: ClassVar[int | None] = OI_HISTORY_MS

    base_url: str = DEFAULT_REST_URL
    budget: WeightBudget = field(default_factory=lambda: WeightBudget(REQUESTS_PER_MINUTE))
    contract_values: dict = field(default_factory=dict)

    def check(self, path: str, body: Any) -> Any:
        """OKX may answer "too many requests" with a code: counted and retried like a 429."""
        data_of(body, f"GET {path}")
        return body

    def server_time(self) -> int:
        rows = data_of(self.get(TIME_PATH), f"GET {TIME_PATH}")
        if not rows or not isinstance(rows[0], dict):
            raise DataError(f"GET {TIME_PATH}: no time in the answer")
        return as_timestamp(_field(rows[0], "ts", TIME_PATH), f"GET {TIME_PATH}, field 'ts'")

    def contract_value(self, symbol: str) -> float:
        """``ctVal`` of the symbol's swap, asked once."""
        if symbol not in self.contract_values:
            instrument = inst_id(symbol)
            answer = self.get(INSTRUMENTS_PATH, {"instType": "SWAP", "instId": instrument})
            self.contract_values[symbol] = parse_contract_value(answer, instrument, f"GET {INSTRUMENTS_PATH}")
        return self.contract_values[symbol]

    def klines(self, symbol: str, start_ms: int, end_ms: int, interval: str = "1m", mark: bool = False) -> Candles:
        step = parse_span(interval, "interval")
        path = MARK_CANDLES_PATH if mark else CANDLES_PATH
        ct_val, bar, instrument = self.contract_value(symbol), okx_bar(interval), inst_id(symbol)

        def page(lo: int, hi: int) -> Candles:
            answer = self.get(path, {"instId": instrument, "bar": bar, "after": hi + 1, "before": lo - 1,
                                     "limit": CANDLES_LIMIT})
            return parse_candles(answer, ct_val, step, mark, f"GET {path}")

        return fill_span(page, start_ms, end_ms, step, parse_candles({"code": "0", "data": []}, ct_val, step, mark))

    def open_interest_hist(self, symbol: str, start_ms: int, end_ms: int) -> OpenInterest:
        ct_val, instrument = self.contract_value(symbol), inst_id(symbol)

        def page(lo: int, hi: int) -> OpenInterest:
            answer = self.get(OI_HIST_PATH, {"instId": instrument, "period": "5m", "begin": lo, "end": hi,
                                             "limit": OI_LIMIT})
            return parse_open_interest_history(answer, ct_val, f"GET {OI_HIST_PATH}")

        return fill_span(page, start_ms, end_ms, OI_PERIOD_MS,
                         parse_open_interest_history({"code": "0", "data": []}, ct_val))

    def open_interest(self, symbol: str, retries: int | None = None) -> tuple[int, float]:
        answer = self.get(OI_PATH, {"instType": "SWAP", "instId": inst_id(symbol)}, retries)
        return parse_open_interest(answer, self.contract_value(symbol), f"GET {OI_PATH}")

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Funding:
        instrument = inst_id(symbol)

        def page(lo: int, hi: int) -> Funding:
            answer = self.get(FUNDING_PATH, {"instId": instrument, "after": hi + 1, "before": lo - 1,
                                             "limit": FUNDING_LIMIT})
            return parse_funding(answer, f"GET {FUNDING_PATH}")

        return fill_span(page, start_ms, end_ms, 1, parse_funding({"code": "0", "data": []}))

    def tiers(self, symbol: str, date: str) -> dict:
        """The swap's isolated-margin position tiers today, as a bracket file (see :func:`parse_position_tiers`)."""
        family = inst_id(symbol)[: -len("-SWAP")]
        answer = self.get(TIERS_PATH, {"instType": "SWAP", "tdMode": "isolated", "instFamily": family})
        return parse_position_tiers(answer, symbol, self.contract_value(symbol), date, f"GET {TIERS_PATH}")

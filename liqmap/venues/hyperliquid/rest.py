"""Hyperliquid market history over ``POST /info``: parsers (wire -> :mod:`liqmap.frames`) and a paced client.

Every request is a JSON body naming its ``type``.  Real answers, for reference
(``tests/fixtures/frames/hyperliquid``)::

    {"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": ms, "endTime": ms}}
        [{"t":1684699200000,"T":1684702799999,"s":"kPEPE","i":"1h","o":"0.001601","c":"0.001604",
          "h":"0.001616","l":"0.001601","v":"520665683.0","n":709}, ...]      oldest first, at most 5,000
    {"type": "fundingHistory", "coin": "BTC", "startTime": ms, "endTime": ms}
        [{"coin":"BTC","fundingRate":"-0.00061334","premium":"-0.00091334","time":1683849600048}, ...]
                                                                              oldest first, at most 500
    {"type": "metaAndAssetCtxs"}   [{"universe": [...]}, [{"markPx", "openInterest", "funding", ...}, ...]]

Candles carry no taker-buy volume and there are no mark-price candles; funding settles every hour
(rates per hour); there is **no open-interest history**: only the current value in
``metaAndAssetCtxs`` (and the ``activeAssetCtx`` stream).  ``candleSnapshot`` keeps only the latest
5,000 candles of an interval (about 3.5 days of 1-minute bars).  The answers carry no time: the
server's clock is read from the HTTP ``Date`` header (1-second resolution).  Parsers raise
:class:`~liqmap.frames.DataError` naming the request, the row and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...frames import MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError, Funding, OpenInterest
from ...timeutil import parse_span
from ..binance.rest import RestClient, WeightBudget, _join
from ..wire import number_field, time_field, time_series
from .info import DEFAULT_INFO_URL, parse_asset_contexts
from .symbols import coin_of

INFO_PATH = "/info"
#: Rows per answer: candleSnapshot 5,000, fundingHistory 500 (Hyperliquid's maxima).
CANDLE_LIMIT, FUNDING_LIMIT = 5000, 500
#: candleSnapshot, fundingHistory and metaAndAssetCtxs weigh 20 of the 1,200 an IP may spend a minute;
#: liqmap keeps to half of it.
WEIGHT, WEIGHT_PER_MINUTE = 20, 600
#: The intervals candleSnapshot serves.
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d")


def candle_row(item: Any, where: str) -> tuple[int, int, float, float, float, float, float]:
    """One candle object ``{t, T, o, h, l, c, v, ...}`` -> (start, end + 1, open, high, low, close, volume)."""
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected a candle object, got {str(item)[:80]}")
    start = time_field(item, "t", where)
    return (start, time_field(item, "T", where) + 1, number_field(item, "o", where), number_field(item, "h", where),
            number_field(item, "l", where), number_field(item, "c", where), number_field(item, "v", where))


def parse_candles(payload: Any, interval_ms: int, what: str = "candleSnapshot") -> Candles:
    """candleSnapshot -> :class:`Candles` (no taker-buy volume: NaN, as the model expects)."""
    if not isinstance(payload, list):
        raise DataError(f"{what}: expected a JSON array of candles, got {str(payload)[:80]}")
    rows = [candle_row(item, f"{what} row {i}") for i, item in enumerate(payload)]
    for i, row in enumerate(rows):
        if row[1] - row[0] != interval_ms:
            raise DataError(f"{what} row {i}: a bar of {row[1] - row[0]} ms where {interval_ms} ms were asked for")
    cols = list(zip(*rows)) if rows else [()] * 7
    order = np.argsort(np.array(cols[0], np.int64), kind="stable")
    o, h, low, c, v = (np.array(col, np.float64)[order] for col in cols[2:])
    return Candles(time=np.array(cols[0], np.int64)[order], open=o, high=h, low=low, close=c, volume=v,
                   taker_buy_volume=np.full(len(rows), np.nan), interval_ms=interval_ms)


def parse_funding_history(payload: Any, what: str = "fundingHistory") -> Funding:
    """fundingHistory -> :class:`Funding`, rates per hour (Hyperliquid settles every hour)."""
    if not isinstance(payload, list):
        raise DataError(f"{what}: expected a JSON array, got {str(payload)[:80]}")
    times, rates = time_series(payload, what, "time", "fundingRate")
    order = np.argsort(np.array(times, np.int64), kind="stable")
    return Funding(time=np.array(times, np.int64)[order], rate=np.array(rates, np.float64)[order],
                   interval_ms=MS_PER_HOUR)


def check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise ValueError(f"interval {interval!r}: Hyperliquid's candleSnapshot serves {', '.join(INTERVALS)}")
    return interval


@dataclass
class HyperliquidClient(RestClient):
    """``POST /info`` for candles, funding and the current open interest, paced by request weight and
    retried; the store backfill (:func:`liqmap.venues.binance.rest.backfill`) takes it as it takes
    the other venues' clients."""

    venue: ClassVar[str] = "hyperliquid"
    oi_history_ms: ClassVar[int | None] = 0  # no open-interest history endpoint
    mark_klines: ClassVar[bool] = False

    base_url: str = DEFAULT_INFO_URL
    budget: WeightBudget = field(default_factory=lambda: WeightBudget(WEIGHT_PER_MINUTE))

    def info(self, body: dict, retries: int | None = None) -> Any:
        return self.request("POST", INFO_PATH, body=body, weight=WEIGHT, retries=retries, what=body["type"])

    def server_time(self) -> int:
        """Hyperliquid's clock from the Date header of a metaAndAssetCtxs answer (1-second resolution)."""
        self.info({"type": "metaAndAssetCtxs"})
        if self.last_date_ms is None:
            raise DataError(f"POST {self.base_url}{INFO_PATH}: the answer has no Date header to read the server's "
                            "clock from")
        return self.last_date_ms

    def klines(self, symbol: str, start_ms: int, end_ms: int, interval: str = "1m", mark: bool = False) -> Candles:
        """Candles opening in ``[start_ms, end_ms)``, paged by ``startTime`` (5,000 an answer)."""
        if mark:
            raise DataError("Hyperliquid publishes no mark-price candles")
        step = parse_span(check_interval(interval), "interval")
        coin = coin_of(symbol)
        parts, cursor = [], start_ms
        while cursor < end_ms:
            rows = self.info({"type": "candleSnapshot", "req": {"coin": coin, "interval": interval,
                                                                "startTime": cursor, "endTime": end_ms - 1}})
            part = parse_candles(rows, step, f"POST {INFO_PATH} candleSnapshot").slice_time(cursor, end_ms)
            if not len(part):
                break
            parts.append(part)
            cursor = int(part.time[-1]) + step
        return _join(parts, parse_candles([], step))

    def open_interest_hist(self, symbol: str, start_ms: int, end_ms: int) -> OpenInterest:
        """Nothing: Hyperliquid keeps no open-interest history (a live hole in it stays a hole)."""
        return OpenInterest(time=np.zeros(0, np.int64), oi=np.zeros(0), oi_value=np.zeros(0), interval_ms=MS_PER_MINUTE)

    def open_interest(self, symbol: str, retries: int | None = None) -> tuple[int, float]:
        """The current open interest in coins from metaAndAssetCtxs, stamped with the answer's Date."""
        coin = coin_of(symbol)
        contexts = parse_asset_contexts(self.info({"type": "metaAndAssetCtxs"}, retries))
        if coin not in contexts:
            raise DataError(f"metaAndAssetCtxs: no perpetual {coin!r}; Hyperliquid lists {', '.join(sorted(contexts))}")
        if self.last_date_ms is None:
            raise DataError("metaAndAssetCtxs: the answer has no Date header to stamp the open interest with")
        return self.last_date_ms, contexts[coin].open_interest

    def funding(self, symbol: str, start_ms: int, end_ms: int) -> Funding:
        """Settled hourly rates in ``[start_ms, end_ms)``, paged by ``startTime`` (500 an answer)."""
        coin = coin_of(symbol)
        parts, cursor = [], start_ms
        while cursor < end_ms:
            rows = self.info({"type": "fundingHistory", "coin": coin, "startTime": cursor, "endTime": end_ms - 1})
            part = parse_funding_history(rows, f"POST {INFO_PATH} fundingHistory").slice_time(cursor, end_ms)
            if not len(part):
                break
            parts.append(part)
            cursor = int(part.time[-1]) + 1
        return _join(parts, parse_funding_history([]))

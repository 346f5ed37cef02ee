"""Synthetic market data for the backfill benchmark and tests: klines and 5-minute open interest in the store format.

A random walk of prices (1-minute or coarser candles with taker volume),
open interest that drifts with bursts of openings and closes, and 8-hourly
funding, written per month under ``<root>/<venue>/<SYMBOL>/<kind>/<YYYY-MM>.parquet``
so ``LIQMAP_CACHE=<root> liqmap ... --source cache`` reads it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from liqmap.frames import Candles, Funding, OpenInterest
from liqmap.sources.cache import CANDLES, FUNDING, OPEN_INTEREST, Store

MINUTE = 60_000
OI_STEP = 5 * MINUTE
FUNDING_STEP = 8 * 3_600_000
#: Starting prices of the benchmark's symbols.
PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0, "ARBUSDT": 1.0, "XRPUSDT": 2.5,
          "DOGEUSDT": 0.2}


def _ms(date: str) -> int:
    return int(dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _months(start_ms: int, end_ms: int):
    t = dt.datetime.fromtimestamp(start_ms / 1000, dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0,
                                                                          microsecond=0)
    while int(t.timestamp() * 1000) < end_ms:
        nxt = t.replace(year=t.year + (t.month == 12), month=t.month % 12 + 1)
        yield t.strftime("%Y-%m"), int(t.timestamp() * 1000), int(nxt.timestamp() * 1000)
        t = nxt


def write_market(root: Path, venue: str, symbol: str, start: str, end: str, candle_ms: int = MINUTE,
                 seed: int = 0) -> None:
    """Candles every ``candle_ms``, OI every 5 minutes and funding every 8 hours over ``[start, end)``."""
    rng = np.random.default_rng(seed)
    t0, t1 = _ms(start), _ms(end)
    n = (t1 - t0) // candle_ms
    step_vol = 0.0012 * np.sqrt(candle_ms / MINUTE)
    close = PRICES.get(symbol, 100.0) * np.exp(np.cumsum(rng.normal(0, step_vol, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, step_vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, step_vol, n))
    volume = rng.uniform(50, 150, n) * candle_ms / MINUTE
    candles = Candles(time=t0 + np.arange(n, dtype=np.int64) * candle_ms, open=open_, high=high, low=low, close=close,
                      volume=volume, taker_buy_volume=volume * rng.uniform(0.35, 0.65, n), interval_ms=candle_ms)
    k = (t1 - t0) // OI_STEP
    burst = rng.normal(0, 40, k) * (rng.uniform(0, 1, k) < 0.05)
    oi = np.maximum(20_000 + np.cumsum(rng.normal(0.3, 8, k) + burst), 1_000)
    oi_time = t0 + np.arange(k, dtype=np.int64) * OI_STEP
    interest = OpenInterest(oi_time, oi, np.full(k, np.nan), interval_ms=OI_STEP)
    f_time = np.arange(-(-t0 // FUNDING_STEP) * FUNDING_STEP, t1, FUNDING_STEP, dtype=np.int64)
    funding = Funding(f_time, rng.normal(1e-4, 1e-4, f_time.size), interval_ms=FUNDING_STEP)
    store = Store(Path(root), venue)
    kind = f"{CANDLES}-{candle_ms // MINUTE}m"
    for month, lo, hi in _months(t0, t1):
        store.write(symbol, kind, month, candles.slice_time(lo, hi))
        store.write(symbol, OPEN_INTEREST, month, interest.slice_time(lo, hi))
        store.write(symbol, FUNDING, month, funding.slice_time(lo, hi))

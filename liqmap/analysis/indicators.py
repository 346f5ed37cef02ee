"""Price indicators the map needs: candle resampling and Wilder's ATR."""

from __future__ import annotations

import numpy as np

from ..frames import MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError


def resample(candles: Candles, interval_ms: int) -> Candles:
    """Aggregate candles into ``interval_ms`` bars aligned to the epoch.

    Coarser-than-source only; the last bar may be partial (it holds what is known).
    """
    if interval_ms < candles.interval_ms or interval_ms % candles.interval_ms:
        raise DataError(
            f"cannot resample {candles.interval_ms // MS_PER_MINUTE}-minute candles to {interval_ms // MS_PER_MINUTE} minutes"
        )
    if interval_ms == candles.interval_ms or len(candles) == 0:
        return candles
    bucket = candles.time // interval_ms
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [len(candles)])) - 1
    return Candles(
        time=bucket[starts] * interval_ms,
        open=candles.open[starts],
        high=np.maximum.reduceat(candles.high, starts),
        low=np.minimum.reduceat(candles.low, starts),
        close=candles.close[ends],
        volume=np.add.reduceat(candles.volume, starts),
        taker_buy_volume=np.add.reduceat(candles.taker_buy_volume, starts),
        interval_ms=interval_ms,
        price_kind=candles.price_kind,
    )


def true_range(candles: Candles) -> np.ndarray:
    prev_close = np.concatenate(([candles.open[0]], candles.close[:-1]))
    return np.maximum(candles.high, prev_close) - np.minimum(candles.low, prev_close)


def atr(candles: Candles, period: int = 14, interval_ms: int = MS_PER_HOUR) -> np.ndarray:
    """Wilder's average true range on ``interval_ms`` bars (NaN until ``period`` bars exist).

    ATR_t = ATR_{t-1} + (TR_t - ATR_{t-1}) / period, seeded with the mean of
    the first ``period`` true ranges.
    """
    bars = resample(candles, interval_ms)
    tr = true_range(bars)
    out = np.full(tr.size, np.nan)
    if tr.size < period:
        return out
    out[period - 1] = tr[:period].mean()
    alpha = 1.0 / period
    # The recursion is linear: scaled by decay^-j it becomes a cumulative sum.  Chunks of
    # 512 bars keep decay^-j finite; each chunk starts from the previous chunk's last value.
    decay = 1.0 - alpha
    rest = tr[period:]
    value = out[period - 1]
    for lo in range(0, rest.size, 512):
        part = rest[lo:lo + 512]
        powers = decay ** np.arange(1, part.size + 1)
        out[period + lo:period + lo + part.size] = powers * (value + alpha * np.cumsum(part / powers))
        value = out[period + lo + part.size - 1]
    return out


def atr_known_at(candles: Candles, times, period: int = 14, interval_ms: int = MS_PER_HOUR) -> np.ndarray:
    """Wilder ATR of the bars that had fully closed at each of ``times`` (NaN where too few).

    A bar still open at a time is left out: its true range is not known yet.
    """
    bars = resample(candles, interval_ms)
    values = atr(bars, period, interval_ms)
    done = np.searchsorted(bars.time + interval_ms, np.asarray(times), side="right") - 1
    return np.where(done >= 0, values[np.clip(done, 0, None)], np.nan)

"""Stage 1-3 of the book: open-interest increments to opens and closes, entry prices, sides.

Opened contracts enter at traded prices, pooled per open-interest interval
on logarithmic price buckets, and are split into taker-buy and taker-sell
contracts (exact from trades or klines, else a stated fallback, optionally
tilted by funding).
"""

from __future__ import annotations

import math

import numpy as np

from ..frames import MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError, MarketData, Trades, format_ms
from .params import ENTRY_ANCHORS, BookParams


def opens_and_closes(candles: Candles, oi, params: BookParams, notes: list[str], earlier: Candles | None = None):
    """Gross opened and closed contracts per candle from OI increments, and OI at each candle end.

    ``earlier``: candles before ``candles`` whose volume the opening prior
    still reads (the in-place book's, over the prior's span).
    """
    n = len(candles)
    tau, level = oi.time, oi.oi
    if tau.size < 2:  # no increment yet: nothing opened or closed
        at = np.searchsorted(tau, candles.time + candles.interval_ms, side="right") - 1
        return np.zeros(n), np.zeros(n), np.where(at >= 0, level[np.clip(at, 0, None)] if tau.size else np.nan, np.nan)
    gaps = np.diff(tau)
    nominal = oi.interval_ms
    big = np.flatnonzero(gaps > max(nominal, params.max_oi_gap_ms))
    # only gaps inside the candle span matter
    inside = big[(tau[big + 1] > candles.time[0]) & (tau[big] < candles.time[-1] + candles.interval_ms)]
    if inside.size:
        k = int(inside[np.argmax(gaps[inside])])
        raise DataError(
            f"open interest has {inside.size} gap(s) longer than {params.max_oi_gap_ms // MS_PER_MINUTE} min; the largest is "
            f"{gaps[k] / MS_PER_HOUR:.1f} h from {format_ms(tau[k])} to {format_ms(tau[k + 1])}. "
            "Fill the data, choose a period without it, or raise max_oi_gap_ms to bridge it "
            "(the change across a bridged gap is spread over the candles inside it)."
        )
    bridged = np.flatnonzero(gaps > nominal)
    if bridged.size:
        notes.append(
            f"open interest: {bridged.size} gap(s) bridged (largest {gaps.max() / MS_PER_MINUTE:.0f} min); "
            "the change across a gap is spread over its candles by volume"
        )
    delta = np.diff(level)
    start, stop = tau[:-1], tau[1:]
    # candles whose start lies in [start_k, stop_k): share the increment by volume
    first = np.searchsorted(candles.time, start, side="left")
    last = np.searchsorted(candles.time, stop, side="left")
    count = last - first
    vol = np.where(candles.volume > 0, candles.volume, 0.0)
    cum_vol = np.concatenate(([0.0], np.cumsum(vol)))
    interval_vol = cum_vol[last] - cum_vol[first]
    volume = None
    if params.oi_shrinkage:
        parts = (candles,) if earlier is None else (earlier, candles)
        volume = _increment_volume(np.concatenate([c.time for c in parts]), np.concatenate([c.volume for c in parts]),
                                   candles.interval_ms, start, stop)
    gross = gross_openings(start, stop, delta, _opening_groups(candles, oi, start, delta), volume, params)
    candle_interval = np.searchsorted(start, candles.time, side="right") - 1  # increment covering each candle start
    valid_candle = (candle_interval >= 0) & (candles.time < stop[np.clip(candle_interval, 0, None)])
    ci = np.clip(candle_interval, 0, None)
    share = np.where(
        interval_vol[ci] > 0, vol / np.where(interval_vol[ci] > 0, interval_vol[ci], 1.0), 1.0 / np.maximum(count[ci], 1)
    )
    share = np.where(valid_candle, share, 0.0)
    opened = np.where(valid_candle, gross[ci], 0.0) * share
    closed = np.where(valid_candle, gross[ci] - delta[ci], 0.0) * share
    # increments with no candle starting inside them: give them to the candle that contains them
    orphan = np.flatnonzero(count == 0)
    if orphan.size:
        host = np.searchsorted(candles.time, start[orphan], side="right") - 1
        ok = (host >= 0) & (start[orphan] < candles.time[np.clip(host, 0, None)] + candles.interval_ms)
        np.add.at(opened, host[ok], gross[orphan[ok]])
        np.add.at(closed, host[ok], gross[orphan[ok]] - delta[orphan[ok]])
    covered = (candles.time >= tau[0]) & (candles.time + candles.interval_ms <= tau[-1])
    if not covered.all():
        notes.append(
            f"open interest covers {int(covered.sum())} of {n} candles; no openings are placed outside "
            f"{format_ms(tau[0])} .. {format_ms(tau[-1])}"
        )
    # OI at each candle end: last snapshot at or before it
    at = np.searchsorted(tau, candles.time + candles.interval_ms, side="right") - 1
    oi_at_end = np.where(at >= 0, level[np.clip(at, 0, None)], np.nan)
    return opened, closed, oi_at_end


def _increment_volume(time: np.ndarray, volume: np.ndarray, interval_ms: int, start: np.ndarray,
                      stop: np.ndarray) -> np.ndarray:
    """Traded volume of each increment, each candle's volume spread evenly over its time (unknown: none)."""
    vol = np.where(volume > 0, volume, 0.0)
    cum_vol = np.concatenate(([0.0], np.cumsum(vol)))

    def traded_by(t: np.ndarray) -> np.ndarray:
        c = np.searchsorted(time, t, side="right") - 1
        at = np.clip(c, 0, None)
        part = np.clip((t - time[at]) / interval_ms, 0.0, 1.0)
        return np.where(c >= 0, cum_vol[at] + vol[at] * part, 0.0)

    return traded_by(stop) - traded_by(start)


def _opening_groups(candles: Candles, oi, start: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Whether each increment's entry group (``_entry_groups``) opens anything with the rises alone.

    The group is the increment's own interval, or, where candles are at least
    as long as the OI interval, the candle it starts in (any increment rising).
    """
    rises = delta > 0
    if candles.interval_ms < oi.interval_ms:
        return rises
    group = np.searchsorted(candles.time, start, side="right")  # 0: before the first candle
    return np.bincount(group, rises)[group] > 0


def gross_openings(start: np.ndarray, stop: np.ndarray, delta: np.ndarray, opens: np.ndarray,
                   volume: np.ndarray | None, params: BookParams) -> np.ndarray:
    """Contracts opened in each OI increment: its rise, shrunk toward the recent opening rate per traded volume.

    A 5-minute change of open interest is the net of opens and closes and
    mostly noise, so its positive part alone says little about what opened.
    The prior is the increment's traded volume times the opening rate per
    volume over the ``oi_prior_span_ms`` before it (the rises of the earlier
    increments in the span over their volume: nothing later is used); the
    estimate is ``(1 - w) * rise + w * prior`` with ``w = oi_shrinkage``,
    never below the net rise itself.  Closes are then opens minus the change,
    so the book's net stays the open interest's.  Only increments whose entry
    group already opens (``opens``) take the prior, so the book holds no new
    entry groups; elsewhere, and with no earlier volume, the rise stands.
    ``volume`` is each increment's traded volume (None: no shrinkage).
    """
    rise = np.maximum(delta, 0.0)
    w = params.oi_shrinkage
    if w == 0 or volume is None or delta.size == 0:
        return rise
    cum_rise = np.concatenate(([0.0], np.cumsum(rise)))
    cum_vol = np.concatenate(([0.0], np.cumsum(volume)))
    first = np.searchsorted(stop, start - params.oi_prior_span_ms, side="right")  # earliest increment in the span
    k = np.arange(delta.size)
    past = cum_vol[k] - cum_vol[first]
    prior = np.where(past > 0, (cum_rise[k] - cum_rise[first]) / np.where(past > 0, past, 1.0) * volume, rise)
    return np.where(opens, np.maximum(delta, (1.0 - w) * rise + w * prior), rise)


def entries(market: MarketData, opened: np.ndarray, params: BookParams, notes: list[str],
            use_trades: bool | None = None):
    """Entry points: (open step, price, taker-buy contracts, taker-sell contracts).

    Open interest only says at its snapshots that positions were opened, so
    the candles between two snapshots form one entry group: their traded
    prices (trades, or candle anchors weighted by each candle's share of the
    opening) are pooled on price buckets of ``entry_bucket_pct``, and the
    group's positions exist from its last candle on.  ``use_trades`` (default:
    whether the market has trades) lets a caller that sees the data in parts
    keep one choice for all of them.
    """
    candles = market.candles
    group_of_candle = _entry_groups(candles, market.open_interest, notes)
    if use_trades is None:
        use_trades = market.trades is not None and len(market.trades) > 0
    if use_trades:
        trades = market.trades if market.trades is not None else Trades(*(np.zeros(0),) * 4)
        candle, price, buy, sell = _trade_points(trades, candles)
        notes.append("entries: traded-volume profile of the trades")
        notes.append("side split: exact taker side from aggregate trades")
    else:
        buy_share = _buy_share(candles, params, notes)
        anchors = ENTRY_ANCHORS[params.entry_anchors]
        notes.append(f"entries: candle anchors {params.entry_anchors} ({', '.join(a for a, _ in anchors)})")
        candle = np.repeat(np.arange(len(candles)), len(anchors))
        price = np.stack([_anchor(candles, a) for a, _ in anchors], axis=1).ravel()
        weight = np.tile([w for _, w in anchors], len(candles)) * opened[candle]
        buy, sell = weight * buy_share[candle], weight * (1.0 - buy_share[candle])
    group = group_of_candle[candle]
    group, price, buy, sell = _pool(group, price, buy, sell, params.entry_bucket_pct)
    last_candle = np.searchsorted(group_of_candle, group, side="right") - 1
    group_opened = np.bincount(group_of_candle, opened)[group]
    total = np.bincount(group, buy + sell)[group]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(total > 0, group_opened / total, 0.0)
    buy, sell = buy * scale, sell * scale
    if params.funding_tilt and market.funding is not None and len(market.funding):
        rate = _last_funding(market.funding, candles.time[last_candle]) * (
            8 * MS_PER_HOUR / (market.funding.interval_ms or 8 * MS_PER_HOUR))  # per 8 h; one record: as given
        both = buy + sell
        # positive funding: longs pay, longs are crowded -> more of the opening is leveraged longs
        buy = np.clip(buy + params.funding_tilt * (rate / 1e-4) * 0.1 * both, 0.0, both)
        sell = both - buy
        notes.append(f"side split tilted by funding (funding_tilt={params.funding_tilt})")
    elif params.funding_tilt:
        notes.append("funding_tilt set but no funding data: no tilt applied")
    keep = buy + sell > 0
    return last_candle[keep], price[keep], buy[keep], sell[keep]


def _entry_groups(candles: Candles, oi, notes: list[str]) -> np.ndarray:
    """Entry group of each candle (non-decreasing): its open-interest interval, or itself.

    Candles at least as long as the OI interval are groups of their own.
    """
    if candles.interval_ms >= oi.interval_ms:
        return np.arange(len(candles))
    notes.append(
        f"entries: candles pooled per {oi.interval_ms // MS_PER_MINUTE}-minute open-interest interval "
        "(positions are known to exist from the snapshot on)"
    )
    return np.searchsorted(oi.time, candles.time, side="right")


def _trade_points(trades, candles: Candles):
    """Each trade inside the candles' span: (candle index, price, taker-buy qty, taker-sell qty)."""
    candle = np.searchsorted(candles.time, trades.time, side="right") - 1
    inside = (candle >= 0) & (trades.time < candles.time[np.clip(candle, 0, None)] + candles.interval_ms)
    qty, sold = trades.quantity[inside], trades.is_buyer_maker[inside]
    return candle[inside], trades.price[inside], np.where(sold, 0.0, qty), np.where(sold, qty, 0.0)


def _pool(group, price, buy, sell, bucket_pct: float):
    """Sum points of one group on price buckets of ``bucket_pct``% (volume-weighted price per bucket).

    ``group`` is non-decreasing, so each group is one run: its buckets are laid
    out densely (the run's min..max bucket) and summed with bincount, no sort.
    """
    if group.size == 0:
        return group, price, buy, sell
    # a fixed logarithmic grid, so the buckets never depend on which data are in view
    bucket = np.floor(np.log(price) / math.log1p(bucket_pct / 100.0)).astype(np.int64)
    run_start = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    run_of_point = np.repeat(np.arange(run_start.size), np.diff(np.append(run_start, group.size)))
    low = np.minimum.reduceat(bucket, run_start)
    width = np.maximum.reduceat(bucket, run_start) - low + 1
    key = (np.cumsum(width) - width)[run_of_point] + bucket - low[run_of_point]
    size = int(width.sum())
    pooled_buy = np.bincount(key, buy, minlength=size)
    pooled_sell = np.bincount(key, sell, minlength=size)
    value = np.bincount(key, price * (buy + sell), minlength=size)
    used = np.flatnonzero(pooled_buy + pooled_sell > 0)
    both = pooled_buy[used] + pooled_sell[used]
    return np.repeat(group[run_start], width)[used], value[used] / both, pooled_buy[used], pooled_sell[used]


def _buy_share(candles: Candles, params: BookParams, notes: list[str]) -> np.ndarray:
    """Taker-buy share of each candle's volume (exact, or a stated fallback)."""
    method = params.side_split
    if method in ("auto", "taker") and candles.has_taker_volume:
        notes.append("side split: taker-buy volume of the klines")
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(candles.volume > 0, candles.taker_buy_volume / candles.volume, 0.5)
        return np.clip(share, 0.0, 1.0)
    if method == "taker":
        raise DataError("side_split='taker' needs taker-buy volume or trades, and the data has neither")
    if method in ("auto", "clv"):
        notes.append("side split: close location in the candle range (no taker volume in the data)")
        span = candles.high - candles.low
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(span > 0, (candles.close - candles.low) / np.where(span > 0, span, 1.0), 0.5)
    notes.append("side split: even (no taker volume in the data)")
    return np.full(len(candles), 0.5)


def _anchor(candles: Candles, name: str) -> np.ndarray:
    if name == "hlc3":
        return (candles.high + candles.low + candles.close) / 3.0
    if name.startswith("r"):
        return candles.low + (candles.high - candles.low) * (int(name[1]) / 4.0)
    return getattr(candles, name)


def _last_funding(funding, times: np.ndarray) -> np.ndarray:
    at = np.searchsorted(funding.time, times, side="right") - 1
    return np.where(at >= 0, funding.rate[np.clip(at, 0, None)], 0.0)

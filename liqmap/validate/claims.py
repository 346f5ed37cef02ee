"""Do the rules of thumb traders apply to liquidation maps hold?  Each against a placebo.

The maps are the ones users see (``analysis.mapping.read_map``: Z-scores,
clusters, distance in ATR) as of each hour's open, read from one book
history.  Outcomes use the hourly path after that moment.

1. *Denser side*: every ``SAMPLE_EVERY_H`` hours, the side (above/below)
   holding more cluster notional within ``NEARBY_ATR`` ATR; did price touch
   open ± 1 ATR on that side first within ``HORIZON_H`` hours?  Placebo:
   the agreement expected by chance from how often each side was predicted
   and how often each was touched first.
2. *Sweeps mark extremes*: hours whose range swept a major (Z >= 2.5)
   cluster; is the hour's high (low) the extreme of the ``EXTREME_HALF_WINDOW_H``
   hours either side?  Placebo: hours with the same-size excursion (same
   decile) that swept no major cluster.
3. *Reach by distance*: clusters by reach band; was the peak touched within
   ``HORIZON_H`` hours?  Placebo: levels at the same signed distance in ATR
   at other, random sample times.  If the placebo shows the same fall-off,
   distance alone explains it.

Intervals are block-bootstrap intervals (blocks of one day).
"""

from __future__ import annotations

import math

import numpy as np

from ..frames import MS_PER_HOUR
from . import bootstrap

SAMPLE_EVERY_H = 6
HORIZON_H = 24
EXTREME_HALF_WINDOW_H = 12
NEARBY_ATR = 3.0
GRID_STEP = 0.001
PLACEBO_DRAWS = 20
REACH_ORDER = ("actionable", "near", "speculative", "distant")


def study_claims(data, predictions, choice, reps: int = bootstrap.DEFAULT_REPS, seed: int = 0) -> dict:
    """The three claims on the hours of ``predictions``, with the map of ``choice``."""
    maps, price_index = _hourly_maps(data, predictions, choice)
    h = data.hours
    return {
        "denser_side": _denser_side(maps, h, price_index, reps, seed),
        "sweeps_mark_extremes": _sweeps(maps, h, price_index, reps, seed),
        "reach_by_distance": _reach(maps, h, price_index, reps, seed),
        "settings": {"sample_every_h": SAMPLE_EVERY_H, "horizon_h": HORIZON_H,
                     "extreme_half_window_h": EXTREME_HALF_WINDOW_H, "nearby_atr": NEARBY_ATR},
    }


def _hourly_maps(data, p, choice):
    """The map as of each scored hour's open, and each hour's row in ``data.hours``."""
    from ..analysis.indicators import atr_known_at
    from ..analysis.mapping import MapSettings, read_map
    from ..model.build import build_book
    from .predictors import log_grid

    settings = MapSettings()
    market = data.market.slice_time(None, p.end_ms)
    book = build_book(market, choice.params, choice.window_ms)
    hours = p.hours
    span = settings.span_pct / 100.0
    edges = log_grid(float(hours.open.min()) * (1 - span), float(hours.open.max()) * (1 + span), GRID_STEP)
    long, short = book.history(hours.time, edges, view=choice.view, window_ms=choice.window_ms)
    atr_at_open = atr_known_at(market.candles, hours.time, settings.atr_period, settings.atr_interval_ms)
    lo = np.searchsorted(edges, hours.open * (1 - span), side="right") - 1
    hi = np.searchsorted(edges, hours.open * (1 + span), side="left")
    model = {"name": "validation claims", "parameters": {}}
    maps = []
    for i in range(len(hours)):  # one map per hour: the reading (clusters) is per map
        a, b = max(int(lo[i]), 0), min(int(hi[i]), edges.size - 1)
        maps.append(read_map(
            symbol=market.symbol, exchange=market.exchange, as_of_ms=int(hours.time[i]),
            window_ms=choice.window_ms or 0, view=choice.view, price=float(hours.open[i]),
            atr=float(atr_at_open[i]), edges=edges[a:b + 1], long=long[i, a:b], short=short[i, a:b],
            model=model, now_ms=int(hours.time[i]), settings=settings,
        ))
    return maps, np.searchsorted(data.hours.time, hours.time)


def _forward(values: np.ndarray, steps: int, fill: float) -> np.ndarray:
    """``(n, steps)``: values[j + k] for k < steps, ``fill`` past the end."""
    padded = np.concatenate((values, np.full(steps, fill)))
    return np.lib.stride_tricks.sliding_window_view(padded, steps)[: values.size]


def _first_true(touched: np.ndarray) -> np.ndarray:
    """Per row, the first column that is True (inf if none)."""
    first = np.argmax(touched, axis=1).astype(float)
    first[~touched.any(axis=1)] = np.inf
    return first


def _rate_interval(values: np.ndarray, weight_of, n: int, reps: int, seed: int) -> dict:
    """Point value and block-bootstrap interval of a statistic over ``n`` resampled units."""
    ci = bootstrap.bootstrap_nested(lambda idx: {"v": weight_of(np.bincount(idx, minlength=n))}, n,
                                    block=max(1, 24 // SAMPLE_EVERY_H), reps=reps, seed=seed)
    return {"value": values, "ci": list(ci["v"])}


def _denser_side(maps, h, price_index, reps, seed) -> dict:
    atr = np.array([m.atr for m in maps])
    sample = np.flatnonzero((h.time[price_index] // MS_PER_HOUR) % SAMPLE_EVERY_H == 0)
    above = np.array([sum(c.notional for c in maps[i].clusters if c.side == "above" and c.distance_atr <= NEARBY_ATR)
                      for i in sample])
    below = np.array([sum(c.notional for c in maps[i].clusters if c.side == "below" and c.distance_atr <= NEARBY_ATR)
                      for i in sample])
    j = price_index[sample]
    up_level = h.open[j] + atr[sample]
    down_level = h.open[j] - atr[sample]
    up_first = _first_true(_forward(h.high, HORIZON_H, -np.inf)[j] >= up_level[:, None])
    down_first = _first_true(_forward(h.low, HORIZON_H, np.inf)[j] <= down_level[:, None])
    valid = (above != below) & (up_first != down_first) & np.isfinite(atr[sample])
    predicted_up = (above > below)[valid]
    went_up = (up_first < down_first)[valid]
    n = int(valid.sum())
    if n < 10:
        return {"events": n, "note": "too few sample hours with a nearby cluster and a decided first touch"}

    def agreement(weight):
        w = weight / weight.sum()
        hit = float(w @ (predicted_up == went_up))
        q, r = float(w @ predicted_up), float(w @ went_up)
        return hit - (q * r + (1 - q) * (1 - r))

    hit_rate = float(np.mean(predicted_up == went_up))
    q, r = predicted_up.mean(), went_up.mean()
    result = _rate_interval(agreement(np.ones(n)), agreement, n, reps, seed)
    return {"events": n, "hit_rate": hit_rate, "placebo_rate": float(q * r + (1 - q) * (1 - r)),
            "lead": result["value"], "lead_ci": result["ci"]}


def _local_extreme(values: np.ndarray, half: int, pick) -> np.ndarray:
    fill = -np.inf if pick is np.max else np.inf
    padded = np.concatenate((np.full(half, fill), values, np.full(half, fill)))
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return values == pick(window, axis=1)


def _sweeps(maps, h, price_index, reps, seed) -> dict:
    j = price_index
    is_high = _local_extreme(h.high, EXTREME_HALF_WINDOW_H, np.max)[j]
    is_low = _local_extreme(h.low, EXTREME_HALF_WINDOW_H, np.min)[j]
    o, hi, lo = h.open[j], h.high[j], h.low[j]
    swept_up = np.array([any(c.band == "major" and o[i] < c.peak <= hi[i] for c in m.clusters) for i, m in enumerate(maps)])
    swept_down = np.array([any(c.band == "major" and lo[i] <= c.peak < o[i] for c in m.clusters) for i, m in enumerate(maps)])
    # events of both directions stacked: outcome, and the placebo rate of same-size excursions without a sweep
    outcome = np.concatenate((is_high, is_low))
    event = np.concatenate((swept_up, swept_down))
    excursion = np.concatenate(((hi - o) / o, (o - lo) / o))
    direction = np.repeat([0, 1], j.size)
    expected = np.full(outcome.size, np.nan)
    for d in (0, 1):
        mine = direction == d
        edges = np.quantile(excursion[mine], np.linspace(0, 1, 11))
        decile = np.clip(np.searchsorted(edges, excursion, side="right") - 1, 0, 9)
        for k in range(10):
            pool = mine & (decile == k) & ~event
            cell = mine & (decile == k)
            expected[cell] = outcome[pool].mean() if pool.any() else np.nan
    usable = event & np.isfinite(expected)
    n_events = int(usable.sum())
    if n_events < 10:
        return {"events": n_events, "note": "too few hours swept a major cluster"}
    hour_of = np.concatenate((np.arange(j.size), np.arange(j.size)))
    n = j.size

    def lead(weight_per_hour):
        w = weight_per_hour[hour_of] * usable
        return float(w @ (outcome - np.nan_to_num(expected)) / w.sum()) if w.sum() else math.nan

    result = bootstrap.bootstrap_nested(lambda idx: {"v": lead(np.bincount(idx, minlength=n).astype(float))}, n,
                                        block=24, reps=reps, seed=seed)
    return {"events": n_events, "extreme_rate": float(outcome[usable].mean()),
            "placebo_rate": float(expected[usable].mean()), "lead": lead(np.ones(n)), "lead_ci": list(result["v"])}


def _reach(maps, h, price_index, reps, seed) -> dict:
    sample = np.flatnonzero((h.time[price_index] // MS_PER_HOUR) % SAMPLE_EVERY_H == 0)
    sample = sample[np.isfinite([maps[i].atr for i in sample])]
    rows = [(s, c.peak, c.distance_atr, 1.0 if c.side == "above" else -1.0, c.reach)
            for s, i in enumerate(sample) for c in maps[i].clusters if np.isfinite(c.distance_atr)]
    if len(rows) < 10:
        return {"clusters": len(rows), "note": "too few clusters with a known ATR"}
    owner = np.array([r[0] for r in rows])
    peak = np.array([r[1] for r in rows])
    signed = np.array([r[2] * r[3] for r in rows])
    band = np.array([r[4] for r in rows])
    j = price_index[sample]
    future_high = _forward(h.high, HORIZON_H, -np.inf)[j].max(axis=1)
    future_low = _forward(h.low, HORIZON_H, np.inf)[j].min(axis=1)
    atr = np.array([maps[i].atr for i in sample])

    def reached(at, level, side):
        return np.where(side > 0, future_high[at] >= level, future_low[at] <= level)

    hit = reached(owner, peak, np.sign(signed))
    rng = np.random.default_rng(seed)
    other = rng.integers(0, sample.size, size=(PLACEBO_DRAWS, owner.size))
    placebo = reached(other, h.open[j][other] + signed * atr[other], np.sign(signed)).mean(axis=0)
    n = sample.size
    near = band == "actionable"
    far = band == "speculative"

    def contrast(weight_per_sample, values):
        w = weight_per_sample[owner]
        if w[near].sum() == 0 or w[far].sum() == 0:
            return math.nan
        return float(w[near] @ values[near] / w[near].sum() - w[far] @ values[far] / w[far].sum())

    ci = bootstrap.bootstrap_nested(
        lambda idx: {k: contrast(np.bincount(idx, minlength=n).astype(float), v)
                     for k, v in (("clusters", hit.astype(float)), ("placebo", placebo))},
        n, block=max(1, 24 // SAMPLE_EVERY_H), reps=reps, seed=seed)
    ones = np.ones(n)
    by_band = {
        name: {"clusters": int((band == name).sum()),
               "reach_rate": float(hit[band == name].mean()) if (band == name).any() else math.nan,
               "placebo_rate": float(placebo[band == name].mean()) if (band == name).any() else math.nan}
        for name in REACH_ORDER
    }
    return {
        "samples": int(n), "by_band": by_band,
        "near_minus_speculative": {
            "clusters": contrast(ones, hit.astype(float)), "clusters_ci": list(ci["clusters"]),
            "placebo": contrast(ones, placebo), "placebo_ci": list(ci["placebo"]),
        },
    }

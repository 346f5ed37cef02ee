"""The ex-ante test of the clusters a user sees: does price reach them, and sooner than a random level?

Every ``EVERY_H`` hours (the as-of times) the map is read as a user reads it
(``analysis.mapping.read_map``: clusters, ATR) from the book as of that
hour's open.  Each cluster whose peak is ``MIN_PCT``–``MAX_PCT`` % from
price is a level; its outcome is the first hour at or after the as-of time
whose low (below) or high (above) reaches the peak, found for all levels at
once with the range-minimum tables of ``model.deaths``.

Placebo: for each cluster, ``PLACEBO_DRAWS`` levels at the same signed
distance in ATR from price at other, random as-of times.  If clusters are
reached no more often than the placebo, distance alone explains the reach.

Probabilities, walk-forward by calendar month (a month's levels are forecast
only from earlier months): ``distance`` = the placebo's reach rate in the
level's ATR-distance band, ``map`` = the clusters' own reach rate in that
band (both with one success and one failure added).  On the month's
clusters, log loss and Brier of ``map`` against ``distance`` say whether
knowing "the map put a cluster here" sharpens the forecast; calibration
compares the forecast with the observed rate by band.
"""

from __future__ import annotations

import math

import numpy as np

from ..frames import MS_PER_HOUR
from ..model.deaths import first_at_or_below, min_table
from . import bootstrap
from .dataset import HourlyTruth

EVERY_H = 4
MIN_PCT, MAX_PCT = 0.5, 20.0
HORIZONS_H = (24, 168)
PLACEBO_DRAWS = 5
#: ATR-distance bands of the reach-rate forecasts (upper edges; the last is open).
ATR_BANDS = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, math.inf)
GRID_STEP = 0.001


def first_touch(low: np.ndarray, high: np.ndarray, start: np.ndarray, level: np.ndarray,
                above: np.ndarray) -> np.ndarray:
    """Per level, the first row ``>= start`` whose high (``above``) or low (below) reaches it; ``low.size`` if none."""
    out = np.empty(level.size, dtype=np.intp)
    below = ~above
    out[below] = first_at_or_below(min_table(np.asarray(low, float)), start[below], level[below])
    out[above] = first_at_or_below(min_table(-np.asarray(high, float)), start[above], -level[above])
    return out


def reach_forecast(train_band: np.ndarray, train_hit: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Reach probability per band from training levels: (hits + 1) / (levels + 2), read at ``bands``."""
    n_bands = len(ATR_BANDS)
    hits = np.bincount(train_band, weights=train_hit.astype(float), minlength=n_bands)
    counts = np.bincount(train_band, minlength=n_bands)
    return ((hits + 1.0) / (counts + 2.0))[bands]


def log_loss(p: np.ndarray, outcome: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(np.where(outcome, np.log(p), np.log1p(-p))))


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((p - outcome) ** 2))


def atr_band(distance_atr: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(ATR_BANDS), distance_atr, side="left").clip(0, len(ATR_BANDS) - 1)


def as_of_rows(hours: HourlyTruth, start_ms: int, end_ms: int) -> np.ndarray:
    """Rows of the scorable hours in ``[start_ms, end_ms)`` that open on an ``EVERY_H`` mark."""
    t = hours.time
    keep = hours.scorable & (t >= start_ms) & (t < end_ms) & ((t // MS_PER_HOUR) % EVERY_H == 0)
    return np.flatnonzero(keep)


def cluster_levels(data, rows: np.ndarray, end_ms: int, choice) -> dict[str, np.ndarray]:
    """Every cluster 0.5–20 % from price in the map as of each row's open: row, peak, side, ATR, distance."""
    from ..analysis.indicators import atr_known_at
    from ..analysis.mapping import MapSettings, read_map
    from ..model.build import build_book
    from .predictors import log_grid

    settings = MapSettings()
    market = data.market.slice_time(None, end_ms)  # the book never holds data past the period
    book = build_book(market, choice.params, choice.window_ms)
    h = data.hours
    times, price = h.time[rows], h.open[rows]
    span = settings.span_pct / 100.0
    edges = log_grid(float(price.min()) * (1 - span), float(price.max()) * (1 + span), GRID_STEP)
    long, short = book.history(times, edges, view=choice.view, window_ms=choice.window_ms)
    atr = atr_known_at(market.candles, times, settings.atr_period, settings.atr_interval_ms)
    lo = np.searchsorted(edges, price * (1 - span), side="right") - 1
    hi = np.searchsorted(edges, price * (1 + span), side="left")
    model = {"name": "validation first touch", "parameters": {}}
    out: dict[str, list] = {"row": [], "peak": [], "above": [], "atr": [], "notional": [], "z": []}
    for k in range(rows.size):  # the reading (clusters) is per map
        if not np.isfinite(atr[k]):
            continue
        a, b = max(int(lo[k]), 0), min(int(hi[k]), edges.size - 1)
        m = read_map(symbol=market.symbol, exchange=market.exchange, as_of_ms=int(times[k]),
                     window_ms=choice.window_ms or 0, view=choice.view, price=float(price[k]), atr=float(atr[k]),
                     edges=edges[a:b + 1], long=long[k, a:b], short=short[k, a:b], model=model,
                     now_ms=int(times[k]), settings=settings)
        for c in m.clusters:
            if MIN_PCT <= abs(c.distance_pct) <= MAX_PCT:
                for key, value in (("row", rows[k]), ("peak", c.peak), ("above", c.distance_pct > 0),
                                   ("atr", atr[k]), ("notional", c.notional), ("z", c.z)):
                    out[key].append(value)
    return {key: np.asarray(values) for key, values in out.items()}


def study_first_touch(data, start_ms: int, end_ms: int, choice, *, reps: int = bootstrap.DEFAULT_REPS,
                      seed: int = 0) -> dict:
    """Reach of the map's clusters against placebo levels, per horizon, walk-forward scored by month.

    Levels are taken from the as-of times of the whole data up to ``end_ms``
    (earlier months train the forecasts); the scores are on the as-of times
    in ``[start_ms, end_ms)`` whose horizon ends inside the data.
    """
    from .metrics import month_keys

    h = data.hours
    rows = as_of_rows(h, int(h.time[0]), end_ms)
    levels = cluster_levels(data, rows, end_ms, choice)
    n_levels = levels["row"].size
    row = levels["row"].astype(np.intp)
    distance_atr = np.abs(levels["peak"] - h.open[row]) / levels["atr"]
    signed = np.where(levels["above"], distance_atr, -distance_atr)
    # placebo: the same signed ATR distance at random other as-of times (with a known ATR)
    rng = np.random.default_rng(seed)
    pool = np.unique(row)
    pool_atr = {int(r): a for r, a in zip(row, levels["atr"])}
    other = pool[rng.integers(0, pool.size, size=PLACEBO_DRAWS * n_levels)]
    other_atr = np.array([pool_atr[int(r)] for r in other])
    p_signed = np.tile(signed, PLACEBO_DRAWS)
    p_level = h.open[other] + p_signed * other_atr
    low, high = h.low, h.high
    touch = first_touch(low, high, row, levels["peak"], levels["above"].astype(bool))
    p_touch = first_touch(low, high, other, p_level, p_signed > 0)
    band, p_band = atr_band(distance_atr), atr_band(np.abs(p_signed))
    months, p_months = month_keys(h.time[row]), month_keys(h.time[other])
    scored = (h.time[row] >= start_ms)
    out: dict = {"settings": {"every_h": EVERY_H, "min_pct": MIN_PCT, "max_pct": MAX_PCT,
                              "placebo_draws": PLACEBO_DRAWS, "atr_bands": [b for b in ATR_BANDS if math.isfinite(b)]},
                 "horizons": {}}
    for horizon in HORIZONS_H:
        known = row + horizon <= h.time.size
        p_known = other + horizon <= h.time.size
        hit = (touch - row) < horizon
        p_hit = (p_touch - other) < horizon
        forecast_map = np.full(n_levels, np.nan)
        forecast_distance = np.full(n_levels, np.nan)
        for m in np.unique(months[scored & known]):
            # train on levels whose horizon ended before the month starts: no outcome from the month leaks in
            month_start = np.datetime64(m, "M").astype("datetime64[ms]").astype(np.int64)
            done = h.time[np.minimum(row + horizon, h.time.size - 1)] <= month_start
            p_done = h.time[np.minimum(other + horizon, h.time.size - 1)] <= month_start
            train, p_train = known & done, p_known & p_done
            if not train.any() or not p_train.any():
                continue
            mine = months == m
            forecast_map[mine] = reach_forecast(band[train], hit[train], band[mine])
            forecast_distance[mine] = reach_forecast(p_band[p_train], p_hit[p_train], band[mine])
        use = scored & known & np.isfinite(forecast_map)
        p_use = (h.time[other] >= start_ms) & p_known
        out["horizons"][f"{horizon}h"] = _horizon_scores(
            use, hit, forecast_map, forecast_distance, band, row, p_use, p_hit, p_band, reps, seed)
        out["horizons"][f"{horizon}h"]["placebo_months"] = sorted(set(p_months[p_use].tolist()))
    out["clusters"] = int(np.count_nonzero(scored))
    out["as_of_times"] = int(np.unique(row[scored]).size)
    return out


def _horizon_scores(use, hit, f_map, f_dist, band, row, p_use, p_hit, p_band, reps, seed) -> dict:
    """Reach rates (clusters, placebo), their difference and the forecasts' scores with block-bootstrap intervals."""
    n = int(use.sum())
    if n < 20:
        return {"clusters": n, "note": "too few clusters with a full horizon and an earlier month to train on"}
    y, fm, fd = hit[use].astype(float), f_map[use], f_dist[use]
    placebo_rate = float(p_hit[p_use].mean())
    # resample whole days of as-of times (levels of one as-of time move together)
    day = row[use] // 24
    units, unit_of = np.unique(day, return_inverse=True)
    n_units = units.size

    def stats(weight_of_unit: np.ndarray) -> dict:
        w = weight_of_unit[unit_of]
        total = w.sum()
        if total == 0:
            return {k: math.nan for k in ("reach_rate", "log_loss_lead", "brier_lead")}

        def mean(v):
            return float(w @ v / total)

        ll_map = -(y * np.log(np.clip(fm, 1e-6, 1)) + (1 - y) * np.log(np.clip(1 - fm, 1e-6, 1)))
        ll_dist = -(y * np.log(np.clip(fd, 1e-6, 1)) + (1 - y) * np.log(np.clip(1 - fd, 1e-6, 1)))
        return {"reach_rate": mean(y), "log_loss_lead": mean(ll_dist - ll_map),
                "brier_lead": mean((fd - y) ** 2 - (fm - y) ** 2)}

    point = stats(np.ones(n_units))
    draws = bootstrap.bootstrap_draws(lambda idx: stats(np.bincount(idx, minlength=n_units).astype(float)),
                                      n_units, block=7, reps=reps, seed=seed)
    ci = bootstrap.summarise(draws, bootstrap.interval)
    calibration = []
    for b in range(len(ATR_BANDS)):
        mine = band[use] == b
        if mine.any():
            calibration.append({"band_atr": [ATR_BANDS[b - 1] if b else 0.0, ATR_BANDS[b]], "clusters": int(mine.sum()),
                                "forecast_map": float(fm[mine].mean()), "forecast_distance": float(fd[mine].mean()),
                                "observed": float(y[mine].mean()),
                                "placebo_observed": float(p_hit[p_use & (p_band == b)].mean())
                                if np.any(p_use & (p_band == b)) else math.nan})
    return {
        "clusters": n, "reach_rate": point["reach_rate"], "reach_rate_ci": list(ci["reach_rate"]),
        "placebo_rate": placebo_rate, "placebo_levels": int(p_use.sum()),
        "log_loss_map": log_loss(fm, y.astype(bool)), "log_loss_distance": log_loss(fd, y.astype(bool)),
        "brier_map": brier(fm, y), "brier_distance": brier(fd, y),
        "log_loss_lead": point["log_loss_lead"], "log_loss_lead_ci": list(ci["log_loss_lead"]),
        "brier_lead": point["brier_lead"], "brier_lead_ci": list(ci["brier_lead"]),
        "calibration": calibration,
    }

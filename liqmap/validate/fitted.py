"""The fitted baseline: the best public-data nowcast the map has to beat.

Per side, an ordinary least-squares model of ``log(1 + realized USD)`` on
what public data says about the hour: its move toward the side and the
move's square, the other side's move, open interest, 24-hour volatility,
24/72-hour breakouts, the side's realized liquidations of the previous hour
and previous 24 hours, returns, changes of open interest and the funding
rate.  ``fitted+map`` adds the map's own prediction, ``log(1 + map USD)``,
as one more column, so its lead over ``fitted`` is what the map adds.

Walk-forward by calendar month: the rows of a month are predicted with
coefficients fitted on the scorable hours of earlier months only.  Like the
other nowcasts, a row may use the hour's own range (open, high, low); every
other column is known at the hour's open.
"""

from __future__ import annotations

import numpy as np

from ..frames import MS_PER_HOUR
from .dataset import HourlyTruth

#: Fewer earlier training hours than this and a month gets no fitted prediction.
MIN_TRAIN_HOURS = 14 * 24
FEATURES = ("move", "move_sq", "other_move", "log_oi", "vol_24h", "breakout_24h", "breakout_72h",
            "realized_1h", "realized_24h", "return_1h", "return_24h", "d_oi_1h", "d_oi_24h", "funding")


def least_squares(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients ``[intercept, b_1 .. b_k]`` minimising ``|y - [1 x] b|^2`` (minimum-norm if rank-deficient)."""
    design = np.column_stack((np.ones(len(y)), x))
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def _trailing(values: np.ndarray, hours: int, how: str) -> np.ndarray:
    """Per hour t, ``how`` (min, max, sum, std) of ``values[t - hours : t]`` (the hours before t; NaN at t = 0)."""
    import pandas as pd

    rolled = pd.Series(values).shift(1).rolling(hours, min_periods=1)
    return getattr(rolled, how)().to_numpy(np.float64)


def features(hours: HourlyTruth, funding=None) -> dict[str, np.ndarray]:
    """``{"long": (n, k), "short": (n, k)}`` design columns (``FEATURES``) for every hour of ``hours``.

    ``hours`` must be the gap-free hourly series from the data's start (the
    trailing windows count rows as hours).  Missing values (bridged hours,
    the first hours) count as 0, open interest is carried forward.
    """
    import pandas as pd

    o, h, lo, c = hours.open, hours.high, hours.low, hours.close
    fall, rise = (o - lo) / o, (h - o) / o
    oi = pd.Series(hours.oi_open_usd).ffill().bfill().to_numpy(np.float64)
    log_oi = np.log(oi)
    log_close = np.log(c)
    ret = np.concatenate(([np.nan], np.diff(log_close)))
    vol = _trailing(ret, 24, "std")
    log_open = np.log(o)
    shared = {
        "log_oi": log_oi, "vol_24h": vol,
        "return_1h": log_open - np.concatenate(([np.nan], log_open[:-1])),
        "return_24h": log_open - np.concatenate((np.full(24, np.nan), log_open[:-24])),
        "d_oi_1h": log_oi - np.concatenate(([np.nan], log_oi[:-1])),
        "d_oi_24h": log_oi - np.concatenate((np.full(24, np.nan), log_oi[:-24])),
        "funding": _funding_known_at(hours.time, funding),
    }
    out = {}
    for side, move, other, realized in (("long", fall, rise, hours.long_usd), ("short", rise, fall, hours.short_usd)):
        if side == "long":  # how far the hour's low breaks below the trailing low
            b24, b72 = (np.maximum(np.log(_trailing(lo, n, "min") / lo), 0.0) for n in (24, 72))
        else:
            b24, b72 = (np.maximum(np.log(h / _trailing(h, n, "max")), 0.0) for n in (24, 72))
        lagged = np.log1p(np.nan_to_num(realized, nan=0.0))
        columns = {
            "move": move, "move_sq": move * move, "other_move": other, "breakout_24h": b24, "breakout_72h": b72,
            "realized_1h": np.concatenate(([np.nan], lagged[:-1])),
            "realized_24h": np.log1p(_trailing(np.nan_to_num(realized, nan=0.0), 24, "sum")),
            **shared,
        }
        out[side] = np.nan_to_num(np.column_stack([columns[name] for name in FEATURES]), nan=0.0)
    return out


def _funding_known_at(times: np.ndarray, funding) -> np.ndarray:
    """The last funding rate settled at or before each time (0 before the first one or without funding)."""
    if funding is None or funding.time.size == 0:
        return np.zeros(times.size)
    at = np.searchsorted(funding.time, times, side="right") - 1
    return np.where(at >= 0, funding.rate[np.maximum(at, 0)], 0.0)


def walk_forward(time: np.ndarray, x: np.ndarray, y: np.ndarray, trainable: np.ndarray,
                 targets: np.ndarray) -> np.ndarray:
    """Fitted ``log(1 + USD)`` for the rows ``targets``, each month from earlier months' trainable rows.

    NaN for a month with fewer than ``MIN_TRAIN_HOURS`` earlier trainable rows.
    """
    from .metrics import month_keys

    months = month_keys(time)
    month_start = np.asarray(months, dtype="datetime64[M]").astype("datetime64[ms]").astype(np.int64)
    out = np.full(targets.size, np.nan)
    for m in np.unique(months[targets]):
        rows = targets[months[targets] == m]
        start = int(month_start[rows[0]])
        train = np.flatnonzero(trainable & (time < start))
        if train.size < MIN_TRAIN_HOURS:
            continue
        coef = least_squares(x[train], y[train])
        out[np.searchsorted(targets, rows)] = coef[0] + x[rows] @ coef[1:]
    return out


def fitted_predictions(hours: HourlyTruth, funding, scored: np.ndarray,
                       map_usd: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(long, short) fitted USD for the rows ``scored`` of ``hours`` (increasing indices).

    With ``map_usd`` (the map's (long, short) USD for every row of ``hours``,
    NaN where not computed) the map's ``log(1 + USD)`` is one more column and
    only rows where it is known are trained on.
    """
    if np.any(np.diff(hours.time) != MS_PER_HOUR):
        raise ValueError("the fitted baseline needs a gap-free hourly series")
    design = features(hours, funding)
    out = []
    for k, (side, realized) in enumerate((("long", hours.long_usd), ("short", hours.short_usd))):
        x = design[side]
        trainable = hours.scorable & np.isfinite(realized)
        if map_usd is not None:
            trainable &= np.isfinite(map_usd[k])
            x = np.column_stack((x, np.log1p(np.nan_to_num(map_usd[k], nan=0.0))))
        y = np.log1p(np.nan_to_num(realized, nan=0.0))
        out.append(np.expm1(walk_forward(hours.time, x, y, trainable, scored)))
    return out[0], out[1]

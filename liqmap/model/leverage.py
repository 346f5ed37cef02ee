"""Leverage cohorts: how opened notional is spread over 1x-125x, and the views that filter them.

Traders pick leverage from exchange presets, so positions bunch on round
values; the default cohorts are those presets.  Each cohort's weight is the
probability mass of a log-normal leverage distribution over the cohort's
slice of log-leverage (midpoints between neighbouring presets), so the spread
is a real distribution over 1x-125x rather than a few spikes.

Set leverage is not the leverage that liquidates: a cross-margined position
(two-thirds or more of the value on Hyperliquid) is liquidated at its
notional / equity, which is continuous (median near 2.5-3x there, while set
leverage is mostly 20-40x by value).  ``spread_leverage`` places a share of
each cohort's levels inside the cohort's slice instead of on the preset, at
stratified quantiles of the distribution restricted to the slice, so one
opening makes a band rather than one spike per cohort.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

#: Exchange slider presets between 1x and 125x.
DEFAULT_LEVERAGES = (1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 50.0, 75.0, 100.0, 125.0)

#: Leverage filters per view: (lower, upper, lower_inclusive).  Optical is a weighting of "all".
VIEW_FILTERS = {
    "all": (1.0, 125.0, True),
    "high": (10.0, 125.0, False),
    "medium": (3.0, 10.0, False),
    "low": (1.0, 3.0, True),
    "optical": (1.0, 125.0, True),
}
VIEWS = tuple(VIEW_FILTERS)


def check_view(view: str) -> str:
    if view not in VIEW_FILTERS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    return view


def view_mask(leverages: np.ndarray, view: str) -> np.ndarray:
    """Which cohorts a view keeps: All [1,125], High (10,125], Medium (3,10], Low [1,3]."""
    lower, upper, lower_inclusive = VIEW_FILTERS[check_view(view)]
    above = leverages >= lower if lower_inclusive else leverages > lower
    return above & (leverages <= upper)


#: Strata of a cohort's slice: a spread level sits at the quantile (j + 1/2) / SPREAD_STRATA of it.
SPREAD_STRATA = 16
#: Golden-ratio step of the low-discrepancy sequence that picks each entry's stratum.
_WEYL = (math.sqrt(5.0) - 1.0) / 2.0


def slice_quantiles(leverages, median: float, sigma: float, strata: int = SPREAD_STRATA) -> np.ndarray:
    """Leverage at the quantiles (j + 1/2)/strata of the log-normal restricted to each cohort's slice.

    Shape (cohorts, strata).  The slices are those of ``cohort_weights``
    (midpoints in ln-leverage), clipped to [1x, 125x]: no position is
    opened below 1x or above the venues' highest preset.
    """
    levels = np.log(np.asarray(leverages, dtype=np.float64))
    edges = np.concatenate(([0.0], (levels[1:] + levels[:-1]) / 2, [math.log(125.0)]))
    edges = np.clip(edges, 0.0, math.log(125.0))
    law = NormalDist(math.log(median), sigma)
    out = np.empty((levels.size, strata))
    for k in range(levels.size):
        low, high = law.cdf(edges[k]), law.cdf(edges[k + 1])
        for j in range(strata):
            p = low + (j + 0.5) / strata * (high - low)
            # a slice far in a tail has no mass a float can hold: its points spread evenly instead
            x = law.inv_cdf(p) if high - low > 1e-12 else edges[k] + (j + 0.5) / strata * (edges[k + 1] - edges[k])
            out[k, j] = math.exp(min(max(x, edges[k]), edges[k + 1]))
    return out


def spread_leverage(leverages, median: float, sigma: float, spread: float, bucket: np.ndarray) -> np.ndarray:
    """Leverage of each (entry, cohort) level: the preset, or a point inside the cohort's slice.

    ``bucket`` is each entry's index on the fixed logarithmic entry grid, so
    a level never depends on which other data are in view.  A golden-ratio
    sequence over (bucket, cohort) gives each level u in [0, 1): below
    ``1 - spread`` it stays on the preset (isolated margin), else it sits at
    the stratum ``(u - 1 + spread) / spread`` of the slice (cross margin).
    Shape (entries, cohorts).
    """
    presets = np.asarray(leverages, dtype=np.float64)
    out = np.broadcast_to(presets, (bucket.size, presets.size)).copy()
    if spread <= 0 or bucket.size == 0:
        return out
    quantiles = slice_quantiles(presets, median, sigma)
    code = bucket.astype(np.float64)[:, None] * presets.size + np.arange(presets.size)[None, :]
    u = np.mod(code * _WEYL, 1.0)
    spread_at = u >= 1.0 - spread
    stratum = np.minimum(((u - (1.0 - spread)) / spread * SPREAD_STRATA).astype(np.int64), SPREAD_STRATA - 1)
    rows, cols = np.nonzero(spread_at)
    out[rows, cols] = quantiles[cols, stratum[rows, cols]]
    return out


def cohort_weights(leverages, median: float, sigma: float) -> np.ndarray:
    """Log-normal mass (median, sigma in ln-leverage) per cohort, normalised to 1.

    Cohort k owns ln-leverage between the midpoints to its neighbours; the
    first and last cohorts take the tails below 1x and above 125x.
    """
    levels = np.log(np.asarray(leverages, dtype=np.float64))
    if levels.size == 0 or np.any(np.diff(levels) <= 0):
        raise ValueError("leverage cohorts must be a non-empty increasing sequence")
    if median <= 0 or sigma <= 0:
        raise ValueError("leverage distribution needs a positive median and sigma")
    edges = np.concatenate(([-np.inf], (levels[1:] + levels[:-1]) / 2, [np.inf]))
    z = (edges - math.log(median)) / sigma
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    mass = np.diff(cdf)
    return mass / mass.sum()

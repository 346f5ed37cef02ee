"""Leverage cohorts: how opened notional is spread over 1x-125x, and the views that filter them.

Traders pick leverage from exchange presets, so positions bunch on round
values; the default cohorts are those presets.  Each cohort's weight is the
probability mass of a log-normal leverage distribution over the cohort's
slice of log-leverage (midpoints between neighbouring presets), so the spread
is a real distribution over 1x-125x rather than a few spikes.
"""

from __future__ import annotations

import math

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

"""Stage 7 of the book: how a level fades while it is held (the decay rule, in one place).

A level fades at a constant log-rate per millisecond that depends on its
cohort's leverage: the half-life is ``decay_half_life_10x * 10 / L`` hours,
so high-leverage positions are held for hours and low-leverage ones for
weeks.  Every reader (``snapshot``, ``history``) takes its rates from
``decay_rates``; a different decay shape is a change here.
"""

from __future__ import annotations

import numpy as np

from ..frames import MS_PER_HOUR

#: A decaying level is dropped once its weight is below e^-30 of its opening weight.
DECAY_CUTOFF = 30.0


def decay_rates(half_life_10x: float | None, leverages: np.ndarray, recency_half_life_ms: float | None = None):
    """Log-rate (per ms) each cohort fades at, plus an optional recency fade; None when nothing fades."""
    rate = np.zeros(leverages.size)
    if half_life_10x is not None:
        half_life_ms = half_life_10x * MS_PER_HOUR * 10.0 / leverages
        rate = rate + np.log(2) / half_life_ms
    if recency_half_life_ms:
        rate = rate + np.log(2) / recency_half_life_ms
    return rate if np.any(rate) else None


def cohort_rates(half_life_10x: float | None, leverages) -> np.ndarray:
    """Log-rate (per ms) of each cohort's decay; zeros when decay is off."""
    leverages = np.asarray(leverages, dtype=np.float64)
    rate = decay_rates(half_life_10x, leverages)
    return np.zeros(leverages.size) if rate is None else rate


def decay_factor(rate, age_ms):
    """The share of a level left after ``age_ms`` at ``rate``."""
    return np.exp(-rate * age_ms)

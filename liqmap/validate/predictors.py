"""Predicted long/short liquidation notional per hour: the map and the baselines.

For hour h the map's prediction is the long notional between the hour's low
and its open (the levels the fall swept) and the short notional between open
and high, read from the book as of h's open.  The baselines know the same
move but not the map:

* ``move``: the move alone, ``(open - low) / open`` and ``(high - open) / open``;
* ``uniform``: levels spread evenly over ``UNIFORM_WIDTH`` on each side of
  price, holding the open interest at the hour's open, so the swept notional
  is ``OI * move / UNIFORM_WIDTH`` (only the scale depends on the width).
"""

from __future__ import annotations

import numpy as np

from ..analysis.mapping import mass_below

#: Log-price step of the validation grid (0.05 %: finer than the 0.4 % gap of a 125x level).
GRID_STEP = 0.0005
UNIFORM_WIDTH = 0.10


def log_grid(low: float, high: float, step: float = GRID_STEP) -> np.ndarray:
    """Edges ``exp(k * step)`` covering ``[low, high]``.

    The edges sit on a fixed lattice, so widening the range (new data) adds
    edges but never moves the existing ones.
    """
    if not (0 < low < high):
        raise ValueError(f"price grid needs 0 < low < high, got {low!r}, {high!r}")
    first = int(np.floor(np.log(low) / step))
    last = int(np.ceil(np.log(high) / step))
    return np.exp(np.arange(first, last + 1) * step)


def mass_between(binned: np.ndarray, edges: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per row t, the mass of ``binned[t]`` between prices ``lower[t]`` and ``upper[t]`` (``mass_below``:
    a partly covered bin contributes its covered fraction; bounds outside the grid are clipped)."""
    below = mass_below(binned, edges, np.stack((lower, upper), axis=1))
    return np.maximum(below[:, 1] - below[:, 0], 0.0)


def move_prediction(hours) -> tuple[np.ndarray, np.ndarray]:
    """The ``move`` baseline: fractional fall to the low and rise to the high."""
    return (hours.open - hours.low) / hours.open, (hours.high - hours.open) / hours.open


def uniform_prediction(hours, width: float = UNIFORM_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """The ``uniform`` baseline: open interest at the hour's open times move / width."""
    fall, rise = move_prediction(hours)
    return hours.oi_open_usd * fall / width, hours.oi_open_usd * rise / width


def map_prediction(book, hours, edges: np.ndarray, view: str = "all",
                   window_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The map's swept notional per hour, from the book as of each hour's open (one pass)."""
    long_binned, short_binned = book.history(hours.time, edges, view=view, window_ms=window_ms)
    long_swept = mass_between(long_binned, edges, hours.low, hours.open)
    short_swept = mass_between(short_binned, edges, hours.open, hours.high)
    return long_swept, short_swept

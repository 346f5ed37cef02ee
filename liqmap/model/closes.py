"""Stage 6 of the book: the survival factor S, closes net of the model's own liquidations.

When open interest falls, every outstanding position shrinks alike (ln S
falls), net of the contracts the model itself liquidated in that candle, so
nothing is removed twice.  The model's liquidations in candle t are those of
the positions it *holds* at t: opened within the window before t, weighted
by their survival and their decay (a faded position has mostly been closed
and cannot be liquidated again).  Holding is defined per candle, not per map,
so S of a settled candle never changes: a book that grows in place and a
whole build agree.

A candle's liquidations depend on S at earlier candles, so S solves a causal
fixed point; it is iterated (each pass vectorised) until it no longer moves.
"""

from __future__ import annotations

import numpy as np

from .decay import decay_factor

#: The fixed point has converged when no ln S moves by more than this in a pass.
CONVERGED = 1e-14


def netting_weight(contracts, rate, open_time, open_end, death_time, before_death_end, window_ms: int | None):
    """Contracts of each dying level the model held when it died (0 if it had left the window).

    ``open_time``/``open_end`` are its opening candle's start and end, ``death_time`` the start of
    the candle it dies in and ``before_death_end`` the end of the candle before (its decay age).
    """
    weight = contracts * decay_factor(rate, before_death_end - open_end)
    if window_ms is not None:
        weight = np.where(open_time >= death_time - window_ms, weight, 0.0)
    return weight


def survival_log(closed, oi_at_end, death, open_step, weight, open_log=None, start_log: float = 0.0,
                 max_passes: int = 50) -> tuple[np.ndarray, bool]:
    """ln S after each step of a run of candles, and whether the fixed point converged.

    ``death`` and ``open_step`` index the run (``open_step`` -1: opened before it,
    with ln S at its opening in ``open_log``); ``start_log`` is ln S before the run.
    """
    n = closed.size
    oi_before = np.where(np.isfinite(oi_at_end), oi_at_end + closed, np.nan)  # OI before this step's closes
    inside = open_step >= 0
    known_open = np.where(inside, 0.0, start_log if open_log is None else open_log)
    liquidated = np.zeros(n)
    log_s = np.full(n, start_log)
    for k in range(max_passes):
        voluntary = np.maximum(closed - liquidated, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(oi_before > 0, voluntary / oi_before, 0.0)
        new = start_log + np.cumsum(np.log1p(-np.clip(frac, 0.0, 1.0 - 1e-12)))
        moved = float(np.max(np.abs(new - log_s), initial=0.0))
        log_s = new
        if k and moved <= CONVERGED:
            return log_s, True
        before = np.concatenate(([start_log], log_s))[death]  # ln S at the end of the step before death
        at_open = np.where(inside, log_s[np.maximum(open_step, 0)], known_open)
        liquidated = np.bincount(death, weight * np.exp(before - at_open), minlength=n)
    return log_s, False


CLOSES_NOTE = ("closes: OI decreases net of the model's own liquidations (of the positions it held then) shrink all "
               "positions proportionally; OI already open at the data's start is not placed (see coverage)")

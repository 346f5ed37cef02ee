"""Dollars that mean dollars: the alive book reconciled with the open interest it came from.

The book places only what it saw open inside its data and window, and it
fades what it holds (decay), so its alive levels hold a varying share of the
open interest (OI): a third of it on the development months, from a fifth to
a half.  The OI at the as-of time is the one count of outstanding contracts
the data give.  With ``oi_reconcile`` (the default) every map, heatmap row
and validation prediction is the book's shape scaled to hold that OI: the
scale is

    OI at the as-of time / contracts the window's alive levels hold

where a level counts with what its survival and decay leave of it, and the
leveraged legs of a contract (the taker's and ``maker_leveraged_share`` of
the maker's) are divided out, as in ``PositionBook.coverage``.  The scale is
one number per moment for both sides and every view, so the book's long and
short shares, its Z-scores, clusters and LiqRatio do not move: only dollars
do.  It uses the OI of the last candle that had ended at the as-of time and
nothing later (tested), and no realized liquidations at all.  What it does
to the monthly realized / predicted ratios is in docs/model.md ("Dollars").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .history import held

if TYPE_CHECKING:
    from .positions import PositionBook

def held_contracts(book: PositionBook, times_ms, window_ms: int | None) -> np.ndarray:
    """Contracts the window's alive levels hold as of each time (survival and decay included, legs divided out).

    One sweep of the history (``history.held``) for one time or many.
    """
    return held(book, np.atleast_1d(np.asarray(times_ms, dtype=np.int64)), window_ms) / \
        (1.0 + book.params.maker_leveraged_share)


def oi_at(book: PositionBook, times_ms) -> np.ndarray:
    """Open interest (base units) at the end of the last candle ended at each time; NaN where unknown."""
    done = np.asarray(book.steps_completed(np.asarray(times_ms, dtype=np.int64)))
    return np.where(done > 0, book.oi_at_end[np.maximum(done - 1, 0)], np.nan)


def oi_scale(book: PositionBook, times_ms, window_ms: int | None) -> np.ndarray:
    """The factor that makes the book hold the OI at each time (1 where OI or held contracts are unknown or 0).

    Always 1 with ``oi_reconcile`` off.
    """
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    if not book.params.oi_reconcile:
        return np.ones(times.size)
    return reconcile_scale(book, oi_at(book, times), held_contracts(book, times, window_ms))


def reconcile_scale(book: PositionBook, oi: np.ndarray, contracts: np.ndarray | None) -> np.ndarray:
    """``oi_scale`` from the OI and the held contracts at each time (``contracts`` may be None with it off)."""
    if not book.params.oi_reconcile or contracts is None:
        return np.ones(oi.size)
    usable = np.isfinite(oi) & (oi > 0) & (contracts > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usable, oi / np.where(usable, contracts, 1.0), 1.0)

"""Stage 5 of the book: the price path, and the first candle whose path crosses each level.

"Alive at T" is a range-minimum question: a sparse table of minima searched
by binary lifting over all levels at once, no loop over positions.
"""

from __future__ import annotations

import numpy as np

from ..frames import MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError, MarketData, format_ms
from .params import BookParams
from .positions import Levels


def price_path(market: MarketData, notes: list[str]) -> Candles:
    """Mark-price candles where present and aligned with the candles; last price otherwise."""
    mark = market.mark_candles
    if mark is not None and len(mark) == len(market.candles) and np.array_equal(mark.time, market.candles.time):
        notes.append("liquidation trigger: mark-price candles")
        return mark
    if mark is not None:
        notes.append("liquidation trigger: last-price candles (mark-price candles do not align with the candles)")
    else:
        notes.append("liquidation trigger: last-price candles (no mark-price candles in the data)")
    return market.candles



def check_candle_gaps(time: np.ndarray, interval_ms: int, params: BookParams, notes: list[str]) -> None:
    """Refuse missing candles beyond ``max_candle_gap_ms``: levels inside a gap would never be swept.

    ``time`` are candle open times (a book state passes its last held candle before the new ones).
    """
    missing = np.diff(time) - interval_ms
    gaps = np.flatnonzero(missing > 0)
    if not gaps.size:
        return
    k = int(gaps[np.argmax(missing[gaps])])
    largest = (f"{missing[k] / MS_PER_HOUR:.1f} h without candles from {format_ms(time[k] + interval_ms)} "
               f"to {format_ms(time[k + 1])}")
    too_long = np.count_nonzero(missing[gaps] > params.max_candle_gap_ms)
    if too_long:
        raise DataError(
            f"candles have {too_long} gap(s) longer than {params.max_candle_gap_ms // MS_PER_MINUTE} min; the largest is "
            f"{largest}. Fill the data, choose a period without it, or raise max_candle_gap_ms to bridge it "
            "(the price path then jumps across the gap: levels it would have swept there stay alive)."
        )
    notes.append(f"candles: {gaps.size} gap(s) bridged (largest {largest}); levels inside a gap are not swept")


def min_table(values: np.ndarray) -> list[np.ndarray]:
    """Sparse table of minima: level k, entry i = min(values[i : i + 2**k]) (clipped at the end).

    Every level has n + 1 entries, the last +inf, so a search may stand at n.
    """
    n = values.size
    level = np.append(values, np.inf)
    table = [level]
    for k in range(1, max(n.bit_length(), 1)):
        half = 1 << (k - 1)
        shifted = np.concatenate((level[half:], np.full(half, np.inf)))
        level = np.minimum(level, shifted)
        table.append(level)
    return table


def first_at_or_below(table: list[np.ndarray], start: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """First index >= start whose value is <= threshold, else n: binary lifting over all queries at once.

    Queries whose suffix (from start) stays above the threshold are answered n
    at once; the others have an answer below n, so from the largest block down
    a query only ever jumps to an index at or before it (no clipping), in
    three in-place passes a level.
    """
    n = table[0].size - 1
    start = np.minimum(start, n)
    found = np.full(start.size, n, dtype=np.intp)
    suffix_min = np.minimum.accumulate(table[0][::-1])[::-1]
    some = np.flatnonzero(suffix_min[start] <= threshold)
    pos = start[some].astype(np.intp)
    threshold = threshold[some]
    block = np.empty(pos.size)
    above = np.empty(pos.size, dtype=bool)
    jump = np.empty(pos.size, dtype=np.intp)
    for k in range(len(table) - 1, -1, -1):
        np.take(table[k], pos, out=block)
        np.greater(block, threshold, out=above)
        np.left_shift(above, k, out=jump, casting="unsafe")
        pos += jump
    found[some] = pos
    return found


def death_steps(path: Candles, levels: Levels, start: np.ndarray) -> np.ndarray:
    """First candle at or after ``start`` whose low (long) or high (short) reaches the level (n = never).

    A level is searched from the candle after its opening one: within the
    opening candle the order of the entry and the extreme is unknown.  Shorts
    search the negated highs: high >= p is -high <= -p.
    """
    death = np.empty(levels.price.size, dtype=np.int64)
    is_long = levels.is_long
    death[is_long] = first_at_or_below(min_table(path.low), start[is_long], levels.price[is_long])
    death[~is_long] = first_at_or_below(min_table(-path.high), start[~is_long], -levels.price[~is_long])
    return death

"""The book as of many moments in one pass (the heatmap, the validation).

Levels become events: added on the first row where they are alive, removed
on the row where they are swept, leave the window or have faded.  A running
state per (decay rate, side, bin) holds the alive levels at a reference
weight; each row reads it with its survival and decay factor per decay rate
(one small matrix product), and the state is rescaled only when the factors
have fallen by e^16, so nothing can overflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .decay import DECAY_CUTOFF

if TYPE_CHECKING:
    from .positions import PositionBook

#: How far a row's log weight may fall below its block's reference before the history's state
#: is rescaled (values stay within e^16 of their own size: far from overflow, exact to ~1e-9).
_STATE_LOG_SPAN = 16.0
#: Rows read into the float64 buffer between copies into the output.
_CHUNK_ROWS = 256


def _check_times(times_ms) -> np.ndarray:
    times = np.asarray(times_ms, dtype=np.int64)
    if times.size > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("history times must be strictly increasing")
    return times


def decay_blocks(book: PositionBook, times: np.ndarray, rate):
    """Per decay group (one per distinct rate): its rate, and per row the log weight, where blocks begin, the reference.

    The log weight of a level on row t is ``row_log[group, t] + level_log``.  The state holds each
    group's levels at a reference log weight ``ref[group, t]`` (constant over a block of rows in
    which ``row_log`` falls by less than ``_STATE_LOG_SPAN``); a row reads it as
    ``exp(row_log - ref) @ state``, so the state is only rescaled where a block begins.
    """
    rates = np.unique(np.zeros(book.leverages.size) if rate is None else rate)
    last_step = np.maximum(book.steps_completed(times) - 1, 0)
    row_log = book.log_survival[last_step][None, :] - rates[:, None] * book.step_end[last_step][None, :]
    block_start = np.floor((row_log[:, :1] - row_log) / _STATE_LOG_SPAN)
    block_start = np.concatenate([np.ones((rates.size, 1), bool), np.diff(block_start, axis=1) > 0], axis=1)
    first_row = np.maximum.accumulate(np.where(block_start, np.arange(times.size), 0), axis=1)
    return rates, row_log, block_start, np.take_along_axis(row_log, first_row, axis=1)


def _count_at_or_below(times: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(times, keys, "right")`` for increasing ``keys``, by searching the (fewer) times among the keys.

    Row t counts for key k when times[t] <= keys[k], that is when k is at or past the
    number of keys below times[t]: a running count of those numbers (the same comparisons).
    """
    first = np.searchsorted(keys, times, "left")
    return np.cumsum(np.bincount(first, minlength=keys.size + 1)[:keys.size]).astype(np.int32)


def _spans(book: PositionBook, times: np.ndarray, rates: np.ndarray, rate, idx: np.ndarray, window_ms: int | None):
    """Of the levels ``idx``: which are alive on some row (``live``, positions in idx), and for those
    their opening step, decay group, first row alive and first row no longer alive (n_rows: never)."""
    n_rows = times.size
    lv = book.levels
    rows_done = book.steps_completed(times)
    cohort_group = np.searchsorted(rates, np.zeros(book.leverages.size) if rate is None else rate).astype(np.int32)
    # per candle (and group): the first row at which it had ended, the last row of the window
    # opened with it, the row where its group's levels have faded; then gathered per level
    row_after = np.searchsorted(rows_done, np.arange(book.step_time.size + 1), side="right").astype(np.int32)
    last_row = np.full((rates.size, book.step_time.size), n_rows, dtype=np.int32)
    if window_ms is not None:
        last_row[:] = _count_at_or_below(times, book.step_time + window_ms)
    for g in np.flatnonzero(rates > 0):
        np.minimum(last_row[g], _count_at_or_below(times, book.step_end + DECAY_CUTOFF / rates[g]), out=last_row[g])
    open_step = lv.open_step[idx]
    group = cohort_group[lv.cohort[idx]]
    row_start = row_after[open_step]  # first row with the open candle done
    row_stop = np.minimum(row_after[lv.death_step[idx]], last_row[group, open_step])
    live = np.flatnonzero(row_stop > row_start)
    return live, open_step[live], group[live], row_start[live], row_stop[live]


def sweep(book: PositionBook, times_ms, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
          recency_half_life_ms: float | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``book`` as of every time in ``times_ms`` (increasing), in one pass over the rows, before any OI scale.

    Equal to the unscaled ``snapshot`` at every row (tested).  ``dtype`` is
    the output's (the running state is always float64); float32 halves a
    large heatmap's memory.
    """
    times = _check_times(times_ms)
    n_bins, n_rows = len(edges) - 1, times.size
    if n_rows == 0:
        return np.zeros((0, n_bins), dtype), np.zeros((0, n_bins), dtype)
    lv = book.levels
    mask, rate = book.level_log_weight(view, recency_half_life_ms)
    bins = np.searchsorted(edges, lv.price, side="right") - 1
    idx = np.flatnonzero(mask & (bins >= 0) & (bins < n_bins))
    bins = bins[idx].astype(np.int32)  # per level of idx from here on
    del mask
    rates, row_log, block_start, ref = decay_blocks(book, times, rate)
    live, open_step, group, row_start, row_stop = _spans(book, times, rates, rate, idx, window_ms)
    idx, bins = idx[live], bins[live]
    del live
    level_log = -book.log_survival[open_step] + rates[group] * book.step_end[open_step]
    base = lv.contracts[idx] * lv.price[idx]
    cell = (group * 2 + (~lv.is_long[idx])) * np.int32(n_bins) + bins
    del bins, idx, open_step  # a year of 1-minute data has millions of levels: keep few arrays of them at once
    removed = np.flatnonzero(row_stop < n_rows)
    ref_at = ref.ravel()  # (group, row) as group * n_rows + row: a flat gather is faster than a 2-D one
    with np.errstate(under="ignore", over="ignore"):
        values = np.concatenate([
            base * np.exp(ref_at[group * n_rows + row_start] + level_log),
            -base[removed] * np.exp(ref_at[group[removed] * n_rows + row_stop[removed]] + level_log[removed]),
        ])
    del base, level_log
    event_row = np.concatenate([row_start, row_stop[removed]])
    # a row's events: its additions, then from split[t] on its removals (a stable sort keeps them so)
    split = np.bincount(row_start, minlength=n_rows)
    del row_start, row_stop, group
    # a stable sort on 16-bit keys is a radix sort
    order = np.argsort(event_row.astype(np.uint16) if n_rows < 65_535 else event_row, kind="stable")
    event_cell = np.concatenate([cell, cell[removed]])[order]
    del cell, removed
    event_value = values[order]
    del values, order
    per_row = np.bincount(event_row, minlength=n_rows)
    bounds = np.concatenate(([0], np.cumsum(per_row)))
    split += bounds[:-1]
    del event_row
    with np.errstate(under="ignore"):  # (rows, groups), row-major: one contiguous slice per row
        read_factor = np.ascontiguousarray(np.exp(row_log - ref).T)
        rescale = np.exp(np.diff(ref, axis=1, prepend=ref[:, :1]))
    rescale_rows = np.flatnonzero(block_start[:, 1:].any(axis=0)) + 1

    out = np.empty((n_rows, 2 * n_bins), dtype)  # every row is written whole below
    state = np.zeros((rates.size, 2 * n_bins))
    flat = state.reshape(-1)
    alive = np.zeros(flat.size, np.int32)  # levels per cell, so emptied cells are exactly zero
    ones = np.ones(int(per_row.max(initial=0)), np.int32)
    # rows are read in float64 into a small buffer and copied into ``out`` a chunk at a time: a product
    # written straight into a float32 row costs more than twice one into a float64 row
    chunk = np.empty((min(n_rows, _CHUNK_ROWS), 2 * n_bins))
    next_rescale = iter(np.append(rescale_rows, n_rows).tolist())
    rescale_at = next(next_rescale)
    for t in range(n_rows):
        if t == rescale_at:
            state *= rescale[:, t, None]
            rescale_at = next(next_rescale)
        a, m, b = bounds[t], split[t], bounds[t + 1]
        if b > a:
            np.add.at(flat, event_cell[a:b], event_value[a:b])
            np.add.at(alive, event_cell[a:m], ones[:m - a])
            if b > m:
                gone = event_cell[m:b]
                np.subtract.at(alive, gone, ones[:b - m])
                flat[gone[alive[gone] == 0]] = 0.0
        k = t % chunk.shape[0]
        np.matmul(read_factor[t], state, out=chunk[k])  # weighted sum over the decay groups
        if k == chunk.shape[0] - 1 or t == n_rows - 1:
            np.maximum(chunk[:k + 1], 0.0, out=chunk[:k + 1])  # round-off of removals must not go negative
            out[t - k:t + 1] = chunk[:k + 1]
    return out[:, :n_bins], out[:, n_bins:]


def held(book: PositionBook, times_ms, window_ms: int | None) -> np.ndarray:
    """Leveraged legs (contracts, every price and cohort) alive as of each time, before any OI scale.

    The one-bin case of ``sweep`` without its event sort and per-row loop: a
    group's state only changes by the levels added and removed on a row and by
    the rescale where a block begins, so it is a running sum within each block.
    """
    times = _check_times(times_ms)
    n_rows = times.size
    if n_rows == 0:
        return np.zeros(0)
    mask, rate = book.level_log_weight("all", None)
    rates, row_log, block_start, ref = decay_blocks(book, times, rate)
    idx = np.flatnonzero(mask)
    live, open_step, group, row_start, row_stop = _spans(book, times, rates, rate, idx, window_ms)
    base = book.levels.contracts[idx[live]]
    level_log = -book.log_survival[open_step] + rates[group] * book.step_end[open_step]
    removed = np.flatnonzero(row_stop < n_rows)
    key = group * n_rows + row_start
    stop_key = group[removed] * n_rows + row_stop[removed]
    size = rates.size * n_rows
    with np.errstate(under="ignore", over="ignore"):
        ref_at = ref.ravel()  # (group, row) as key = group * n_rows + row
        added = np.bincount(key, base * np.exp(ref_at[key] + level_log), size)
        taken = np.bincount(stop_key, base[removed] * np.exp(ref_at[stop_key] + level_log[removed]), size)
        read_factor = np.exp(row_log - ref)
        rescale = np.exp(np.diff(ref, axis=1, prepend=ref[:, :1]))
    delta = (added - taken).reshape(rates.size, n_rows)
    count = (np.bincount(key, minlength=size) - np.bincount(stop_key, minlength=size)).reshape(rates.size, n_rows)
    state = np.empty((rates.size, n_rows))
    for g in range(rates.size):
        starts = np.append(np.flatnonzero(block_start[g]), n_rows)
        carry = 0.0
        for a, b in zip(starts[:-1], starts[1:]):
            state[g, a:b] = np.cumsum(delta[g, a:b]) + carry * rescale[g, a]
            carry = state[g, b - 1]
    state[np.cumsum(count, axis=1) == 0] = 0.0  # nothing alive: exactly zero
    return np.maximum(np.einsum("gt,gt->t", read_factor, state), 0.0)

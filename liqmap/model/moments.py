"""The book as of many moments, each on its own price grid (the maps), in one pass.

A map is centred on its own price, so the fixed grid of ``history`` cannot
give it.  Here the levels in reach of any grid are sorted once by (cohort,
side, price), and an array holds each alive level's notional at its decay
group's reference weight (``history``'s blocks).  Each moment sets the levels
that became alive since the one before, zeroes those that left (swept, out of
the window, faded), and reads every bin of its grid as one contiguous run of
that array (``np.add.reduceat``), times its group's factor.  A moment costs
its events and one pass of additions, not a weighing and binning of the whole
book; the views are sums of the (cohort, side) runs, so the views sharing a
decay read one array.  Values are set, never accumulated, so an empty bin is
exactly zero and a bin is the sum of its levels as ``snapshot`` had it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decay import decay_rates
from .history import decay_blocks
from .leverage import view_mask


@dataclass(frozen=True)
class Reading:
    """What ``read`` found, before any OI scale.

    ``views[name]`` is (long rows, short rows): one array per moment on its own
    grid.  ``in_grid`` and ``near`` are, per moment, the leveraged legs
    (contracts, every cohort) alive inside the grid and within the near band;
    None unless asked for.
    """

    views: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]
    in_grid: np.ndarray | None
    near: np.ndarray | None


def read(book, times_ms, edges, views: dict[str, float | None], window_ms: int | None,
         near: tuple[np.ndarray, np.ndarray] | None = None) -> Reading:
    """``book`` as of every time in ``times_ms`` (increasing), each view on each moment's grid.

    ``edges`` is one grid (a 1-D array) for every moment or a list of one per
    moment; ``views`` maps a view to its recency half-life (ms, or None);
    ``near`` is per moment the price band [low, high] whose legs ``Reading.near``
    counts (``in_grid`` is counted with it).
    """
    times = np.asarray(times_ms, dtype=np.int64)
    if times.size > 1 and np.any(np.diff(times) <= 0):
        raise ValueError("the moments must be strictly increasing")
    n_rows = times.size
    grids = [np.asarray(edges, dtype=np.float64)] * n_rows if isinstance(edges, np.ndarray) and edges.ndim == 1 \
        else [np.asarray(e, dtype=np.float64) for e in edges]
    if len(grids) != n_rows:
        raise ValueError(f"{len(grids)} price grids for {n_rows} moments")
    if n_rows == 0:
        return Reading({v: ([], []) for v in views}, None if near is None else np.zeros(0),
                       None if near is None else np.zeros(0))
    lv = book.levels
    leverages = book.leverages
    masks = {v: view_mask(leverages, v) for v in views}
    cohorts = np.ones(leverages.size, bool) if near is not None else np.any(list(masks.values()), axis=0)
    low = min(float(g[0]) for g in grids)
    high = max(float(g[-1]) for g in grids)
    if near is not None:
        low, high = min(low, float(np.min(near[0]))), max(high, float(np.max(near[1])))
    # the levels alive at some moment and in reach of some grid, by (cohort, side) then price:
    # each (cohort, side) a contiguous part
    scope = np.flatnonzero(cohorts[lv.cohort] & (lv.price >= low) & (lv.price <= high))
    row_start, row_stop = _alive_rows(book, times, scope, window_ms)
    live = row_stop > row_start
    scope, row_start, row_stop = scope[live], row_start[live], row_stop[live]
    order = np.argsort(lv.price[scope])
    part = (lv.cohort[scope[order]].astype(np.uint16) * 2 + ~lv.is_long[scope[order]]).astype(np.uint16)
    by_part = np.argsort(part, kind="stable")  # 16-bit keys: a radix sort
    order, part = order[by_part], part[by_part]
    scope, row_start, row_stop = scope[order], row_start[order], row_stop[order]
    price = lv.price[scope]
    bounds = np.searchsorted(part, np.arange(2 * leverages.size + 1))
    parts = np.flatnonzero(np.diff(bounds))  # the parts holding levels
    part_cohort, part_long = parts // 2, parts % 2 == 0
    out: dict[str, tuple[list, list]] = {v: ([], []) for v in views}
    in_grid, near_legs = np.zeros(n_rows), np.zeros(n_rows)
    if parts.size == 0:
        for v in views:
            for rows in out[v]:
                rows.extend(np.zeros(g.size - 1) for g in grids)
        return Reading(out, None if near is None else in_grid, None if near is None else near_legs)
    events = _Events(row_start, row_stop, n_rows)
    recencies = dict.fromkeys([*views.values(), *([None] if near is not None else [])])
    families = {r: _Family(book, times, scope, row_start, events, r, part_cohort, bounds[parts], bounds[parts + 1],
                           legs=near is not None and r is None) for r in recencies}
    select = {v: (masks[v][part_cohort] & part_long, masks[v][part_cohort] & ~part_long) for v in views}
    part_start, part_stop = bounds[parts], bounds[parts + 1]
    for t in range(n_rows):
        grid = grids[t]
        needles = grid if near is None else \
            np.concatenate((grid, [near[0][t], np.nextafter(near[1][t], np.inf)]))  # [low, high], closed
        starts = np.concatenate([np.searchsorted(price[a:b], needles) + a for a, b in zip(part_start, part_stop)])
        n_bins = grid.size - 1
        for recency, family in families.items():
            family.advance(t)
            factor = family.factor(t)
            bins = _runs(family.values, starts, parts.size)[:, :n_bins]
            for v in views:
                if views[v] == recency:
                    out[v][0].append((select[v][0] * factor) @ bins)
                    out[v][1].append((select[v][1] * factor) @ bins)
            if family.legs is not None:
                legs = _runs(family.legs, starts, parts.size)
                in_grid[t] = float(factor @ legs[:, :n_bins].sum(axis=1))
                near_legs[t] = float(factor @ legs[:, n_bins + 1])
    return Reading(out, None if near is None else in_grid, None if near is None else near_legs)


def _alive_rows(book, times: np.ndarray, idx: np.ndarray, window_ms: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Of the levels ``idx``: the first row at which each is alive and the first at which it no longer is.

    Alive: its opening candle had ended, the candle that swept it had not,
    and it opened within the window.  A faded level stays (as tiny as its
    weight): a map counts every alive level, unlike ``history`` which drops
    those faded below ``DECAY_CUTOFF``.
    """
    lv = book.levels
    row_after = np.searchsorted(book.steps_completed(times), np.arange(book.step_time.size + 1), side="right")
    open_step = lv.open_step[idx]
    row_stop = row_after[lv.death_step[idx]]
    if window_ms is not None:
        np.minimum(row_stop, np.searchsorted(times, book.step_time[open_step] + window_ms, "right"), out=row_stop)
    return row_after[open_step], row_stop


class _Events:
    """Which levels (positions in the scope) become alive and which leave at each row."""

    def __init__(self, row_start: np.ndarray, row_stop: np.ndarray, n_rows: int):
        self.add_order, self.add_bounds = _by_row(row_start, n_rows)
        gone = np.flatnonzero(row_stop < n_rows)
        order, self.remove_bounds = _by_row(row_stop[gone], n_rows)
        self.remove_at = gone[order]


class _Family:
    """The levels under one decay (the views without a recency fade, or with one) as a running array."""

    def __init__(self, book, times: np.ndarray, scope: np.ndarray, row_start: np.ndarray, events: _Events,
                 recency: float | None, part_cohort: np.ndarray, part_start: np.ndarray, part_stop: np.ndarray,
                 legs: bool):
        rate = decay_rates(book.params.decay_half_life_10x, book.leverages, recency)
        rates, row_log, block_start, ref = decay_blocks(book, times, rate)
        cohort_group = np.searchsorted(rates, np.zeros(book.leverages.size) if rate is None else rate)
        self.part_group = cohort_group[part_cohort]
        self.part_start, self.part_stop = part_start, part_stop
        lv = book.levels
        at = scope[events.add_order]
        first = row_start[events.add_order]
        group = cohort_group[lv.cohort[at]]
        open_step = lv.open_step[at]
        with np.errstate(under="ignore", over="ignore"):
            weight = np.exp(ref[group, first] - book.log_survival[open_step] + rates[group] * book.step_end[open_step])
        self.events = events
        self.add_value = lv.contracts[at] * lv.price[at] * weight
        self.add_legs = lv.contracts[at] * weight if legs else None
        # a trailing zero lets the last run end at the array's end
        self.values = np.zeros(scope.size + 1)
        self.legs = np.zeros(scope.size + 1) if legs else None
        with np.errstate(under="ignore"):
            self.read_factor = np.exp(row_log - ref).T  # (rows, groups)
            self.rescale = np.exp(np.diff(ref, axis=1, prepend=ref[:, :1]))
        self.block_start = block_start

    def advance(self, t: int) -> None:
        """The array as of row ``t``: rescaled where a group's block begins, then its events."""
        arrays = [a for a in (self.values, self.legs) if a is not None]
        if t > 0:
            for g in np.flatnonzero(self.block_start[:, t]):
                for a, b in zip(self.part_start[self.part_group == g], self.part_stop[self.part_group == g]):
                    for array in arrays:
                        array[a:b] *= self.rescale[g, t]
        ev = self.events
        gone = ev.remove_at[ev.remove_bounds[t]:ev.remove_bounds[t + 1]]
        a, b = ev.add_bounds[t], ev.add_bounds[t + 1]
        came = ev.add_order[a:b]
        for array, added in zip(arrays, (self.add_value, self.add_legs)):
            array[gone] = 0.0
            array[came] = added[a:b]

    def factor(self, t: int) -> np.ndarray:
        """Per part, what its group's reference weight is worth at row ``t``."""
        return self.read_factor[t][self.part_group]


def _runs(values: np.ndarray, starts: np.ndarray, n_parts: int) -> np.ndarray:
    """The sum of each run from ``starts[i]`` to ``starts[i + 1]``, shaped (parts, runs per part)."""
    sums = np.add.reduceat(values, starts)
    sums[:-1][starts[1:] == starts[:-1]] = 0.0  # reduceat gives an empty run its first value
    return sums.reshape(n_parts, -1)


def _by_row(row: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The order that groups events by ``row`` (stable) and where each row's group begins (n_rows + 1 bounds)."""
    order = np.argsort(row.astype(np.uint16) if n_rows < 65_535 else row, kind="stable")
    return order, np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n_rows))))

"""The time-evolving position book: where leveraged positions opened, and which are still alive.

How the book is built (DESIGN section 3.3), all vectorised over levels:

1. **Steps** are the candles.  Open interest (OI) snapshots are turned into
   gross opens and closes per candle: every positive OI increment between
   two snapshots is an opening, every negative one a close.  An increment
   is spread over the candles that start inside its interval in proportion
   to their volume (so 5-minute OI over 1-minute candles lands on the right
   minutes), or given to the candle that contains it when candles are
   coarser than the OI.
2. **Entries.**  Opened contracts enter at traded prices: the volume
   profile of the trades when present (exact taker side per price bucket),
   otherwise a few anchors of each candle weighted by its share of the
   opening.  OI only says at its snapshots that positions opened, so the
   candles of one OI interval form one entry group, pooled on logarithmic
   price buckets, whose positions exist from the group's last candle on.
3. **Sides.**  Every new contract has a long and a short holder.  The
   aggressor (taker) side carries the leveraged cohorts; of the maker side
   only ``maker_leveraged_share`` does, the rest being hedged market makers
   with no liquidation level.  The taker-buy share comes from trades, from
   kline taker volume, or when neither exists from the candle's close
   location ``(close - low) / (high - low)`` (``side_split``).  Funding
   may tilt it (``funding_tilt``; 0 = off).
4. **Levels.**  Each (entry, side, leverage cohort) is one level with the
   exchange's exact liquidation price for a position of
   ``position_notional`` (Binance tiered maintenance margin by default).
5. **Deaths.**  A long level dies at the first candle after its opening
   candle whose low (mark price where available) reaches it (short: high);
   found with a sparse-table range-minimum search by binary lifting over
   all levels at once, not a loop.
6. **Closes.**  When OI falls, all outstanding positions shrink in proportion
   (a global survival factor S), net of the contracts the model itself
   liquidated in that candle, so nothing is removed twice.  Because the
   model's liquidations depend on S at earlier candles, S is found by a
   short fixed-point iteration (each pass vectorised; it converges because
   a candle's liquidations only depend on earlier candles).
7. **Decay**: a level also fades with a half-life that shrinks with
   leverage, ``decay_half_life_10x * 10 / L`` hours (None = off).

A map as of T sums the alive levels opened within the window
(``snapshot``); a history (the heatmap, the validation) answers many T in
one pass over the rows with add/remove events per level (``history``).
New candles extend a book without rebuilding it (``extend_book``).

Open interest that already existed when the window starts is *not placed*
(nobody knows its entries); ``PositionBook.coverage`` says which share of
the current OI the map represents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..frames import Candles, DataError, MarketData, format_ms
from .leverage import DEFAULT_LEVERAGES, cohort_weights, view_mask
from .margin import liq_price_factor

MODEL_NAME = "liqmap-book"
MODEL_VERSION = "1"

#: Candle price anchors for entries (weights sum to 1 within each choice).
ENTRY_ANCHORS = {
    "ohlc": (("open", 0.25), ("high", 0.25), ("low", 0.25), ("close", 0.25)),
    "hlc3": (("hlc3", 1.0),),
    "close": (("close", 1.0),),
    "range5": (("r0", 0.2), ("r1", 0.2), ("r2", 0.2), ("r3", 0.2), ("r4", 0.2)),
}
SIDE_SPLITS = ("auto", "taker", "clv", "even")


@dataclass(frozen=True)
class BookParams:
    """Every assumption of the position book, with its default.

    The defaults are the ones the validation study chose (see
    docs/validation.md); each can be changed per call.
    """

    leverages: tuple[float, ...] = DEFAULT_LEVERAGES
    leverage_median: float = 5.0
    leverage_sigma: float = 0.9
    maker_leveraged_share: float = 0.35
    entry_anchors: str = "range5"
    side_split: str = "auto"
    funding_tilt: float = 1.0
    decay_half_life_10x: float | None = 48.0
    position_notional: float = 10_000.0
    exchange: str = "binance"
    brackets: str | None = None  # a bracket file (see docs/liqprice.md) instead of the shipped snapshots
    entry_bucket_pct: float = 0.1
    max_oi_gap_ms: int = 3_600_000
    close_iterations: int = 4

    def __post_init__(self):
        if self.entry_anchors not in ENTRY_ANCHORS:
            raise ValueError(f"entry_anchors must be one of {', '.join(ENTRY_ANCHORS)}, not {self.entry_anchors!r}")
        if self.side_split not in SIDE_SPLITS:
            raise ValueError(f"side_split must be one of {', '.join(SIDE_SPLITS)}, not {self.side_split!r}")
        if not 0.0 <= self.maker_leveraged_share <= 1.0:
            raise ValueError("maker_leveraged_share must be between 0 and 1")
        if self.decay_half_life_10x is not None and self.decay_half_life_10x <= 0:
            raise ValueError("decay_half_life_10x must be positive (hours) or None")
        if self.position_notional <= 0 or self.entry_bucket_pct <= 0:
            raise ValueError("position_notional and entry_bucket_pct must be positive")
        object.__setattr__(self, "leverages", tuple(float(x) for x in self.leverages))
        cohort_weights(self.leverages, self.leverage_median, self.leverage_sigma)  # validates

    def with_overrides(self, **changes) -> "BookParams":
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


@dataclass(frozen=True)
class Levels:
    """One record layout for all levels (struct of arrays)."""

    price: np.ndarray  # liquidation price
    contracts: np.ndarray  # base units at opening (before closes)
    is_long: np.ndarray
    cohort: np.ndarray  # index into BookParams.leverages
    open_step: np.ndarray  # candle index in which it opened
    death_step: np.ndarray  # first candle index whose path crossed it (n = never)


@dataclass(frozen=True)
class PositionBook:
    """Levels plus the per-candle survival factors; answers 'map as of T' for one or many T."""

    symbol: str
    params: BookParams
    step_time: np.ndarray  # candle open times (ms)
    step_end: np.ndarray  # candle end times (ms, exclusive)
    close: np.ndarray  # candle close (path price)
    levels: Levels
    log_survival: np.ndarray  # ln S after each step (closes net of model liquidations)
    oi_at_end: np.ndarray  # OI (base units) at each step's end, NaN where unknown
    opened: np.ndarray  # contracts opened per step
    closed: np.ndarray  # contracts closed per step (all causes)
    notes: tuple[str, ...] = field(default_factory=tuple)

    # ----------------------------------------------------------------- queries
    @property
    def leverages(self) -> np.ndarray:
        return np.asarray(self.params.leverages)

    def steps_completed(self, as_of_ms) -> np.ndarray | int:
        """How many candles had ended at ``as_of_ms`` (the state uses only those)."""
        return np.searchsorted(self.step_end, as_of_ms, side="right")

    def _level_log_weight(self, view: str, recency_half_life_ms: float | None):
        """Per level: mask of the view, and the log-rate (per ms) it fades at, or None."""
        mask = view_mask(self.leverages, view)[self.levels.cohort]
        rate = np.zeros(self.leverages.size)
        if self.params.decay_half_life_10x is not None:
            half_life_ms = self.params.decay_half_life_10x * 3_600_000 * 10.0 / self.leverages
            rate = rate + np.log(2) / half_life_ms
        if recency_half_life_ms:
            rate = rate + np.log(2) / recency_half_life_ms
        return mask, (rate if np.any(rate) else None)

    def snapshot(self, as_of_ms: int, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                 recency_half_life_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Outstanding long and short liquidation notional per price bin as of ``as_of_ms``."""
        n_done = int(self.steps_completed(as_of_ms))
        lv = self.levels
        mask, rate = self._level_log_weight(view, recency_half_life_ms)
        alive = mask & (lv.open_step < n_done) & (lv.death_step >= n_done)
        if window_ms is not None:
            alive &= self.step_time[lv.open_step] >= as_of_ms - window_ms
        idx = np.flatnonzero(alive)
        if n_done == 0 or idx.size == 0:
            empty = np.zeros(len(edges) - 1)
            return empty, empty.copy()
        log_w = self.log_survival[n_done - 1] - self.log_survival[lv.open_step[idx]]
        if rate is not None:
            log_w = log_w - rate[lv.cohort[idx]] * (self.step_end[n_done - 1] - self.step_end[lv.open_step[idx]])
        notional = lv.contracts[idx] * lv.price[idx] * np.exp(log_w)
        return _bin_by_side(lv.price[idx], notional, lv.is_long[idx], edges)

    def history(self, times_ms, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                recency_half_life_ms: float | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """The book as of every time in ``times_ms`` (increasing), in one pass over the rows.

        Levels become events: added on the first row where they are alive,
        removed on the row where they are swept, leave the window or have
        faded.  A running state per (decay rate, side, bin) holds the alive
        levels at a reference weight; each row reads it with its survival and
        decay factor per decay rate (one small matrix product), and the state
        is rescaled only when the factors have fallen by e^16, so nothing can
        overflow.  Equal to ``snapshot`` at every row (tested).  ``dtype`` is
        the output's (the running state is always float64); float32 halves a
        large heatmap's memory.
        """
        times = np.asarray(times_ms, dtype=np.int64)
        if times.size > 1 and np.any(np.diff(times) <= 0):
            raise ValueError("history times must be strictly increasing")
        n_bins, n_rows = len(edges) - 1, times.size
        if n_rows == 0:
            return np.zeros((0, n_bins), dtype), np.zeros((0, n_bins), dtype)
        lv = self.levels
        mask, rate = self._level_log_weight(view, recency_half_life_ms)
        bins = np.searchsorted(edges, lv.price, side="right") - 1
        idx = np.flatnonzero(mask & (bins >= 0) & (bins < n_bins))
        rows_done = self.steps_completed(times)
        # levels fade at the rate of their cohort: one group per distinct rate
        rates, cohort_group = np.unique(np.zeros(self.leverages.size) if rate is None else rate, return_inverse=True)
        # per candle (and group): the first row at which it had ended, the last row of the window
        # opened with it, the row where its group's levels have faded; then gathered per level
        row_after = np.searchsorted(rows_done, np.arange(self.step_time.size + 1), side="right").astype(np.int32)
        last_row = np.full((rates.size, self.step_time.size), n_rows, dtype=np.int32)
        if window_ms is not None:
            last_row[:] = np.searchsorted(times, self.step_time + window_ms, "right")
        for g in np.flatnonzero(rates > 0):
            faded = np.searchsorted(times, self.step_end + _DECAY_CUTOFF / rates[g], "right")
            np.minimum(last_row[g], faded, out=last_row[g])
        open_step = lv.open_step[idx]
        group = cohort_group[lv.cohort[idx]]
        row_start = row_after[open_step]  # first row with the open candle done
        row_stop = np.minimum(row_after[lv.death_step[idx]], last_row[group, open_step])
        live = np.flatnonzero(row_stop > row_start)
        idx, open_step, row_start, row_stop, group = idx[live], open_step[live], row_start[live], row_stop[live], group[live]

        # log weight of a level on row t: row_log[group, t] + level_log.  The state holds each
        # group's levels at a reference log weight ref[group, t] (constant over a block of rows in
        # which row_log falls by less than _STATE_LOG_SPAN); a row reads it as
        # exp(row_log - ref) @ state, so the state is only rescaled where a block begins.
        last_step = np.maximum(rows_done - 1, 0)
        row_log = self.log_survival[last_step][None, :] - rates[:, None] * self.step_end[last_step][None, :]
        block_start = np.floor((row_log[:, :1] - row_log) / _STATE_LOG_SPAN)
        block_start = np.concatenate([np.ones((rates.size, 1), bool), np.diff(block_start, axis=1) > 0], axis=1)
        first_row = np.maximum.accumulate(np.where(block_start, np.arange(n_rows), 0), axis=1)
        ref = np.take_along_axis(row_log, first_row, axis=1)
        level_log = -self.log_survival[open_step] + rates[group] * self.step_end[open_step]
        base = lv.contracts[idx] * lv.price[idx]
        cell = ((group * 2 + (~lv.is_long[idx])) * n_bins + bins[idx]).astype(np.int32)
        removed = np.flatnonzero(row_stop < n_rows)
        with np.errstate(under="ignore", over="ignore"):
            values = np.concatenate([
                base * np.exp(ref[group, row_start] + level_log),
                -base[removed] * np.exp(ref[group[removed], row_stop[removed]] + level_log[removed]),
            ])
        event_row = np.concatenate([row_start, row_stop[removed]])
        # a stable sort on 16-bit keys is a radix sort
        order = np.argsort(event_row.astype(np.uint16 if n_rows < 65_535 else np.int64), kind="stable")
        event_cell = np.concatenate([cell, cell[removed]])[order]
        event_value = values[order]
        event_count = np.where(order < row_start.size, 1, -1).astype(np.int32)
        bounds = np.searchsorted(event_row[order], np.arange(n_rows + 1), side="left")
        with np.errstate(under="ignore"):  # (rows, groups), row-major: one contiguous slice per row
            read_factor = np.ascontiguousarray(np.exp(row_log - ref).T)
            rescale = np.exp(np.diff(ref, axis=1, prepend=ref[:, :1]))
        rescale_rows = np.flatnonzero(block_start[:, 1:].any(axis=0)) + 1

        out = np.zeros((n_rows, 2 * n_bins), dtype)
        state = np.zeros((rates.size, 2 * n_bins))
        flat = state.reshape(-1)
        alive = np.zeros(flat.size, np.int32)  # levels per cell, so emptied cells are exactly zero
        next_rescale = iter(np.append(rescale_rows, n_rows).tolist())
        rescale_at = next(next_rescale)
        for t in range(n_rows):
            if t == rescale_at:
                state *= rescale[:, t, None]
                rescale_at = next(next_rescale)
            a, b = bounds[t], bounds[t + 1]
            if b > a:
                cells = event_cell[a:b]
                np.add.at(flat, cells, event_value[a:b])
                np.add.at(alive, cells, event_count[a:b])
                flat[cells[alive[cells] == 0]] = 0.0
            np.matmul(read_factor[t], state, out=out[t])  # weighted sum over the decay groups
        np.maximum(out, 0.0, out=out)  # round-off of removals must not go negative
        return out[:, :n_bins], out[:, n_bins:]

    def coverage(self, as_of_ms: int, window_ms: int | None = None) -> float | None:
        """Share of the open interest at ``as_of_ms`` that the alive levels of the window represent.

        Each opened contract yields ``1 + maker_leveraged_share`` leveraged legs
        (the taker's and the leveraged part of the maker's), so alive legs are
        divided by that to count contracts.
        """
        n_done = int(self.steps_completed(as_of_ms))
        if n_done == 0 or not np.isfinite(self.oi_at_end[n_done - 1]) or self.oi_at_end[n_done - 1] <= 0:
            return None
        lv = self.levels
        alive = (lv.open_step < n_done) & (lv.death_step >= n_done)
        if window_ms is not None:
            alive &= self.step_time[lv.open_step] >= as_of_ms - window_ms
        legs = lv.contracts[alive] * np.exp(self.log_survival[n_done - 1] - self.log_survival[lv.open_step[alive]])
        contracts = legs.sum() / (1.0 + self.params.maker_leveraged_share)
        return float(contracts / self.oi_at_end[n_done - 1])

    def model_info(self) -> dict:
        """Name, version, parameters and notes: every output is an estimate and says so."""
        params = asdict(self.params)
        params["leverage_weights"] = [round(float(w), 6) for w in cohort_weights(
            self.params.leverages, self.params.leverage_median, self.params.leverage_sigma)]
        return {"name": MODEL_NAME, "version": MODEL_VERSION, "parameters": params, "notes": list(self.notes)}


def _bin_by_side(price, notional, is_long, edges):
    n_bins = len(edges) - 1
    bins = np.searchsorted(edges, price, side="right") - 1
    inside = (bins >= 0) & (bins < n_bins)
    long_sum = np.bincount(bins[inside & is_long], notional[inside & is_long], minlength=n_bins)
    short_sum = np.bincount(bins[inside & ~is_long], notional[inside & ~is_long], minlength=n_bins)
    return long_sum, short_sum


#: A decaying level is dropped from a history once its weight is below e^-30 of its opening weight.
_DECAY_CUTOFF = 30.0
#: How far a row's log weight may fall below its block's reference before the history's state
#: is rescaled (values stay within e^16 of their own size: far from overflow, exact to ~1e-9).
_STATE_LOG_SPAN = 16.0


# ---------------------------------------------------------------------- build
def build_book(market: MarketData, params: BookParams | None = None) -> PositionBook:
    """Build the position book over all of ``market`` (its candles and open interest)."""
    params = params or BookParams()
    _check_market(market)
    notes = list(market.notes)
    path = _price_path(market, notes)
    opened, closed, oi_at_end = _opens_and_closes(market.candles, market.open_interest, params, notes)
    levels = _levels(_entries(market, opened, params, notes), params, market.symbol, market.start_ms, notes)
    levels = replace(levels, death_step=_death_steps(path, levels, levels.open_step + 1))
    return _assemble(market, params, path, levels, opened, closed, oi_at_end, notes)


def extend_book(book: PositionBook, market: MarketData) -> PositionBook:
    """The book updated with the candles of ``market`` after the book's last step.

    ``market`` must hold the book's candles followed by new ones.  Only the
    new candles' entries are turned into levels, and only levels still alive
    are searched for a crossing on the new path; settled history is kept.
    When new open-interest snapshots change what earlier candles opened or
    closed (a snapshot that arrived late), the book is rebuilt instead.
    """
    _check_market(market)
    n_old = book.step_time.size
    candles = market.candles
    if len(candles) < n_old or not np.array_equal(candles.time[:n_old], book.step_time):
        raise DataError(
            f"{market.symbol}: the new data does not continue the book (its first {n_old} candles differ); "
            "build a new book"
        )
    notes = list(market.notes)
    opened, closed, oi_at_end = _opens_and_closes(candles, market.open_interest, book.params, notes)
    settled = np.allclose(opened[:n_old], book.opened, rtol=1e-12, atol=0) and np.allclose(
        closed[:n_old], book.closed, rtol=1e-12, atol=0)
    if not settled:
        return build_book(market, book.params)
    path = _price_path(market, notes)
    new_market = market.slice_time(int(candles.time[n_old]), None) if len(candles) > n_old else None
    old = book.levels
    death = old.death_step.copy()
    alive = death >= n_old
    death[alive] = _death_steps(path, _take_levels(old, alive), np.full(int(alive.sum()), n_old))
    parts = [replace(old, death_step=death)]
    if new_market is not None:
        step, price, buy, sell = _entries(new_market, opened[n_old:], book.params, notes)
        new = _levels((step + n_old, price, buy, sell), book.params, market.symbol, new_market.start_ms, notes)
        parts.append(replace(new, death_step=_death_steps(path, new, new.open_step + 1)))
    levels = Levels(*(np.concatenate([getattr(p, f) for p in parts]) for f in Levels.__dataclass_fields__))
    return _assemble(market, book.params, path, levels, opened, closed, oi_at_end, list(book.notes) + notes)


def _check_market(market: MarketData) -> None:
    if market.open_interest is None or len(market.open_interest) == 0:
        raise DataError(f"{market.symbol}: no open-interest data; the position book needs OI snapshots")
    if len(market.candles) < 2:
        raise DataError(f"{market.symbol}: need at least 2 candles, got {len(market.candles)}")


def _take_levels(levels: Levels, mask: np.ndarray) -> Levels:
    return Levels(*(getattr(levels, f)[mask] for f in Levels.__dataclass_fields__))


def _assemble(market, params, path, levels, opened, closed, oi_at_end, notes) -> PositionBook:
    log_survival = _log_survival(levels, opened, closed, oi_at_end, params, notes)
    candles = market.candles
    return PositionBook(
        symbol=market.symbol,
        params=params,
        step_time=candles.time,
        step_end=candles.time + candles.interval_ms,
        close=path.close,
        levels=levels,
        log_survival=log_survival,
        oi_at_end=oi_at_end,
        opened=opened,
        closed=closed,
        notes=tuple(dict.fromkeys(notes)),
    )


def _price_path(market: MarketData, notes: list[str]) -> Candles:
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


def _opens_and_closes(candles: Candles, oi, params: BookParams, notes: list[str]):
    """Gross opened and closed contracts per candle from OI increments, and OI at each candle end."""
    n = len(candles)
    tau, level = oi.time, oi.oi
    gaps = np.diff(tau)
    nominal = oi.interval_ms
    big = np.flatnonzero(gaps > max(nominal, params.max_oi_gap_ms))
    # only gaps inside the candle span matter
    inside = big[(tau[big + 1] > candles.time[0]) & (tau[big] < candles.time[-1] + candles.interval_ms)]
    if inside.size:
        k = int(inside[np.argmax(gaps[inside])])
        raise DataError(
            f"open interest has {inside.size} gap(s) longer than {params.max_oi_gap_ms // 60_000} min; the largest is "
            f"{gaps[k] / 3_600_000:.1f} h from {format_ms(tau[k])} to {format_ms(tau[k + 1])}. "
            "Fill the data, choose a period without it, or raise max_oi_gap_ms to bridge it "
            "(the change across a bridged gap is spread over the candles inside it)."
        )
    bridged = np.flatnonzero(gaps > nominal)
    if bridged.size:
        notes.append(
            f"open interest: {bridged.size} gap(s) bridged (largest {gaps.max() / 60_000:.0f} min); "
            "the change across a gap is spread over its candles by volume"
        )
    delta = np.diff(level)
    start, stop = tau[:-1], tau[1:]
    # candles whose start lies in [start_k, stop_k): share the increment by volume
    first = np.searchsorted(candles.time, start, side="left")
    last = np.searchsorted(candles.time, stop, side="left")
    count = last - first
    vol = np.where(candles.volume > 0, candles.volume, 0.0)
    cum_vol = np.concatenate(([0.0], np.cumsum(vol)))
    interval_vol = cum_vol[last] - cum_vol[first]
    candle_interval = np.searchsorted(start, candles.time, side="right") - 1  # increment covering each candle start
    valid_candle = (candle_interval >= 0) & (candles.time < stop[np.clip(candle_interval, 0, None)])
    ci = np.clip(candle_interval, 0, None)
    share = np.where(
        interval_vol[ci] > 0, vol / np.where(interval_vol[ci] > 0, interval_vol[ci], 1.0), 1.0 / np.maximum(count[ci], 1)
    )
    share = np.where(valid_candle, share, 0.0)
    opened = np.where(valid_candle, np.maximum(delta[ci], 0.0), 0.0) * share
    closed = np.where(valid_candle, np.maximum(-delta[ci], 0.0), 0.0) * share
    # increments with no candle starting inside them: give them to the candle that contains them
    orphan = np.flatnonzero(count == 0)
    if orphan.size:
        host = np.searchsorted(candles.time, start[orphan], side="right") - 1
        ok = (host >= 0) & (start[orphan] < candles.time[np.clip(host, 0, None)] + candles.interval_ms)
        np.add.at(opened, host[ok], np.maximum(delta[orphan[ok]], 0.0))
        np.add.at(closed, host[ok], np.maximum(-delta[orphan[ok]], 0.0))
    covered = (candles.time >= tau[0]) & (candles.time + candles.interval_ms <= tau[-1])
    if not covered.all():
        notes.append(
            f"open interest covers {int(covered.sum())} of {n} candles; no openings are placed outside "
            f"{format_ms(tau[0])} .. {format_ms(tau[-1])}"
        )
    # OI at each candle end: last snapshot at or before it
    at = np.searchsorted(tau, candles.time + candles.interval_ms, side="right") - 1
    oi_at_end = np.where(at >= 0, level[np.clip(at, 0, None)], np.nan)
    return opened, closed, oi_at_end


def _entries(market: MarketData, opened: np.ndarray, params: BookParams, notes: list[str]):
    """Entry points: (open step, price, taker-buy contracts, taker-sell contracts).

    Open interest only says at its snapshots that positions were opened, so
    the candles between two snapshots form one entry group: their traded
    prices (trades, or candle anchors weighted by each candle's share of the
    opening) are pooled on price buckets of ``entry_bucket_pct``, and the
    group's positions exist from its last candle on.
    """
    candles = market.candles
    group_of_candle = _entry_groups(candles, market.open_interest, notes)
    if market.trades is not None and len(market.trades):
        candle, price, buy, sell = _trade_points(market.trades, candles)
        notes.append("entries: traded-volume profile of the trades")
        notes.append("side split: exact taker side from aggregate trades")
    else:
        buy_share = _buy_share(candles, params, notes)
        anchors = ENTRY_ANCHORS[params.entry_anchors]
        notes.append(f"entries: candle anchors {params.entry_anchors} ({', '.join(a for a, _ in anchors)})")
        candle = np.repeat(np.arange(len(candles)), len(anchors))
        price = np.stack([_anchor(candles, a) for a, _ in anchors], axis=1).ravel()
        weight = np.tile([w for _, w in anchors], len(candles)) * opened[candle]
        buy, sell = weight * buy_share[candle], weight * (1.0 - buy_share[candle])
    group = group_of_candle[candle]
    group, price, buy, sell = _pool(group, price, buy, sell, params.entry_bucket_pct)
    last_candle = np.searchsorted(group_of_candle, group, side="right") - 1
    group_opened = np.bincount(group_of_candle, opened)[group]
    total = np.bincount(group, buy + sell)[group]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(total > 0, group_opened / total, 0.0)
    buy, sell = buy * scale, sell * scale
    if params.funding_tilt and market.funding is not None and len(market.funding):
        rate = _last_funding(market.funding, candles.time[last_candle])
        both = buy + sell
        # positive funding: longs pay, longs are crowded -> more of the opening is leveraged longs
        buy = np.clip(buy + params.funding_tilt * (rate / 1e-4) * 0.1 * both, 0.0, both)
        sell = both - buy
        notes.append(f"side split tilted by funding (funding_tilt={params.funding_tilt})")
    elif params.funding_tilt:
        notes.append("funding_tilt set but no funding data: no tilt applied")
    keep = buy + sell > 0
    return last_candle[keep], price[keep], buy[keep], sell[keep]


def _entry_groups(candles: Candles, oi, notes: list[str]) -> np.ndarray:
    """Entry group of each candle (non-decreasing): its open-interest interval, or itself.

    Candles at least as long as the OI interval are groups of their own.
    """
    if candles.interval_ms >= oi.interval_ms:
        return np.arange(len(candles))
    notes.append(
        f"entries: candles pooled per {oi.interval_ms // 60_000}-minute open-interest interval "
        "(positions are known to exist from the snapshot on)"
    )
    return np.searchsorted(oi.time, candles.time, side="right")


def _trade_points(trades, candles: Candles):
    """Each trade inside the candles' span: (candle index, price, taker-buy qty, taker-sell qty)."""
    candle = np.searchsorted(candles.time, trades.time, side="right") - 1
    inside = (candle >= 0) & (trades.time < candles.time[np.clip(candle, 0, None)] + candles.interval_ms)
    qty, sold = trades.quantity[inside], trades.is_buyer_maker[inside]
    return candle[inside], trades.price[inside], np.where(sold, 0.0, qty), np.where(sold, qty, 0.0)


def _pool(group, price, buy, sell, bucket_pct: float):
    """Sum points of one group on price buckets of ``bucket_pct``% (volume-weighted price per bucket).

    ``group`` is non-decreasing, so each group is one run: its buckets are laid
    out densely (the run's min..max bucket) and summed with bincount, no sort.
    """
    if group.size == 0:
        return group, price, buy, sell
    # a fixed logarithmic grid, so the buckets never depend on which data are in view
    bucket = np.floor(np.log(price) / math.log1p(bucket_pct / 100.0)).astype(np.int64)
    run_start = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    run_of_point = np.repeat(np.arange(run_start.size), np.diff(np.append(run_start, group.size)))
    low = np.minimum.reduceat(bucket, run_start)
    width = np.maximum.reduceat(bucket, run_start) - low + 1
    key = (np.cumsum(width) - width)[run_of_point] + bucket - low[run_of_point]
    size = int(width.sum())
    pooled_buy = np.bincount(key, buy, minlength=size)
    pooled_sell = np.bincount(key, sell, minlength=size)
    value = np.bincount(key, price * (buy + sell), minlength=size)
    used = np.flatnonzero(pooled_buy + pooled_sell > 0)
    both = pooled_buy[used] + pooled_sell[used]
    return np.repeat(group[run_start], width)[used], value[used] / both, pooled_buy[used], pooled_sell[used]


def _buy_share(candles: Candles, params: BookParams, notes: list[str]) -> np.ndarray:
    """Taker-buy share of each candle's volume (exact, or a stated fallback)."""
    method = params.side_split
    if method in ("auto", "taker") and candles.has_taker_volume:
        notes.append("side split: taker-buy volume of the klines")
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(candles.volume > 0, candles.taker_buy_volume / candles.volume, 0.5)
        return np.clip(share, 0.0, 1.0)
    if method == "taker":
        raise DataError("side_split='taker' needs taker-buy volume or trades, and the data has neither")
    if method in ("auto", "clv"):
        notes.append("side split: close location in the candle range (no taker volume in the data)")
        span = candles.high - candles.low
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(span > 0, (candles.close - candles.low) / np.where(span > 0, span, 1.0), 0.5)
    notes.append("side split: even (no taker volume in the data)")
    return np.full(len(candles), 0.5)


def _anchor(candles: Candles, name: str) -> np.ndarray:
    if name == "hlc3":
        return (candles.high + candles.low + candles.close) / 3.0
    if name.startswith("r"):
        return candles.low + (candles.high - candles.low) * (int(name[1]) / 4.0)
    return getattr(candles, name)


def _last_funding(funding, times: np.ndarray) -> np.ndarray:
    at = np.searchsorted(funding.time, times, side="right") - 1
    return np.where(at >= 0, funding.rate[np.clip(at, 0, None)], 0.0)


def _levels(entries, params: BookParams, symbol: str, as_of_ms: int, notes: list[str]) -> Levels:
    """Each entry x side x cohort becomes a level at the exchange's exact liquidation price.

    Cohorts above the leverage the exchange allows for a ``position_notional``
    position do not exist for this symbol; their weight goes to the others.
    """
    step, price, buy_contracts, sell_contracts = entries
    table = _bracket_table(params, symbol, as_of_ms)
    size = table.position_size(params.position_notional, entry=float(np.median(price)) if price.size else None)
    max_leverage = table.brackets[int(table.bracket_index(size))].max_leverage
    leverages = np.asarray(params.leverages)
    cohort_ids = np.flatnonzero(leverages <= max_leverage)
    if cohort_ids.size < leverages.size:
        notes.append(
            f"cohorts above {max_leverage:g}x left out: {table.label} allow at most {max_leverage:g}x "
            f"for a {params.position_notional:,.0f} USDT position (their weight goes to the others)"
        )
    weights = cohort_weights(params.leverages, params.leverage_median, params.leverage_sigma)[cohort_ids]
    weights = weights / weights.sum()
    m = params.maker_leveraged_share
    long_contracts = buy_contracts + m * sell_contracts  # taker buyers + leveraged makers who sold to sellers
    short_contracts = sell_contracts + m * buy_contracts
    long_factor, short_factor = (
        liq_price_factor(params.exchange, symbol, side, leverages[cohort_ids], params.position_notional,
                         brackets=table, entry=price.mean() if price.size else None)
        for side in ("long", "short")
    )
    notes.append(
        f"liquidation prices: {params.exchange} isolated-margin formula for a {params.position_notional:,.0f} "
        f"USDT position per cohort ({table.label})"
    )
    n_e, n_c = step.size, cohort_ids.size
    slot = np.tile(np.arange(n_c), n_e)  # position within the allowed cohorts
    rep = np.repeat(np.arange(n_e), n_c)
    cohort = cohort_ids[slot].astype(np.int16)
    w = weights[slot]
    return Levels(
        price=np.concatenate([price[rep] * long_factor[slot], price[rep] * short_factor[slot]]),
        contracts=np.concatenate([long_contracts[rep] * w, short_contracts[rep] * w]),
        is_long=np.concatenate([np.ones(rep.size, bool), np.zeros(rep.size, bool)]),
        cohort=np.concatenate([cohort, cohort]),
        open_step=np.concatenate([step[rep], step[rep]]).astype(np.int64),
        death_step=np.empty(0, np.int64),
    )


def _bracket_table(params: BookParams, symbol: str, as_of_ms: int):
    """The margin brackets in force, or an error saying how to give the book some."""
    from .margin import bracket_table

    try:
        return bracket_table(params.exchange, symbol, as_of_ms, params.brackets)
    except ValueError as exc:
        raise DataError(
            f"{exc}. The position book needs the symbol's margin brackets for exact liquidation prices: "
            "give a bracket file with --param brackets=FILE (Python: params={'brackets': FILE}); "
            "the file format is in docs/liqprice.md"
        ) from None


def _min_table(values: np.ndarray) -> list[np.ndarray]:
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


def _first_at_or_below(table: list[np.ndarray], start: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """First index >= start whose value is <= threshold, else n: binary lifting over all queries at once.

    From the largest block down, a query jumps over every block that stays
    above its threshold; in-place operations keep it to four passes a level.
    """
    n = table[0].size - 1
    pos = np.minimum(start, n).astype(np.intp)
    block = np.empty(pos.size)
    above = np.empty(pos.size, dtype=bool)
    for k in range(len(table) - 1, -1, -1):
        np.take(table[k], pos, out=block)
        np.greater(block, threshold, out=above)
        np.add(pos, 1 << k, out=pos, where=above)
        np.minimum(pos, n, out=pos)
    return pos


def _death_steps(path: Candles, levels: Levels, start: np.ndarray) -> np.ndarray:
    """First candle at or after ``start`` whose low (long) or high (short) reaches the level (n = never).

    A level is searched from the candle after its opening one: within the
    opening candle the order of the entry and the extreme is unknown.  Shorts
    search the negated highs: high >= p is -high <= -p.
    """
    death = np.empty(levels.price.size, dtype=np.int64)
    is_long = levels.is_long
    death[is_long] = _first_at_or_below(_min_table(path.low), start[is_long], levels.price[is_long])
    death[~is_long] = _first_at_or_below(_min_table(-path.high), start[~is_long], -levels.price[~is_long])
    return death


def _log_survival(levels: Levels, opened, closed, oi_at_end, params: BookParams, notes: list[str]) -> np.ndarray:
    """ln S per step: voluntary closes (OI decrease net of model liquidations) shrink everyone alike."""
    n = opened.size
    oi_before = np.where(np.isfinite(oi_at_end), oi_at_end + closed, np.nan)  # OI before this step's closes
    dying = levels.death_step < n
    d, o, q = levels.death_step[dying], levels.open_step[dying], levels.contracts[dying]
    liquidated = np.zeros(n)
    log_s = np.zeros(n)
    for _ in range(params.close_iterations):
        voluntary = np.maximum(closed - liquidated, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(oi_before > 0, voluntary / oi_before, 0.0)
        log_s = np.cumsum(np.log1p(-np.clip(frac, 0.0, 1.0 - 1e-12)))
        liquidated = np.bincount(d, q * np.exp(log_s[d - 1] - log_s[o]), minlength=n)
    notes.append(
        "closes: OI decreases net of the model's own liquidations shrink all positions proportionally; "
        "OI already open at the window start is not placed (see coverage)"
    )
    return log_s

"""Building the position book: where leveraged positions opened, and which are still alive.

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

Stages 1-3 are ``openings``, 4 ``cohorts``, 5 ``deaths``, 6 ``closes``,
7 ``decay``.  A map as of T sums the alive levels opened within the window
(``PositionBook.snapshot`` in ``positions``); a history (the heatmap, the
validation) answers many T in one pass (``history``).  New candles extend a
book without rebuilding it (``extend_book``).

Open interest that already existed when the window starts is *not placed*
(nobody knows its entries); ``PositionBook.coverage`` says which share of
the current OI the map represents.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..frames import Candles, DataError, MarketData, format_ms
from .closes import survival_log
from .cohorts import cohort_levels
from .deaths import death_steps, price_path
from .openings import entries, opens_and_closes
from .params import BookParams
from .positions import Levels, PositionBook


def build_book(market: MarketData, params: BookParams | None = None) -> PositionBook:
    """Build the position book over all of ``market`` (its candles and open interest)."""
    params = params or BookParams()
    _check_market(market)
    notes = list(market.notes)
    _check_candle_gaps(market.candles, params, notes)
    path = price_path(market, notes)
    opened, closed, oi_at_end = opens_and_closes(market.candles, market.open_interest, params, notes)
    found = entries(market, opened, params, notes)
    levels = cohort_levels(found, params, market.exchange, market.symbol, market.candles.time[found[0]], notes)
    levels = replace(levels, death_step=death_steps(path, levels, levels.open_step + 1))
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
    _check_candle_gaps(candles, book.params, notes)
    opened, closed, oi_at_end = opens_and_closes(candles, market.open_interest, book.params, notes)
    settled = np.allclose(opened[:n_old], book.opened, rtol=1e-12, atol=0) and np.allclose(
        closed[:n_old], book.closed, rtol=1e-12, atol=0)
    if not settled:
        return build_book(market, book.params)
    path = price_path(market, notes)
    new_market = market.slice_time(int(candles.time[n_old]), None) if len(candles) > n_old else None
    old = book.levels
    death = old.death_step.copy()
    alive = death >= n_old
    death[alive] = death_steps(path, _take_levels(old, alive), np.full(int(alive.sum()), n_old))
    parts = [replace(old, death_step=death)]
    if new_market is not None:
        step, price, buy, sell = entries(new_market, opened[n_old:], book.params, notes)
        new = cohort_levels((step + n_old, price, buy, sell), book.params, market.exchange, market.symbol,
                            candles.time[step + n_old], notes)
        parts.append(replace(new, death_step=death_steps(path, new, new.open_step + 1)))
    levels = Levels(*(np.concatenate([getattr(p, f) for p in parts]) for f in Levels.__dataclass_fields__))
    return _assemble(market, book.params, path, levels, opened, closed, oi_at_end, list(book.notes) + notes)


def _check_market(market: MarketData) -> None:
    if market.open_interest is None or len(market.open_interest) == 0:
        raise DataError(f"{market.symbol}: no open-interest data; the position book needs OI snapshots")
    if len(market.candles) < 2:
        raise DataError(f"{market.symbol}: need at least 2 candles, got {len(market.candles)}")


def _check_candle_gaps(candles: Candles, params: BookParams, notes: list[str]) -> None:
    """Refuse missing candles beyond ``max_candle_gap_ms``: levels inside a gap would never be swept."""
    missing = np.diff(candles.time) - candles.interval_ms
    gaps = np.flatnonzero(missing > 0)
    if not gaps.size:
        return
    k = int(gaps[np.argmax(missing[gaps])])
    largest = (f"{missing[k] / 3_600_000:.1f} h without candles from {format_ms(candles.time[k] + candles.interval_ms)} "
               f"to {format_ms(candles.time[k + 1])}")
    too_long = np.count_nonzero(missing[gaps] > params.max_candle_gap_ms)
    if too_long:
        raise DataError(
            f"candles have {too_long} gap(s) longer than {params.max_candle_gap_ms // 60_000} min; the largest is "
            f"{largest}. Fill the data, choose a period without it, or raise max_candle_gap_ms to bridge it "
            "(the price path then jumps across the gap: levels it would have swept there stay alive)."
        )
    notes.append(f"candles: {gaps.size} gap(s) bridged (largest {largest}); levels inside a gap are not swept")


def _take_levels(levels: Levels, mask: np.ndarray) -> Levels:
    return Levels(*(getattr(levels, f)[mask] for f in Levels.__dataclass_fields__))


def _assemble(market, params, path, levels, opened, closed, oi_at_end, notes) -> PositionBook:
    log_survival = survival_log(levels, opened, closed, oi_at_end, params, notes)
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

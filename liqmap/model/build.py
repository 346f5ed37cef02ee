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
validation) answers many T in one pass (``history``).  ``state.BookState``
grows a book in place as data arrive and equals a whole build after every
update.

Open interest that already existed when the window starts is *not placed*
(nobody knows its entries); ``PositionBook.coverage`` says which share of
the current OI the map represents.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..frames import DataError, MarketData
from .closes import CLOSES_NOTE, netting_weight, survival_log
from .cohorts import cohort_levels
from .deaths import check_candle_gaps, death_steps, price_path
from .decay import cohort_rates
from .openings import entries, opens_and_closes
from .params import BookParams
from .positions import PositionBook
from .state import BookState


def build_book(market: MarketData, params: BookParams | None = None, window_ms: int | None = None) -> PositionBook:
    """Build the position book over all of ``market`` (its candles and open interest).

    ``window_ms`` is how long the model holds a position when netting its own
    liquidations against closes (None: for ever); maps read with that window.
    """
    params = params or BookParams()
    _check_market(market)
    notes = list(market.notes)
    check_candle_gaps(market.candles.time, market.candles.interval_ms, params, notes)
    path = price_path(market, notes)
    opened, closed, oi_at_end = opens_and_closes(market.candles, market.open_interest, params, notes)
    found = entries(market, opened, params, notes)
    levels = cohort_levels(found, params, market.exchange, market.symbol, market.candles.time[found[0]], notes)
    levels = replace(levels, death_step=death_steps(path, levels, levels.open_step + 1))
    return _assemble(market, params, path, levels, opened, closed, oi_at_end, notes, window_ms)


def extend_book(book: PositionBook | BookState, market: MarketData) -> PositionBook:
    """The book updated with the data of ``market`` that follows it.

    Given a ``BookState`` (``liqmap.model.state``), only the new rows are
    appended in place (O(new data + alive levels)); given a ``PositionBook``,
    ``market`` must hold the book's candles followed by new ones, and the
    book is built again over it (a ``PositionBook`` keeps no state to grow).
    """
    if isinstance(book, BookState):
        book.extend(market)
        return book.book()
    _check_market(market)
    n_old = book.step_time.size
    if len(market.candles) < n_old or not np.array_equal(market.candles.time[:n_old], book.step_time):
        raise DataError(
            f"{market.symbol}: the new data does not continue the book (its first {n_old} candles differ); "
            "build a new book"
        )
    return build_book(market, book.params)


def _check_market(market: MarketData) -> None:
    if market.open_interest is None or len(market.open_interest) == 0:
        raise DataError(f"{market.symbol}: no open-interest data; the position book needs OI snapshots")
    if len(market.candles) < 2:
        raise DataError(f"{market.symbol}: need at least 2 candles, got {len(market.candles)}")


def _assemble(market, params, path, levels, opened, closed, oi_at_end, notes, window_ms) -> PositionBook:
    candles = market.candles
    step_end = candles.time + candles.interval_ms
    n = opened.size
    dying = np.flatnonzero(levels.death_step < n)
    d, o = levels.death_step[dying], levels.open_step[dying]
    rates = cohort_rates(params.decay_half_life_10x, params.leverages)
    weight = netting_weight(levels.contracts[dying], rates[levels.cohort[dying]], candles.time[o], step_end[o],
                            candles.time[d], step_end[d - 1], window_ms)
    log_survival, converged = survival_log(closed, oi_at_end, d, o, weight, max_passes=params.close_iterations)
    notes.append(CLOSES_NOTE)
    if not converged:
        notes.append(f"closes: the survival fixed point had not converged after close_iterations="
                     f"{params.close_iterations} passes")
    return PositionBook(
        symbol=market.symbol,
        params=params,
        step_time=candles.time,
        step_end=step_end,
        close=path.close,
        levels=levels,
        log_survival=log_survival,
        oi_at_end=oi_at_end,
        opened=opened,
        closed=closed,
        notes=tuple(dict.fromkeys(notes)),
    )

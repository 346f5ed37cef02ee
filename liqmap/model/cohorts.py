"""Stage 4 of the book: each entry x side x leverage cohort becomes a level at its exact liquidation price.

The margin brackets are those in force when each position opened (the
dated snapshots of ``liqmap.model.margin``), and the venue is the data's.
Everything here is per entry, so a level never depends on which other data
are in view.
"""

from __future__ import annotations

import math

import numpy as np

from ..frames import DataError
from .leverage import cohort_weights, spread_leverage
from .margin import BracketTable, liq_price_factor, tables_in_force
from .params import BookParams
from .positions import Levels


def cohort_levels(entries, params: BookParams, exchange: str, symbol: str, open_time: np.ndarray,
                  notes: list[str]) -> Levels:
    """Each entry x side x cohort becomes a level at the exchange's exact liquidation price.

    ``open_time`` is each entry's opening time (ms), which picks its bracket
    snapshot.  Cohorts above the leverage the brackets allow for a
    ``position_notional`` position at that entry do not exist; their weight
    goes to the entry's other cohorts.  With ``leverage_spread`` a share of
    the levels sits inside its cohort's slice of leverage (capped at what the
    brackets allow), keeping the cohort for its view and its decay.
    """
    step, price, buy_contracts, sell_contracts = entries
    tables, table_of = _tables(params, exchange, symbol, open_time)
    leverages = np.asarray(params.leverages)
    n_e, n_c = step.size, leverages.size
    weights = np.broadcast_to(cohort_weights(params.leverages, params.leverage_median, params.leverage_sigma),
                              (n_e, n_c)).copy()
    bucket = np.floor(np.log(price) / math.log1p(params.entry_bucket_pct / 100.0)).astype(np.int64)
    level_leverage = spread_leverage(params.leverages, params.leverage_median, params.leverage_sigma,
                                     params.leverage_spread, bucket)
    long_factor = np.zeros((n_e, n_c))
    short_factor = np.zeros((n_e, n_c))
    for k, table in enumerate(tables):
        rows = np.flatnonzero(table_of == k)
        if rows.size == 0:
            continue
        most = _max_leverage(table, params.position_notional, price[rows])[:, None]
        allowed = leverages[None, :] <= most
        if not allowed.all():
            top = leverages[allowed.any(axis=0)].max(initial=0.0)
            notes.append(f"cohorts above {top:g}x left out where {table.label} allow no more for a "
                         f"{params.position_notional:,.0f} USDT position (their weight goes to the others)")
        capped = np.where(allowed, np.minimum(level_leverage[rows], most), 1.0)  # left-out cells get weight 0 below
        for side, out in (("long", long_factor), ("short", short_factor)):
            out[rows] = liq_price_factor(exchange, symbol, side, capped, params.position_notional, brackets=table,
                                         entry=price[rows, None])
        weights[rows] *= allowed
        notes.append(f"liquidation prices: {exchange} isolated-margin formula for a {params.position_notional:,.0f} "
                     f"USDT position per cohort ({table.label})")
    if len(tables) and exchange == "binance" and params.brackets is None:
        notes.append("brackets: Binance's public tables; Binance can scale a user's caps (notionalCoef), "
                     "which public data cannot see")
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    m = params.maker_leveraged_share
    long_contracts = buy_contracts + m * sell_contracts  # taker buyers + leveraged makers who sold to sellers
    short_contracts = sell_contracts + m * buy_contracts
    keep = weights.ravel() > 0
    rep = np.repeat(np.arange(n_e), n_c)[keep]
    cohort = np.tile(np.arange(n_c), n_e)[keep].astype(np.int16)
    w = weights.ravel()[keep]
    return Levels(
        price=np.concatenate([price[rep] * long_factor.ravel()[keep], price[rep] * short_factor.ravel()[keep]]),
        contracts=np.concatenate([long_contracts[rep] * w, short_contracts[rep] * w]),
        is_long=np.concatenate([np.ones(rep.size, bool), np.zeros(rep.size, bool)]),
        cohort=np.concatenate([cohort, cohort]),
        open_step=np.concatenate([step[rep], step[rep]]).astype(np.int64),
        death_step=np.empty(0, np.int64),
    )


def _max_leverage(table: BracketTable, notional: float, entry: np.ndarray) -> np.ndarray:
    """Highest leverage the table allows for a position of ``notional`` at each entry price."""
    size = table.position_size(np.full(entry.size, notional), entry=entry)
    return np.array([b.max_leverage for b in table.brackets])[table.bracket_index(size)]


def _tables(params: BookParams, exchange: str, symbol: str, times: np.ndarray):
    """The bracket snapshot in force at each time, or an error saying how to give the book some."""
    try:
        return tables_in_force(exchange, symbol, times, params.brackets)
    except ValueError as exc:
        raise DataError(
            f"{exc}. The position book needs the symbol's margin brackets for exact liquidation prices: "
            "give a bracket file with --param brackets=FILE (Python: params={'brackets': FILE}); "
            "the file format is in docs/liqprice.md"
        ) from None

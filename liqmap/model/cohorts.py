"""Stage 4 of the book: each entry x side x leverage cohort becomes a level at its exact liquidation price."""

from __future__ import annotations

import numpy as np

from ..frames import DataError
from .leverage import cohort_weights
from .margin import liq_price_factor
from .params import BookParams
from .positions import Levels


def cohort_levels(entries, params: BookParams, symbol: str, as_of_ms: int, notes: list[str]) -> Levels:
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

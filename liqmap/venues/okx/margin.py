"""OKX USDT-margined swap isolated-margin liquidation price.

LP = EP (1 - s/L) / (1 - s (MMR + taker fee)), with s = +1 long, -1 short;
tiers count contracts and a tier covers sizes up to and including its maximum.
"""

from __future__ import annotations

from ..base import MarginRule


def factor(s, leverage, mmr, cum_over_notional, taker_fee):
    """LP / EP (OKX tiers carry no maintenance deduction)."""
    return (1.0 - s / leverage) / (1.0 - s * (mmr + taker_fee))


RULE = MarginRule(
    formula="long EP(1 - 1/L)/(1 - MMR - fee); short EP(1 + 1/L)/(1 + MMR + fee)",
    source="OKX liquidates an isolated position when margin + unrealised PnL falls to maintenance margin plus the "
    "taker fee to close, both on the mark-price value (https://www.okx.com/help/v-tiered-maintenance-margin-ratio-rules); "
    "solving N/L + s(P - EP)Q = (MMR + fee) P Q for P gives the formula",
    factor=factor,
    uses_deduction=False,
    needs_taker_fee=True,
    cap_inclusive=True,
)

"""Binance USDⓈ-M isolated-margin liquidation price.

LP = EP (1 - s/L - s cum/N) / (1 - s MMR), with s = +1 long, -1 short; tier n
covers notional floor <= N < cap (Binance's ``notionalFloor``/``notionalCap``).
"""

from __future__ import annotations

from ..base import MarginRule


def factor(s, leverage, mmr, cum_over_notional, taker_fee):
    """LP / EP (the taker fee plays no part on Binance)."""
    return (1.0 - s / leverage - s * cum_over_notional) / (1.0 - s * mmr)


RULE = MarginRule(
    formula="long EP(1 - 1/L - cum/N)/(1 - MMR); short EP(1 + 1/L + cum/N)/(1 + MMR)",
    source="Binance FAQ 'How to Calculate Liquidation Price of USDⓈ-M Futures Contracts' "
    "(https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93) with isolated margin: "
    "WB = N/L, TMM = UPNL = 0",
    factor=factor,
    uses_deduction=True,
    cap_inclusive=False,
)

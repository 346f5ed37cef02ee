"""Hyperliquid isolated-margin liquidation price.

Hyperliquid's documentation ('Liquidations') gives, for a position of size Q at
the current price P with margin M available above maintenance,

    LP = P - s * M_available / Q / (1 - s * l),   l = MMR (1 / maintenance leverage),

where the maintenance margin is half the initial margin at the tier's maximum
leverage ('Margin tiers': MM = N * MMR - deduction).  For a new isolated
position (P = EP, margin N / L, M_available = N / L - N * MMR + deduction) this is
LP = EP (1 - s/L - s D/N) / (1 - s MMR): the same algebra as Binance's rule,
so the factor is shared; :func:`liquidation_price` is the documented form,
checked against ``liquidationPx`` of a recorded isolated position.
"""

from __future__ import annotations

from ..base import MarginRule
from ..binance.margin import factor


def liquidation_price(price: float, size: float, margin_available: float, mmr: float) -> float:
    """The documented formula: ``size`` signed (szi), ``margin_available`` = isolated margin - maintenance."""
    s = 1.0 if size > 0 else -1.0
    return price - s * margin_available / abs(size) / (1.0 - s * mmr)


RULE = MarginRule(
    formula="long EP(1 - 1/L - D/N)/(1 - MMR); short EP(1 + 1/L + D/N)/(1 + MMR), MMR = 1/(2 x max leverage)",
    source="Hyperliquid docs 'Liquidations' (liq_price = price - side * margin_available / position_size / "
    "(1 - l * side), https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations) and 'Margin tiers' "
    "(https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers), isolated: margin = N/L at entry",
    factor=factor,
    uses_deduction=True,
    cap_inclusive=False,
)

"""Bybit linear (USDT) isolated-margin liquidation price.

LP = EP (1 - s/L + s MMR - s cum/N), with s = +1 long, -1 short; a risk-limit
tier covers position values up to and including its limit.
"""

from __future__ import annotations

from ..base import MarginRule


def factor(s, leverage, mmr, cum_over_notional, taker_fee):
    """LP / EP (the taker fee plays no part on Bybit)."""
    return 1.0 - s / leverage + s * mmr - s * cum_over_notional


RULE = MarginRule(
    formula="long EP(1 - 1/L + MMR) - cum/Q; short EP(1 + 1/L - MMR) + cum/Q",
    source="Bybit help 'Liquidation Price (USDT Contract)', isolated: LP = EP -/+ (IM - MM)/Q with IM = N/L, "
    "MM = N*MMR - MM deduction (https://testnet.bybit.com/en-US/help-center/s/article/Liquidation-Price-USDT-Contract); "
    "deduction per tier from https://www.bybit.com/en/announcement-info/margin-parameters",
    factor=factor,
    uses_deduction=True,
    cap_inclusive=True,
)

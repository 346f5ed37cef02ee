"""Hyperliquid names a perpetual by its coin (``BTC``); liqmap by the USDT pair (``BTCUSDT``).

Hyperliquid's perpetuals settle in USDC; liqmap keeps one name per market
across venues so ``--venue all`` can line them up.
"""

from __future__ import annotations

QUOTE = "USDT"


def coin_of(symbol: str) -> str:
    """'BTCUSDT', 'btc' and 'BTC' -> 'BTC' (the coin Hyperliquid's API takes)."""
    text = str(symbol).strip().upper()
    return text[: -len(QUOTE)] if text.endswith(QUOTE) and len(text) > len(QUOTE) else text


def symbol_of(coin: str) -> str:
    """'BTC' -> 'BTCUSDT' (Hyperliquid's small-unit coins such as kPEPE keep their prefix: 'KPEPEUSDT')."""
    return f"{str(coin).strip().upper()}{QUOTE}"

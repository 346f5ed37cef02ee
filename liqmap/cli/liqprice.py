"""``liqmap liqprice``: the exchange's exact liquidation price of one isolated position."""

from __future__ import annotations

import argparse
import json
import math


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "liqprice",
        help="exact liquidation price of an isolated position (Binance, Bybit, Hyperliquid and OKX tiers; "
             "the OKX tiers shipped cover ARBUSDT only)",
        description=(
            "Print the mark price at which an isolated-margin position is liquidated, the bracket "
            "(maintenance margin rate, max leverage, maintenance amount) it falls in, its distance from "
            "entry, and the naive EP(1 -/+ 1/L) for contrast."
        ),
    )
    parser.add_argument("--venue", "--exchange", dest="exchange", default="binance",
                        help="binance, bybit, okx, hyperliquid or another registered venue with a margin rule (default binance)")
    parser.add_argument("--symbol", default="BTCUSDT", help="USDT perpetual, e.g. BTCUSDT (default BTCUSDT)")
    parser.add_argument("--side", required=True, choices=("long", "short"))
    parser.add_argument("--entry", required=True, type=float, help="entry price in USDT")
    parser.add_argument("--leverage", required=True, type=float, help="leverage, e.g. 20")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--notional", type=float, help="position notional at entry in USDT")
    size.add_argument("--quantity", type=float, help="position size in base units (notional = quantity x entry)")
    parser.add_argument("--brackets", metavar="FILE", help="your own bracket snapshot (JSON, see docs/liqprice.md)")
    parser.add_argument("--at", "--as-of", dest="at", metavar="DATE",
                        help="use the shipped tier table in force at this date, e.g. 2024-06-01 (default: the newest); "
                        "switch dates are approximate, see `liqmap venues`")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import quote_liquidation

    notional = args.notional if args.notional is not None else args.quantity * args.entry
    quote = quote_liquidation(
        args.exchange, args.symbol, args.side, args.entry, args.leverage, notional, args.brackets, args.at
    )
    print(json.dumps(quote.to_dict(), indent=2) if args.format == "json" else as_text(quote))
    return 0


def _price(value: float, entry: float) -> str:
    """Enough decimals for cheap coins (DOGE at 0.1) and two for BTC."""
    decimals = min(8, max(2, 5 - int(math.floor(math.log10(entry)))))
    return f"{value:,.{decimals}f}"


def as_text(quote) -> str:
    b, t = quote.bracket, quote.table
    unit = "USDT notional" if t.size_unit == "quote" else f"contracts of {t.contract_size:g} {quote.symbol.removesuffix('USDT')}"
    if quote.price > 0:
        liquidation = f"{_price(quote.price, quote.entry)}  ({quote.distance_pct:+.2f}% from entry)"
    else:
        liquidation = "none: the margin covers a fall to zero, this long cannot be liquidated"
    fee = f", taker fee {t.taker_fee:.3%}" if t.taker_fee else ""
    lines = [
        f"{quote.exchange} {quote.symbol} isolated {quote.side} {quote.leverage:g}x at {_price(quote.entry, quote.entry)}, "
        f"notional {quote.notional:,.2f} USDT",
        f"liquidation price  {liquidation}",
        f"naive EP(1{'-' if quote.side == 'long' else '+'}1/L)   {_price(quote.naive_price, quote.entry)}  "
        f"({quote.naive_distance_pct:+.2f}%)",
        f"bracket            {b.number} of {len(t.brackets)}: {t.bounds_text(b)} {unit}, "
        f"MMR {b.mmr:.2%}, max leverage {b.max_leverage:g}x, maintenance amount {b.maintenance_amount:,.2f}{fee}",
        f"brackets           {t.label} ({t.origin})",
    ]
    return "\n".join(lines)

"""``liqmap measured``: real positions' liquidation prices (Hyperliquid) beside the modelled map."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "measured",
        help="measured map of accounts' real positions (Hyperliquid) beside the modelled map",
        description=(
            "Fetch the positions of the accounts in --addresses from Hyperliquid's clearinghouseState (politely: "
            "one request per --interval, retried on rate limits, resumable through --cache), bin them by their "
            "own liquidation price, and put them beside the modelled map of the same venue. Isolated and cross "
            "positions are kept apart: a cross position's liquidation price belongs to the whole account."
        ),
        epilog=(
            "examples:\n"
            "  liqmap measured BTC --venue hyperliquid --addresses wallets.txt --png measured.png\n"
            "  liqmap measured BTC --venue hyperliquid --addresses leaderboard.csv --json measured.json "
            "--cache wallets.jsonl"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("coin", help="the perpetual, by coin (BTC) or liqmap name (BTCUSDT)")
    p.add_argument("--venue", default="hyperliquid", choices=("hyperliquid",),
                   help="the venue whose accounts are read (only hyperliquid publishes positions)")
    p.add_argument("--addresses", required=True, metavar="FILE",
                   help="account addresses, one per line (a CSV export's first column will do; '#' comments)")
    p.add_argument("--base-url", default=None, metavar="URL",
                   help="Hyperliquid's API (default https://api.hyperliquid.xyz; POST <URL>/info)")
    p.add_argument("--interval", type=float, default=0.5, metavar="SECONDS",
                   help="at least this long between requests (default 0.5 s)")
    p.add_argument("--cache", metavar="FILE",
                   help="JSON-lines file of fetched accounts: a rerun skips the ones in it (default: "
                        "<addresses file>.states.jsonl)")
    p.add_argument("--source", default="sample", help="data for the modelled map (default: the bundled sample)")
    p.add_argument("--as-of", default="last", metavar="TIME", help="the modelled map's moment (default: end of data)")
    p.add_argument("--window", metavar="SPAN", help="the modelled map's window (default 30d)")
    p.add_argument("--json", metavar="FILE", help="write the measured and the modelled map as JSON")
    p.add_argument("--png", metavar="FILE", help="write both maps side by side as a PNG")
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .. import api
    from ..analysis.measured import measured_map
    from ..frames import DataError
    from ..options import in_range
    from ..venues.hyperliquid.accounts import fetch_states, parse_positions, read_addresses
    from ..venues.hyperliquid.info import DEFAULT_INFO_URL, InfoClient
    from ..venues.hyperliquid.symbols import coin_of, symbol_of

    interval = float(in_range("--interval", args.interval, 0.0, 60.0))
    coin = coin_of(args.coin)
    addresses = read_addresses(Path(args.addresses))
    cache = Path(args.cache) if args.cache else Path(f"{args.addresses}.states.jsonl")
    modelled = api.build_map(symbol_of(coin), source=args.source, venue=args.venue, as_of=args.as_of,
                             window=args.window)
    client = InfoClient(args.base_url or DEFAULT_INFO_URL, min_interval_s=interval)
    try:
        contexts = client.asset_contexts()
        if coin not in contexts:
            raise DataError(f"Hyperliquid lists no perpetual {coin!r}; it lists: {', '.join(sorted(contexts))}")

        def progress(done: int, total: int, address: str) -> None:
            print(f"\r{done}/{total} accounts fetched ({address})", end="" if done < total else "\n", file=sys.stderr)

        states, failures = fetch_states(client, addresses, cache, progress)
    finally:
        client.close()
    positions = [p for address, state in states.items() for p in parse_positions(address, state)]
    context = contexts[coin]
    measured = measured_map(positions, coin, context.mark, open_interest_usd=context.open_interest_usd)
    for address, reason in failures.items():
        print(f"not fetched (rerun to retry): {address}: {reason}", file=sys.stderr)
    c = measured.counts
    share = measured.to_dict()["sample_share_of_open_interest"]
    print(f"{coin}: {c['positions']} positions in {c['accounts']} of {len(addresses)} accounts, "
          f"{c['value']:,.0f} USD ({share:.2%} of Hyperliquid's open interest); isolated {c['isolated']}, "
          f"cross {c['cross']}; {c['without_liquidation_price']} without a liquidation price; "
          f"{c['off_grid']} off the grid")
    if args.json:
        payload = {"measured": measured.to_dict(), "modelled": modelled.to_dict(),
                   "fetched": len(states), "failed": failures, "cache": str(cache)}
        Path(args.json).write_text(json.dumps(payload, allow_nan=False))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.png:
        from ..render.measured import save_measured_png

        print(f"wrote {save_measured_png(measured, modelled, args.png)}", file=sys.stderr)
    return 0 if not failures else 3

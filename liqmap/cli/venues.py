"""``liqmap venues``: the registered venues, the data each reads, its margin rule and tier vintages."""

from __future__ import annotations

import json

NOTE = ("Tier switch dates are approximate (the day a public copy shows the table); Binance can also scale "
        "one user's caps with notionalCoef, which public data cannot see.")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "venues",
        help="registered venues: symbols, data kinds, margin rule, tier vintages",
        description="List every registered venue: the store kinds its reader produces (the data `--source` "
        "folders of that venue may hold), its download host, its margin rule and, per symbol it has metadata "
        "or tier tables for, the dated tier tables shipped (the one in force at a time prices a position). "
        + NOTE,
    )
    p.add_argument("--format", default="table", choices=("table", "json"), help="output format (default table)")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import api

    catalog = api.list_venues()
    if args.format == "json":
        print(json.dumps({"venues": catalog, "note": NOTE}, indent=2))
        return 0
    for venue in catalog:
        print(f"{venue['name']}: {venue['title']}")
        kinds = ", ".join(venue["kinds"]) or "none yet (margin rule and tiers only)"
        print(f"  reads    {kinds}")
        if venue["download"]:
            print(f"  download {venue['download']}")
        if venue["margin"]:
            print(f"  margin   {venue['margin']['formula']}; tier n covers {venue['margin']['tier_bounds']}")
        for item in venue["symbols"]:
            vintages = ", ".join(f"{t['date']} ({t['tiers']} tiers, {t['max_leverage']:g}x)" for t in item["tiers"])
            tiers = f"tiers of {vintages}" if vintages else "no shipped tiers (data backfill fetches today's)"
            contract = f"; contract {item['contract_size']:g}" if item.get("contract_size") not in (None, 1.0) else ""
            print(f"  {item['symbol']:<9}{tiers}{contract}")
    print(NOTE)
    return 0

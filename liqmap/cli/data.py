"""``liqmap data``: fill and inspect the local cache of market data.

    liqmap data fetch BTCUSDT --from 2025-01-01 --to 2025-01-31 [--kinds klines,metrics] [--interval 1m]
    liqmap data import ~/Downloads/binance        # files you already have
    liqmap data list
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="download, import and list market data in the local cache",
        description="Fill and inspect the local cache ($LIQMAP_CACHE or ~/.cache/liqmap) that `--source cache` reads.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.set_defaults(run=lambda args: parser.print_help() or 2)

    fetch = actions.add_parser(
        "fetch",
        help="download Binance Vision USD-M files into the cache",
        description="Download Binance Vision USD-M daily files (monthly for fundingRate), verify their "
        "checksums and parse them into the cache.  Files already cached are skipped; an interrupted "
        "download resumes; days Binance has not published are listed as missing.",
    )
    fetch.add_argument("symbol", help="e.g. BTCUSDT")
    fetch.add_argument("--from", dest="first", required=True, metavar="DATE", help="first UTC day, e.g. 2025-01-01")
    fetch.add_argument("--to", dest="last", required=True, metavar="DATE", help="last UTC day (inclusive)")
    fetch.add_argument(
        "--kinds",
        help="comma-separated: aggTrades,klines,markPriceKlines,metrics,fundingRate (default: all; "
        "aggTrades are large, about 50-100 MB per BTCUSDT day)",
    )
    fetch.add_argument("--interval", default="1m", help="kline interval (default 1m)")
    fetch.add_argument("--base-url", help="mirror of the Binance Vision host (default: Binance's public data host)")
    fetch.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    fetch.add_argument("--retries", type=int, default=3, help="retries per file on network errors (default 3)")
    fetch.set_defaults(run=run_fetch)

    imp = actions.add_parser(
        "import",
        help="parse Binance Vision files you already have into the cache",
        description="Parse every Binance Vision file below DIR (published tree or loose files with the "
        "published names, .csv or .zip) into the cache; files already cached are skipped.",
    )
    imp.add_argument("folder", type=Path, metavar="DIR")
    imp.add_argument("--symbol", help="only this symbol")
    imp.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    imp.set_defaults(run=run_import)

    lst = actions.add_parser("list", help="show what the cache holds", description="Symbols, kinds and first/last day held in the cache.")
    lst.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    lst.set_defaults(run=run_list)


def _store(args):
    from ..sources.cache import Store, cache_root

    root = args.cache or cache_root()
    return Store(root, f"the cache at {root}")


def _day(text: str, option: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a day like 2025-01-15") from None


def run_fetch(args) -> int:
    from ..venues.binance.download import DEFAULT_BASE_URL, KINDS, fetch

    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip()) if args.kinds else KINDS
    store = _store(args)
    report = fetch(
        args.symbol.upper(),
        _day(args.first, "--from"),
        _day(args.last, "--to"),
        kinds=kinds,
        interval=args.interval,
        base_url=args.base_url or DEFAULT_BASE_URL,
        store=store,
        retries=args.retries,
        progress=sys.stderr.isatty(),
    )
    print(f"stored {len(report.stored)} file(s), {len(report.skipped)} already cached, in {store.root}")
    if report.missing:
        print(f"missing (not published, HTTP 404): {len(report.missing)} file(s)", file=sys.stderr)
        for remote in report.missing:
            print(f"  {remote.url_path}", file=sys.stderr)
    for remote, reason in report.failed:
        print(f"failed: {remote.url_path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def run_import(args) -> int:
    from ..venues.binance.layout import import_folder

    store = _store(args)
    imported, held = import_folder(store, args.folder, args.symbol.upper() if args.symbol else None)
    if not imported and not held:
        raise UserError(f"no Binance Vision files{' for ' + args.symbol.upper() if args.symbol else ''} below {args.folder}")
    print(f"imported {len(imported)} file(s), {len(held)} already cached, into {store.root}")
    return 0


def run_list(args) -> int:
    store = _store(args)
    rows = store.summary()
    if not rows:
        print(f"{store.label} holds no data (fill it with `liqmap data fetch` or `liqmap data import`)")
        return 0
    header = ("symbol", "kind", "first", "last", "files")
    table = [header] + [tuple(str(v) for v in row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"{store.label}:")
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0

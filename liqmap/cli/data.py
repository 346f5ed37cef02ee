"""``liqmap data``: fill and inspect the local cache of market data.

    liqmap data fetch BTCUSDT --from 2025-01-01 --to 2025-01-31 [--kinds klines,metrics] [--interval 1m]
    liqmap data import ~/Downloads/binance        # files you already have
    liqmap data backfill BTCUSDT --window 30d [--interval 1m] [--base-url URL] [--venue bybit]   # REST, up to now
    liqmap data list

The cache keeps each venue apart (``<cache>/<venue>/<SYMBOL>/<kind>/``); fetch
and import fill ``binance/``, the venue whose bulk files liqmap downloads.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from . import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="download, import and list market data in the local cache",
        description="Fill and inspect the local cache ($LIQMAP_CACHE or ~/.cache/liqmap) that `--source cache` reads. "
        "It holds one folder per venue (<cache>/<venue>/<SYMBOL>/<kind>/<period>.parquet); a cache in the older "
        "layout without venues is moved under binance/ the first time it is opened.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    parser.set_defaults(run=lambda args: parser.print_help() or 2)

    fetch = actions.add_parser(
        "fetch",
        help="download Binance Vision USD-M files (or Bybit's daily trade files) into the cache",
        description="Download Binance Vision USD-M daily files (monthly for fundingRate), verify their "
        "checksums and parse them into the cache.  Files already cached are skipped; an interrupted "
        "download resumes; days Binance has not published are listed as missing.  A file that fails "
        "(server errors after the retries, no checksum published, a bad checksum or CRC, rows of another "
        "day, the deadline) is listed with its reason, the others are still fetched, and the command "
        "exits with status 1.  --venue bybit downloads Bybit's public daily trade files "
        "(public.bybit.com/trading) as the aggTrades kind instead, so flow and CVD work on Bybit history.",
    )
    fetch.add_argument("symbol", help="e.g. BTCUSDT")
    fetch.add_argument("--venue", default="binance", choices=("binance", "bybit"),
                       help="binance: Binance Vision files (default); bybit: Bybit's daily trade files")
    fetch.add_argument("--from", dest="first", required=True, metavar="DATE", help="first UTC day, e.g. 2025-01-01")
    fetch.add_argument("--to", dest="last", required=True, metavar="DATE", help="last UTC day (inclusive)")
    fetch.add_argument(
        "--kinds",
        help="comma-separated: aggTrades,klines,markPriceKlines,metrics,fundingRate (default: all; "
        "aggTrades are large, about 50-100 MB per BTCUSDT day)",
    )
    fetch.add_argument("--interval", default="1m", help="kline interval: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, "
                       "8h, 12h or 1d (default 1m)")
    fetch.add_argument("--base-url", help="mirror of the Binance Vision host (default: Binance's public data host; "
                       "with --venue bybit: https://public.bybit.com/trading)")
    fetch.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    fetch.add_argument("--retries", type=int, default=3, help="retries per file on network errors (default 3)")
    fetch.add_argument("--deadline", type=float, default=900.0, metavar="SECONDS",
                       help="most time one file may take, retries included (default 900); "
                       "an unfinished download resumes on the next run")
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

    back = actions.add_parser(
        "backfill",
        help="fetch the latest klines, mark klines, open interest and funding from a venue's REST API",
        description="Fetch the last --window (up to now, by the exchange's clock) of 1-minute (or --interval) "
        "klines and mark-price klines, 5-minute open-interest history and funding history from Binance's "
        "public USD-M REST API into the cache, one file per day like Binance Vision files, so every command "
        "reads them with --source cache.  Days already complete are skipped (an interrupted backfill resumes). "
        "Binance serves only the latest 30 days of open-interest history.  --venue bybit or okx reads those "
        "venues' public v5 APIs instead (the cache keeps each venue apart; requests are paced within their "
        "published limits).",
    )
    back.add_argument("symbol", help="e.g. BTCUSDT")
    back.add_argument("--window", default="30d", metavar="SPAN", help="how far back from now (default 30d)")
    back.add_argument("--interval", default="1m", choices=("1m", "1h"), help="kline interval (default 1m)")
    back.add_argument("--venue", default="binance", help="binance (default), bybit or okx")
    back.add_argument("--base-url", help="REST host (default: the venue's, e.g. https://fapi.binance.com, "
                                         "https://api.bybit.com, https://www.okx.com)")
    back.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    back.set_defaults(run=run_backfill)

    lst = actions.add_parser("list", help="show what the cache holds",
                             description="Venues, symbols, kinds and first/last day held in the cache.")
    lst.add_argument("--cache", type=Path, help="cache folder (default $LIQMAP_CACHE or ~/.cache/liqmap)")
    lst.set_defaults(run=run_list)


def _root(args) -> Path:
    """The cache folder, moved to the layout with venues if it is still in the older one."""
    from ..sources.cache import cache_root, migrate_legacy

    root = args.cache or cache_root()
    migrate_legacy(root)
    return root


def cache_store(args, venue: str = "binance"):
    """One venue's part of the cache (--cache or the default), in the layout with venues."""
    from ..sources.cache import Store

    return Store(_root(args), venue)


def _fetch_bybit_trades(args) -> int:
    """``liqmap data fetch SYMBOL --venue bybit``: Bybit's daily trade files as the aggTrades kind."""
    from ..sources.cache import TRADES
    from ..venues import get
    from ..venues.bybit.trades import DEFAULT_BASE_URL, fetch_trades

    if args.kinds and {k.strip() for k in args.kinds.split(",") if k.strip()} != {TRADES}:
        raise UserError(f"--kinds {args.kinds}: Bybit publishes only trades as files ({TRADES}); the other kinds "
                        "come from `liqmap data backfill --venue bybit`")
    if not 0 <= args.retries <= 20:
        raise UserError(f"--retries must be between 0 and 20, not {args.retries}")
    first, last = _day(args.first, "--from"), _day(args.last, "--to")
    symbol = get("bybit").check_symbol(args.symbol)
    store = cache_store(args, "bybit")
    report = fetch_trades(symbol, first, last, store, base_url=args.base_url or DEFAULT_BASE_URL,
                          retries=args.retries)
    print(f"stored {len(report.stored)} day(s) of trades, {len(report.skipped)} already cached, "
          f"{len(report.missing)} not published, in {store.folder}")
    for day in report.missing:
        print(f"missing (not published, HTTP 404): {day}", file=sys.stderr)
    return 0


def _day(text: str, option: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a day like 2025-01-15") from None


def run_fetch(args) -> int:
    from ..venues.binance.download import DEFAULT_BASE_URL, KINDS, fetch

    if args.venue == "bybit":
        return _fetch_bybit_trades(args)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip()) if args.kinds else KINDS
    if not 0 <= args.retries <= 20:
        raise UserError(f"--retries must be between 0 and 20, not {args.retries}")
    if not 1 <= args.deadline <= 86_400:
        raise UserError(f"--deadline must be between 1 and 86400 seconds, not {args.deadline:g}")
    first, last = _day(args.first, "--from"), _day(args.last, "--to")
    store = cache_store(args)  # (after the checks: opening a cache may move it to the venue layout)
    report = fetch(
        args.symbol.upper(),
        first,
        last,
        kinds=kinds,
        interval=args.interval,
        base_url=args.base_url or DEFAULT_BASE_URL,
        store=store,
        retries=args.retries,
        deadline_s=args.deadline,
        progress=sys.stderr.isatty(),
    )
    print(f"stored {len(report.stored)} file(s), {len(report.skipped)} already cached, "
          f"{len(report.missing)} not published, {len(report.failed)} failed, in {store.folder}")
    if report.missing:
        print(f"missing (not published, HTTP 404): {len(report.missing)} file(s)", file=sys.stderr)
        for remote in report.missing:
            print(f"  {remote.url_path}", file=sys.stderr)
    if report.failed:
        print(f"failed: {len(report.failed)} file(s), not stored (run the command again to retry them)", file=sys.stderr)
        for remote, reason in report.failed:
            print(f"  {remote.url_path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def run_backfill(args) -> int:
    from .. import venues
    from ..timeutil import parse_span

    window_ms = parse_span(args.window, "--window")
    venue = venues.get(args.venue)
    symbol = venue.check_symbol(args.symbol)
    store = cache_store(args, venue.name)
    client = venue.rest_client(args.base_url)
    try:
        backfill_with_progress(client, store, symbol, window_ms, args.interval)
    finally:
        client.close()
    return 0



def backfill_with_progress(client, store, symbol: str, window_ms: int, interval: str) -> int:
    """Backfill up to the exchange's now (a progress bar on a terminal); print the summary; return the end (ms)."""
    from ..frames import format_ms
    from ..timeutil import parse_span
    from ..venues.binance.rest import backfill

    step = parse_span(interval, "--interval")
    end_ms = client.server_now() // step * step
    with progress_bar() as progress:
        report = backfill(client, store, symbol, end_ms - window_ms, end_ms, interval, progress)
    print(f"backfilled {symbol} up to {format_ms(end_ms)}: {len(report.written)} file(s) written, "
          f"{len(report.skipped)} already complete, in {store.root}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return end_ms


@contextmanager
def progress_bar():
    """A ``progress(kind, done, total)`` callback drawing a bar on a terminal's stderr (None elsewhere)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("backfill", total=None)

        def progress(kind: str, done: int, total: int) -> None:
            bar.update(task, description=f"backfill {kind}", completed=done, total=total)

        yield progress


def run_import(args) -> int:
    from ..venues.binance.layout import import_folder

    store = cache_store(args)
    imported, held = import_folder(store, args.folder, args.symbol.upper() if args.symbol else None)
    if not imported and not held:
        raise UserError(f"no Binance Vision files{' for ' + args.symbol.upper() if args.symbol else ''} below {args.folder}")
    print(f"imported {len(imported)} file(s), {len(held)} already cached, into {store.folder}")
    return 0


def run_list(args) -> int:
    from ..sources.cache import Store, store_venues

    root = _root(args)
    rows = [(venue, *row) for venue in store_venues(root) for row in Store(root, venue).summary()]
    if not rows:
        print(f"the cache at {root} holds no data (fill it with `liqmap data fetch` or `liqmap data import`)")
        return 0
    header = ("venue", "symbol", "kind", "first", "last", "files")
    table = [header] + [tuple(str(v) for v in row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"the cache at {root}:")
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0

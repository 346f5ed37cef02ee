"""``liqmap backfill``: maps, clusters, LiqRatio bands and heatmap cells for every step of a span, on Dask."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backfill",
        help="compute maps and heatmap cells for many symbols and moments on Dask, into a Parquet dataset",
        description=(
            "Write, for every --every step from --from to --to, each view's map (bins with long, short, total and "
            "Z; clusters; LiqRatio bands) and the heatmap cells, as a Parquet dataset partitioned by venue, symbol "
            "and month under --out, with a manifest.json of the model, parameters, views and grid. One task per "
            "venue-symbol-month runs on a Dask LocalCluster of --workers processes (or the cluster at "
            "--scheduler); each task builds its book from the window plus the decay horizon before its month. "
            "A rerun skips the finished partitions; see docs/backfill.md."
        ),
        epilog=(
            "examples:\n"
            "  liqmap backfill --symbols BTCUSDT,ETHUSDT --from 2025-09-01 --to 2025-12-01 --source cache --out bf\n"
            "  liqmap backfill --venues binance,bybit --symbols BTCUSDT --from 2025-09-01 --to 2025-10-01 \\\n"
            "      --source cache --out bf --scheduler tcp://10.0.0.5:8786\n"
            "  duckdb -c \"SELECT * FROM read_parquet('bf/clusters/**/*.parquet', hive_partitioning=true) LIMIT 5\""
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--venues", default="binance", metavar="LIST", help="comma-separated venues (default: binance)")
    p.add_argument("--symbols", required=True, metavar="LIST", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT")
    p.add_argument("--from", dest="start", required=True, metavar="TIME", help="first as-of time (ISO, UTC)")
    p.add_argument("--to", dest="end", required=True, metavar="TIME", help="as-of times are before this (ISO, UTC)")
    p.add_argument("--every", default="1h", metavar="SPAN", help="step between as-of times (default 1h)")
    p.add_argument("--views", default="all,high,medium,low,optical", metavar="LIST",
                   help="map views to store (default: all,high,medium,low,optical)")
    p.add_argument("--heatmap-views", default="all", metavar="LIST",
                   help="views whose heatmap cells are stored (default: all)")
    p.add_argument("--window", default="30d", metavar="SPAN", help="positions opened this long before a moment count "
                                                                   "(default 30d)")
    p.add_argument("--out", required=True, metavar="STORE", help="the dataset folder (created; a rerun resumes it)")
    p.add_argument("--source", default="cache", help="sample, cache or a folder of the venue's files (default: cache)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=2, metavar="N",
                       help="worker processes of the local Dask cluster (default 2; 0: run in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask cluster, e.g. tcp://HOST:8786 "
                                                              "(its workers must see --source and --out)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a model parameter, e.g. --param leverage_median=15 (see docs/model.md)")
    p.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                   help="override a map setting, e.g. --setting bin_pct=0.2")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.set_defaults(run=run)


def _list(option: str, text: str, allowed=None, what: str = "value") -> list[str]:
    from ..options import distinct

    return list(distinct(option, [x.strip() for x in text.split(",") if x.strip()], allowed=allowed, what=what))


def run(args) -> int:
    from .. import venues
    from .. import MapSettings
    from ..api import _params
    from ..backfill import Config, manifest_of, plan, run_backfill, warmup_ms
    from .. import VIEWS
    from .. import BookParams
    from ..options import parse_assignments, span_ms
    from .. import cache_root
    from ..timeutil import parse_time
    from . import UserError

    venue_names = _list("--venues", args.venues.lower(), venues.names(), "venue")
    symbols = [_symbol_name(s, venue_names) for s in _list("--symbols", args.symbols)]
    views = _list("--views", args.views, VIEWS, "view")
    heatmap_views = _list("--heatmap-views", args.heatmap_views, VIEWS, "view")
    if args.workers < 0:
        raise UserError(f"--workers must be 0 or more, not {args.workers}")
    start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
    step, window = span_ms("--every", args.every), span_ms("--window", args.window)
    params = parse_assignments(args.param, BookParams, "--param")
    settings = parse_assignments(args.setting, MapSettings, "--setting")
    warmups = {warmup_ms(_params(params or None, v), window) for v in venue_names}
    tasks = plan(venue_names, symbols, start, end, step, max(warmups))
    if not tasks:
        raise UserError(f"no {args.every} step falls between --from {args.start} and --to {args.end}")
    config = Config(store=args.out, source=args.source, window_ms=window, views=tuple(views),
                    heatmap_views=tuple(heatmap_views), params=params, settings=settings,
                    cache_root=str(cache_root()) if args.source == "cache" else None)
    manifest = manifest_of(tasks, config, venue_names, symbols, start, end, step)
    print(f"backfill: {len(tasks)} tasks ({len(venue_names)} venues x {len(symbols)} symbols x months) into "
          f"{args.out}", file=sys.stderr)
    result = run_backfill(tasks, config, manifest, workers=args.workers, scheduler=args.scheduler,
                          progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"backfill: {result['written']} partitions written, {result['skipped']} already done, "
              f"in {result['seconds']:.1f} s -> {args.out}")
    return 0


def _symbol_name(symbol: str, venue_names: list[str]) -> str:
    """liqmap's name of ``symbol`` on every venue listed (BTC on Hyperliquid alone is BTCUSDT)."""
    from .. import venues
    from . import UserError

    names = {v: venues.get(v).symbol_name(symbol) for v in venue_names}
    if len(set(names.values())) > 1:
        raise UserError(f"--symbols {symbol} names " + ", ".join(f"{n} on {v}" for v, n in names.items())
                        + "; give liqmap's name (as BTCUSDT)")
    return next(iter(names.values()))

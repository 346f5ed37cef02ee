"""``liqmap heatmap``: outstanding liquidation levels over time x price, as PNG and/or interactive HTML."""

from __future__ import annotations

import argparse
import sys

from . import add_venue_argument
from .. import VIEWS
from .map import count_type


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "heatmap",
        help="time x price heatmap of liquidation levels, with the price path and realized liquidations",
        description=(
            "Draw where liquidation levels of SYMBOL sat over time: each column is the position book as of that "
            "moment (computed in one pass over all moments), brightness is notional, the price path is drawn "
            "over it and realized liquidations (where the source has them) under it."
        ),
        epilog=(
            "examples:\n"
            "  liqmap heatmap BTCUSDT --png heat.png                    # last 30 days of the bundled sample\n"
            "  liqmap heatmap BTCUSDT --from 2026-02-01 --to 2026-03-01 --resolution 4h --html heat.html\n"
            "  liqmap heatmap BTCUSDT --view high --scale z --png high.png\n"
            "  liqmap heatmap BTCUSDT --source backfill:bf --from 2025-10-01 --to 2025-11-01 --png stored.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="perpetual symbol, e.g. BTCUSDT")
    p.add_argument("--from", dest="start", metavar="TIME", help="first moment (ISO time, UTC; default: 30 days before --to)")
    p.add_argument("--to", dest="end", metavar="TIME", help="last moment (ISO time, UTC; default: end of data)")
    p.add_argument("--view", default="all", choices=VIEWS, help="leverage view (default: all)")
    p.add_argument("--resolution", metavar="SPAN",
                   help="time between columns, e.g. 15m, 1h, 4h (default 1h, or a backfill store's step; not finer "
                        "than the data's candles). The columns x bins grids may take 320 MB (48 MB with --html): a "
                        "larger heatmap is refused with the resolution that would fit")
    p.add_argument("--window", metavar="SPAN",
                   help="each column holds the positions opened in this span before it (default 30d, or the "
                        "backfill store's)")
    p.add_argument("--bins", type=count_type(2, 10_000), metavar="N",
                   help="number of price bins, 2-10000 (default: about 0.1%% of price each)")
    p.add_argument("--scale", default="log", choices=("log", "z"),
                   help="colour: log10 of notional, or Z-score within each column (default: log)")
    p.add_argument("--source", default="sample",
                   help="sample, cache, a folder of Binance Vision files, or backfill:STORE (the cells `liqmap "
                        "backfill` stored: nothing is rebuilt; default: sample)")
    add_venue_argument(p)
    p.add_argument("--png", metavar="FILE", help="write the heatmap as a PNG (or .svg)")
    p.add_argument("--html", metavar="FILE", help="write the heatmap as an interactive HTML page (works offline)")
    p.add_argument("--palette", default="default", choices=("default", "colorblind"),
                   help="colours of the price path overlay and realized liquidations")
    p.add_argument("--no-realized", dest="realized", action="store_false",
                   help="do not overlay realized liquidations even when the source has them")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import api
    from ..options import HEATMAP_MAX_BYTES, SERVED_HEATMAP_MAX_BYTES
    from . import UserError

    if not (args.png or args.html):
        raise UserError("say where to draw the heatmap: --png FILE and/or --html FILE")
    from ..backfill.read import store_of

    # a store answers from its cells: no market data is read, so no realized liquidations either
    market = None if store_of(args.source) else api.load_market(args.symbol.upper(), args.source, end=args.end,
                                                                venue=args.venue)
    heatmap = api.build_heatmap(args.symbol.upper(), market=market, source=args.source, venue=args.venue,
                                start=args.start, end=args.end, resolution=args.resolution, view=args.view,
                                window=args.window, bins=args.bins,
                                # a browser holds an HTML heatmap whole: the served budget applies to it
                                max_bytes=SERVED_HEATMAP_MAX_BYTES if args.html else HEATMAP_MAX_BYTES)
    realized = market.liquidations if args.realized and market is not None else None
    if args.png:
        from ..render.static import save_heatmap_png

        save_heatmap_png(heatmap, args.png, liquidations=realized, scale=args.scale, palette=args.palette)
        print(f"wrote {args.png}", file=sys.stderr)
    if args.html:
        from ..render.interactive import heatmap_html

        heatmap_html(heatmap, args.html, liquidations=realized, scale=args.scale, palette=args.palette)
        print(f"wrote {args.html}", file=sys.stderr)
    print(f"{heatmap.symbol} heatmap: {heatmap.time.size} columns x {heatmap.price_low.size} price bins, view {heatmap.view}")
    for note in heatmap.model.get("notes", []):
        if note.startswith("start: "):  # the span was cut to the data
            print(f"note: {note}", file=sys.stderr)
    return 0

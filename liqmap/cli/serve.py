"""``liqmap serve``: the local web dashboard (FastAPI + one page), bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_venue_argument


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="local web dashboard: LiqMap, LiqRatio, clusters and heatmap in the browser",
        description=(
            "Serve the dashboard page and its JSON API (OpenAPI docs at /docs). The page works offline: "
            "plotly.js is served from the installed plotly package. Binds 127.0.0.1 unless --host says otherwise."
        ),
        epilog=(
            "examples:\n"
            "  liqmap serve                          # http://127.0.0.1:8000 over the bundled sample\n"
            "  liqmap serve --port 8765 --source cache --symbols BTCUSDT,ETHUSDT\n"
            "  liqmap serve --source backfill:bf     # any stored moment, chosen on the page"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to your network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--source", default="sample",
                   help="sample, cache, a folder of Binance Vision files, or backfill:STORE (maps and heatmaps read "
                        "from what `liqmap backfill` stored; the page gets an as-of picker; default: sample)")
    add_venue_argument(p)
    p.add_argument("--symbols", default="BTCUSDT", help="comma list the page offers in its symbol selector")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests addressed to this host name (repeatable). By default only the bound "
                        "address, loopback names and (with a wildcard --host) IP addresses are answered, so a web "
                        "page cannot reach the server by DNS rebinding")
    p.add_argument("--live", metavar="SYMBOLS",
                   help="also follow these symbols live (comma list), as `liqmap live` does: REST backfill into the "
                        "cache, then the venue's streams; the server pushes their maps, a heatmap column per "
                        "bar, realized liquidations and the stream health to the page")
    p.add_argument("--live-window", default="30d", metavar="SPAN", help="--live: map window (default 30d)")
    p.add_argument("--rest-url", help="--live: REST host (default https://fapi.binance.com)")
    p.add_argument("--ws-url", help="--live: stream route (default wss://fstream.binance.com/market/stream)")
    p.add_argument("--cache", type=Path, help="--live: cache folder for the backfill and the recorder "
                                              "(default $LIQMAP_CACHE or ~/.cache/liqmap)")
    p.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(run=run)


def run(args) -> int:
    import uvicorn

    from ..options import distinct
    from ..server.app import create_app, symbol_name
    from . import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port} is not a TCP port (1-65535)")
    symbols = distinct("--symbols", (symbol_name(s, "--symbols") for s in args.symbols.split(",") if s.strip()))
    _check_source(args.source, args.venue)
    listening = _bind(args.host, args.port)
    hub = _start_live(args) if args.live else None
    app = create_app(args.source, symbols=symbols, host=args.host, allow_hosts=tuple(args.allow_host),
                     venue=args.venue, live_hub=hub)
    print(f"liqmap dashboard on http://{args.host}:{args.port}  (API docs: /docs; Ctrl-C stops)", file=sys.stderr,
          flush=True)
    uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level)).run([listening])
    return 0


def _check_source(source: str, venue: str) -> None:
    """Refuse, before serving, a venue that is not registered and a source that is not there (every
    request would fail on it)."""
    from .. import venues
    from ..backfill.read import store_of
    from . import UserError

    if venue.lower() != "all":
        venues.get(venue)
    store = store_of(source)
    if store is not None:
        if not store.is_dir():
            raise UserError(f"--source {source}: no backfill store at {store}")
    elif source not in ("sample", "cache") and not Path(source).is_dir():
        raise UserError(f"--source {source!r} is not 'sample', 'cache', backfill:STORE or an existing folder")


def _bind(host: str, port: int):
    """The listening socket, bound here so a port in use is one line before anything is announced."""
    import errno
    import socket

    from . import UserError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} is in use; pick another with --port") from None
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _start_live(args):
    """A live loop per --live symbol, each in a worker thread publishing into the page's hub."""
    from .. import venues
    from .. import LiveOptions
    from .. import VIEWS
    from ..options import distinct
    from ..server.app import symbol_name
    from ..server.live import LiveHub, run_in_thread
    from ..timeutil import parse_span
    from .data import cache_store

    venue = venues.get(args.venue)
    hub = LiveHub()
    options = LiveOptions(parse_span(args.live_window, "--live-window"), tuple(VIEWS))
    for symbol in distinct("--live", (symbol_name(s, "--live") for s in args.live.split(",") if s.strip())):
        loop, notes = venue.open_live(symbol, cache_store(args, venue.name), options, rest_url=args.rest_url,
                                      ws_url=args.ws_url)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        run_in_thread(loop, hub)
    return hub

"""``liqmap serve``: the local web dashboard (FastAPI + one page), bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import sys

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
            "  liqmap serve --port 8765 --source cache --symbols BTCUSDT,ETHUSDT"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to your network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--source", default="sample", help="sample, cache or a folder of Binance Vision files (default: sample)")
    add_venue_argument(p)
    p.add_argument("--symbols", default="BTCUSDT", help="comma list the page offers in its symbol selector")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests addressed to this host name (repeatable). By default only the bound "
                        "address, loopback names and (with a wildcard --host) IP addresses are answered, so a web "
                        "page cannot reach the server by DNS rebinding")
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
    app = create_app(args.source, symbols=symbols, host=args.host, allow_hosts=tuple(args.allow_host),
                     venue=args.venue)
    print(f"liqmap dashboard on http://{args.host}:{args.port}  (API docs: /docs; Ctrl-C stops)", file=sys.stderr,
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0

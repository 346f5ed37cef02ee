"""``liqmap watch``: evaluate alert rules on each data update and deliver each alert once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_venue_argument
from ..frames import MS_PER_DAY


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "watch",
        help="alerts: evaluate a rules file on each update (or over replayed history)",
        description=(
            "Build the liquidation maps the rules need at each new as-of time, evaluate the rules (a YAML "
            "file, see docs/alerts.md) and deliver each alert, under a key a receiver can de-duplicate on, to the "
            "terminal, a JSON-lines file and/or a webhook.  Without --replay it polls the source and updates whenever the data grows.  An alert a sink "
            "could not take is retried at the next update (and, with --state, by the next run); it exits 1 if "
            "any alert is still undelivered at the end."
        ),
        epilog=(
            "examples:\n"
            "  liqmap watch BTCUSDT --rules examples/alerts.yaml --replay 2026-02-01 2026-02-08 --speed 0\n"
            "  liqmap watch BTCUSDT --rules alerts.yaml --source cache --poll 60s --state watch.json \\\n"
            "      --jsonl alerts.jsonl --webhook https://example.org/hook"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="perpetual symbol, e.g. BTCUSDT")
    p.add_argument("--rules", required=True, metavar="FILE", help="YAML rules file (schema in docs/alerts.md)")
    p.add_argument("--source", default="sample",
                   help="sample (bundled real BTCUSDT data), cache or a folder of Binance Vision files "
                        "(default: sample)")
    add_venue_argument(p)
    p.add_argument("--replay", nargs=2, metavar=("FROM", "TO"),
                   help="replay stored history: one update per --step from FROM to TO (ISO times, UTC)")
    p.add_argument("--speed", type=float, default=0.0, metavar="X",
                   help="replay X times faster than real time; 0 = as fast as possible (default)")
    p.add_argument("--step", default="1h", metavar="SPAN", help="time between replayed updates (default 1h)")
    p.add_argument("--poll", default="60s", metavar="SPAN", help="without --replay: how often to reload the source")
    p.add_argument("--max-polls", type=int, metavar="N", help="without --replay: stop after N polls")
    p.add_argument("--window", default="30d", metavar="SPAN", help="map window (default 30d)")
    p.add_argument("--jsonl", metavar="FILE", help="also append each alert to this JSON-lines file")
    p.add_argument("--webhook", metavar="URL",
                   help="also POST each alert as JSON to this URL (header Idempotency-Key: the alert's key)")
    p.add_argument("--webhook-timeout", default="5s", metavar="SPAN",
                   help="deadline of each POST as a whole, from connecting to the answer's last byte (default 5s)")
    p.add_argument("--webhook-retries", type=int, default=3, metavar="N",
                   help="retries of a POST that failed in a way that may pass (default 3)")
    p.add_argument("--state", metavar="FILE",
                   help="remember evaluated updates, delivered alerts and undelivered ones (retried) here, so a "
                        "restart loses and repeats nothing; locked: one watcher per file")
    p.add_argument("--quiet", action="store_true", help="do not print alerts on the terminal")
    p.add_argument("--live", action="store_true",
                   help="follow the venue's live streams (as `liqmap live` does: REST backfill, then streams; "
                        "an update per closed 1-minute bar) instead of polling --source")
    p.add_argument("--rest-url", help="--live: REST host (default https://fapi.binance.com)")
    p.add_argument("--ws-url", help="--live: stream route (default wss://fstream.binance.com/market/stream)")
    p.add_argument("--cache", type=Path, help="--live: cache folder for the backfill and the recorder "
                                              "(default $LIQMAP_CACHE or ~/.cache/liqmap)")
    p.add_argument("--duration", metavar="SPAN", help="--live: stop after this long (default: until Ctrl-C)")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import api
    from ..alerts.delivery import JsonlSink, TerminalSink, WebhookSink
    from ..alerts.engine import AlertEngine
    from ..alerts.rules import load_rules
    from ..alerts.watch import follow_updates, replay_times, replay_updates, run_watch
    from ..timeutil import parse_span, parse_time

    if args.speed < 0:
        raise ValueError("--speed must be 0 (as fast as possible) or positive")
    if args.webhook_retries < 0:
        raise ValueError(f"--webhook-retries must be 0 or more, not {args.webhook_retries}")
    rules = load_rules(args.rules)
    sinks: list[TerminalSink | JsonlSink | WebhookSink] = [] if args.quiet else [TerminalSink()]
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl))
    if args.webhook:
        sinks.append(WebhookSink(args.webhook, timeout_s=parse_span(args.webhook_timeout, "--webhook-timeout") / 1000,
                                 retries=args.webhook_retries))
    symbol = args.symbol.upper()
    window_ms = parse_span(args.window, "--window")
    with AlertEngine(rules, args.state, sinks) as engine:
        for note in engine.notes:
            engine.report(note)
        if args.live:
            updates = _live_updates(args, symbol, engine.views, window_ms)
        elif args.replay:
            start, end = (parse_time(t, "--replay") for t in args.replay)
            market = api.load_market(symbol, args.source, start=start - window_ms - 2 * MS_PER_DAY, end=end + 1,
                                     venue=args.venue)
            times = replay_times(market, start, end, parse_span(args.step, "--step"))
            updates = replay_updates(market, times, engine.views, window_ms, speed=args.speed)
        else:
            import time

            def load():
                since = int(time.time() * 1000) - window_ms - 2 * MS_PER_DAY
                return api.load_market(symbol, args.source, start=since if args.source != "sample" else None,
                                       venue=args.venue)

            updates = follow_updates(load, parse_span(args.poll, "--poll") / 1000, engine.views, window_ms,
                                     max_polls=args.max_polls)
        summary = run_watch(updates, engine)
    skipped = f" ({summary.skipped} skipped: not after the last evaluated update)" if summary.skipped else ""
    print(f"watch: {summary.updates} updates{skipped}, {summary.alerts} alerts, {summary.delivered} deliveries, "
          f"{summary.failures} failed deliveries, {summary.pending} alerts pending", file=sys.stderr)
    if summary.pending:
        where = f"kept in {args.state}'s outbox for the next run" if args.state else "lost: there is no --state"
        print(f"liqmap watch: error: {summary.pending} alert(s) not delivered to every sink; {where}", file=sys.stderr)
        return 1
    return 0


def _live_updates(args, symbol: str, views, window_ms: int):
    import time

    from .. import venues
    from ..alerts.watch import live_updates
    from .. import LiveOptions
    from ..timeutil import parse_span
    from .data import cache_store

    if args.replay:
        raise ValueError("--live and --replay exclude each other (`liqmap live --replay` replays through the live loop)")
    duration = parse_span(args.duration, "--duration") / 1000 if args.duration else None
    venue = venues.get("binance")
    loop, notes = venue.open_live(symbol, cache_store(args, venue.name), LiveOptions(window_ms, tuple(views)),
                                  rest_url=args.rest_url, ws_url=args.ws_url)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    started = time.monotonic()
    return live_updates(loop, (lambda lp: time.monotonic() - started >= duration) if duration is not None else None)

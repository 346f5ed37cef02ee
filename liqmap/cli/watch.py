"""``liqmap watch``: evaluate alert rules on each data update and deliver each alert once."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "watch",
        help="alerts: evaluate a rules file on each update (or over replayed history)",
        description=(
            "Build the liquidation maps the rules need at each new as-of time, evaluate the rules (a YAML "
            "file, see docs/alerts.md) and deliver each alert once to the terminal, a JSON-lines file and/or "
            "a webhook.  Without --replay it polls the source and updates whenever the data grows."
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
    p.add_argument("--replay", nargs=2, metavar=("FROM", "TO"),
                   help="replay stored history: one update per --step from FROM to TO (ISO times, UTC)")
    p.add_argument("--speed", type=float, default=0.0, metavar="X",
                   help="replay X times faster than real time; 0 = as fast as possible (default)")
    p.add_argument("--step", default="1h", metavar="SPAN", help="time between replayed updates (default 1h)")
    p.add_argument("--poll", default="60s", metavar="SPAN", help="without --replay: how often to reload the source")
    p.add_argument("--max-polls", type=int, metavar="N", help="without --replay: stop after N polls")
    p.add_argument("--window", default="30d", metavar="SPAN", help="map window (default 30d)")
    p.add_argument("--jsonl", metavar="FILE", help="also append each alert to this JSON-lines file")
    p.add_argument("--webhook", metavar="URL", help="also POST each alert as JSON to this URL")
    p.add_argument("--webhook-timeout", default="5s", metavar="SPAN", help="per-request timeout (default 5s)")
    p.add_argument("--webhook-retries", type=int, default=3, help="retries after a failed POST (default 3)")
    p.add_argument("--state", metavar="FILE",
                   help="remember evaluated updates and delivered alerts here, so a restart repeats nothing")
    p.add_argument("--quiet", action="store_true", help="do not print alerts on the terminal")
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
    engine = AlertEngine(load_rules(args.rules), args.state)
    sinks: list[TerminalSink | JsonlSink | WebhookSink] = [] if args.quiet else [TerminalSink()]
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl))
    if args.webhook:
        sinks.append(WebhookSink(args.webhook, timeout_s=parse_span(args.webhook_timeout, "--webhook-timeout") / 1000,
                                 retries=args.webhook_retries))
    symbol = args.symbol.upper()
    window_ms = parse_span(args.window, "--window")
    if args.replay:
        start, end = (parse_time(t, "--replay") for t in args.replay)
        market = api.load_market(symbol, args.source, start=start - window_ms - 2 * 86_400_000, end=end + 1)
        times = replay_times(market, start, end, parse_span(args.step, "--step"))
        updates = replay_updates(market, times, engine.views, window_ms, speed=args.speed)
    else:
        import time

        def load():
            since = int(time.time() * 1000) - window_ms - 2 * 86_400_000
            return api.load_market(symbol, args.source, start=since if args.source != "sample" else None)

        updates = follow_updates(load, parse_span(args.poll, "--poll") / 1000, engine.views, window_ms,
                                 max_polls=args.max_polls)
    summary = run_watch(updates, engine, sinks)
    print(f"watch: {summary.updates} updates, {summary.alerts} alerts, "
          f"{summary.failed_deliveries} failed deliveries", file=sys.stderr)
    return 0

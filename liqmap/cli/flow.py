"""``liqmap flow``: order-flow indicators (CVD and VPIN) of a symbol over a window."""

from __future__ import annotations

import argparse
import json
import sys

from . import add_venue_argument
from .map import count_type


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "flow",
        help="order flow: CVD and toxic order flow (VPIN) over a window",
        description=(
            "CVD (cumulative taker buy - sell volume, anchored at zero at the window start) and VPIN "
            "(equal-volume buckets, rolling 50, with its empirical percentile and the sign of the order "
            "imbalance).  Taker sides come from aggTrades when the source has them, else kline taker-buy "
            "volume, else bulk volume classification; the output says which."
        ),
        epilog=(
            "examples:\n"
            "  liqmap flow BTCUSDT\n"
            "  liqmap flow BTCUSDT --window 7d --as-of 2026-02-05T20:00 --format json\n"
            "  liqmap flow BTCUSDT --source ./vision --bucket-volume 50"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(p)
    p.add_argument("--window", default="24h", metavar="SPAN", help="CVD window, anchored at its start (default 24h)")
    p.add_argument("--history", default="30d", metavar="SPAN",
                   help="data before the end used for bucket sizes and the VPIN percentile (default 30d)")
    p.add_argument("--step", default="1h", metavar="SPAN", help="spacing of the CVD series (default 1h)")
    p.add_argument("--bucket-volume", type=number_type, metavar="V",
                   help="fixed VPIN bucket size in base units (default: trailing average daily volume / 50); "
                        "at most 2,000,000 buckets over the history")
    p.add_argument("--buckets-per-day", type=count_type(1, 10_000), default=50,
                   help="VPIN buckets per average day (1-10000, default 50)")
    p.add_argument("--vpin-window", type=count_type(1, 10_000), default=50,
                   help="buckets per VPIN value (1-10000, default 50)")
    p.add_argument("--adv-days", type=number_type, default=7.0,
                   help="days in the trailing average daily volume (up to 365, default 7)")
    p.add_argument("--format", default="table", choices=("table", "json"), help="output format")
    p.set_defaults(run=run)


def add_source_arguments(p) -> None:
    """SYMBOL, --source and --as-of, shared by the flow and setups commands."""
    p.add_argument("symbol", help="perpetual symbol, e.g. BTCUSDT")
    p.add_argument("--source", default="sample",
                   help="sample (bundled real BTCUSDT data), cache or a folder of Binance Vision files "
                        "(default: sample)")
    add_venue_argument(p)
    p.add_argument("--as-of", default="last", metavar="TIME",
                   help="end of the window: ISO time (UTC) or 'last' for the end of the data (default)")


def load_until(args, history_ms: int):
    """Market data up to ``--as-of`` with ``history_ms`` before it; returns (market, as_of_ms)."""
    from .. import api
    from ..timeutil import parse_time

    as_of = None if args.as_of == "last" else parse_time(args.as_of, "--as-of")
    start = None if as_of is None else as_of - history_ms
    market = api.load_market(args.symbol.upper(), args.source, start=start, end=None if as_of is None else as_of + 1,
                             venue=args.venue)
    as_of = market.end_ms if as_of is None else as_of
    return market.slice_time(as_of - history_ms, None), as_of


def number_type(text: str) -> float:
    """An argparse type: a finite number (``nan``, ``inf`` and ``1e400`` refused)."""
    from ..options import number, parse_text

    try:
        return float(number("value", parse_text(text)))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def run(args) -> int:
    from .. import FlowParams, compute_flow
    from ..options import OptionError
    from ..timeutil import parse_span

    window = parse_span(args.window, "--window")
    history = max(parse_span(args.history, "--history"), window)
    try:
        params = FlowParams(buckets_per_day=args.buckets_per_day, vpin_window=args.vpin_window,
                            adv_days=args.adv_days, bucket_volume=args.bucket_volume)
    except OptionError as exc:  # the message starts with the field: name it as the option the user typed
        name, _, rest = str(exc).partition(" ")
        raise OptionError(f"--{name.replace('_', '-')} {rest}") from None
    market, as_of = load_until(args, history)
    flow = compute_flow(market, as_of - window, as_of, params)
    payload = flow.to_dict(parse_span(args.step, "--step"))
    if args.format == "json":
        from ..analysis.results import json_safe

        json.dump(json_safe(payload), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_flow(payload)
    return 0


def print_flow(payload: dict, console=None) -> None:
    from ..render.table import terminal_console
    from rich.table import Table

    console = console or terminal_console()
    tof, cvd = payload["tof"], payload["cvd"]
    head = Table(title=f"{payload['symbol']} order flow  {payload['window']['start']} .. {payload['window']['end']}",
                 show_header=False)
    head.add_row("taker side", payload["method_text"])
    head.add_row("CVD (base units)", f"{cvd['value']:+,.2f} since {cvd['anchor']}")
    if tof["vpin"] is None:
        head.add_row("VPIN", "not available (too little volume history)")
    else:
        head.add_row("VPIN", f"{tof['vpin']:.3f}  percentile {tof['percentile']:.0f}  imbalance {tof['imbalance']}")
        head.add_row("VPIN buckets", f"{tof['buckets']:,} of {tof['bucket_volume']:,.2f} (base units of volume each); "
                                     f"VPIN over the last {tof['window_buckets']}")
    console.print(head)
    series = Table(title="CVD")
    series.add_column("time (UTC)")
    series.add_column("CVD", justify="right")
    for time_text, value in payload["cvd_series"][-24:]:
        series.add_row(time_text, f"{value:+,.2f}")
    console.print(series)
    for note in payload["notes"]:
        console.print(f"note: {note}")

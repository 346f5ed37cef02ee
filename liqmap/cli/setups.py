"""``liqmap setups``: the trade setups the map and flow support now, with reasons and failed conditions."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    from .flow import add_source_arguments

    p = subparsers.add_parser(
        "setups",
        help="trade setups (Cluster Bounce, Cluster Sweep, Range Fade) with their reasons",
        description=(
            "Evaluate the setup rules on the current map: each candidate with entry, stop, target, "
            "risk/reward, the conditions it met and those it failed.  --style picks the leverage views, "
            "map window and ATR timeframe (scalp: high, 3d, 15m; day: medium+high, 14d, 1h; "
            "swing: all+low, 60d, 4h)."
        ),
        epilog=(
            "examples:\n"
            "  liqmap setups BTCUSDT\n"
            "  liqmap setups BTCUSDT --style swing --format json\n"
            "  liqmap setups BTCUSDT --set reach_rule=atr --set bounce_min_rr=2"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_arguments(p)
    p.add_argument("--style", default="day", choices=("scalp", "day", "swing"), help="trading style (default day)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                   help="override a setup threshold, e.g. --set min_z=1.5 --set bounce_pct=[0.8,2] "
                        "(see docs/setups.md)")
    p.add_argument("--all", action="store_true",
                   help="table: list every candidate (default: fired ones and those one condition short)")
    p.add_argument("--format", default="table", choices=("table", "json"), help="output format")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import SetupParams
    from ..api import build_setups
    from ..timeutil import parse_span
    from .flow import load_until
    from ..options import parse_assignments

    params = SetupParams().with_overrides(**parse_assignments(args.settings, SetupParams, "--set"))
    market, as_of = load_until(args, parse_span("90d"))
    report = build_setups(market=market, style=args.style, as_of=as_of, params=params)
    if args.format == "json":
        from ..analysis.results import json_safe

        json.dump(json_safe(report), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_setups(report, show_all=args.all)
    return 0


def print_setups(report: dict, show_all: bool = False, console=None) -> None:
    from rich.markup import escape

    from ..render.table import terminal_console

    console = console or terminal_console()
    ind = report["indicators"]
    tof = ind["tof"]
    tof_text = "n/a" if tof["vpin"] is None else f"{tof['vpin']:.3f} (pct {tof['percentile']:.0f}, {tof['imbalance']})"
    console.print(f"{report['symbol']} {report['style']} setups as of {report['as_of']}  price {report['price']:,.2f}  "
                  f"views {'+'.join(report['views'])}  window {report['window']}")
    console.print(f"ATR({ind['atr']['timeframe']}) {ind['atr']['value']:,.2f}  momentum {ind['momentum_pct']:+.2f}%  "
                  f"CVD {ind['cvd']['value']:+,.2f}  VPIN {tof_text}  {escape('[' + ind['cvd']['method'] + ']')}")
    shown = [s for s in report["setups"] if show_all or s["fired"] or len(s["failed"]) <= 1]
    fired = sum(s["fired"] for s in report["setups"])
    console.print(f"{fired} fired of {len(report['setups'])} candidates"
                  + ("" if show_all else f"; showing {len(shown)} (fired or one condition short; --all for every one)"))
    for s in shown:
        def money(x):
            return "-" if x is None else f"{x:,.2f}"

        rr = "-" if s["risk_reward"] is None else f"{s['risk_reward']:.2f}"
        console.print(f"\n[bold]{s['kind']} {s['direction']}[/bold] ({s['view']} view) cluster {s['cluster_id'] or '-'}: "
                      f"entry {money(s['entry'])} ({s['entry_type']})  stop {money(s['stop'])}  "
                      f"target {money(s['target'])}  R/R {rr}  "
                      + ("[green]FIRED[/green]" if s["fired"] else "[red]not fired[/red]"), highlight=False)
        for reason in s["reasons"]:
            console.print(f"  + {reason}", highlight=False, markup=False)
        for failure in s["failed"]:
            console.print(f"  - {failure}", highlight=False, markup=False)
    for note in report["notes"]:
        console.print(f"note: {note}")

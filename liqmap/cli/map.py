"""``liqmap map``: the liquidation map of a symbol as of a moment, as a table, JSON, CSV and PNG."""

from __future__ import annotations

import argparse
import json
import sys

from .. import VIEWS
from . import add_venue_argument



def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map",
        help="liquidation map of a symbol (the main job)",
        description=(
            "Estimate where outstanding leveraged positions of SYMBOL will be liquidated, as of a moment. "
            "Prints the map summary (price, as-of time, window, top clusters with range, Z-score, notional, "
            "long/short split, distance in % and ATR, reach, LiqRatio) and optionally writes a PNG."
        ),
        epilog=(
            "examples:\n"
            "  liqmap map BTCUSDT                                  # bundled sample, end of data, 30d window\n"
            "  liqmap map BTCUSDT --view high --png btc.png\n"
            "  liqmap map BTCUSDT --as-of 2026-02-05T20:00 --window 7d --format json\n"
            "  liqmap map BTCUSDT --venue all --png multi.png               # Multi map: Binance + Hyperliquid\n"
            "  liqmap map BTCUSDT --source ./vision --from 2025-01-15 --as-of 2025-01-15T23:59:59 --model peer"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="perpetual symbol, e.g. BTCUSDT")
    p.add_argument("--view", default="all",
                   help="leverage view: all, high (10-125x), medium (3-10x), low (1-3x), optical (near and recent "
                        "levels weighted up); a comma list gives one map per view (default: all)")
    p.add_argument("--model", default="book", choices=("book", "peer"),
                   help="book: the time-evolving position book (default); peer: the simple open-source approach, "
                        "bin for bin")
    p.add_argument("--as-of", default="last", metavar="TIME",
                   help="the moment the map describes: ISO time (UTC) or 'last' for the end of the data (default)")
    p.add_argument("--window", metavar="SPAN",
                   help="how far back position openings count, e.g. 24h, 7d, 30d (default 30d); a window reaching "
                        "before the data is cut to the data and labelled with what it covered")
    p.add_argument("--from", dest="start", metavar="TIME",
                   help="first moment of the window instead of --window (inclusive; not with --window)")
    p.add_argument("--source", default="sample",
                   help="sample (bundled real BTCUSDT data), cache (downloaded data), a folder of Binance "
                        "Vision files, or backfill:STORE (a moment `liqmap backfill` stored; default: sample)")
    add_venue_argument(p, multi=True)
    p.add_argument("--format", default="table", choices=("table", "json", "csv"), help="output format")
    p.add_argument("--png", metavar="FILE", help="also write the LiqMap chart as a PNG")
    p.add_argument("--html", metavar="FILE", help="also write the interactive LiqMap (plotly, works offline)")
    p.add_argument("--palette", default="default", choices=("default", "colorblind"), help="chart colours")
    p.add_argument("--layout", default="map", choices=("map", "profile"),
                   help="chart layout for --png/--html: map = price across, bars rising from the price axis, "
                        "cumulative long/short curves (default); profile = price up the side, as in the heatmap")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a model parameter, e.g. --param leverage_median=15 (see docs/model.md)")
    p.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                   help="override how the map is read: bin_pct (0.1), span_pct (20), z_population (nonempty|all), "
                        "cluster_min_z (1.0), cluster_floor_z (0.5), valley_ratio (0.5), liq_ratio_bands "
                        "([0.5,1,2,5]), atr_period (14), atr_interval_ms (1 hour, in ms), optical_atr_scale (4), "
                        "optical_half_life_ms (3 days); see docs/model.md")
    p.add_argument("--max-age", default="2h", metavar="SPAN",
                   help="a map older than this (against the clock) is flagged stale (default 2h)")
    p.add_argument("--top", type=count_type(1, 1000), default=10, help="clusters shown in the table (1-1000, default 10)")
    p.set_defaults(run=run)


def count_type(low: int, high: int):
    """An argparse type: a whole number in [low, high], refused with the bound in the message."""
    def parse(text: str) -> int:
        from ..options import in_range, parse_text

        try:
            return int(in_range("value", parse_text(text), low, high, integer=True))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return parse


def read_settings(items: list[str], **given):
    """``--setting NAME=VALUE`` texts (and values the CLI sets itself) as checked MapSettings."""
    from .. import MapSettings
    from ..options import OptionError, parse_assignments

    overrides = parse_assignments(items, MapSettings, "--setting")
    try:
        return MapSettings(**{**given, **overrides})
    except OptionError as exc:
        raise OptionError(f"--setting {exc}") from None


def run(args) -> int:
    if not args.png:
        return _run(args, None)
    from ..render.background import PictureProcess
    from ..render.static import check_image_path, load_matplotlib

    check_image_path(args.png)  # a wrong file name fails before the map is computed
    with PictureProcess(load_matplotlib) as pictures:  # imports matplotlib beside the computing
        return _run(args, pictures)


def _run(args, pictures) -> int:
    from .. import api
    from .. import BookParams
    from ..options import distinct, parse_assignments
    from ..timeutil import parse_span

    views = distinct("--view", [v.strip() for v in args.view.split(",") if v.strip()], allowed=VIEWS, what="view")
    settings = read_settings(args.setting, stale_after_ms=parse_span(args.max_age, "--max-age"))
    maps = api.build_maps(
        args.symbol.upper(),
        source=args.source,
        venue=args.venue,
        as_of=args.as_of,
        start=args.start,
        window=args.window,
        views=views,
        model=args.model,
        params=parse_assignments(args.param, BookParams, "--param") or None,
        settings=settings,
    )
    # the files first: a reader that stops reading stdout (| head) leaves them written
    if args.png:
        from ..render.static import save_liqmap_png

        targets = _chart_targets(maps, args.png)
        options = {"layout": args.layout, "palette": args.palette}
        pictures.run([(save_liqmap_png, (m, target), options) for m, target in targets])
        _say_written(targets)
    if args.html:
        from ..render.interactive import liqmap_html

        targets = _chart_targets(maps, args.html)
        for m, target in targets:
            liqmap_html(m, target, layout=args.layout, palette=args.palette)
        _say_written(targets)
    if args.format == "json":
        payloads = [m.to_dict() for m in maps]
        json.dump(payloads[0] if len(payloads) == 1 else {"maps": payloads}, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    elif args.format == "csv":
        write_csv(maps, sys.stdout)
    else:
        from ..render.table import print_map_table

        for m in maps:
            print_map_table(m, top=args.top)
    sys.stdout.flush()
    return 0


def _chart_targets(maps, path: str) -> list:
    """(map, file) for each chart: FILE as given for one view, FILE_<view>.ext for several."""
    return [(m, path if len(maps) == 1 else _per_view_path(path, m.view)) for m in maps]


def _say_written(targets) -> None:
    for _, target in targets:
        print(f"wrote {target}", file=sys.stderr)


def write_csv(maps, stream) -> None:
    """The bins of each map, one row per bin, with the view in the first column."""
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["view", "price_low", "price_high", "long", "short", "total", "z"])
    for m in maps:
        total = m.total
        for i in range(m.price_low.size):
            writer.writerow([m.view, repr(float(m.price_low[i])), repr(float(m.price_high[i])),
                             repr(float(m.long[i])), repr(float(m.short[i])), repr(float(total[i])),
                             repr(float(m.z[i]))])


def _per_view_path(path: str, view: str) -> str:
    stem, dot, ext = path.rpartition(".")
    return f"{stem}_{view}.{ext}" if dot else f"{path}_{view}"

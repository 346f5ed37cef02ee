"""``liqmap live``: backfill, then a venue's streams (or every venue's: ``--venue all``) into the book, a map at
most once a second, on a live screen."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "live",
        help="live map: REST backfill, then a venue's streams (or every venue's: --venue all); a refreshing "
             "screen and a recorder",
        description=(
            "Backfill the last --window from the venue's REST API into the cache, then follow its streams "
            "(Binance: aggTrade, markPrice@1s, kline and forceOrder; Bybit, OKX and Hyperliquid: see docs/venues.md; "
            "--venue all: every venue's, into one Multi map) and poll open interest.  The map is recomputed at most "
            "every --map-every, stamped with the time of its newest data, and shown with clusters, LiqRatio, "
            "magnets, realized liquidations and one health line per stream.  Missed data are backfilled from "
            "REST before the book moves on.  The recorder writes every liquidation, open-interest poll and "
            "mark price into the cache (Ctrl-C leaves complete files).  --replay plays stored data through the "
            "same loop and screen without a network."
        ),
        epilog=(
            "examples:\n"
            "  liqmap live BTCUSDT\n"
            "  liqmap live BTCUSDT --replay sample --speed 3600          # offline demo on the bundled data\n"
            "  liqmap live ETHUSDT --window 7d --record-trades --rotate day\n"
            "  liqmap live BTC --venue hyperliquid --window 3d         # no liquidation stream there: the screen says so\n"
            "  liqmap live BTCUSDT --venue all                         # Binance, Bybit, OKX, Hyperliquid: one Multi map\n"
            "  liqmap live BTCUSDT --rest-url https://fapi.binance.com --ws-url wss://fstream.binance.com/market/stream"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("symbol", help="perpetual symbol, e.g. BTCUSDT")
    p.add_argument("--venue", default="binance", help="the venue whose streams to follow: binance (default), "
                                                      "bybit, okx or hyperliquid (`liqmap venues` lists them), or "
                                                      "all: every venue's streams into one Multi map")
    p.add_argument("--window", default="30d", metavar="SPAN", help="how far back openings count (default 30d)")
    p.add_argument("--interval", default="1m", choices=("1m", "1h"), help="bar of the book (default 1m)")
    p.add_argument("--view", default="all", help="all, high, medium, low or optical (default all)")
    p.add_argument("--map-every", default="1s", metavar="SPAN", help="recompute the map at most this often (1s)")
    p.add_argument("--oi-every", default="15s", metavar="SPAN", help="poll open interest this often (15s)")
    p.add_argument("--silence", default="10s", metavar="SPAN",
                   help="a steady stream silent this long while others flow recycles the connection (10s)")
    p.add_argument("--rotate-after", default="23h", metavar="SPAN",
                   help="open a fresh connection after this long, before Binance's 24-hour cut (23h)")
    p.add_argument("--rest-url", help="REST host (default: the venue's, e.g. https://fapi.binance.com, "
                                      "https://api.bybit.com, https://www.okx.com, https://api.hyperliquid.xyz)")
    p.add_argument("--ws-url", help="stream route (default: the venue's, e.g. wss://fstream.binance.com/market/stream, "
                                    "wss://stream.bybit.com/v5/public/linear, wss://ws.okx.com:8443/ws/v5/public, "
                                    "wss://api.hyperliquid.xyz/ws)")
    p.add_argument("--cache", type=Path, help="cache folder for the backfill and the recorder "
                                              "(default $LIQMAP_CACHE or ~/.cache/liqmap)")
    p.add_argument("--no-record", action="store_true", help="do not record liquidations, OI polls and mark prices")
    p.add_argument("--record-trades", action="store_true", help="also record every aggTrade (large)")
    p.add_argument("--rotate", default="hour", choices=("hour", "day"), help="one recorder file per hour or day")
    p.add_argument("--replay", metavar="SOURCE",
                   help="offline: replay sample, cache or a folder of Vision files through the same loop")
    p.add_argument("--speed", type=float, default=3600.0, metavar="X",
                   help="--replay: data seconds per wall second (default 3600: an hour a second)")
    p.add_argument("--from", dest="start", metavar="TIME",
                   help="--replay: first replayed moment (default: the window and 2 days of warm-up after the "
                        "start of the venue's data)")
    p.add_argument("--duration", metavar="SPAN", help="stop after this long (default: until Ctrl-C or the replay's end)")
    p.add_argument("--plain", action="store_true", help="one text line per map update instead of the full screen")
    p.set_defaults(run=run)


def run(args) -> int:
    import asyncio
    import time

    from .. import check_view
    from ..timeutil import parse_span
    from .. import LiveOptions

    view = check_view(args.view)
    options = LiveOptions(window_ms=parse_span(args.window, "--window"), views=(view,),
                          map_every_s=parse_span(args.map_every, "--map-every") / 1000,
                          oi_every_s=parse_span(args.oi_every, "--oi-every") / 1000)
    duration = parse_span(args.duration, "--duration") / 1000 if args.duration else None
    screen = _Screen(args.plain)
    if args.replay:
        from ..live.session import open_replay
        from ..options import OptionError

        if args.venue.lower() == "all":
            raise OptionError("--replay plays one venue's stored data: give --venue binance, hyperliquid, ... "
                              "(the Multi map of --venue all follows the venues' live streams)")
        loop = open_replay(args.symbol.upper(), args.replay, options, speed=args.speed, start=args.start,
                           on_update=screen.update, venue=args.venue)
        data_end = loop.venue.feed.market.end_ms  # type: ignore[attr-defined]
    elif args.venue.lower() == "all":
        loop = _open_all(args, options, screen)
        data_end = None
    else:
        loop = _open_venue(args, options, screen)
        data_end = None
    started = time.monotonic()

    def done(lp) -> bool:
        if duration is not None and time.monotonic() - started >= duration:
            return True
        return data_end is not None and lp.latest is not None and lp.latest.data_time >= data_end

    with screen:
        asyncio.run(loop.run(until=done))
    print(f"live: {loop.updates} map update(s); data up to {_time(loop)}", file=sys.stderr)
    return 0


def _feed_settings(args) -> dict:
    """The options every venue's feed takes."""
    from ..timeutil import parse_span

    return dict(interval=args.interval, silence_s=parse_span(args.silence, "--silence") / 1000,
                max_age_s=parse_span(args.rotate_after, "--rotate-after") / 1000, record=not args.no_record,
                rotate=args.rotate, record_trades=args.record_trades)


def _open_venue(args, options, screen):
    from .. import venues
    from .data import cache_store, progress_bar

    venue = venues.get(args.venue)
    with progress_bar() as progress:
        loop, notes = venue.open_live(args.symbol.upper(), cache_store(args, venue.name), options,
                                      rest_url=args.rest_url, ws_url=args.ws_url, progress=progress,
                                      on_update=screen.update, **_feed_settings(args))
    _print_notes(notes)
    return loop


def _open_all(args, options, screen):
    """Every venue's live feed into one Multi map (``liqmap.live.multi``)."""
    from ..live.multi import open_multi
    from ..options import OptionError
    from .data import _root, progress_bar

    if args.rest_url or args.ws_url:
        raise OptionError("--rest-url and --ws-url name one venue's hosts; with --venue all each venue uses its own")
    with progress_bar() as progress:
        loop, notes = open_multi(args.symbol.upper(), _root(args), options, on_update=screen.update,
                                 progress=progress, **_feed_settings(args))
    _print_notes(notes)
    return loop


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _time(loop) -> str:
    from ..frames import format_ms

    return format_ms(loop.latest.data_time) if loop.latest is not None else "(no map yet)"


class _Screen:
    """The rich Live screen, or one plain line per update."""

    def __init__(self, plain: bool):
        self.plain = plain or not sys.stdout.isatty()
        self._live = None

    def __enter__(self):
        if not self.plain:
            from rich.live import Live

            self._live = Live(auto_refresh=False, screen=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.stop()

    def update(self, loop) -> None:
        if self._live is not None:
            from ..live.screen import render

            self._live.update(render(loop), refresh=True)
            return
        m = loop.latest.maps[0]
        above = m.cluster(m.nearest_above).peak if m.nearest_above is not None else None
        below = m.cluster(m.nearest_below).peak if m.nearest_below is not None else None
        band = next((b for b in m.liq_ratio if b.pct == 2), None)
        ratio = f"{band.long_share:.0%} long within ±2%" if band is not None and band.long_share is not None else "-"
        faults = [f"{s.name}: {s.fault}" for s in loop.health.streams.values() if s.fault]
        print(f"{m.as_of} price {m.price:,.2f} clusters {len(m.clusters)} magnet above "
              f"{'-' if above is None else f'{above:,.0f}'} below {'-' if below is None else f'{below:,.0f}'} "
              f"{ratio}" + (f" | {'; '.join(faults)}" if faults else ""), flush=True)

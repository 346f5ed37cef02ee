#!/usr/bin/env python3
"""The Multi map (``--venue all``) beside single-venue maps: on the bundled sample, and live.

    python benchmarks/multi.py [--runs 5]
    python benchmarks/multi.py --live [--hours 1 --trades 100000 --runs 3]

Two figures per venue choice (binance, hyperliquid, all):

* ``update``: in one process, the time to rebuild the five views' maps from
  the source (what a refresh of the dashboard does), median of ``--runs``
  after one warm-up call;
* ``process``: ``liqmap map BTCUSDT --venue X --format json`` in a fresh
  process, wall time and peak RSS (``ru_maxrss`` from ``wait4``), median of
  ``--runs``.

The sample holds Binance and Hyperliquid; Bybit and OKX are reported missing
inside ``all`` (their loaders are asked, and answer at once).

``--live``: ``liqmap live --venue X`` for each venue alone and for ``all`` (Binance, Bybit, OKX and
Hyperliquid together, ``liqmap.live.multi``), each venue's local exchange
(``tests/exchange_servers``) in a process of its own replaying the same synthetic market as fast as it
goes (a day of history, then ``--hours`` live with ``--trades`` trades), the map recomputed after every
settled bar (``map_every_s=0``, one view; open interest polled every second).  Each run is a fresh
process; printed are the medians over ``--runs`` of the wall time, the map updates, the latency from a
bar's arrival to the map that includes it (p50, p99) and the loop process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VENUES = ("binance", "hyperliquid", "all")
VIEWS = ["all", "high", "medium", "low", "optical"]


def in_process(venue: str, runs: int) -> float:
    import liqmap

    def build() -> float:
        began = time.perf_counter()
        liqmap.build_maps("BTCUSDT", venue=venue, views=VIEWS)
        return time.perf_counter() - began

    build()
    return statistics.median(build() for _ in range(runs))


def fresh_process(venue: str, runs: int) -> tuple[float, float]:
    walls, peaks = [], []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "liqmap", "map", "BTCUSDT", "--venue", venue, "--format", "json"],
                                stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - began)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"liqmap map --venue {venue} failed")
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), statistics.median(peaks)


LIVE = ("binance", "bybit", "okx", "hyperliquid", "all")
DAY_MS = 86_400_000
LIVE_START = 1_767_312_000_000  # 2026-01-02, a day of history before it (every venue has tiers in force then)


def live_once(choice: str, hours: float, trades: int, speed: float) -> dict:
    """One live run of ``choice`` (a venue or all) in this process, against exchanges in child processes."""
    import asyncio
    import resource
    import tempfile
    from contextlib import ExitStack

    sys.path.insert(0, str(REPO))
    from liqmap import venues
    from liqmap.live.loop import LiveOptions
    from liqmap.live.multi import open_multi
    from liqmap.sources.cache import Store
    from tests.exchange_servers.remote import Remote

    live_minutes = int(hours * 60)
    tape = dict(start_ms=LIVE_START - DAY_MS, minutes=24 * 60 + live_minutes,
                trades_per_second=trades / (live_minutes * 60))
    names = LIVE[:-1] if choice == "all" else (choice,)
    options = LiveOptions(window_ms=DAY_MS, map_every_s=0.0, oi_every_s=1.0)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        remotes = {name: stack.enter_context(Remote(name, tape, LIVE_START, speed)) for name in names}
        end = max(r.end_ms for r in remotes.values())
        urls = {name: (r.rest_url, r.ws_url) for name, r in remotes.items()}
        if choice == "all":
            loop, _ = open_multi("BTCUSDT", Path(folder), options, venues=list(names), urls=urls, silence_s=30.0)
            subs = list(loop.loops.values())
        else:
            loop, _ = venues.get(choice).open_live("BTCUSDT", Store(Path(folder), choice), options,
                                                   rest_url=urls[choice][0], ws_url=urls[choice][1], silence_s=30.0)
            subs = [loop]

        def done(lp) -> bool:
            return lp.latest is not None and lp.latest.data_time >= end and all(
                s.market.market().end_ms >= end for s in subs)

        began = time.perf_counter()
        asyncio.run(loop.run(until=done))
        wall = time.perf_counter() - began
    lat = sorted(loop.latencies)
    return {"wall_s": wall, "updates": loop.updates, "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def live_table(hours: float, trades: int, runs: int, speed: float) -> None:
    pace = "as fast as it goes" if speed >= 1e6 else f"at {speed:g} data seconds a second"
    print(f"live, {hours:g} h replayed {pace} ({trades:,} trades), 1-day window, medians of {runs} "
          "fresh process(es):")
    print(f"{'venue':12s} {'wall':>8s} {'updates':>8s} {'bar -> map p50':>15s} {'p99':>9s} {'peak RSS':>9s}")
    for choice in LIVE:
        rows = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, __file__, "--live-once", choice, "--hours", str(hours),
                                  "--trades", str(trades), "--speed", str(speed)], capture_output=True, text=True,
                                 check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

        def med(key: str, rows=rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(f"{choice:12s} {med('wall_s'):7.1f}s {med('updates'):8.0f} {med('p50_ms'):12.1f} ms "
              f"{med('p99_ms'):6.1f} ms {med('peak_rss_mib'):5.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="the live loop per venue and for all four")
    parser.add_argument("--hours", type=float, default=1.0, help="--live: live span replayed (default 1)")
    parser.add_argument("--trades", type=int, default=100_000, help="--live: trades in the live span (default 100,000)")
    parser.add_argument("--speed", type=float, default=1e9,
                        help="--live: data seconds replayed per wall second (default 1e9: as fast as it goes)")
    parser.add_argument("--live-once", metavar="VENUE", help=argparse.SUPPRESS)  # one run, printed as JSON
    args = parser.parse_args()
    if args.live_once:
        print(json.dumps(live_once(args.live_once, args.hours, args.trades, args.speed)))
        return
    if args.live:
        live_table(args.hours, args.trades, args.runs, args.speed)
        return
    print(f"{'venue':12s} {'update (5 views)':>17s} {'process wall':>13s} {'peak RSS':>9s}")
    for venue in VENUES:
        update = in_process(venue, args.runs)
        wall, peak = fresh_process(venue, args.runs)
        print(f"{venue:12s} {update:16.3f}s {wall:12.2f}s {peak:6.0f} MiB")


if __name__ == "__main__":
    main()

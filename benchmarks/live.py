#!/usr/bin/env python3
"""The live loop on a synthetic day, replayed through the local exchange as fast as it goes.

    python benchmarks/live.py                      # 1 day live (1M trades), 1 day of history
    python benchmarks/live.py --trades 100000      # lighter
    python benchmarks/live.py --hours 2 --trades 20000 --runs 1   # a quick look

The local exchange (``tests/live/exchange_server.py``, real HTTP and WebSocket
on 127.0.0.1) plays a synthetic market — a mark price every second, the
trades, 1-minute klines, open interest — with no pause between data seconds.
The loop backfills the history over REST, then takes every frame, builds each
closed bar into the market and recomputes the map after every bar
(``map_every_s=0``).  Printed (medians over ``--runs``):

* frames per second taken by the loop, and map updates per second;
* latency from a closed kline's arrival to the map that includes it (p50, p99):
  the book update and the full map (one view) together, since the book is
  rebuilt for each map (``liqmap.live.loop.compute_maps``);
* the map computation alone, on the final market (median of 20);
* peak RSS, and RSS at each quarter of the live span (flat = bounded memory).

The exchange runs in a thread of the same process (one interpreter, one
GIL), so the figures include the exchange's own cost of producing the frames:
they are a lower bound of what the loop takes.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liqmap.live.loop import LiveOptions, compute_maps  # noqa: E402
from liqmap.live.session import open_binance  # noqa: E402
from liqmap.sources.cache import Store  # noqa: E402
from tests.live.exchange_server import ExchangeServer, synthetic_tape  # noqa: E402

START = 1_736_899_200_000 - 86_400_000  # history from 2025-01-14, the live day 2025-01-15 (like W1)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_run(hours: float, trades: int) -> dict:
    live_minutes = int(hours * 60)
    history_minutes = 24 * 60
    tape = synthetic_tape(start_ms=START, minutes=history_minutes + live_minutes,
                          trades_per_second=trades / (live_minutes * 60))
    live_start = START + history_minutes * 60_000
    rss: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as folder, ExchangeServer(tape, live_start, speed=1e9) as server:
        options = LiveOptions(window_ms=24 * 3_600_000, map_every_s=0.0, oi_every_s=0.05)

        def sample(lp) -> None:
            rss.append((lp.latest.data_time, rss_mib()))

        loop, _ = open_binance("BTCUSDT", Store(Path(folder)), options, rest_url=server.rest_url,
                               ws_url=server.ws_url, silence_s=30.0, record=True, on_update=sample)
        started = time.perf_counter()
        asyncio.run(loop.run(until=lambda lp: lp.latest is not None and lp.latest.data_time >= tape.end_ms))
        wall = time.perf_counter() - started
        frames = sum(s.messages for s in loop.health.streams.values())
        market = loop.latest.market
        alone = []
        for _ in range(20):
            t = time.perf_counter()
            compute_maps(market, market.end_ms, options.window_ms, ("all",))
            alone.append(time.perf_counter() - t)
    lat = sorted(loop.latencies)
    quarters = [min(rss, key=lambda r: abs(r[0] - (live_start + q * live_minutes * 15_000)))[1] for q in (1, 2, 3, 4)]
    return {
        "wall_s": wall,
        "frames_per_s": frames / wall,
        "updates_per_s": loop.updates / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "map_alone_ms": 1000 * statistics.median(alone),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_quarters_mib": quarters,
        "frames": frames,
        "updates": loop.updates,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="live span replayed (default 24)")
    ap.add_argument("--trades", type=int, default=1_000_000, help="trades in the live span (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=1, help="runs (median printed)")
    args = ap.parse_args(argv)
    runs = [one_run(args.hours, args.trades) for _ in range(args.runs)]

    def med(key):
        return statistics.median(r[key] for r in runs)

    print(f"live loop, {args.hours:g} h live ({args.trades:,} trades), 1-day window, {args.runs} run(s):")
    print(f"  frames taken        {med('frames'):,.0f} in {med('wall_s'):.1f} s = {med('frames_per_s'):,.0f} frames/s")
    print(f"  map updates         {med('updates'):,.0f} = {med('updates_per_s'):.1f} /s (one per closed 1-minute bar)")
    print(f"  kline -> map        p50 {med('p50_ms'):.1f} ms, p99 {med('p99_ms'):.1f} ms")
    print(f"  map alone           {med('map_alone_ms'):.1f} ms (median of 20, final market)")
    quarters = ", ".join(f"{q:.0f}" for q in runs[len(runs) // 2]["rss_quarters_mib"])
    print(f"  memory              peak RSS {med('peak_rss_mib'):.0f} MiB; RSS at each quarter of the span: {quarters} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

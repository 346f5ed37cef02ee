#!/usr/bin/env python3
"""The live loop on a synthetic day, replayed through the local exchange as fast as it goes.

    python benchmarks/live.py                      # 1 day live (1M trades), 1 day of history
    python benchmarks/live.py --trades 100000      # lighter
    python benchmarks/live.py --hours 2 --trades 20000 --runs 1   # a quick look

The local exchange (``tests/exchange_servers/binance.py``, real HTTP and WebSocket
on 127.0.0.1) plays a synthetic market — a mark price every second, the
trades, 1-minute klines, open interest — with no pause between data seconds.
The loop backfills the history over REST, then takes every frame, builds each
closed bar into the market and recomputes the map after every bar
(``map_every_s=0``).  Printed (medians over ``--runs``):

* frames per second taken by the loop, and map updates per second;
* latency from a closed kline's arrival to the map that includes it (p50, p99),
  as fast as the frames come: bar assembly, the book state's update and the
  map (one view) (``liqmap.live.loop.compute_maps``);
* the book update inside the loop (each update's new bars into the book
  state, while frames keep arriving: p50, p99 of wall and CPU time) and the
  garbage collector's time over the live run;
* the book update alone (one bar into the book state) and the map read from
  the state, over the last 240 bars given one at a time (p50, p99 of wall
  time and of the thread's CPU time; the garbage collector's share of the
  update), and a whole build with its map on the final market (median of 20);
* peak RSS, and RSS at each quarter of the live span (flat = bounded memory).

The exchange runs in its own process (``--same-process`` puts it in a
thread of the loop's process instead, where it competes for the GIL).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liqmap.live.loop import LiveOptions, compute_maps, settle_heap  # noqa: E402
from liqmap.live.session import open_binance  # noqa: E402
from liqmap.sources.cache import Store  # noqa: E402
from tests.exchange_servers.binance import BinanceServer  # noqa: E402
from tests.exchange_servers.remote import Remote  # noqa: E402
from tests.exchange_servers.tape import synthetic_tape  # noqa: E402

START = 1_736_899_200_000 - 86_400_000  # history from 2025-01-14, the live day 2025-01-15 (like W1)


#: This thread's resource usage where the OS gives it (Linux), the process's elsewhere.
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


HISTORY_MINUTES = 24 * 60


def tape_args(hours: float, trades: int) -> dict:
    live_minutes = int(hours * 60)
    return dict(start_ms=START, minutes=HISTORY_MINUTES + live_minutes, trades_per_second=trades / (live_minutes * 60))


def make_tape(hours: float, trades: int):
    return synthetic_tape(**tape_args(hours, trades))


def _remote(hours: float, trades: int, venue: str = "binance"):
    """The venue's exchange in a process of its own."""
    return Remote(venue, tape_args(hours, trades), START + HISTORY_MINUTES * 60_000)


class _Local(BinanceServer):
    def __init__(self, hours: float, trades: int):
        tape = make_tape(hours, trades)
        super().__init__(tape, START + HISTORY_MINUTES * 60_000, speed=1e9)
        self.end_ms = tape.end_ms


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


class GcClock:
    """Wall time spent in the cyclic garbage collector (``gc.callbacks``), and collections by generation."""

    def __init__(self):
        self.spent = 0.0
        self.collections = [0, 0, 0]
        self.longest = [0.0, 0.0, 0.0]  # the longest pause per generation (s)
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            pause = time.perf_counter() - self._start
            self.spent += pause
            self.collections[info["generation"]] += 1
            self.longest[info["generation"]] = max(self.longest[info["generation"]], pause)

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def bar_by_bar(market, window_ms: int, bars: int = 240) -> dict[str, list[float]]:
    """The last ``bars`` bars given one at a time to a book state, as the live loop does (the state built
    over the history first, then ``settle_heap``): per bar, ms of wall and CPU time (this thread) for the
    book update and for the map read, and ms the garbage collector took inside the book update."""
    from liqmap import api

    state = api.book_state(market.symbol, market.exchange, None, window_ms)
    step = market.candles.interval_ms
    first = market.end_ms - bars * step
    state.extend(market.slice_time(None, first))
    settle_heap()
    out: dict[str, list[float]] = {"book": [], "book_cpu": [], "book_gc": [], "read": [], "read_cpu": [],
                                   "book_preempted": []}
    with GcClock() as collector:
        for end in range(first + step, market.end_ms + 1, step):
            part = market.slice_time(None, end)
            gc_before = collector.spent
            switches = resource.getrusage(RUSAGE_THREAD).ru_nivcsw
            t, c = time.perf_counter(), time.thread_time()
            state.extend(part)
            t1, c1 = time.perf_counter(), time.thread_time()
            gc_book = collector.spent - gc_before
            out["book_preempted"].append(resource.getrusage(RUSAGE_THREAD).ru_nivcsw - switches)
            api.build_maps(market=part, as_of=end, window=window_ms, views=["all"], state=state, now=end)
            t2, c2 = time.perf_counter(), time.thread_time()
            for key, value in (("book", t1 - t), ("book_cpu", c1 - c), ("book_gc", gc_book), ("read", t2 - t1),
                               ("read_cpu", c2 - c1)):
                out[key].append(1000 * value)
    return out


def one_run(hours: float, trades: int, same_process: bool) -> dict:
    live_minutes = int(hours * 60)
    live_start = START + HISTORY_MINUTES * 60_000
    rss: list[tuple[int, float]] = []
    book_live: list[float] = []
    book_live_cpu: list[float] = []
    exchange = _Local(hours, trades) if same_process else _remote(hours, trades)
    with tempfile.TemporaryDirectory() as folder, exchange as server:
        options = LiveOptions(window_ms=24 * 3_600_000, map_every_s=0.0, oi_every_s=0.05)

        def sample(lp) -> None:
            rss.append((lp.latest.data_time, rss_mib()))
            if lp.latest.book_s:
                book_live.append(1000 * lp.latest.book_s)
                book_live_cpu.append(1000 * lp.latest.book_cpu_s)

        loop, _ = open_binance("BTCUSDT", Store(Path(folder)), options, rest_url=server.rest_url,
                               ws_url=server.ws_url, silence_s=30.0, record=True, on_update=sample)
        started = time.perf_counter()
        with GcClock() as collector:
            asyncio.run(loop.run(until=lambda lp: lp.latest is not None and lp.latest.data_time >= server.end_ms))
        wall = time.perf_counter() - started
        frames = sum(s.messages for s in loop.health.streams.values())
        market = loop.latest.market
        alone = []
        for _ in range(20):
            t = time.perf_counter()
            compute_maps(market, market.end_ms, options.window_ms, ("all",))
            alone.append(time.perf_counter() - t)
        per_bar = bar_by_bar(market, options.window_ms)
    lat = sorted(loop.latencies)
    quarters = [min(rss, key=lambda r: abs(r[0] - (live_start + q * live_minutes * 15_000)))[1] for q in (1, 2, 3, 4)]
    return {
        "wall_s": wall,
        "frames_per_s": frames / wall,
        "updates_per_s": loop.updates / wall,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "map_alone_ms": 1000 * statistics.median(alone),
        **{f"{key}_p{q}_ms": percentile(values, q) for key, values in per_bar.items() for q in (50, 99)
           if key != "book_preempted"},
        "preempted": sum(n > 0 for n in per_bar["book_preempted"]),
        "quiet_p99_ms": percentile([w for w, n in zip(per_bar["book"], per_bar["book_preempted"]) if n == 0]
                                   or [math.nan], 99),
        "load": os.getloadavg()[0],
        "book_gc_max_ms": max(per_bar["book_gc"]),
        "live_book_p50_ms": percentile(book_live, 50), "live_book_p99_ms": percentile(book_live, 99),
        "live_book_cpu_p50_ms": percentile(book_live_cpu, 50), "live_book_cpu_p99_ms": percentile(book_live_cpu, 99),
        "gc_ms": 1000 * collector.spent, "gc_gen2": collector.collections[2],
        "gc_longest_ms": [1000 * x for x in collector.longest], "gc_collections": collector.collections,
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
    ap.add_argument("--same-process", action="store_true", help="run the exchange in a thread, not a process")
    args = ap.parse_args(argv)
    runs = [one_run(args.hours, args.trades, args.same_process) for _ in range(args.runs)]

    def med(key):
        return statistics.median(r[key] for r in runs)

    print(f"live loop, {args.hours:g} h live ({args.trades:,} trades), 1-day window, {args.runs} run(s):")
    print(f"  frames taken        {med('frames'):,.0f} in {med('wall_s'):.1f} s = {med('frames_per_s'):,.0f} frames/s")
    print(f"  map updates         {med('updates'):,.0f} = {med('updates_per_s'):.1f} /s (bars that arrive while a "
          "map is computed go into the next)")
    print(f"  kline -> map        p50 {med('p50_ms'):.1f} ms, p99 {med('p99_ms'):.1f} ms (as fast as it goes)")
    print(f"  book update in loop wall p50 {med('live_book_p50_ms'):.2f} ms, p99 {med('live_book_p99_ms'):.2f} ms; "
          f"CPU p50 {med('live_book_cpu_p50_ms'):.2f} ms, p99 {med('live_book_cpu_p99_ms'):.2f} ms "
          "(the bars of each map update into the book state, frames arriving meanwhile)")
    middle = runs[len(runs) // 2]
    print(f"  garbage collector   {med('gc_ms'):.0f} ms in all during the live run; collections by generation "
          f"{'/'.join(str(n) for n in middle['gc_collections'])}, longest pause "
          f"{'/'.join(f'{x:.1f}' for x in middle['gc_longest_ms'])} ms")
    print(f"  book update         wall p50 {med('book_p50_ms'):.2f} ms, p99 {med('book_p99_ms'):.2f} ms; "
          f"CPU p50 {med('book_cpu_p50_ms'):.2f} ms, p99 {med('book_cpu_p99_ms'):.2f} ms "
          "(one 1-minute bar into the book state, last 240 bars)")
    print(f"    of which GC       p50 {med('book_gc_p50_ms'):.2f} ms, p99 {med('book_gc_p99_ms'):.2f} ms, "
          f"max {med('book_gc_max_ms'):.2f} ms")
    print(f"    preempted         {med('preempted'):.0f} of 240 updates were interrupted by the OS for another "
          f"process (load average {med('load'):.1f} on {os.cpu_count()} CPUs); the others' wall p99 "
          f"{med('quiet_p99_ms'):.2f} ms")
    print(f"  map from the state  wall p50 {med('read_p50_ms'):.1f} ms, p99 {med('read_p99_ms'):.1f} ms; "
          f"CPU p50 {med('read_cpu_p50_ms'):.1f} ms, p99 {med('read_cpu_p99_ms'):.1f} ms (one view)")
    print(f"  whole build + map   {med('map_alone_ms'):.1f} ms (median of 20, final market)")
    quarters = ", ".join(f"{q:.0f}" for q in runs[len(runs) // 2]["rss_quarters_mib"])
    print(f"  memory              peak RSS {med('peak_rss_mib'):.0f} MiB; RSS at each quarter of the span: {quarters} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

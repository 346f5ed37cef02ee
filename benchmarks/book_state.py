"""Case (f): the position book updated in place, one 1-minute candle at a time (OI every 5 minutes).

Run by ``benchmarks/run.py`` in a fresh process; prints one JSON object on stdout.

* **Per update**, on a ``--window-days`` window: after 1 day of history and after
  ``--days`` of history (bulk-fed), ``--updates`` single-candle updates are timed
  (wall and CPU time of the process; the CPU figure is the one that does not
  count other processes on a shared machine).  The ratio of the medians says
  whether an update's cost grows with history.
* **Memory over a replay**: from empty, ``--days`` of candles one at a time; the
  resident set size and the levels held are sampled every day.
* **Equality**: at the replay's end the state's map equals a whole build on the
  same data (largest difference relative to the largest bin).

The series is ``workloads.simulate_klines``: a seeded random walk with clustered
volatility and a drifting open interest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402  (a sibling module)

DAY = 86_400_000
MINUTE = 60_000


def series(days: int):
    """The synthetic market as frames: 1-minute candles and 5-minute open interest."""
    from liqmap.frames import Candles, MarketData, OpenInterest

    d = workloads.simulate_klines(workloads.KlineYear(f"klines-{days}d", "2024-01-01", days))
    candles = Candles(time=d["open_time"], open=d["open"], high=d["high"], low=d["low"], close=d["close"],
                      volume=d["volume"], taker_buy_volume=d["taker_buy_volume"], interval_ms=MINUTE)
    oi = OpenInterest(d["oi_time"], d["oi"], np.full(d["oi"].size, np.nan), interval_ms=5 * MINUTE)
    return MarketData("BTCUSDT", "binance", candles, open_interest=oi)


def known_at(market, t: int):
    """Candles that ended by ``t`` and the OI snapshots published by then."""
    from liqmap.frames import MarketData

    return MarketData(market.symbol, market.exchange, market.candles.slice_time(None, t - MINUTE + 1),
                      open_interest=market.open_interest.slice_time(None, t + 1))


def one_candle(state, market, i: int) -> None:
    """Append candle ``i`` and the OI snapshot at its end, if one falls there."""
    t0 = int(market.candles.time[i])
    state.append(candles=market.candles.slice_time(t0, t0 + MINUTE),
                 open_interest=market.open_interest.slice_time(t0 + 1, t0 + MINUTE + 1))


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def latency(market, history_minutes: int, updates: int, window_ms: int) -> dict:
    from liqmap.model.state import BookState

    state = BookState(market.symbol, market.exchange, window_ms=window_ms)
    state.extend(known_at(market, int(market.candles.time[history_minutes])))
    wall, cpu = [], []
    for i in range(history_minutes, history_minutes + updates):
        w, c = time.perf_counter(), time.process_time()
        one_candle(state, market, i)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    ms = {name: np.asarray(v) * 1000 for name, v in (("wall", wall), ("cpu", cpu))}
    return {"history_days": history_minutes / 1440, "levels": state.level_count,
            **{f"{name}_{q}_ms": float(np.percentile(v, p)) for name, v in ms.items()
               for q, p in (("p50", 50), ("p99", 99))}}


def replay(market, window_ms: int) -> dict:
    from liqmap.model.build import build_book
    from liqmap.model.state import BookState

    state = BookState(market.symbol, market.exchange, window_ms=window_ms)
    samples = []
    began = time.perf_counter()
    for i in range(len(market.candles)):
        one_candle(state, market, i)
        if (i + 1) % 1440 == 0:
            samples.append({"day": (i + 1) // 1440, "rss_mib": rss_mib(), "levels": state.level_count})
    seconds = time.perf_counter() - began
    end = int(market.candles.time[-1]) + MINUTE
    whole = build_book(known_at(market, end), window_ms=window_ms)
    book = state.book()
    edges = np.linspace(float(market.candles.low.min()) * 0.7, float(market.candles.high.max()) * 1.3, 4001)
    worst = 0.0
    for a, b in zip(book.snapshot(end, edges, window_ms=window_ms), whole.snapshot(end, edges, window_ms=window_ms)):
        worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)))
    return {"replay_s": seconds, "updates": len(market.candles), "samples": samples, "equal_rel": worst,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90, help="history length (default 90)")
    parser.add_argument("--window-days", type=int, default=30, help="map window (default 30)")
    parser.add_argument("--updates", type=int, default=2000, help="timed single-candle updates per history length")
    parser.add_argument("--part", choices=("latency", "replay", "all"), default="all")
    args = parser.parse_args(argv)
    window_ms = args.window_days * DAY
    report: dict = {"days": args.days, "window_days": args.window_days}
    if args.part in ("latency", "all"):
        market = series(args.days + args.updates // 1440 + 1)
        report["latency"] = [latency(market, minutes, args.updates, window_ms)
                             for minutes in (1440, args.days * 1440)]
        short, long = report["latency"]
        report["cpu_p50_ratio"] = long["cpu_p50_ms"] / short["cpu_p50_ms"]
        report["wall_p50_ratio"] = long["wall_p50_ms"] / short["wall_p50_ms"]
    if args.part in ("replay", "all"):
        report["replay"] = replay(series(args.days), window_ms)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""The Multi map (``--venue all``) beside single-venue maps, on the bundled sample.

    python benchmarks/multi.py [--runs 5]

Two figures per venue choice (binance, hyperliquid, all):

* ``update``: in one process, the time to rebuild the five views' maps from
  the source (what a refresh of the dashboard does), median of ``--runs``
  after one warm-up call;
* ``process``: ``liqmap map BTCUSDT --venue X --format json`` in a fresh
  process, wall time and peak RSS (``ru_maxrss`` from ``wait4``), median of
  ``--runs``.

The sample holds Binance and Hyperliquid; Bybit and OKX are reported missing
inside ``all`` (their loaders are asked, and answer at once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'venue':12s} {'update (5 views)':>17s} {'process wall':>13s} {'peak RSS':>9s}")
    for venue in VENUES:
        update = in_process(venue, args.runs)
        wall, peak = fresh_process(venue, args.runs)
        print(f"{venue:12s} {update:16.3f}s {wall:12.2f}s {peak:6.0f} MiB")


if __name__ == "__main__":
    main()

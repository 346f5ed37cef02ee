"""Backfill benchmark: synthetic 1-minute klines and 5-minute OI for 8 venue-symbols over 3 months,
backfilled every --every on a LocalCluster of 1 and of 2 workers; prints wall times, the speed-up per worker
and the task durations (median, max, sum) the 64-core projection in docs/backfill.md rests on.

    python benchmarks/backfill.py [--work DIR] [--every 6h] [--workers 1,2] [--streams K] [--months M] [--smoke]

``--streams K --months M`` backfill the first K venue-symbols over the first M months (a smaller case
at hourly moments, measured in minutes); ``--workers 0`` runs the tasks in this process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from backfill_data import write_market  # noqa: E402

from liqmap.api import _params  # noqa: E402
from liqmap.backfill import Config, manifest_of, plan, run_backfill, warmup_ms  # noqa: E402
from liqmap.options import span_ms  # noqa: E402
from liqmap.timeutil import parse_time  # noqa: E402

#: Eight venue-symbols: the six with shipped tier tables in force from 2025-09-10 on, and two synthetic
#: Binance symbols whose brackets are ETHUSDT's (a book needs its symbol's brackets; see ``brackets_folder``).
STREAMS = (("binance", "BTCUSDT"), ("binance", "ETHUSDT"), ("binance", "SOLUSDT"), ("bybit", "BTCUSDT"),
           ("hyperliquid", "BTCUSDT"), ("okx", "ARBUSDT"), ("binance", "XRPUSDT"), ("binance", "DOGEUSDT"))
SYNTHETIC = ("XRPUSDT", "DOGEUSDT")


def brackets_folder(folder: Path) -> Path:
    """Every shipped tier file, plus ETHUSDT's tiers relabelled for the synthetic symbols (``--param brackets=DIR``)."""
    import liqmap

    folder.mkdir(parents=True, exist_ok=True)
    for path in (Path(liqmap.__file__).parent / "venues").glob("*/tiers/*.json"):
        shutil.copy(path, folder / f"{path.parent.parent.name}_{path.name}")
    eth = json.loads((folder / "binance_ETHUSDT_2025-08-19.json").read_text())
    for symbol in SYNTHETIC:
        fake = dict(eth, symbol=symbol, source=f"benchmark only: Binance ETHUSDT's tiers of 2025-08-19 for the "
                                               f"synthetic {symbol} data")
        (folder / f"binance_{symbol}_2025-08-19.json").write_text(json.dumps(fake))
    return folder
WARMUP_START = "2025-09-10"  # 30 d window + 20 d decay horizon before November (and after the tier tables)
MONTHS = ("2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(Path(__file__).parent / ".work" / "backfill"))
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--smoke", action="store_true", help="2 streams x 1 month of 5-minute data")
    ap.add_argument("--every", default="6h", help="step between as-of times (default 6h)")
    ap.add_argument("--streams", type=int, default=len(STREAMS),
                    help=f"the first K venue-symbols (1-{len(STREAMS)}, default all)")
    ap.add_argument("--months", type=int, default=len(MONTHS) - 1,
                    help=f"the first M months (1-{len(MONTHS) - 1}, default all)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if not 1 <= args.streams <= len(STREAMS) or not 1 <= args.months <= len(MONTHS) - 1:
        ap.error(f"--streams takes 1-{len(STREAMS)} and --months 1-{len(MONTHS) - 1}")
    try:
        counts = [int(x) for x in args.workers.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 0:
        ap.error(f"--workers takes worker counts separated by commas (0 = in this process), not {args.workers!r}")
    work = Path(args.work)
    streams = STREAMS[::6] if args.smoke else STREAMS[:args.streams]  # smoke: binance BTCUSDT and synthetic XRPUSDT
    end = MONTHS[1] if args.smoke else MONTHS[args.months]
    candle_ms = 5 * 60_000 if args.smoke else 60_000
    data = work / ("data-smoke" if args.smoke else "data")
    for seed, (venue, symbol) in enumerate(streams):  # each stream's data once, to the last month's end
        complete = data / f".complete-{venue}-{symbol}"
        if not complete.exists():
            write_market(data, venue, symbol, WARMUP_START, MONTHS[1] if args.smoke else MONTHS[-1],
                         candle_ms=candle_ms, seed=seed)
            complete.write_text("")
    window = 30 * 86_400_000
    step = span_ms("--every", args.every)
    results = []
    for n in counts:
        out = work / f"store-{n}"
        shutil.rmtree(out, ignore_errors=True)
        tasks = []
        for venue, symbol in streams:
            tasks += plan([venue], [symbol], parse_time(MONTHS[0], "from"), parse_time(end, "to"), step,
                          warmup_ms(_params(None, venue), window))
        config = Config(store=str(out), source="cache", window_ms=window,
                        views=("all", "high", "medium", "low", "optical"), heatmap_views=("all",),
                        params={"brackets": str(brackets_folder(work / "brackets"))}, cache_root=str(data))
        manifest = manifest_of(tasks, config, sorted({v for v, _ in streams}), sorted({s for _, s in streams}),
                               parse_time(MONTHS[0], "from"), parse_time(end, "to"), step)
        began = time.perf_counter()
        result = run_backfill(tasks, config, manifest, workers=n, say=lambda text: None)
        wall = time.perf_counter() - began
        seconds = [r["seconds"] for r in result["records"]]
        results.append({"workers": n, "tasks": len(tasks), "wall_s": wall, "task_median_s": statistics.median(seconds),
                        "task_max_s": max(seconds), "task_sum_s": sum(seconds), "task_s": seconds})
        print(f"workers {n}: {len(tasks)} tasks, wall {wall:.1f} s, task median {statistics.median(seconds):.1f} s, "
              f"max {max(seconds):.1f} s, sum {sum(seconds):.1f} s", flush=True)
    one = next((r for r in results if r["workers"] == 1), None)
    for r in results:  # against the 1-worker run, in whatever order they ran
        if one is not None and r["workers"] > 1:
            speedup = one["wall_s"] / r["wall_s"]
            print(f"speed-up {speedup:.2f}x with {r['workers']} workers: {speedup / r['workers']:.2f} of linear "
                  f"per worker")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

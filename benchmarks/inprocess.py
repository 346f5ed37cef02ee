"""Benchmark cases that time work inside one process, through the public Python API.

Run by ``benchmarks/run.py`` in a fresh process; prints one JSON object on stdout.

* ``map``: case (c), the map computation alone: load the market once, then
  build the book and the five views' maps ``--repeat`` times and report each
  duration (the first, warm-up call is reported separately).
* ``heatmap``: case (d) through the API: load, then one ``build_heatmap``;
  reports the load and compute times and the output shape.
"""

from __future__ import annotations

import argparse
import json
import time

VIEWS = ("all", "high", "medium", "low", "optical")


def _map(args) -> dict:
    import liqmap

    market = liqmap.load_market(args.symbol, source=args.source, start=args.start, end=args.end)

    def build():
        began = time.perf_counter()
        maps = liqmap.build_maps(args.symbol, market=market, as_of=args.end, views=list(VIEWS))
        return time.perf_counter() - began, maps

    warmup_s, maps = build()
    times = [build()[0] for _ in range(args.repeat)]
    return {"warmup_s": warmup_s, "times_s": times, "views": [m.view for m in maps], "bins": int(maps[0].total.size)}


def _heatmap(args) -> dict:
    import liqmap

    began = time.perf_counter()
    market = liqmap.load_market(args.symbol, source=args.source, start=args.start, end=args.end)
    loaded = time.perf_counter()
    heatmap = liqmap.build_heatmap(
        args.symbol, market=market, start=args.start, end=args.end, resolution=args.resolution, bins=args.bins
    )
    done = time.perf_counter()
    return {
        "load_s": loaded - began,
        "compute_s": done - loaded,
        "candles": len(market.candles),
        "shape": list(heatmap.long.shape),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="case", required=True)
    for name in ("map", "heatmap"):
        p = sub.add_parser(name)
        p.add_argument("--symbol", default="BTCUSDT")
        p.add_argument("--source", required=True)
        p.add_argument("--start", required=True)
        p.add_argument("--end", required=True)
    sub.choices["map"].add_argument("--repeat", type=int, default=7)
    sub.choices["heatmap"].add_argument("--resolution", default="15m")
    sub.choices["heatmap"].add_argument("--bins", type=int, default=1000)
    args = parser.parse_args(argv)
    result = _map(args) if args.case == "map" else _heatmap(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

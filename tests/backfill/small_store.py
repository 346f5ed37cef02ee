"""A small backfill store over synthetic 5-minute data (benchmarks/backfill_data.py), for the readers' tests."""

from __future__ import annotations

import sys
from pathlib import Path

from liqmap import api
from liqmap.backfill import Config, manifest_of, plan, run_backfill, warmup_ms
from liqmap.timeutil import parse_time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from backfill_data import write_market  # noqa: E402

WINDOW = 86_400_000
PARAMS = {"decay_half_life_10x": 2.0}


def make_store(root: Path, start: str, end: str, every_ms: int, views=("all", "optical")):
    """binance BTCUSDT as of every ``every_ms`` in ``[start, end)`` into ``root / 'bf'``; returns (tasks, config)."""
    write_market(root / "data", "binance", "BTCUSDT", "2025-09-25", "2025-10-03", candle_ms=5 * 60_000)
    tasks = plan(["binance"], ["BTCUSDT"], parse_time(start, "from"), parse_time(end, "to"), every_ms,
                 warmup_ms(api._params(PARAMS, "binance"), WINDOW))
    config = Config(store=str(root / "bf"), source="cache", window_ms=WINDOW, views=tuple(views),
                    heatmap_views=("all",), params=PARAMS, cache_root=str(root / "data"))
    run_backfill(tasks, config, manifest_of(tasks, config, ["binance"], ["BTCUSDT"], 0, 1, every_ms), workers=0)
    return tasks, config

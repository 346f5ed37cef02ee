"""Maps read back from a backfill store (``--source backfill:STORE``) without building a book."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from liqmap import api
from liqmap.backfill import Config, manifest_of, plan, run_backfill, warmup_ms
from liqmap.backfill.task import build, load_span
from liqmap.cli import main
from liqmap.frames import DataError
from liqmap.timeutil import parse_time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from backfill_data import write_market  # noqa: E402

WINDOW = 86_400_000
PARAMS = {"decay_half_life_10x": 2.0}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("read")
    write_market(root / "data", "binance", "BTCUSDT", "2025-09-25", "2025-10-03", candle_ms=5 * 60_000)
    tasks = plan(["binance"], ["BTCUSDT"], parse_time("2025-09-29", "f"), parse_time("2025-10-02", "t"), 12 * 3_600_000,
                 warmup_ms(api._params(PARAMS, "binance"), WINDOW))
    config = Config(store=str(root / "bf"), source="cache", window_ms=WINDOW, views=("all", "optical"),
                    heatmap_views=("all",), params=PARAMS, cache_root=str(root / "data"))
    run_backfill(tasks, config, manifest_of(tasks, config, ["binance"], ["BTCUSDT"], 0, 1, 12 * 3_600_000), workers=0)
    return root, tasks, config


def test_a_stored_moment_reads_back_as_the_map_it_was_made_from(store):
    root, tasks, config = store
    task = tasks[1]  # October: 1st 00:00 and 12:00
    as_of = parse_time("2025-10-01T12:00", "t")
    market = load_span(task, config, task.start_ms - task.warmup_ms)
    made = api.maps_from_book(market, build(market, config, task.start_ms - task.warmup_ms), as_of, WINDOW,
                              ("all", "optical"), now=as_of + 3_600_000)
    read = api.build_maps("BTCUSDT", source=f"backfill:{root / 'bf'}", as_of="2025-10-01T12:00",
                          views=["all", "optical"], now=as_of + 3_600_000)
    assert [m.view for m in read] == ["all", "optical"]
    for a, b in zip(made, read):
        assert a.to_dict() == b.to_dict()
    # the last stored moment when no as-of time is given
    assert api.build_map("BTCUSDT", source=f"backfill:{root / 'bf'}").as_of_ms == as_of


def test_a_moment_or_symbol_the_store_lacks_is_named_with_what_it_holds(store, capsys):
    root, _, _ = store
    source = f"backfill:{root / 'bf'}"
    holds = "binance BTCUSDT: 2025-09-29T00:00:00Z .. 2025-10-01T12:00:00Z every 720 min (2 months)"
    with pytest.raises(DataError, match=re.escape(f"holds no binance BTCUSDT map as of 2025-10-01T06:00:00Z; "
                                                  f"it holds: {holds}")):
        api.build_maps("BTCUSDT", source=source, as_of="2025-10-01T06:00", views=["all"])
    assert main(["map", "ETHUSDT", "--source", source]) == 1
    assert f"holds no binance ETHUSDT maps; it holds: {holds}" in capsys.readouterr().err
    with pytest.raises(DataError, match="holds the views all, optical, not high"):
        api.build_maps("BTCUSDT", source=source, views=["high"])

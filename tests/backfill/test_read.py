"""Maps read back from a backfill store (``--source backfill:STORE``) without building a book."""

from __future__ import annotations

import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from liqmap import api
from liqmap.backfill.store import partition_file
from liqmap.backfill.task import build, load_span
from liqmap.cli import main
from liqmap.frames import DataError
from liqmap.options import OptionError
from liqmap.timeutil import parse_time

from .small_store import WINDOW, make_store

HOUR = 3_600_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("read")
    tasks, config = make_store(root, "2025-09-29", "2025-10-02", 12 * HOUR)
    return root, tasks, config


@pytest.fixture(scope="module")
def hourly(tmp_path_factory):
    """Hourly moments from 2025-09-30 12:00 to 2025-10-01 11:00: two months, one heatmap grid each."""
    root = tmp_path_factory.mktemp("hourly")
    make_store(root, "2025-09-30T12:00", "2025-10-01T12:00", HOUR)
    return root / "bf"


def test_a_stored_moment_reads_back_as_the_map_it_was_made_from(store):
    root, tasks, config = store
    task = tasks[1]  # October: 1st 00:00 and 12:00
    as_of = parse_time("2025-10-01T12:00", "t")
    market = load_span(task, config, task.start_ms - task.warmup_ms)
    made = api.maps_from_book(market, build(market, config, task.start_ms - task.warmup_ms), task.times(), WINDOW,
                              ("all", "optical"), now=as_of + 3_600_000)[task.times().index(as_of)]  # as the task made it
    read = api.build_maps("BTCUSDT", source=f"backfill:{root / 'bf'}", as_of="2025-10-01T12:00",
                          views=["all", "optical"], now=as_of + 3_600_000)
    assert [m.view for m in read] == ["all", "optical"]
    for a, b in zip(made, read):
        stored = b.to_dict()
        assert stored["model"]["notes"].pop() == (
            f"read from the backfill store {root / 'bf'}: its book holds the open interest sampled at the as-of "
            f"time, a map built directly there only what came before (on the sample up to 5.3 % of the largest "
            f"bin apart; docs/backfill.md)")
        assert a.to_dict() == stored
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


def _stored_cells(root, month: str):
    return pq.read_table(partition_file(root, "heatmap", "binance", "BTCUSDT", month)).to_pandas()


def test_a_stored_heatmap_reads_back_cell_for_cell_across_months(hourly):
    h = api.build_heatmap("BTCUSDT", source=f"backfill:{hourly}", start="2025-09-30T12:00", end="2025-10-01T11:00")
    assert h.time[0] == parse_time("2025-09-30T12:00", "t") and h.time.size == 24 and np.all(np.diff(h.time) == HOUR)
    step = h.price_high[0] - h.price_low[0]
    assert np.allclose(h.price_high - h.price_low, step)
    seen = 0
    for month in ("2025-09", "2025-10"):
        cells = _stored_cells(hourly, month)
        row = np.searchsorted(h.time, cells.time.to_numpy())
        col = np.rint((cells.price_low.to_numpy() - h.price_low[0]) / step).astype(int)
        # every stored cell in its place, the same float32 value
        assert np.array_equal(h.price_low[col], cells.price_low.to_numpy())
        assert np.array_equal(h.long[row, col], cells.long.to_numpy(np.float32))
        assert np.array_equal(h.short[row, col], cells.short.to_numpy(np.float32))
        assert np.array_equal(h.price[row], cells.price.to_numpy())
        seen += len(cells)
    # and nothing else: the other cells are empty
    assert np.count_nonzero((h.long > 0) | (h.short > 0)) == seen > 1000
    # every 4 h: the same rows, one in four
    four = api.build_heatmap("BTCUSDT", source=f"backfill:{hourly}", start="2025-09-30T12:00", end="2025-10-01T11:00",
                             resolution="4h")
    assert np.array_equal(four.long, h.long[::4]) and np.array_equal(four.time, h.time[::4])


def test_a_heatmap_outside_the_store_or_off_its_step_is_refused_naming_the_span(hourly, capsys):
    source = f"backfill:{hourly}"
    span = "holds binance BTCUSDT from 2025-09-30T12:00:00Z to 2025-10-01T11:00:00Z every 1h"
    with pytest.raises(DataError, match=re.escape(f"heatmap 2025-09-01T00:00:00Z .. 2025-10-01T00:00:00Z is outside "
                                                  f"the store: {hourly} {span}")):
        api.build_heatmap("BTCUSDT", source=source, start="2025-09-01", end="2025-10-01")
    with pytest.raises(OptionError, match=re.escape(f"resolution 90m is not a multiple of the store's step: {hourly} "
                                                    f"holds binance BTCUSDT every 1h")):
        api.build_heatmap("BTCUSDT", source=source, resolution="90m")
    with pytest.raises(DataError, match="holds heatmap cells of the views all, not high"):
        api.build_heatmap("BTCUSDT", source=source, view="high")
    with pytest.raises(OptionError, match="takes no params or bins"):
        api.build_heatmap("BTCUSDT", source=source, bins=100)
    assert main(["heatmap", "BTCUSDT", "--source", source, "--from", "2025-08-01", "--png", str(hourly / "x.png")]) == 1
    assert "is outside the store" in capsys.readouterr().err


def test_liqmap_heatmap_draws_from_the_store(hourly, capsys):
    png = hourly.parent / "stored.png"
    assert main(["heatmap", "BTCUSDT", "--source", f"backfill:{hourly}", "--png", str(png)]) == 0
    assert "BTCUSDT heatmap: 24 columns x" in capsys.readouterr().out
    assert png.stat().st_size > 10_000


def test_a_stored_moment_counts_the_open_interest_sampled_at_it_where_a_direct_map_does_not(tmp_path):
    # the sample backfilled at 6:00: its book, built on to the task's last moment, holds the OI sampled at 6:00;
    # a direct map's book is built on the data before 6:00 (docs/backfill.md gives the tolerance)
    from liqmap.model.build import build_book

    out = tmp_path / "bf"
    assert main(["backfill", "--symbols", "BTCUSDT", "--from", "2026-03-01T06:00", "--to", "2026-03-01T07:00",
                 "--views", "all", "--heatmap-views", "all", "--workers", "0", "--source", "sample",
                 "--out", str(out)]) == 0
    t = parse_time("2026-03-01T06:00", "t")
    stored = api.build_map("BTCUSDT", source=f"backfill:{out}", as_of=t, now=t)
    direct = api.build_map("BTCUSDT", as_of=t, now=t)
    assert np.abs(stored.total - direct.total).max() / direct.total.max() == pytest.approx(0.0401, abs=5e-4)
    market = api.load_market("BTCUSDT")
    with_sample_at_t = build_book(market.slice_time(None, t + 1), api._params(None, "binance"), 30 * 24 * HOUR)
    [[read]] = api.maps_from_book(market, with_sample_at_t, [t], 30 * 24 * HOUR, ["all"], now=t)
    # the same to 1e-5 of the largest bin (the store's book starts at its warm-up, this one at the data's start)
    assert np.abs(stored.total - read.total).max() <= 1e-5 * read.total.max()


def test_a_store_refuses_other_map_settings_than_it_was_read_with(store, capsys):
    root, _, _ = store
    source = f"backfill:{root / 'bf'}"
    assert main(["map", "BTCUSDT", "--source", source, "--setting", "bin_pct=0.5"]) == 1
    assert capsys.readouterr().err == (
        f"liqmap map: error: {root / 'bf'} holds maps read with bin_pct=0.1, not bin_pct=0.5: a store answers only "
        "what was written (backfill again with --setting, or leave it out)\n")
    assert main(["map", "BTCUSDT", "--source", source, "--max-age", "1d", "--format", "json"]) == 0  # read-time only

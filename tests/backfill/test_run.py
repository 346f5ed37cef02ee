"""Backfill on a LocalCluster of 2 worker processes against the in-process run and the sequential book."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from liqmap.api import _params
from liqmap.backfill import Config, manifest_of, plan, run_backfill, sequential, warmup_ms
from liqmap.backfill.store import TABLES, done_file, partition_file
from liqmap.timeutil import parse_time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from backfill_data import write_market  # noqa: E402

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
WINDOW = 2 * 86_400_000
PARAMS = {"decay_half_life_10x": 4.0}  # slowest cohort (1x): 40 h, so the warm-up is 2 d + 40 h


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("market")
    for seed, symbol in enumerate(SYMBOLS):
        write_market(root, "binance", symbol, "2025-09-01", "2025-10-12", candle_ms=5 * 60_000, seed=seed)
    return root


def setup(data: Path, out: Path, every_h: int = 6):
    tasks = plan(["binance"], SYMBOLS, parse_time("2025-09-24", "from"), parse_time("2025-10-08", "to"),
                 every_h * 3_600_000, warmup_ms(_params(PARAMS, "binance"), WINDOW))
    config = Config(store=str(out), source="cache", window_ms=WINDOW, views=("all", "high", "optical"),
                    heatmap_views=("all",), params=PARAMS, cache_root=str(data))
    manifest = manifest_of(tasks, config, ["binance"], SYMBOLS, tasks[0].start_ms, tasks[-1].end_ms, every_h * 3_600_000)
    return tasks, config, manifest


def read(out: Path, table: str, task):
    return pq.read_table(partition_file(out, table, task.venue, task.symbol, task.month)).to_pandas()


def test_plan_cuts_months_with_the_warm_up():
    tasks = plan(["binance"], ["BTCUSDT"], parse_time("2025-09-24T01:00", "from"), parse_time("2025-10-02", "to"),
                 6 * 3_600_000, 1000)
    assert [(t.month, len(t.times())) for t in tasks] == [("2025-09", 27), ("2025-10", 4)]  # 06:00 .. 30th 18:00
    assert tasks[0].start_ms == parse_time("2025-09-24T06:00", "t") and tasks[1].start_ms == parse_time("2025-10-01", "t")
    # 2 days + one half-life of the 1x cohort (4 h * 10 / 1)
    assert warmup_ms(_params(PARAMS, "binance"), WINDOW) == WINDOW + 40 * 3_600_000


@pytest.fixture(scope="module")
def in_process(data, tmp_path_factory):
    """The reference: the backfill run in this process, one task after the other."""
    out = tmp_path_factory.mktemp("in-process")
    tasks, config, manifest = setup(data, out)
    result = run_backfill(tasks, config, manifest, workers=0)
    assert (result["written"], result["skipped"]) == (4, 0)
    return out


def assert_same_store(tasks, got: Path, want: Path):
    for t in tasks:
        for table in TABLES:
            a, b = read(got, table, t), read(want, table, t)
            assert len(a) > 0 and a.equals(b), (t.key, table)


def test_two_worker_cluster_equals_the_in_process_run(data, in_process, tmp_path):
    tasks, config, manifest = setup(data, tmp_path / "dask")
    assert [t.key for t in tasks] == ["binance/BTCUSDT/2025-09", "binance/ETHUSDT/2025-09",
                                      "binance/BTCUSDT/2025-10", "binance/ETHUSDT/2025-10"]
    on_dask = run_backfill(tasks, config, manifest, workers=2)
    assert (on_dask["written"], on_dask["skipped"]) == (4, 0)
    assert_same_store(tasks, tmp_path / "dask", in_process)


def test_the_month_split_equals_one_book_over_the_whole_span(data, in_process):
    tasks, config, _ = setup(data, in_process)
    reference = sequential(tasks, config)
    for t in tasks:
        split, whole = read(in_process, "bins", t), reference[t.key]["bins"].to_pandas()
        assert len(split) == len(whole) and (split.view == whole.view).all() and (split.time == whole.time).all()
        # the first month's book starts where the sequential one does: identical
        # the second's starts with its warm-up: within 1e-6 of the largest bin (docs/backfill.md)
        tolerance = 0.0 if t.month == "2025-09" else 1e-6 * whole.total.abs().max()
        assert np.abs(split.total - whole.total).max() <= tolerance, t.key
        assert (read(in_process, "maps", t).price == reference[t.key]["maps"].to_pandas().price).all()


def test_a_worker_killed_mid_task_is_replaced_and_the_backfill_equals_the_reference(data, in_process, tmp_path):
    from distributed import Client, LocalCluster

    tasks, config, manifest = setup(data, tmp_path / "killed")
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_one_busy_worker():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one_busy_worker)
        killer.start()
        result = run_backfill(tasks, config, manifest, scheduler=cluster.scheduler_address)
        killer.join()
    assert killed and result["written"] == 4
    assert_same_store(tasks, tmp_path / "killed", in_process)


def test_a_rerun_writes_only_the_partitions_an_interrupted_run_left_unfinished(data, tmp_path):
    tasks, config, manifest = setup(data, tmp_path / "store")
    assert run_backfill(tasks, config, manifest, workers=0)["written"] == 4
    # an interrupted run: one partition's files renamed into place, its completion record never written
    lost = tasks[2]
    done_file(tmp_path / "store", lost.venue, lost.symbol, lost.month).unlink()
    kept = {t.key: partition_file(tmp_path / "store", "bins", t.venue, t.symbol, t.month).stat().st_mtime_ns
            for t in tasks}
    again = run_backfill(tasks, config, manifest, workers=0)
    assert (again["written"], again["skipped"]) == (1, 3)
    assert [r["key"] for r in again["records"]] == [lost.key]
    for t in tasks:
        now = partition_file(tmp_path / "store", "bins", t.venue, t.symbol, t.month).stat().st_mtime_ns
        assert (now != kept[t.key]) == (t is lost)
    assert run_backfill(tasks, config, manifest, workers=0)["written"] == 0

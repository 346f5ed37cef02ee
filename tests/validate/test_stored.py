"""``liqmap validate --predictions backfill:STORE``: the map read from a backfill store scores as the map built here."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from liqmap import api
from liqmap.analysis.mapping import lattice_edges
from liqmap.backfill import Config, manifest_of, plan, run_backfill, warmup_ms
from liqmap.backfill.store import partitions
from liqmap.cli import main
from liqmap.frames import MS_PER_DAY, DataError
from liqmap.model.build import build_book
from liqmap.sources.cache import CANDLES, FUNDING, OPEN_INTEREST, Store
from liqmap.timeutil import parse_time
from liqmap.validate import walkforward
from liqmap.validate.dataset import load_dataset
from liqmap.validate.predictors import map_prediction
from liqmap.validate.stored import store_choice
from liqmap.validate.walkforward import ModelChoice, predict, score

START, END = "2026-01-01", "2026-02-01"


@pytest.fixture(scope="module")
def data(shared_data):
    return load_dataset(shared_data)


@pytest.fixture(scope="module")
def store(data, tmp_path_factory):
    """The study's own market (hourly bars, 5-minute OI, funding) backfilled hourly from the panel's start to
    February, view all, 30-day window, the default parameters."""
    root = tmp_path_factory.mktemp("validate")
    cache = Store(root / "cache", "binance")
    m = data.market
    for month in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03"):
        lo = parse_time(f"{month}-01", "t")
        hi = parse_time(f"{month[:5]}{int(month[5:]) + 1:02d}-01" if month[5:] != "12" else "2026-01-01", "t")
        cache.write("BTCUSDT", f"{CANDLES}-1h", month, m.candles.slice_time(lo, hi))
        cache.write("BTCUSDT", OPEN_INTEREST, month, m.open_interest.slice_time(lo, hi))
        cache.write("BTCUSDT", FUNDING, month, m.funding.slice_time(lo, hi))
    window = 30 * MS_PER_DAY
    every = 3_600_000
    first, end = int(data.hours.time[0]), parse_time(END, "t")
    tasks = plan(["binance"], ["BTCUSDT"], first, end, every, warmup_ms(api._params(None, "binance"), window))
    config = Config(store=str(root / "bf"), source="cache", window_ms=window, views=("all",), heatmap_views=("all",),
                    cache_root=str(root / "cache"))
    run_backfill(tasks, config, manifest_of(tasks, config, ["binance"], ["BTCUSDT"], first, end, every), workers=0)
    return f"backfill:{root / 'bf'}", root / "bf"


def test_the_stored_map_scores_as_the_map_built_here_on_the_same_grid(data, store):
    source, root = store
    choice = store_choice(source, "binance")
    assert choice.window_ms == 30 * MS_PER_DAY and choice.view == "all"
    start, end = parse_time(START, "t"), parse_time(END, "t")
    stored = predict(data, start, end, choice, stored=source)
    # the reference: one book built here over the data before the period's end, read on each month's grid
    book = build_book(data.market.slice_time(None, end), choice.params, choice.window_ms)
    grids = {p["month"]: lattice_edges(**p["heatmap_grid"]) for p in partitions(root)}

    def here(hours):
        long, short = np.zeros(len(hours)), np.zeros(len(hours))
        months = np.array([np.datetime64(int(t), "ms").astype("datetime64[M]").astype(str) for t in hours.time])
        for month, edges in grids.items():
            rows = np.flatnonzero(months == month)
            if rows.size:
                long[rows], short[rows] = map_prediction(book, hours.take(rows), edges, window_ms=choice.window_ms)
        return long, short

    index = walkforward.scored_hours(data, start, end)
    reference = here(stored.hours)
    scale = max(reference[0].max(), reference[1].max())
    assert scale > 1e6
    for a, b in zip(stored.by_predictor["map"], reference):
        assert np.abs(a - b).max() <= 1e-9 * scale
    assert "fitted+map" in stored.by_predictor  # trained on December's stored maps
    fitted = walkforward._fitted(data, index, reference, here)
    built = dataclasses.replace(stored, by_predictor={**stored.by_predictor, "map": reference, **fitted})
    a, b = score(stored, reps=50)["point"], score(built, reps=50)["point"]
    for name in ("map", "fitted+map"):
        for side in ("long", "short"):
            for metric, value in a[name][side].items():
                assert value == pytest.approx(b[name][side][metric], rel=1e-9, abs=1e-9), (name, side, metric)


def test_a_configuration_or_a_period_the_store_was_not_made_with_is_refused(data, store):
    source, _ = store
    other = dataclasses.replace(store_choice(source, "binance"), window_ms=7 * MS_PER_DAY)
    with pytest.raises(DataError, match="was made with other window_ms than the configuration asks"):
        predict(data, parse_time(START, "t"), parse_time(END, "t"), other, stored=source)
    params = ModelChoice().params
    assert params is None  # the default configuration is the store's: accepted
    with pytest.raises(DataError, match="the scored hours 2026-02-01T00:00:00Z .. .* is outside the store"):
        predict(data, parse_time(END, "t"), parse_time("2026-03-01", "t"), stored=source)


def test_liqmap_validate_reads_the_store(shared_data, store, tmp_path, capsys):
    source, _ = store
    code = main(["validate", "--data", str(shared_data), "--from", START, "--to", END, "--predictions", source,
                 "--reps", "50", "--report", str(tmp_path / "r"), "--registry", str(tmp_path / "reg.jsonl")])
    out = capsys.readouterr().out
    assert code == 0 and "map " in out and "fitted+map" in out
    figures = json.loads((tmp_path / "r" / "figures.json").read_text())
    assert figures["model"]["stored"] == source and "first_touch" not in figures and "claims" not in figures
    assert main(["validate", "--data", str(shared_data), "--from", START, "--to", END, "--predictions", source,
                 "--tune-from", "2025-12-05", "--tune-to", START]) == 1
    assert "--predictions reads one stored configuration" in capsys.readouterr().err

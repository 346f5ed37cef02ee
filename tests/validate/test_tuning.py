"""Tuning on a Dask LocalCluster: one task per configuration and month, the same search as in this process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liqmap.cli import main
from liqmap.cluster import dask_client
from liqmap.timeutil import parse_time
from liqmap.validate import metrics
from liqmap.validate.dataset import load_dataset
from liqmap.validate.tuning import month_prediction, objective, on_dask, tune
from liqmap.validate.walkforward import ModelChoice

START, END = parse_time("2025-12-05", "t"), parse_time("2026-02-01", "t")  # December (from the 5th) and January
SPACE = {"entry_anchors": ("ohlc", "close"), "leverage_median": (8.0, 20.0)}


@pytest.fixture(scope="module")
def data(shared_data):
    return load_dataset(shared_data)


def test_a_month_task_predicts_what_the_whole_period_does_there(data):
    whole = objective(data, START, END, ModelChoice())
    parts = [month_prediction(data, lo, hi, ModelChoice()) for lo, hi in ((START, parse_time("2026-01-01", "t")),
                                                                           (parse_time("2026-01-01", "t"), END))]
    pooled = metrics.spearman(np.concatenate([p for p, _ in parts]), np.concatenate([r for _, r in parts]))
    assert pooled == pytest.approx(whole, abs=1e-12)


def test_tuning_on_two_workers_searches_as_in_process(data):
    here = tune(data, START, END, space=SPACE, rounds=2)
    from distributed import get_task_stream

    with dask_client(2, None) as client, get_task_stream(client) as stream:
        evaluate = on_dask(client, data, START, END)
        there = tune(data, START, END, space=SPACE, rounds=2, evaluate=evaluate)
    # every configuration ran as one task per month, on both workers: 2 months x the configurations tried
    done = [t for t in stream.data if str(t["key"]).startswith("month_prediction")]
    assert len(done) == 2 * len(there.trials) == 10
    assert len({t["worker"] for t in done}) == 2
    assert there.choice == here.choice
    assert [changes for changes, _ in there.trials] == [changes for changes, _ in here.trials]
    for (_, a), (_, b) in zip(there.trials, here.trials):
        assert a == pytest.approx(b, abs=1e-12)
    assert there.objective == pytest.approx(here.objective, abs=1e-12)


def test_liqmap_validate_tunes_on_a_local_cluster(shared_data, tmp_path, capsys):
    code = main(["validate", "--data", str(shared_data), "--tune-from", "2025-12-05", "--tune-to", "2026-01-01",
                 "--from", "2026-01-01", "--to", "2026-01-15", "--workers", "2", "--reps", "50", "--no-claims",
                 "--no-first-touch", "--registry", str(tmp_path / "reg.jsonl"), "--report", str(tmp_path / "r")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Dask dashboard: http://" in captured.err
    tuning = json.loads((tmp_path / "r" / "figures.json").read_text())["tuning"]
    assert len(tuning["trials"]) > 10 and tuning["chosen_objective"] >= tuning["start_objective"]


def test_the_untuned_model_names_every_modelling_assumption():
    """A BookParams field is either set to the first model's value in UNTUNED or listed as kept: a new
    assumption added with a tuned default cannot leak into ``map_untuned``."""
    from dataclasses import fields
    from pathlib import Path

    import yaml

    from liqmap.model.params import BookParams
    from liqmap.validate.tuning import UNTUNED, UNTUNED_KEEPS, choice_from_settings

    book_settings = set(UNTUNED) - {"window", "view"}
    assert book_settings.isdisjoint(UNTUNED_KEEPS)
    assert book_settings | set(UNTUNED_KEEPS) == {f.name for f in fields(BookParams)}
    untuned = choice_from_settings(dict(UNTUNED)).params
    assert (untuned.leverage_spread, untuned.oi_shrinkage, untuned.leverage_median) == (0.0, 0.0, 12.0)
    starting = yaml.safe_load((Path(__file__).parents[2] / "reports" / "starting_config.yaml").read_text())
    assert starting == UNTUNED

"""The test-month registry: recorded once per configuration, refused again unless forced."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from liqmap.cli import main
from liqmap.frames import DataError
from liqmap.model.params import BookParams
from liqmap.validate.registry import TEST_MONTH, AlreadyScored, Registry, config_hash
from liqmap.validate.tuning import choice_from_settings
from liqmap.validate.walkforward import ModelChoice

FIGURES = {"period": {"from": "2026-03-01T00:00:00Z", "to": "2026-03-08T00:00:00Z"}, "hours": 168,
           "scores": {"map": {"both": {"spearman": 0.75}}}}


def test_a_configuration_is_refused_the_second_time_unless_forced(tmp_path):
    path = tmp_path / "registry.jsonl"
    registry = Registry(path)
    digest = config_hash(ModelChoice())
    registry.check(digest)  # nothing recorded yet
    registry.record(digest, {"view": "all"}, FIGURES)
    with pytest.raises(AlreadyScored, match=f"test month {TEST_MONTH} was already scored for configuration {digest}"):
        registry.check(digest)
    other = config_hash(choice_from_settings({"leverage_median": 35.0}))
    assert other != digest
    registry.check(other)  # another configuration may be scored
    forced = Registry(path, force=True)
    forced.check(digest)
    forced.record(digest, {"view": "all"}, FIGURES)
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["config_hash"], e["forced"]) for e in entries] == [(digest, False), (digest, True)]
    assert entries[0]["spearman_both"] == {"map": 0.75} and entries[0]["month"] == TEST_MONTH


def test_the_hash_sees_every_setting():
    assert config_hash(ModelChoice()) == config_hash(ModelChoice())
    assert config_hash(ModelChoice(view="high")) != config_hash(ModelChoice())
    assert config_hash(ModelChoice(window_ms=3 * 86_400_000)) != config_hash(ModelChoice())


def test_a_damaged_registry_is_named_with_its_line(tmp_path):
    path = tmp_path / "registry.jsonl"
    path.write_text('{"config_hash": "abc", "month": "2026-03"}\n{not json\n')
    with pytest.raises(DataError, match=r"registry.jsonl: line 2 column 2 is not JSON"):
        Registry(path).entries()


def test_the_command_records_the_test_month_then_refuses_it(shared_data, tmp_path, capsys):
    registry = tmp_path / "registry.jsonl"
    args = ["validate", "--data", str(shared_data), "--from", "2026-03-01", "--to", "2026-03-04",
            "--no-claims", "--reps", "50", "--registry", str(registry)]
    assert main(args) == 0
    assert "recorded in" in capsys.readouterr().out
    (entry,) = [json.loads(line) for line in registry.read_text().splitlines()]
    assert set(entry["settings"]) == {f.name for f in fields(BookParams)} | {"view", "window_ms"}
    assert entry["settings"]["oi_shrinkage"] == BookParams().oi_shrinkage and entry["config_hash"] == config_hash(
        ModelChoice())
    assert main(args) == 1
    assert "already scored" in capsys.readouterr().err
    assert main(args + ["--force-test-month"]) == 0
    assert [json.loads(line)["forced"] for line in registry.read_text().splitlines()] == [False, True]
    # a period outside the test month is not recorded
    assert main(["validate", "--data", str(shared_data), "--from", "2026-02-01", "--to", "2026-02-04",
                 "--no-claims", "--reps", "50", "--registry", str(registry)]) == 0
    assert len(registry.read_text().splitlines()) == 2

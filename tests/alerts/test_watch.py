"""``liqmap watch`` end to end on the bundled sample (real BTCUSDT data), and the polling loop."""

from __future__ import annotations

import json

import pytest

from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.rules import Rule
from liqmap.alerts.watch import follow_updates, replay_times, run_watch
from liqmap.cli import main
from liqmap.frames import MS_PER_HOUR
from liqmap.timeutil import parse_time

RULES = """\
rules:
  - name: swept
    when: cluster_swept
    z_min: 1.5
  - name: near
    when: cluster_near
    z_min: 2.0
    within_pct: 1.0
  - name: flip
    when: liqratio_flip
    band_pct: 2.0
    margin: 0.2
"""


@pytest.fixture(scope="module")
def sample():
    import liqmap

    return liqmap.load_market("BTCUSDT", "sample")


def watch(tmp_path, *extra):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    out = tmp_path / "alerts.jsonl"
    argv = ["watch", "BTCUSDT", "--rules", str(rules), "--replay", "2026-02-05T00:00", "2026-02-06T06:00",
            "--speed", "0", "--jsonl", str(out), "--quiet", *extra]
    return main(argv), out


def test_replay_over_the_february_5_crash(tmp_path, capsys):
    code, out = watch(tmp_path, "--state", str(tmp_path / "state.json"))
    assert code == 0
    assert "31 updates" in capsys.readouterr().err  # 2026-02-05 00:00 .. 02-06 06:00, hourly
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    keys = [a["key"] for a in alerts]
    assert len(keys) == len(set(keys)) > 0
    assert {a["kind"] for a in alerts} <= {"cluster_swept", "cluster_near", "liqratio_flip"}
    # The largest realized-liquidation hour of the data set is 2026-02-05 20:00 ($134M of longs liquidated):
    # the update at 21:00, which covers that bar (perp low 62,233.3, high 65,678.1 with the 20:00 price),
    # reports sweeps, and every cluster it reports swept lies inside that range.
    crash = [a for a in alerts if a["kind"] == "cluster_swept" and a["as_of"] == "2026-02-05T21:00:00Z"]
    assert crash
    assert all(62_233.3 <= a["data"]["peak"] <= 65_678.1 for a in crash)
    assert "62,233.30-65,678.10" in crash[0]["message"]

    # Running the same replay again with the same state delivers nothing new.
    code, out = watch(tmp_path, "--state", str(tmp_path / "state.json"))
    assert code == 0
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == keys
    assert "0 alerts" in capsys.readouterr().err


def test_replay_paced_by_speed_gives_the_same_alerts(tmp_path, sample):
    from liqmap.alerts.watch import replay_updates

    engine_fast, engine_paced = AlertEngine([Rule("swept", "cluster_swept", z_min=1.5)]), \
        AlertEngine([Rule("swept", "cluster_swept", z_min=1.5)])
    times = replay_times(sample, parse_time("2026-02-05T18:00"), parse_time("2026-02-05T22:00"), MS_PER_HOUR)
    fast = run_watch(replay_updates(sample, times, ["all"], "30d"), engine_fast, [])
    # 3.6 million times real time: an hour of history every millisecond.
    paced = run_watch(replay_updates(sample, times, ["all"], "30d", speed=3_600_000), engine_paced, [])
    assert fast == paced and fast.updates == 5 and fast.alerts > 0


def test_follow_updates_when_the_source_grows(sample):
    """A source that grows by an hour, stays, then grows again: one update per growth."""
    end = sample.end_ms
    ends = iter([end - 2 * MS_PER_HOUR, end - MS_PER_HOUR, end - MS_PER_HOUR, end])
    engine = AlertEngine([Rule("near", "cluster_near", z_min=1.0, within_pct=5.0)])
    updates = follow_updates(lambda: sample.slice_time(None, next(ends)), 0.0, engine.views, "30d", max_polls=4)
    seen = []
    summary = run_watch((seen.append(u) or u for u in updates), engine, [])
    assert [u.as_of_ms for u in seen] == [end - 2 * MS_PER_HOUR, end - MS_PER_HOUR, end]
    assert summary.updates == 3
    # Each later update's price range spans the candle that closed since the one before.
    last_bar = sample.candles.slice_time(end - MS_PER_HOUR, None)
    assert seen[-1].path_low == pytest.approx(min(float(last_bar.low[0]), seen[-1].snapshots["all"].price))


def test_replay_outside_the_data_is_a_user_error(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    code = main(["watch", "BTCUSDT", "--rules", str(rules), "--replay", "2027-01-01", "2027-01-02", "--quiet"])
    assert code == 1
    assert "liqmap watch: error:" in capsys.readouterr().err


def test_bad_rules_file_is_reported_with_its_line(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: a\n    when: cluster_near\n    within_pct: far\n")
    code = main(["watch", "BTCUSDT", "--rules", str(rules), "--replay", "2026-02-05", "2026-02-06"])
    assert code == 1
    err = capsys.readouterr().err
    assert "line 4" in err and "within_pct must be a non-negative number, not 'far'" in err

"""``liqmap watch`` end to end on the bundled sample (real BTCUSDT data), and the polling loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liqmap.alerts.delivery import IDEMPOTENCY_HEADER, WebhookSink
from liqmap.alerts.engine import AlertEngine, Delivery
from liqmap.alerts.rules import Rule
from liqmap.alerts.watch import Update, WatchSummary, follow_updates, replay_times, run_watch
from liqmap.cli import main
from liqmap.frames import MS_PER_HOUR
from liqmap.timeutil import parse_time

from .receiver import Receiver
from .test_engine import snap

REPO = Path(__file__).resolve().parents[2]

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

    # Running the same replay again with the same state delivers nothing new, and says why.
    code, out = watch(tmp_path, "--state", str(tmp_path / "state.json"))
    assert code == 0
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == keys
    err = capsys.readouterr().err
    assert "update 2026-02-05T00:00:00Z is not after the last evaluated one (2026-02-06T06:00:00Z): skipped" in err
    assert "watch: 31 updates (31 skipped: not after the last evaluated update), 0 alerts, 0 deliveries" in err


def test_replay_paced_by_speed_gives_the_same_alerts(tmp_path, sample):
    from liqmap.alerts.watch import replay_updates

    engine_fast, engine_paced = AlertEngine([Rule("swept", "cluster_swept", z_min=1.5)]), \
        AlertEngine([Rule("swept", "cluster_swept", z_min=1.5)])
    times = replay_times(sample, parse_time("2026-02-05T18:00"), parse_time("2026-02-05T22:00"), MS_PER_HOUR)
    fast = run_watch(replay_updates(sample, times, ["all"], "30d"), engine_fast)
    # 3.6 million times real time: an hour of history every millisecond.
    paced = run_watch(replay_updates(sample, times, ["all"], "30d", speed=3_600_000), engine_paced)
    assert fast == paced and fast.updates == 5 and fast.alerts > 0


def test_follow_updates_when_the_source_grows(sample):
    """A source that grows by an hour, stays, then grows again: one update per growth."""
    end = sample.end_ms
    ends = iter([end - 2 * MS_PER_HOUR, end - MS_PER_HOUR, end - MS_PER_HOUR, end])
    engine = AlertEngine([Rule("near", "cluster_near", z_min=1.0, within_pct=5.0)])
    updates = follow_updates(lambda: sample.slice_time(None, next(ends)), 0.0, engine.views, "30d", max_polls=4)
    seen = []
    summary = run_watch((seen.append(u) or u for u in updates), engine)
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
    assert "line 4, column 17: rule 'a': within_pct must be a non-negative number, not 'far'" in err


# ---------------------------------------------------------------- delivery through the loop, real receivers
FLIP = Rule("flip", "liqratio_flip", band_pct=1.0, margin=0.1)


def flips(count: int) -> list[Update]:
    """Updates an hour apart whose LiqRatio flips side each time: a baseline, then ``count - 1`` alerts."""
    return [Update((h + 1) * MS_PER_HOUR, {"all": snap(h + 1, 100_000, long_share=0.8 if h % 2 else 0.2)}, 100_000,
                   100_000) for h in range(count)]


def flip_key(hour: int) -> str:
    return f"BTCUSDT|flip|liqratio_flip|-|{hour * MS_PER_HOUR}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize("first, timeout_s", [
    (500, 2.0),  # refused: the same alert is offered again at each update until it is taken
    (("slow", 0.6), 0.3),  # read the alert, answered after the deadline: offered again, under the same key
    (("trickle", 0.05), 0.4),  # a byte every 50 ms: cut at the deadline instead of holding the loop
])
def test_a_failed_delivery_is_retried_at_the_next_update_and_nothing_is_lost(receiver, first, timeout_s):
    receiver.script = [first, first, first] if first == 500 else [first]
    engine = AlertEngine([FLIP], sinks=[WebhookSink(receiver.url, timeout_s=timeout_s, retries=0)],
                         report=lambda _: None, rest_s=0)  # no rest: the webhook is tried at every update
    started = time.monotonic()
    summary = run_watch(flips(6), engine)
    assert time.monotonic() - started < 10
    failures = 3 if first == 500 else 1
    assert summary == WatchSummary(updates=6, skipped=0, alerts=5, delivered=5, failures=failures, pending=0)
    # The first alert (2 h) arrived once per failed try plus once when taken; every other alert exactly once.
    assert receiver.keys() == {flip_key(2): failures + 1, **{flip_key(h): 1 for h in (3, 4, 5, 6)}}
    assert [b["key"] for b in receiver.bodies][failures:] == [flip_key(h) for h in (2, 3, 4, 5, 6)]  # in order
    assert all(h[IDEMPOTENCY_HEADER] == b["key"] for h, b in zip(receiver.headers, receiver.bodies))


def test_a_failed_sink_rests_and_gets_a_last_try_at_the_end(receiver):
    """Refused at 2 h, the webhook rests 10 s (of a clock that stands still): updates 3..6 leave it alone and the
    end of the run delivers all five, in order."""
    receiver.script = [500]
    reports: list[str] = []
    engine = AlertEngine([FLIP], sinks=[WebhookSink(receiver.url, retries=0)], report=reports.append, rest_s=10,
                         clock=lambda: 0.0)
    summary = run_watch(flips(6), engine)
    assert summary == WatchSummary(updates=6, skipped=0, alerts=5, delivered=5, failures=1, pending=0)
    assert [b["key"] for b in receiver.bodies] == [flip_key(h) for h in (2, 2, 3, 4, 5, 6)]
    assert reports[0].endswith(f"1 alert(s) wait for webhook {receiver.url} (retried at the first update after 10s)")


def test_rests_double_with_each_failure_in_a_row_up_to_a_minute(receiver):
    receiver.script = [500] * 6
    now = [0.0]
    reports: list[str] = []
    engine = AlertEngine([FLIP], sinks=[WebhookSink(receiver.url, retries=0)], report=reports.append,
                         clock=lambda: now[0])
    engine.update({"all": snap(1, 100_000, long_share=0.2)}, 100_000, 100_000)
    engine.update({"all": snap(2, 100_000, long_share=0.8)}, 100_000, 100_000)
    rests = []
    for _ in range(6):
        engine.deliver()
        rests.append(reports[-1].rsplit("first update after ", 1)[1])
        now[0] += 1000  # long past any rest
    assert rests == ["5s)", "10s)", "20s)", "40s)", "60s)", "60s)"]
    assert engine.deliver() == Delivery(delivered=1, failures=0)  # the script is used up: taken


def test_a_webhook_that_redirects_with_307_gets_every_alert_once(receiver):
    receiver.script = ["redirect", 200] * 5
    summary = run_watch(flips(6), AlertEngine([FLIP], sinks=[WebhookSink(receiver.url, retries=0)]))
    assert (summary.delivered, summary.pending) == (5, 0)
    assert receiver.paths == ["/hook", "/moved"] * 5
    assert [b["key"] for b in receiver.bodies[1::2]] == [flip_key(h) for h in (2, 3, 4, 5, 6)]


REPLAY = ["--replay", "2026-02-05T18:00", "2026-02-05T23:00", "--quiet"]
#: What that replay alerts (a clean run's JSON lines): the crash hours sweep the clusters near price, hour by hour.
REPLAY_KEYS = ["BTCUSDT|near|cluster_near|65875.00|1770314400000",
               "BTCUSDT|swept|cluster_swept|65875.00|1770318000000",
               "BTCUSDT|swept|cluster_swept|65475.00|1770318000000",
               "BTCUSDT|swept|cluster_swept|65725.00|1770318000000",
               "BTCUSDT|near|cluster_near|66825.00|1770318000000",
               "BTCUSDT|swept|cluster_swept|65925.00|1770321600000",
               "BTCUSDT|swept|cluster_swept|65675.00|1770321600000",
               "BTCUSDT|near|cluster_near|65125.00|1770321600000",
               "BTCUSDT|swept|cluster_swept|65125.00|1770325200000",
               "BTCUSDT|swept|cluster_swept|63925.00|1770325200000",
               "BTCUSDT|swept|cluster_swept|64725.00|1770325200000",
               "BTCUSDT|near|cluster_near|63125.00|1770325200000",
               "BTCUSDT|near|cluster_near|63625.00|1770325200000",
               "BTCUSDT|swept|cluster_swept|63125.00|1770328800000",
               "BTCUSDT|swept|cluster_swept|63625.00|1770328800000",
               "BTCUSDT|swept|cluster_swept|64525.00|1770328800000"]


def replay(tmp_path, *extra):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return ["watch", "BTCUSDT", "--rules", str(rules), *REPLAY, *extra]


def test_the_replay_alerts_these_four(tmp_path):
    out = tmp_path / "clean.jsonl"
    assert main(replay(tmp_path, "--jsonl", str(out))) == 0
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == REPLAY_KEYS


def test_a_webhook_down_for_a_whole_run_gets_everything_from_the_next_one(tmp_path, receiver, capsys):
    state = str(tmp_path / "state.json")
    receiver.script = [500] * 100
    assert main(replay(tmp_path, "--webhook", receiver.url, "--webhook-retries", "0", "--state", state)) == 1
    err = capsys.readouterr().err
    n = len(REPLAY_KEYS)
    assert f"{n} alerts pending" in err and f"{n} alert(s) not delivered to every sink; kept in {state}'s outbox" in err
    # Every try offered the oldest alert first (and stopped at the refusal): nothing jumped the queue.
    assert receiver.bodies and {b["key"] for b in receiver.bodies} == {REPLAY_KEYS[0]}
    tries = len(receiver.bodies)
    receiver.script = []
    # The same replay again: every update was evaluated, and the outbox goes out first.
    assert main(replay(tmp_path, "--webhook", receiver.url, "--state", state)) == 0
    assert "6 skipped" in capsys.readouterr().err
    assert [b["key"] for b in receiver.bodies[tries:]] == REPLAY_KEYS


def test_a_watch_killed_mid_post_delivers_the_rest_on_restart(tmp_path, receiver):
    """kill -9 while the receiver holds the second POST: a restart sends that alert again and the others once."""
    state = str(tmp_path / "state.json")
    receiver.script = [200, "hold"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "liqmap", *replay(tmp_path, "--webhook", receiver.url,
                                                                        "--state", state)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert receiver.held.wait(60), "the watch never reached its second POST"
    finally:
        process.kill()
        process.wait(10)
    receiver.release.set()
    assert main(replay(tmp_path, "--webhook", receiver.url, "--state", state)) == 0
    assert receiver.keys() == {key: 2 if key == REPLAY_KEYS[1] else 1 for key in REPLAY_KEYS}


def test_a_second_watcher_on_the_same_state_file_is_refused(tmp_path, capsys):
    state = tmp_path / "state.json"
    with AlertEngine([FLIP], state):
        assert main(replay(tmp_path, "--state", str(state))) == 1
    assert f"liqmap watch: error: alert state file {state} is in use by another watcher (process {os.getpid()}" \
        in capsys.readouterr().err


def test_a_state_file_from_the_future_is_set_aside_and_the_watch_alerts(tmp_path, capsys):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": "liqmap-alert-state", "version": 2, "last_as_of_ms": 4_102_444_800_000,
                                 "memory": {}, "delivered": [], "outbox": []}))
    out = tmp_path / "alerts.jsonl"
    assert main(replay(tmp_path, "--state", str(state), "--jsonl", str(out))) == 0
    err = capsys.readouterr().err
    assert f"warning: alert state file {state} was set aside as state.json.bad-" in err
    assert "its last update 2100-01-01T00:00:00Z is in the future" in err
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == REPLAY_KEYS


def test_alerts_into_a_reader_that_has_gone_end_the_run_quietly(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    proc = subprocess.run(f"{sys.executable} -m liqmap watch BTCUSDT --rules {rules} --replay 2026-02-05T00:00 "
                          f"2026-02-06T06:00 --speed 0 | true; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=REPO)
    assert (proc.returncode, proc.stderr) == (141, "")

"""What each rule finds, the engine's de-duplication, its outbox and state file, on hand-built snapshots."""

from __future__ import annotations

import json

import pytest

from liqmap.alerts.delivery import JsonlSink, WebhookSink
from liqmap.alerts.engine import AlertEngine, Delivery
from liqmap.alerts.rules import ClusterPoint, Rule, RuleError, Snapshot

from .receiver import Receiver

HOUR = 3_600_000


def snap(as_of_h, price, clusters=(), long_share=0.5, atr=700.0, view="all"):
    points = tuple(ClusterPoint(id=i + 1, price_low=lo, price_high=hi, peak=(lo + hi) / 2, z=z, notional=1e7,
                                long=1e7, short=0.0) for i, (lo, hi, z) in enumerate(clusters))
    return Snapshot("BTCUSDT", view, as_of_h * HOUR, price, atr, points,
                    {0.5: long_share, 1.0: long_share, 2.0: long_share, 5.0: long_share})


def run(engine, *updates):
    """Feed (snapshot, path_low, path_high) updates; return the alert keys per update."""
    return [[a.key for a in engine.update({s.view: s}, low, high)] for s, low, high in updates]


# ---------------------------------------------------------------- what each rule finds
NEAR = Rule(name="near", when="cluster_near", z_min=2.0, within_pct=1.0)


def test_cluster_near_alerts_once_per_approach():
    engine = AlertEngine([NEAR])
    far = snap(1, 100_000, [(101_900, 102_100, 2.5)])  # peak 2% away
    near = snap(2, 101_000, [(101_900, 102_100, 2.5)])  # peak 0.99% away
    still = snap(3, 101_100, [(101_950, 102_150, 2.6)])  # same cluster, shifted a bin: no repeat
    away = snap(4, 99_000, [(101_900, 102_100, 2.5)])
    again = snap(5, 101_500, [(101_900, 102_100, 2.5)])  # a new approach is a new event
    keys = run(engine, (far, 100_000, 100_000), (near, 100_000, 101_000), (still, 101_000, 101_100),
               (away, 99_000, 101_100), (again, 99_000, 101_500))
    assert keys == [[], ["BTCUSDT|near|cluster_near|102000.00|7200000"], [], [], ["BTCUSDT|near|cluster_near|102000.00|18000000"]]


def test_cluster_near_by_atr_and_z_floor():
    rule = Rule(name="atr", when="cluster_near", z_min=2.0, within_atr=1.0)
    engine = AlertEngine([rule])
    # peak 102,000 with price 101,400: 600 away = 0.86 ATR of 700; the Z 1.9 cluster at 101,000 is ignored.
    (alerts,) = [engine.update({"all": snap(1, 101_400, [(101_900, 102_100, 2.5), (100_950, 101_050, 1.9)])},
                               101_400, 101_400)]
    assert [a.data["peak"] for a in alerts] == [102_000]
    assert alerts[0].data["distance_atr"] == pytest.approx(600 / 700)


def test_cluster_swept_when_the_path_crosses_the_peak():
    rule = Rule(name="swept", when="cluster_swept", z_min=1.5)
    engine = AlertEngine([rule])
    before = snap(1, 100_000, [(98_900, 99_100, 2.0), (101_900, 102_100, 1.2)])
    after = snap(2, 99_500, [])
    # Price dipped to 98,950 (through the 99,000 peak) and never reached 102,000; the Z 1.2 one is too weak anyway.
    assert run(engine, (before, 100_000, 100_000), (after, 98_950, 100_100)) == [[], ["BTCUSDT|swept|cluster_swept|99000.00|7200000"]]
    # A path that stops short of the peak sweeps nothing.
    engine = AlertEngine([rule])
    assert run(engine, (before, 100_000, 100_000), (after, 99_050, 100_100)) == [[], []]


def test_new_cluster_is_one_that_overlaps_nothing_before():
    rule = Rule(name="new", when="new_cluster", z_min=2.5)
    engine = AlertEngine([rule])
    first = snap(1, 100_000, [(98_900, 99_100, 2.0)])
    grown = snap(2, 100_000, [(98_950, 99_150, 2.7), (103_000, 103_200, 2.9)])  # first existed; second is new
    assert run(engine, (first, 100_000, 100_000), (grown, 100_000, 100_000)) == [[], ["BTCUSDT|new|new_cluster|103100.00|7200000"]]


def test_liqratio_flip_needs_a_decisive_change_of_side():
    rule = Rule(name="flip", when="liqratio_flip", band_pct=1.0, margin=0.1)
    engine = AlertEngine([rule])
    shares = [0.8, 0.55, 0.45, 0.3, 0.35, 0.9]  # long, neutral, neutral, short (flip), short, long (flip)
    keys = run(engine, *[(snap(h + 1, 100_000, long_share=s), 100_000, 100_000) for h, s in enumerate(shares)])
    assert keys == [[], [], [], ["BTCUSDT|flip|liqratio_flip|-|14400000"], [], ["BTCUSDT|flip|liqratio_flip|-|21600000"]]


# ---------------------------------------------------------------- de-duplication, outbox, state file
NEAR_KEY = "BTCUSDT|near|cluster_near|102000.00|7200000"


def test_repeated_and_older_updates_deliver_nothing_and_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    near = snap(2, 101_000, [(101_900, 102_100, 2.5)])
    with AlertEngine([NEAR], state) as engine:
        assert run(engine, (near, 101_000, 101_000)) == [[NEAR_KEY]]
        assert run(engine, (near, 101_000, 101_000), (snap(1, 101_000, [(101_900, 102_100, 2.5)]), 0, 1e9)) \
            == [[], []]
    saved = json.loads(state.read_text())
    assert saved["last_as_of_ms"] == 2 * HOUR and saved["delivered"] == [NEAR_KEY] and saved["outbox"] == []

    with AlertEngine([NEAR], state) as restarted:
        # Same update again after a restart: nothing.  The next one: the cluster is still near, so nothing either.
        assert run(restarted, (near, 101_000, 101_000), (snap(3, 101_100, [(101_900, 102_100, 2.5)]), 101_000,
                                                          101_100)) == [[], []]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_an_alert_waits_in_the_outbox_until_the_webhook_takes_it(tmp_path, receiver):
    """The webhook answers 500 to the first alert: the JSON-lines file gets it once, the webhook at the next update."""
    receiver.script = [500]
    jsonl = tmp_path / "alerts.jsonl"
    reports: list[str] = []
    sinks = [JsonlSink(jsonl), WebhookSink(receiver.url, timeout_s=2.0, retries=0)]
    flip = Rule(name="flip", when="liqratio_flip", band_pct=1.0, margin=0.1)
    with AlertEngine([flip], tmp_path / "state.json", sinks, reports.append, rest_s=0) as engine:
        for hour, share in ((1, 0.8), (2, 0.2)):  # the baseline, then a flip to short
            engine.update({"all": snap(hour, 100_000, long_share=share)}, 100_000, 100_000)
            assert engine.deliver() == Delivery(delivered=1 if hour == 2 else 0, failures=1 if hour == 2 else 0)
        assert engine.pending == 1
        assert f"HTTP 500 (gave up after 1 tries); 1 alert(s) wait for webhook {receiver.url} (retried at the " \
            "first update after 0s, or by the next run with this state file)" in reports[0]
        saved = json.loads((tmp_path / "state.json").read_text())
        assert [(p["alert"]["key"], p["owed"]) for p in saved["outbox"]] == \
            [("BTCUSDT|flip|liqratio_flip|-|7200000", [f"webhook {receiver.url}"])]

        engine.update({"all": snap(3, 100_000, long_share=0.8)}, 100_000, 100_000)  # flips back to long
        assert engine.deliver() == Delivery(delivered=3, failures=0)  # the old one to the webhook, the new to both
        assert engine.pending == 0
    keys = ["BTCUSDT|flip|liqratio_flip|-|7200000", "BTCUSDT|flip|liqratio_flip|-|10800000"]
    assert [json.loads(line)["key"] for line in jsonl.read_text().splitlines()] == keys
    assert [b["key"] for b in receiver.bodies] == [keys[0], keys[0], keys[1]]  # refused once, then in order
    assert json.loads((tmp_path / "state.json").read_text())["delivered"] == keys


def test_the_outbox_is_delivered_by_the_next_run(tmp_path, receiver):
    receiver.script = [503]
    state = tmp_path / "state.json"
    with AlertEngine([NEAR], state, [WebhookSink(receiver.url, retries=0)], lambda _: None) as engine:
        engine.update({"all": snap(2, 101_000, [(101_900, 102_100, 2.5)])}, 101_000, 101_000)
        assert engine.deliver() == Delivery(delivered=0, failures=1)
    with AlertEngine([NEAR], state, [WebhookSink(receiver.url, retries=0)]) as restarted:
        assert restarted.pending == 1
        assert restarted.deliver() == Delivery(delivered=1, failures=0)
    assert receiver.keys() == {NEAR_KEY: 2}


def test_alerts_owed_to_a_sink_no_longer_configured_are_dropped_with_a_report(tmp_path, receiver):
    receiver.script = [500]
    state = tmp_path / "state.json"
    with AlertEngine([NEAR], state, [WebhookSink(receiver.url, retries=0)], lambda _: None) as engine:
        engine.update({"all": snap(2, 101_000, [(101_900, 102_100, 2.5)])}, 101_000, 101_000)
        engine.deliver()
    reports: list[str] = []
    with AlertEngine([NEAR], state, [], reports.append) as restarted:
        assert restarted.deliver() == Delivery(delivered=0, failures=0) and restarted.pending == 0
    assert reports == [f"1 alert(s) owed to webhook {receiver.url} are dropped: that sink is not configured in "
                       f"this run"]


def test_rule_on_a_band_the_map_lacks_is_an_error():
    rule = Rule(name="flip", when="liqratio_flip", band_pct=3.0)
    with pytest.raises(RuleError, match="band_pct 3 is not one of the map's LiqRatio bands"):
        AlertEngine([rule]).update({"all": snap(1, 100_000)}, 100_000, 100_000)

"""Alert rules (file schema, what each kind finds) and the de-duplicating engine, on hand-built snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.rules import ClusterPoint, Rule, RuleError, Snapshot, load_rules

HOUR = 3_600_000
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def snap(as_of_h, price, clusters=(), long_share=0.5, atr=700.0, view="all"):
    points = tuple(ClusterPoint(id=i + 1, price_low=lo, price_high=hi, peak=(lo + hi) / 2, z=z, notional=1e7,
                                long=1e7, short=0.0) for i, (lo, hi, z) in enumerate(clusters))
    return Snapshot("BTCUSDT", view, as_of_h * HOUR, price, atr, points,
                    {0.5: long_share, 1.0: long_share, 2.0: long_share, 5.0: long_share})


def run(engine, *updates):
    """Feed (snapshot, path_low, path_high) updates; return the alert keys per update."""
    return [[a.key for a in engine.update({s.view: s}, low, high)] for s, low, high in updates]


# ---------------------------------------------------------------- rules file
def write(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_example_rules_file_loads():
    rules = load_rules(EXAMPLES / "alerts.yaml")
    assert [r.when for r in rules] == ["cluster_near", "cluster_swept", "new_cluster", "liqratio_flip"]
    near = rules[0]
    assert (near.z_min, near.within_pct, near.within_atr, near.view, near.line) == (2.0, 1.0, 1.0, "all", 3)
    assert rules[2].z_min == 2.5  # the documented default for new_cluster is not overridden there


@pytest.mark.parametrize(
    "text, message",
    [
        ("rules:\n  - name: a\n    when: cluster_near\n    z_min: lots\n    within_pct: 1\n",
         "line 4: rule 'a': z_min must be a non-negative number, not 'lots'"),
        ("rules:\n  - name: a\n    when: cluster_close\n", "line 3: rule 'a': 'when' must be one of"),
        ("rules:\n  - name: a\n    when: cluster_swept\n    within_pct: 1\n",
         "line 4: rule 'a': unknown field 'within_pct' for cluster_swept"),
        ("rules:\n  - name: a\n    when: cluster_near\n    z_min: 2\n", "line 2: rule 'a': cluster_near needs"),
        ("rules:\n  - name: a\n    when: new_cluster\n  - name: a\n    when: new_cluster\n",
         "line 4: rule name 'a' is empty or used twice"),
        ("rules:\n  - when: new_cluster\n", "line 2: rule is missing 'name'"),
        ("rules:\n  - name: a\n    when: new_cluster\n    view: huge\n", "line 4: rule 'a': view must be one of"),
        ("alerts:\n  - name: a\n", "line 1: unknown top-level key 'alerts'"),
        ("rules:\n  - name: a\n    when: [1, 2\n", "not valid YAML"),
        ("rules: []\n", "'rules' must be a non-empty list"),
    ],
)
def test_bad_rule_files_name_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert str(path) in str(info.value) and message in str(info.value)


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
    assert keys == [[], ["near|cluster_near|102000.00|7200000"], [], [], ["near|cluster_near|102000.00|18000000"]]


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
    assert run(engine, (before, 100_000, 100_000), (after, 98_950, 100_100)) == [[], ["swept|cluster_swept|99000.00|7200000"]]
    # A path that stops short of the peak sweeps nothing.
    engine = AlertEngine([rule])
    assert run(engine, (before, 100_000, 100_000), (after, 99_050, 100_100)) == [[], []]


def test_new_cluster_is_one_that_overlaps_nothing_before():
    rule = Rule(name="new", when="new_cluster", z_min=2.5)
    engine = AlertEngine([rule])
    first = snap(1, 100_000, [(98_900, 99_100, 2.0)])
    grown = snap(2, 100_000, [(98_950, 99_150, 2.7), (103_000, 103_200, 2.9)])  # first existed; second is new
    assert run(engine, (first, 100_000, 100_000), (grown, 100_000, 100_000)) == [[], ["new|new_cluster|103100.00|7200000"]]


def test_liqratio_flip_needs_a_decisive_change_of_side():
    rule = Rule(name="flip", when="liqratio_flip", band_pct=1.0, margin=0.1)
    engine = AlertEngine([rule])
    shares = [0.8, 0.55, 0.45, 0.3, 0.35, 0.9]  # long, neutral, neutral, short (flip), short, long (flip)
    keys = run(engine, *[(snap(h + 1, 100_000, long_share=s), 100_000, 100_000) for h, s in enumerate(shares)])
    assert keys == [[], [], [], ["flip|liqratio_flip|-|14400000"], [], ["flip|liqratio_flip|-|21600000"]]


# ---------------------------------------------------------------- de-duplication and state
def test_repeated_and_older_updates_deliver_nothing_and_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    near = snap(2, 101_000, [(101_900, 102_100, 2.5)])
    engine = AlertEngine([NEAR], state)
    assert run(engine, (near, 101_000, 101_000)) == [["near|cluster_near|102000.00|7200000"]]
    assert run(engine, (near, 101_000, 101_000), (snap(1, 101_000, [(101_900, 102_100, 2.5)]), 0, 1e9)) == [[], []]
    saved = json.loads(state.read_text())
    assert saved["last_as_of_ms"] == 2 * HOUR and saved["delivered"] == ["near|cluster_near|102000.00|7200000"]

    restarted = AlertEngine([NEAR], state)
    # Same update again after a restart: nothing.  The next one: the cluster is still near, so nothing either.
    assert run(restarted, (near, 101_000, 101_000), (snap(3, 101_100, [(101_900, 102_100, 2.5)]), 101_000, 101_100)) \
        == [[], []]


def test_unreadable_state_file_is_reported(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    with pytest.raises(ValueError, match="state.json is unreadable"):
        AlertEngine([NEAR], state)


def test_rule_on_a_band_the_map_lacks_is_an_error():
    rule = Rule(name="flip", when="liqratio_flip", band_pct=3.0)
    with pytest.raises(RuleError, match="band_pct 3 is not one of the map's LiqRatio bands"):
        AlertEngine([rule]).update({"all": snap(1, 100_000)}, 100_000, 100_000)

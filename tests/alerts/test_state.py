"""The watch's state file: the lock, atomic saves, and files that are corrupt, foreign or impossible."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqmap.alerts.engine import AlertEngine
from liqmap.alerts.rules import Rule
from liqmap.alerts.state import FORMAT, FUTURE_SLACK_MS, VERSION, StateError, StateFile

from .test_engine import NEAR, snap

NOW = 1_770_000_000_000  # 2026-02-02T02:40Z, the clock the tests open state files at
SWEPT = Rule(name="swept", when="cluster_swept", z_min=1.5)
FLIP = Rule(name="flip", when="liqratio_flip", band_pct=1.0, margin=0.1)
RULES = [NEAR, SWEPT, FLIP]
CLUSTER = {"id": 1, "price_low": 98_900.0, "price_high": 99_100.0, "peak": 99_000.0, "z": 2.0, "notional": 1e7,
           "long": 1e7, "short": 0.0}
ALERT = {"key": "BTCUSDT|flip|liqratio_flip|-|7200000", "rule": "flip", "kind": "liqratio_flip",
         "symbol": "BTCUSDT", "view": "all", "as_of_ms": 7_200_000, "message": "flipped", "data": {"to": "short"}}


def good_state() -> dict:
    return {"format": FORMAT, "version": VERSION, "last_as_of_ms": 7_200_000,
            "memory": {"near": [[101_900.0, 102_100.0]], "swept": [CLUSTER], "flip": "short"},
            "delivered": ["BTCUSDT|near|cluster_near|102000.00|7200000"],
            "outbox": [{"alert": ALERT, "owed": ["terminal"]}]}


def open_state(path: Path, rules=RULES) -> StateFile:
    return StateFile(path, rules, now_ms=NOW)


def test_a_good_state_file_reads_back_as_it_was_written(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(good_state()))
    state_file = open_state(path)
    state_file.close()
    assert state_file.notes == []
    assert state_file.state.to_json() == good_state()
    assert json.loads(path.read_text()) == good_state()  # opening rewrote it (the writability check), unchanged


def test_a_version_1_file_is_read():
    """Before the outbox, a state file had three fields and no format."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_text(json.dumps({"last_as_of_ms": 7_200_000, "memory": {"flip": "long"}, "delivered": ["k"]}))
        with open_state(path) as state_file:
            assert (state_file.state.last_as_of_ms, state_file.state.memory, state_file.state.delivered) == \
                (7_200_000, {"flip": "long"}, ["k"])


@pytest.mark.parametrize("content, reason", [
    (b"{not json", "it is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    (b"\xff\xfe", "it is not JSON ("),
    (b"", "it is not JSON (Expecting value: line 1 column 1 (char 0))"),
    (b"[1, 2]", "it is not a JSON object"),
    (b'{"theme": "dark"}', 'it is not a liqmap alert state (no "format": "liqmap-alert-state")'),
    (json.dumps({**good_state(), "version": 3}).encode(), "it is version 3 or has other fields"),
    (json.dumps({**good_state(), "last_as_of_ms": "7200000"}).encode(),
     "last_as_of_ms must be a time in ms or null, not '7200000'"),
    (json.dumps({**good_state(), "last_as_of_ms": 4_102_444_800_000}).encode(),
     "its last update 2100-01-01T00:00:00Z is in the future (now 2026-02-02T02:40:00Z): every update until then "
     "would be skipped"),
    (json.dumps({**good_state(), "delivered": [1, 2]}).encode(), "delivered must be a list of alert keys"),
    (json.dumps({**good_state(), "memory": []}).encode(), "memory must be an object"),
    (json.dumps({**good_state(), "outbox": [{"alert": {**ALERT, "kind": "moon"}, "owed": []}]}).encode(),
     "outbox: alert kind 'moon' or view 'all' is unknown"),
    (b"[" * 100_000, "it is not JSON ("),
])
def test_an_unusable_state_file_is_set_aside_and_the_watch_starts_afresh(tmp_path, content, reason):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with open_state(path) as state_file:
        assert state_file.state.to_json() == {"format": FORMAT, "version": VERSION, "last_as_of_ms": None,
                                              "memory": {}, "delivered": [], "outbox": []}
    (aside,) = tmp_path.glob("state.json.bad-*")
    assert aside.read_bytes() == content  # nothing is lost: the file is renamed, not rewritten
    (note,) = state_file.notes
    assert note.startswith(f"alert state file {path} was set aside as {aside.name}: {reason}")
    assert note.endswith("; starting with a fresh state")


def test_a_rule_whose_memory_does_not_fit_starts_from_a_baseline(tmp_path):
    """The rule 'flip' became a cluster_near rule between runs: its memory is reset; the others keep theirs."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps(good_state()))
    flip_now_near = Rule(name="flip", when="cluster_near", z_min=2.0, within_pct=1.0)
    with open_state(path, [NEAR, SWEPT, flip_now_near]) as state_file:
        assert state_file.state.memory == {"near": [[101_900.0, 102_100.0]], "swept": [CLUSTER]}
    assert state_file.notes == ["rule 'flip': its memory in the state file does not fit a cluster_near rule; it "
                                "starts again from a baseline"]


def test_a_second_watcher_on_the_same_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    first = AlertEngine([NEAR], path)
    with pytest.raises(StateError, match=rf"state.json is in use by another watcher \(process {os.getpid()}, "
                                         rf"lock .*state.json.lock\); stop it, or give this watch its own --state"):
        AlertEngine([NEAR], path)
    first.close()
    AlertEngine([NEAR], path).close()  # free again once the first one is done


def test_saves_from_many_threads_never_collide(tmp_path):
    """Temporary names are unique per process and thread: eight threads saving at once all succeed."""
    with open_state(tmp_path / "state.json") as state_file:
        errors = []

        def save_many():
            try:
                for _ in range(25):
                    state_file.save()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=save_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert json.loads((tmp_path / "state.json").read_text())["format"] == FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.lock"]  # no temporary left


def test_a_state_file_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StateError, match="state.json: .*not-a-folder is not a folder"):
        AlertEngine([NEAR], blocker / "state.json")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(StateError, match="folder.json is not a regular file"):
        AlertEngine([NEAR], tmp_path / "folder.json")
    # The folder vanishes under a running watch: the next save names the file.
    folder = tmp_path / "gone"
    engine = AlertEngine([NEAR], folder / "state.json")
    shutil.rmtree(folder)
    with pytest.raises(StateError, match="cannot write the alert state file .*gone/state.json: No such file"):
        engine.update({"all": snap(2, 101_000, [(101_900, 102_100, 2.5)])}, 101_000, 101_000)
    engine.close()


# ---------------------------------------------------------------- fuzzing
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
FIELDS = ["format", "version", "last_as_of_ms", "memory", "delivered", "outbox"]


@st.composite
def damaged_state(draw) -> bytes:
    """A good state with one part replaced by anything JSON, or any JSON, or any bytes."""
    choice = draw(st.sampled_from(["field", "memory", "outbox", "json", "bytes"]))
    data = good_state()
    if choice == "field":
        data[draw(st.sampled_from(FIELDS))] = draw(JSON)
    elif choice == "memory":
        data["memory"][draw(st.sampled_from(["near", "swept", "flip"]))] = draw(JSON)
    elif choice == "outbox":
        data["outbox"][0]["alert"][draw(st.sampled_from(sorted(ALERT)))] = draw(JSON)
    elif choice == "json":
        data = draw(JSON)
    else:
        return draw(st.binary(max_size=64))
    return json.dumps(data).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=damaged_state())
def test_any_state_file_gives_a_state_that_works(content):
    """Whatever the file holds, the engine opens (setting the file aside if need be), evaluates and delivers."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_bytes(content)
        with AlertEngine(RULES, path, now_ms=NOW) as engine:
            set_aside = list(Path(folder).glob("state.json.bad-*"))
            assert len(set_aside) == len([n for n in engine.notes if "was set aside" in n]) <= 1
            if set_aside:
                assert set_aside[0].read_bytes() == content
            later = NOW + FUTURE_SLACK_MS + 1  # after any last update a state file may hold
            update = replace(snap(3, 101_000, [(101_900, 102_100, 2.5)], long_share=0.2), as_of_ms=later)
            engine.update({"all": update}, 98_000, 102_000)
            engine.deliver()
        assert json.loads(path.read_text())["last_as_of_ms"] == later

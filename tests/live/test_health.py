"""Health rows: what the page's health table shows for each stream, with a clock the test moves."""

from __future__ import annotations

from liqmap.live.health import Health


def test_rows_flag_a_fault_and_a_steady_stream_gone_silent():
    now = [100.0]
    health = Health(clock=lambda: now[0])
    health.stream("mark").steady_s = 10.0  # the 1-second mark price: silent past the watchdog's limit is stale
    for k in range(5):
        now[0] = 100.0 + k
        health.seen("mark")
        health.seen("liquidations")  # a stream that is quiet at times: never stale
    health.fault("poll", "poll failed (HTTP 500)")
    rows = {r["name"]: r for r in health.rows()}
    assert rows["mark"]["state"] == rows["liquidations"]["state"] == "ok"
    assert rows["mark"]["rate"] == 0.5 and rows["mark"]["age_s"] == 0.0  # 5 messages in the 10-second window
    assert rows["poll"]["state"] == "fault" and rows["poll"]["age_s"] is None
    now[0] = 115.0  # 11 s after the last mark price
    rows = {r["name"]: r for r in health.rows()}
    assert rows["mark"]["state"] == "stale" and rows["mark"]["age_s"] == 11.0
    assert rows["liquidations"]["state"] == "ok"
    health.clear_fault("poll")
    assert {r["name"]: r["state"] for r in health.rows()}["poll"] == "ok"
    # none of the 5 messages is within the last 10 s any more
    assert health.lines()[0] == "mark: 0.0 msg/s, last 11.0s ago, reconnects 0, gaps backfilled 0, malformed 0"

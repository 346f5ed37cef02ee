"""``liqmap watch --live``: the alert rules fired from the live loop's maps (against the local exchange)."""

from __future__ import annotations

import json
import re

from liqmap.cli import main
from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.tape import synthetic_tape

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000


def test_watch_live_evaluates_every_live_map(tmp_path, capsys):
    tape = synthetic_tape(start_ms=START, minutes=132, trades_per_second=1.0)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: any-cluster-near\n    when: cluster_near\n    view: all\n"
                     "    z_min: 1.0\n    within_pct: 100\n")
    alerts = tmp_path / "alerts.jsonl"
    with BinanceServer(tape, START + 120 * MINUTE, speed=300) as server:
        code = main(["watch", "BTCUSDT", "--rules", str(rules), "--live", "--rest-url", server.rest_url,
                     "--ws-url", server.ws_url, "--cache", str(tmp_path / "cache"), "--window", "1h",
                     "--duration", "5s", "--jsonl", str(alerts), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    updates = int(re.search(r"watch: (\d+) updates", err).group(1))
    assert 2 <= updates <= 6  # at most one map a second (--duration 5s), the first at once
    fired = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert fired and all(a["rule"] == "any-cluster-near" for a in fired)
    assert len({a["key"] for a in fired}) == len(fired)  # each alert delivered once
    assert all("2026-01-01T02:00:00Z" <= a["as_of"] <= "2026-01-01T02:12:00Z" for a in fired)  # live maps only

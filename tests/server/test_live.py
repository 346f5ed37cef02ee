"""``liqmap serve --live``: maps pushed to the page as server-sent events, seen in a real Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest

from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.tape import synthetic_tape

from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_route_lists_no_symbols_without_live():
    from fastapi.testclient import TestClient

    from liqmap.server.app import create_app

    client = TestClient(create_app("sample"), base_url="http://127.0.0.1")
    assert client.get("/api/live").json() == {"symbols": []}
    answer = client.get("/api/live/stream", params={"symbol": "BTCUSDT"})
    assert answer.status_code == 400 and "BTCUSDT is not live on this server; live: none" in answer.json()["error"]


def _sse_columns(url: str, into: dict, stop: threading.Event) -> None:
    """Read the push stream as a second client would: every 'column' event by its time."""
    with httpx.stream("GET", url, timeout=httpx.Timeout(5.0, read=None)) as answer:
        name = ""
        for line in answer.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "column":
                column = json.loads(line[6:])
                into[column["time"]] = column


def _health_row(page, stream: str) -> list[str]:
    return page.eval_on_selector(f"#live-health tr[data-stream='{stream}']",
                                 "r => Array.from(r.cells).map(c => c.textContent.trim())")


@pytest.mark.browser
def test_the_live_page_grows_by_push_without_a_reload(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    tape = synthetic_tape(start_ms=START, minutes=220, trades_per_second=0.5)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with BinanceServer(tape, START + 120 * MINUTE, speed=20) as exchange:
        env = {**os.environ, "LIQMAP_CACHE": str(tmp_path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "liqmap", "serve", "--port", str(port), "--source", "cache", "--live", "BTCUSDT",
             "--live-window", "1h", "--rest-url", exchange.rest_url, "--ws-url", exchange.ws_url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        columns: dict = {}
        stop = threading.Event()
        try:
            for _ in range(300):
                if process.poll() is not None:
                    pytest.fail(f"liqmap serve exited with {process.returncode}:\n{process.stdout.read()}")
                try:
                    if httpx.get(f"{base}/api/live", timeout=1).json() == {"symbols": ["BTCUSDT"]}:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                pytest.fail("liqmap serve --live did not answer within 30 s")
            threading.Thread(target=_sse_columns, args=(f"{base}/api/live/stream?symbol=BTCUSDT", columns, stop),
                             daemon=True).start()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(base)
                page.wait_for_function("Number(document.body.dataset.liveColumns) >= 1", timeout=60_000)
                first = page.evaluate("document.body.dataset.liveAsOf")

                # a bar settles: the map is redrawn and the heatmap gets one more column, the bar's end
                n = int(page.evaluate("document.body.dataset.liveColumns"))
                page.wait_for_function(f"Number(document.body.dataset.liveColumns) > {n}", timeout=60_000)
                assert page.evaluate("document.body.dataset.liveAsOf") > first
                assert "LIVE · BTCUSDT" in page.inner_text("#asof")
                shown = page.evaluate("""() => { const h = liveHeat, j = h.times.length - 1;
                    return {time: h.times[j], price: h.prices[j], long: h.long.map(r => r[j]),
                            short: h.short.map(r => r[j]), cells: h.long.length,
                            drawn: document.getElementById('live-heatmap').data[0].x.length}; }""")
                t = int(np.datetime64(shown["time"].rstrip("Z"), "ms").astype(np.int64))
                assert t % MINUTE == 0 and START + 120 * MINUTE < t < tape.end_ms  # a live bar's end
                assert shown["drawn"] == int(page.evaluate("document.body.dataset.liveColumns"))
                for _ in range(50):  # the second client got the same column from the same push
                    if t in columns:
                        break
                    time.sleep(0.1)
                sent = columns[t]
                assert (shown["long"], shown["short"], shown["price"]) == (sent["long"], sent["short"], sent["price"])
                assert len(sent["long"]) == shown["cells"] > 50 and sum(sent["long"]) + sum(sent["short"]) > 0

                # realized liquidations appear as markers as they happen: time, price and USD as the exchange sent
                k = int(page.evaluate("Number(document.body.dataset.liveLiquidations || 0)"))
                page.wait_for_function(f"Number(document.body.dataset.liveLiquidations || 0) > {k}", timeout=60_000)
                markers = page.evaluate("""() => document.getElementById('live-heatmap').data
                    .filter(t => String(t.meta).startsWith('liquidations-'))
                    .flatMap(t => t.x.map((x, i) => [t.meta, x, t.y[i], t.customdata[i][0], t.customdata[i][1]]))""")
                assert len(markers) > k
                by_time = {int(np.datetime64(x.rstrip("Z"), "ms").astype(np.int64)): (meta, y, usd, venue)
                           for meta, x, y, usd, venue in markers}
                for when, side, price, qty in tape.liquidations:
                    if when in by_time:
                        meta, y, usd, venue = by_time.pop(when)
                        assert meta == ("liquidations-long" if side == "SELL" else "liquidations-short")
                        assert y == price and usd == pytest.approx(price * qty, rel=1e-12) and venue == "binance"
                assert by_time == {}  # every marker is one of the exchange's liquidations

                # the stream health is pushed: a dropped connection is counted, a failing poll is flagged
                connection = _health_row(page, "connection")
                assert connection[4] == "0"
                exchange.drop_connections()
                page.wait_for_function("document.querySelector(\"#live-health tr[data-stream='connection']\")"
                                       ".cells[4].textContent === '1'", timeout=60_000)
                oi = "btcusdt@openInterest (REST poll)"
                assert _health_row(page, oi)[1] == "ok"
                exchange.faults.rest_status["/fapi/v1/openInterest"] = [(500, None)] * 1000
                page.wait_for_selector(f"#live-health tr.health-fault[data-stream='{oi}']", timeout=60_000)
                row = _health_row(page, oi)
                assert row[1] == "FAULT" and "poll failed" in row[7] and "HTTP 500" in row[7]
                assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
                assert not errors, errors
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
                browser.close()
        finally:
            stop.set()
            process.terminate()
            process.wait(timeout=10)

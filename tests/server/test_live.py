"""``liqmap serve --live``: maps pushed to the page as server-sent events, seen in a real Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.live.exchange_server import ExchangeServer, synthetic_tape

from .test_browser import CHROMIUM, CHROMIUM_ARGS

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


@pytest.mark.browser
def test_a_new_live_map_appears_in_the_page_without_a_reload(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    tape = synthetic_tape(start_ms=START, minutes=150, trades_per_second=0.5)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with ExchangeServer(tape, START + 120 * MINUTE, speed=20) as exchange:
        env = {**os.environ, "LIQMAP_CACHE": str(tmp_path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "liqmap", "serve", "--port", str(port), "--source", "cache", "--live", "BTCUSDT",
             "--live-window", "1h", "--rest-url", exchange.rest_url, "--ws-url", exchange.ws_url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
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
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(base)
                page.wait_for_function("document.body.dataset.liveAsOf !== undefined", timeout=60_000)
                first = page.evaluate("document.body.dataset.liveAsOf")
                # the exchange plays on: a later bar closes, the server pushes, the page redraws in place
                page.wait_for_function(f"document.body.dataset.liveAsOf > '{first}'", timeout=60_000)
                later = page.evaluate("document.body.dataset.liveAsOf")
                assert later > first
                assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
                assert "LIVE · BTCUSDT" in page.inner_text("#asof")
                assert "btcusdt@markPrice@1s:" in page.inner_text("#live-health")
                assert not errors, errors
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)

"""The dashboard in a real Chromium: `liqmap serve` on 127.0.0.1, driven with Playwright.

Needs Debian's chromium at /usr/bin/chromium (CI's .ci/run installs it); the
test fails, rather than skips, when it is missing.  No browser is downloaded.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MAIN_BARS = "#liqmap g.subplot.xy .barlayer path"  # the map's bins; the LiqRatio panel is another subplot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(*args: str):
    """``liqmap serve ARGS`` on a free port of 127.0.0.1, once it answers; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"liqmap serve exited with {process.returncode}:\n{process.stdout.read()}")
            try:
                if httpx.get(f"{base}/api/info", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("liqmap serve did not answer on /api/info within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, server: str):
    """A page on ``server``, recording requests elsewhere and script errors."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.foreign_requests = []
    page.errors = []
    page.on("request", lambda r: None if r.url.startswith((server, "data:")) else page.foreign_requests.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(server)
    return page


@pytest.fixture(scope="module")
def server():
    with _serve() as base:
        yield base


@pytest.fixture(scope="module")
def page(browser, server):
    page = _open(browser, server)
    yield page
    page.close()


def _bar_paths(page) -> list[str]:
    return page.eval_on_selector_all(MAIN_BARS, "paths => paths.map(p => p.getAttribute('d'))")


def _wait_for_view(page, view: str) -> None:
    page.wait_for_function(f"document.body.dataset.mapView === '{view}'", timeout=60_000)


def _table_rows(page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#clusters tbody tr[data-cluster-id]",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))",
    )


def _wait_for_layout(page, layout: str) -> None:
    page.wait_for_function(f"document.body.dataset.mapLayout === '{layout}' && !!document.body.dataset.mapView",
                           timeout=60_000)


def test_map_bars_are_drawn_for_the_bundled_data(page, server):
    _wait_for_view(page, "all")
    _wait_for_layout(page, "map")
    paths = _bar_paths(page)
    bins = httpx.get(f"{server}/api/map", timeout=60).json()["bins"]
    # the default layout: price across, a long and a short part per bin of the map, in the page's main panel
    assert len(paths) == 2 * len(bins) > 200
    assert page.locator("#liqmap .xtitle").first.text_content() == "price (BTCUSDT)"
    # the cumulative long (red) and short (green) curves
    strokes = page.eval_on_selector_all("#liqmap .scatterlayer path.js-line", "ls => ls.map(l => l.style.stroke)")
    assert {"rgb(214, 39, 40)", "rgb(44, 160, 44)"} <= set(strokes)
    assert not page.errors, page.errors


def test_the_layout_switch_draws_price_up_the_side_and_back(page, server):
    _wait_for_layout(page, "map")
    bins = httpx.get(f"{server}/api/map", timeout=60).json()["bins"]
    page.select_option("#layout", "profile")
    _wait_for_layout(page, "profile")
    assert len(_bar_paths(page)) == len(bins)  # one horizontal bar per bin
    assert page.locator("#liqmap .ytitle").first.text_content() == "price (BTCUSDT)"
    page.select_option("#layout", "map")
    _wait_for_layout(page, "map")
    assert len(_bar_paths(page)) == 2 * len(bins)
    assert not page.errors, page.errors


def test_switching_the_view_changes_the_bars(page, server):
    _wait_for_view(page, "all")
    before = _bar_paths(page)
    page.select_option("#view", "high")
    _wait_for_view(page, "high")
    after = _bar_paths(page)
    assert after and after != before


def test_clusters_table_matches_the_json_api(page, server):
    page.select_option("#view", "high")
    _wait_for_view(page, "high")
    clusters = httpx.get(f"{server}/api/clusters", params={"view": "high"}, timeout=60).json()["clusters"]
    rows = _table_rows(page)
    assert len(rows) == min(10, len(clusters)) > 0
    for row, c in zip(rows, clusters):
        assert row[0] == f"#{c['id']}"
        assert row[1] == f"{c['price_low']:,.0f} – {c['price_high']:,.0f}"  # 50-USDT bins: whole dollars
        assert row[2] == f"{c['peak']:,.0f}"
        assert row[3] == f"{c['z']:.2f}"
        assert row[4] == c["band"]
        assert row[8] == f"{c['distance_pct']:+.2f}"
        assert row[10] == c["reach"]


def test_age_and_staleness_are_shown(page):
    page.wait_for_function("!!document.body.dataset.mapView", timeout=60_000)
    assert "as of 2026-03-05 11:00:00 UTC" in page.inner_text("#asof")
    assert page.is_visible("#stale")  # the bundled sample ends months before today


def test_heatmap_is_drawn_and_nothing_comes_from_the_internet(page):
    page.wait_for_function("document.body.dataset.heatmapReady === 'yes'", timeout=120_000)
    assert page.locator("#heatmap .heatmaplayer image, #heatmap .hm image").count() >= 1
    # the loading note goes once the heatmap is drawn; time runs along the columns, and the subtitle says so
    assert not page.is_visible("#heatmap-status") and "loading heatmap" not in page.inner_text("main")
    assert "a column every 1h" in page.text_content("#heatmap .gtitle")
    assert page.foreign_requests == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000


def test_a_bad_symbol_shows_the_servers_error(page):
    page.fill("#symbol", "NOPEUSDT")
    page.dispatch_event("#symbol", "change")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "no binance data for NOPEUSDT" in page.inner_text("#error")
    # nothing of BTCUSDT stays on screen under the error: no bars, no cluster rows, no heatmap
    assert _bar_paths(page) == [] and _table_rows(page) == []
    assert page.locator("#heatmap .heatmaplayer image, #heatmap .hm image").count() == 0
    assert page.inner_text("#asof") == "no map"
    page.fill("#symbol", "BTCUSDT")
    page.dispatch_event("#symbol", "change")
    page.wait_for_selector("#error", state="hidden", timeout=60_000)


def test_api_docs_render_offline(page, server):
    page.goto(f"{server}/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=60_000)
    paths = page.eval_on_selector_all(".swagger-ui .opblock-summary-path", "els => els.map(e => e.textContent)")
    assert {"/api/map", "/api/heatmap", "/api/clusters", "/api/liqprice"} <= {p.strip() for p in paths}
    assert page.foreign_requests == [] and not page.errors


@pytest.fixture(scope="module")
def store_server(tmp_path_factory):
    """``liqmap serve --source backfill:STORE`` over hourly moments 2025-09-30 12:00 .. 2025-10-01 11:00."""
    from tests.backfill.small_store import make_store

    root = tmp_path_factory.mktemp("picker")
    make_store(root, "2025-09-30T12:00", "2025-10-01T12:00", 3_600_000)
    with _serve("--source", f"backfill:{root / 'bf'}") as base:
        yield base, root / "bf"


def _stored_clusters(store: Path, month: str, as_of: int):
    import pyarrow.parquet as pq

    from liqmap.backfill.store import partition_file

    table = pq.read_table(partition_file(store, "clusters", "binance", "BTCUSDT", month)).to_pandas()
    return table[(table.time == as_of) & (table.view == "all")].sort_values("id")


def test_the_as_of_picker_redraws_the_map_of_the_chosen_stored_hour(browser, store_server):
    base, store = store_server
    page = _open(browser, base)
    try:
        page.wait_for_function("document.body.dataset.asofReady === 'yes' && !!document.body.dataset.mapView",
                               timeout=60_000)
        # the last stored moment first, the store's window selected, the span shown
        page.wait_for_function("document.getElementById('asof').textContent.includes('as of 2025-10-01 11:00:00 UTC')",
                               timeout=60_000)
        assert page.input_value("#window") == "24h"
        assert page.inner_text("#asof-span") == "2025-09-30T12:00 .. 2025-10-01T11:00 UTC, every 1h"
        assert page.get_attribute("#asof-slider", "max") == "23"
        # the slider: position 3 is 2025-09-30 15:00, a moment of the September partition
        page.fill("#asof-slider", "3")
        page.dispatch_event("#asof-slider", "change")
        page.wait_for_function("document.getElementById('asof').textContent.includes('as of 2025-09-30 15:00:00 UTC')",
                               timeout=60_000)
        assert page.input_value("#asof-time") == "2025-09-30T15:00"
        rows = _table_rows(page)
        stored = _stored_clusters(store, "2025-09", 1759244400000)
        assert len(rows) == min(10, len(stored)) > 0  # the stored clusters, ranked (ids follow the rank)
        for row, c in zip(rows, stored.itertuples()):
            assert row[0] == f"#{c.id}" and row[3] == f"{c.z:.2f}" and row[10] == c.reach
        # the date-time field: 2025-10-01 07:00, in October's partition
        page.fill("#asof-time", "2025-10-01T07:00")
        page.dispatch_event("#asof-time", "change")
        page.wait_for_function("document.getElementById('asof').textContent.includes('as of 2025-10-01 07:00:00 UTC')",
                               timeout=60_000)
        assert page.input_value("#asof-slider") == "19"
        stored = _stored_clusters(store, "2025-10", 1759302000000)
        assert [r[0] for r in _table_rows(page)] == [f"#{i}" for i in stored.id[:10]]
        # a moment outside the store: the server's error names what it holds
        page.fill("#asof-time", "2025-10-05T07:00")
        page.dispatch_event("#asof-time", "change")
        page.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert ("holds no binance BTCUSDT map as of 2025-10-05T07:00:00Z; it holds: binance BTCUSDT: "
                "2025-09-30T12:00:00Z .. 2025-10-01T11:00:00Z every 60 min (2 months)") in page.inner_text("#error")
        assert page.foreign_requests == [] and not page.errors, page.errors
    finally:
        page.close()

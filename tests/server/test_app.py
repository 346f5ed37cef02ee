"""The dashboard's JSON API over HTTP against the real app and the bundled sample, bad input included."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

import liqmap
from liqmap.server.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("sample"), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture(scope="module")
def sample_map():
    """The same map the server builds for the default query, through the public API."""
    return liqmap.build_map("BTCUSDT", view="all", window="30d")


def test_map_matches_the_public_api(client, sample_map):
    r = client.get("/api/map", params={"symbol": "btcusdt"})
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == "BTCUSDT" and body["view"] == "all" and body["window"] == "30d"
    assert body["as_of"] == sample_map.as_of == "2026-03-05T11:00:00Z"  # the sample's last hourly candle ends here
    assert body["price"] == sample_map.price
    assert len(body["bins"]) == sample_map.price_low.size
    assert [c["id"] for c in body["clusters"]] == [c.id for c in sample_map.clusters]
    assert body["clusters"][0]["notional"] == pytest.approx(sample_map.clusters[0].notional)
    # the sample ends months ago: the age is counted against the clock, and the map is stale
    assert body["age_s"] > 86_400 and body["stale"] is True


def test_clusters_endpoint_lists_the_maps_clusters(client, sample_map):
    body = client.get("/api/clusters").json()
    assert body["clusters"] == [json.loads(json.dumps(c.to_dict())) for c in sample_map.clusters]
    assert body["price"] == sample_map.price


def test_views_give_different_maps(client):
    high = client.get("/api/map", params={"view": "high"}).json()
    low = client.get("/api/map", params={"view": "low"}).json()
    assert high["view"] == "high" and low["view"] == "low"
    assert [b["total"] for b in high["bins"]] != [b["total"] for b in low["bins"]]


def test_equal_windows_share_one_cached_map(client):
    service = client.app.state.service
    first = service.liqmap("BTCUSDT", "binance", "medium", "7d", "last")
    assert service.liqmap("BTCUSDT", "binance", "medium", "168h", "last") is first


def test_refresh_rebuilds_the_map(client):
    service = client.app.state.service
    before = service.liqmap("BTCUSDT", "binance", "all", "30d", "last")
    assert client.get("/api/map", params={"refresh": "true"}).status_code == 200
    assert service.liqmap("BTCUSDT", "binance", "all", "30d", "last") is not before


def test_map_as_of_an_earlier_moment(client):
    body = client.get("/api/map", params={"as_of": "2026-02-05T20:00", "window": "7d"}).json()
    assert body["as_of"] == "2026-02-05T20:00:00Z" and body["window"] == "7d"


def test_heatmap_rows_are_the_books_history(client):
    r = client.get("/api/heatmap", params={"start": "2026-03-01", "end": "2026-03-02", "resolution": "4h"})
    assert r.status_code == 200
    body = r.json()
    # rows every 4 h from 2026-03-01 00:00 to 2026-03-02 00:00 inclusive: 7 rows
    assert len(body["time"]) == 7 and body["time"][1] - body["time"][0] == 4 * 3_600_000
    # the grids come as base64 float32 with their shape: 7 rows x one column per price bin
    long = _values(body["long"])
    assert body["long"]["shape"] == [7, len(body["price_low"])] and long.dtype == np.float32
    expected = liqmap.build_heatmap("BTCUSDT", start="2026-03-01", end="2026-03-02", resolution="4h")
    assert np.array_equal(long, expected.long) and np.array_equal(_values(body["short"]), expected.short)


def test_liqprice_is_the_exchange_formula(client):
    r = client.get("/api/liqprice", params={"side": "long", "entry": 100_000, "leverage": 100, "notional": 10_000})
    assert r.status_code == 200
    # DESIGN 3.1: 100,000 * (1 - 1/100) / (1 - 0.004) = 99,397.59 in the 0.40 % bracket
    assert r.json()["liquidation_price"] == pytest.approx(99_397.59, abs=0.01)


def test_map_figure_is_plotly_json_with_the_bins(client, sample_map):
    figure = client.get("/api/figure/map").json()
    assert figure["layout"]["meta"] == {"layout": "map"}
    for part in ("long", "short"):  # price across: a long and a short part per bin
        bars = [t for t in figure["data"] if t.get("meta") == f"liqmap-{part}"]
        assert sum(len(_values(t["x"])) for t in bars) == sample_map.price_low.size
        assert any(t["name"] == "cluster #1" for t in bars)
    profile = client.get("/api/figure/map", params={"layout": "profile"}).json()
    bars = [t for t in profile["data"] if t.get("meta") == "liqmap-bins"]
    assert sum(len(_values(t["y"])) for t in bars) == sample_map.price_low.size
    assert client.get("/api/figure/map", params={"layout": "sideways"}).status_code == 422


def _values(array):
    """plotly and /api/heatmap send numpy arrays as base64 typed arrays; decode either form."""
    if isinstance(array, dict):
        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        shape = array.get("shape")
        if isinstance(shape, str):  # plotly writes "7, 597"
            shape = [int(x) for x in shape.split(",")]
        return values.reshape(shape) if shape else values
    return array


def test_heatmap_figure_has_heatmap_price_and_realized(client):
    figure = client.get("/api/figure/heatmap", params={"start": "2026-03-01", "resolution": "4h"}).json()
    kinds = [t["type"] for t in figure["data"]]
    assert kinds[:2] == ["heatmap", "scatter"] and "bar" in kinds  # realized liquidations from the sample


def test_page_and_plotly_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "/vendor/plotly.min.js" in page.text
    assert "cdn" not in page.text.lower()
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/static/app.js").status_code == 200


def test_openapi_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/map", "/api/heatmap", "/api/clusters", "/api/liqprice"} <= set(paths)
    view = [p for p in paths["/api/map"]["get"]["parameters"] if p["name"] == "view"][0]
    assert view["schema"]["$ref"].endswith("/View") or "enum" in view["schema"]


@pytest.mark.parametrize(
    "url, params, status, message",
    [
        ("/api/map", {"view": "huge"}, 422, "view: Input should be 'all', 'high', 'medium', 'low' or 'optical'"),
        ("/api/map", {"window": "forever"}, 400, "window 'forever' is not a span"),
        ("/api/map", {"window": "-3d"}, 400, "window '-3d' is not a span"),
        ("/api/map", {"as_of": "yesterday-ish"}, 400, "as_of 'yesterday-ish' is not a date or time"),
        ("/api/map", {"as_of": "2019-01-01"}, 404, "outside the data for BTCUSDT"),
        ("/api/map", {"symbol": "ETHUSDT"}, 404, "no binance data for ETHUSDT"),
        ("/api/map", {"symbol": "BTC/USDT"}, 400, "symbol 'BTC/USDT' is not a symbol like BTCUSDT"),
        ("/api/clusters", {"symbol": ""}, 400, "is not a symbol like BTCUSDT"),
        ("/api/heatmap", {"resolution": "0m"}, 400, "resolution '0m'"),
        ("/api/heatmap", {"start": "2026-03-04", "end": "2026-03-01"}, 400, "must be before its end"),
        ("/api/liqprice", {"side": "up", "entry": 1, "leverage": 2, "notional": 3}, 422, "side: Input should be 'long' or 'short'"),
        ("/api/liqprice", {"side": "long", "entry": -5, "leverage": 2, "notional": 3}, 422, "entry: Input should be greater than 0"),
        ("/api/liqprice", {"side": "long", "entry": 100_000, "leverage": 500, "notional": 10_000}, 400, "leverage"),
        ("/api/liqprice", {"side": "long", "entry": 100_000, "leverage": 10, "notional": 10_000, "exchange": "ftx"}, 400,
         "ftx"),
        ("/api/figure/heatmap", {"scale": "sqrt"}, 422, "scale: Input should be 'log' or 'z'"),
    ],
)
def test_bad_parameters_get_a_4xx_json_error_that_says_what_is_wrong(client, url, params, status, message):
    r = client.get(url, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    assert message in body["error"]


# --- bounds, budgets, the Host check and offline docs --------------------------------------------------------

@pytest.mark.parametrize(
    "params, status, message",
    [
        ({"resolution": "1m"}, 400, "resolution 1m is finer than the BTCUSDT candles (1h): the columns in between "
                                    "would repeat the one before; use 1h or coarser"),
        ({"resolution": "1ms"}, 400, "resolution 1ms is finer than the BTCUSDT candles (1h): the columns in between "
                                     "would repeat the one before; use 1h or coarser"),
        ({"resolution": "0.4ms"}, 400, "resolution '0.4ms' is outside the spans liqmap accepts (1ms .. 100 years)"),
        ({"window": "12345678901234567890123456d"}, 400,
         "window '12345678901234567890123456d' is outside the spans liqmap accepts (1ms .. 100 years)"),
    ],
)
def test_heatmap_requests_that_once_took_the_server_down_are_named_4xx(client, params, status, message):
    for url in ("/api/heatmap", "/api/figure/heatmap"):
        r = client.get(url, params=params)
        assert (r.status_code, r.json()) == (status, {"error": message, "status": status})


def test_a_heatmap_over_the_budget_is_refused_before_it_is_built():
    # default request: 30 days of 1h columns (721) x 927 bins x 8 bytes = 5.3 MB; 6h columns (121) = 0.9 MB fit in 1 MB
    with TestClient(create_app("sample", heatmap_max_bytes=1_000_000), base_url="http://127.0.0.1:8000") as small:
        r = small.get("/api/heatmap")
        assert r.status_code == 400
        assert r.json()["error"] == ("a heatmap of 721 columns x 927 bins is 5 MB, over the 1 MB budget; use "
                                     "resolution 6h or coarser, at most 173 bins at this resolution, or a shorter span (start/end)")
        assert small.app.state.service.heatmaps.bytes == 0
        assert small.get("/api/heatmap", params={"resolution": "6h"}).status_code == 200


def test_caches_are_bounded_in_bytes():
    from liqmap.server.app import _Cache

    cache = _Cache(max_bytes=250)
    for name in "abc":
        cache.get((name,), lambda: b"x" * 100)
    # three 100-byte entries in a 250-byte cache: the oldest went
    assert cache.bytes == 200 and [k[0] for k in cache._items] == ["b", "c"]
    big = cache.get(("d",), lambda: b"y" * 300)  # larger than the whole cache: served, not kept
    assert len(big) == 300 and cache.bytes == 200
    cache.forget("c")
    assert cache.bytes == 100


@pytest.mark.parametrize("host, bound, ok", [
    ("127.0.0.1:8000", "127.0.0.1", True),
    ("localhost:8000", "127.0.0.1", True),
    ("[::1]:8000", "127.0.0.1", True),
    ("evil.example:8000", "127.0.0.1", False),   # DNS rebinding: the attacker's name pointed at 127.0.0.1
    ("192.168.1.5:8000", "127.0.0.1", False),
    ("192.168.1.5:8000", "0.0.0.0", True),        # exposed on purpose: any address, still no foreign names
    ("evil.example", "0.0.0.0", False),
    ("dash.lan:8000", "0.0.0.0", False),
])
def test_the_host_header_must_name_this_server(host, bound, ok):
    with TestClient(create_app("sample", host=bound), base_url="http://127.0.0.1:8000") as c:
        r = c.get("/api/info", headers={"host": host})
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code == 400
        assert r.json()["error"].startswith(f"host {host!r} is not this server (bound to {bound})")


def test_allowed_host_names_are_answered():
    with TestClient(create_app("sample", host="0.0.0.0", allow_hosts=("dash.lan",)),
                    base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/info", headers={"host": "dash.lan:8000"}).status_code == 200


def test_docs_are_served_from_the_installed_swagger_ui(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    for asset in ("/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"):
        assert asset in page.text
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100_000
    assert client.get("/redoc").status_code == 404  # redoc would load from a CDN: not offered


# --- any query parameter: 200 or a named 4xx, never 500 (property tests) -------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPANS = st.one_of(st.sampled_from(["24h", "7d", "30d", "2h", "1h", "1m", "0m", "-3d", "400d", "0.4ms", "1ms", "",
                                   "12345678901234567890123456d", "9" * 400 + "d", "nan", "1e5d", "4h", "1d"]),
                  st.text(max_size=12))
TIMES = st.one_of(st.sampled_from(["last", "", "2026-02-05T20:00", "2019-01-01", "2026-03-05T11:00", "2026-03-05T12:00",
                                   "0001-01-01", "9999-12-31T23:59:59", "1764547200000", "99999999999999",
                                   "2025-12-01T00:30", "2026-03-01T00:00+14:00", "0001-01-01T00:00+01:00"]),
                  st.integers(-10**15, 10**15).map(str), st.text(max_size=20))
SYMBOLS = st.one_of(st.sampled_from(["BTCUSDT", "btcusdt", "ETHUSDT", "", "BTC/USDT", "A" * 40]), st.text(max_size=10))
VIEWS = st.one_of(st.sampled_from(["all", "high", "medium", "low", "optical"]), st.text(max_size=8))
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _named_error_or_ok(r):
    assert r.status_code in (200, 400, 404, 422), (r.status_code, r.text[:500])
    body = r.json()
    if r.status_code != 200:
        assert body["status"] == r.status_code and isinstance(body["error"], str) and body["error"]
    return body


@PROPERTY
@given(symbol=SYMBOLS, view=VIEWS, window=SPANS, as_of=TIMES,
       venue=st.one_of(st.sampled_from(["binance", "bybit", "okx", "nope", "", "../x"]), st.text(max_size=8)))
def test_any_map_query_gives_a_map_or_a_named_error(client, symbol, view, window, as_of, venue):
    body = _named_error_or_ok(client.get("/api/map", params={"symbol": symbol, "view": view, "window": window,
                                                             "as_of": as_of, "venue": venue}))
    if "bins" in body:
        lows = np.array([b["price_low"] for b in body["bins"]])
        assert np.all(np.isfinite(lows)) and np.all(lows > 0) and body["price"] > 0
        for key in ("long", "short", "total"):
            assert all(b[key] >= 0 for b in body["bins"])
        assert all(c["notional"] >= 0 and c["peak"] > 0 for c in body["clusters"])


@PROPERTY
@given(view=VIEWS, window=SPANS, resolution=SPANS, start=st.one_of(st.none(), TIMES), end=st.one_of(st.none(), TIMES))
def test_any_heatmap_query_gives_a_heatmap_or_a_named_error(client, view, window, resolution, start, end):
    params = {"view": view, "window": window, "resolution": resolution}
    params.update({k: v for k, v in (("start", start), ("end", end)) if v is not None})
    body = _named_error_or_ok(client.get("/api/heatmap", params=params))
    if "long" in body:
        long, short = _values(body["long"]), _values(body["short"])
        assert long.shape == (len(body["time"]), len(body["price_low"]))
        assert np.all(np.isfinite(long)) and np.all(long >= 0) and np.all(short >= 0)
        assert min(body["price_low"]) > 0


@PROPERTY
@given(symbol=SYMBOLS, entry=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6)),
       leverage=st.one_of(st.floats(), st.integers(-10, 300)), notional=st.floats(), side=st.sampled_from(["long", "x"]),
       exchange=st.sampled_from(["binance", "bybit", "okx", "ftx"]))
def test_any_liqprice_query_gives_a_price_or_a_named_error(client, symbol, entry, leverage, notional, side, exchange):
    _named_error_or_ok(client.get("/api/liqprice", params={"symbol": symbol, "entry": entry, "leverage": leverage,
                                                           "notional": notional, "side": side, "exchange": exchange}))


# --- the budget: the heaviest heatmap the server allows, in memory ---------------------------------------------

#: Peak Python/numpy memory (tracemalloc) allowed for the heaviest served heatmap: building it, its 48 MB of
#: float32 grids, and the encoded body (base64: 4/3 of the grids).  Time is measured in benchmarks/server.py.
HEAVIEST_PEAK_BOUND = 320_000_000  # measured: 244 MB


def _minute_market(days: int):
    """``days`` of 1-minute candles swinging between 40,000 and 44,000 (median 42,000) and 5-minute OI.

    Grid: 40,000 x 0.8 = 32,000 .. 44,000 x 1.2 = 52,800 in steps of 50 (0.1 % of 42,000): 416 bins.
    """
    from liqmap.frames import Candles, MarketData, OpenInterest

    n = days * 1440
    t0 = 1_767_225_600_000  # 2026-01-01
    time = t0 + 60_000 * np.arange(n, dtype=np.int64)
    close = 42_000 + 2_000 * np.sin(np.arange(n) * 2 * np.pi / 1440)
    open_ = np.concatenate(([close[0]], close[:-1]))
    candles = Candles(time=time, open=open_, high=np.maximum(open_, close), low=np.minimum(open_, close), close=close,
                      volume=np.full(n, 100.0), taker_buy_volume=np.full(n, 55.0), interval_ms=60_000)
    oi_time = t0 + 300_000 * np.arange(1, n // 5 + 1, dtype=np.int64)
    oi = 80_000 + 5_000 * np.sin(np.arange(oi_time.size) * 2 * np.pi / 600)
    return MarketData(symbol="BTCUSDT", exchange="binance", candles=candles,
                      open_interest=OpenInterest(time=oi_time, oi=oi, oi_value=np.full(oi.size, np.nan)))


@pytest.mark.slow
def test_the_heaviest_heatmap_the_server_allows_stays_within_its_memory_bound():
    import tracemalloc

    # 10 days at 1m: 14,401 columns x 416 bins x 8 bytes = 47.9 MB, just under the 48 MB budget; 11 days are refused
    app = create_app("sample")
    service = app.state.service
    service.markets.get(("BTCUSDT", "binance"), lambda: _minute_market(11))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        refused = c.get("/api/heatmap", params={"resolution": "1m", "start": "2026-01-01"})
        assert refused.status_code == 400
        assert refused.json()["error"] == ("a heatmap of 15,841 columns x 416 bins is 53 MB, over the 48 MB budget; "
                                           "use resolution 5m or coarser, at most 378 bins at this resolution, or a shorter span "
                                           "(start/end)")
        tracemalloc.start()
        try:
            r = c.get("/api/heatmap", params={"resolution": "1m", "start": "2026-01-01", "end": "2026-01-11"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert r.status_code == 200
    long = _values(r.json()["long"])
    assert long.shape == (14_401, 416) and np.all(np.isfinite(long)) and long.max() > 0
    assert len(r.content) < 48_000_000 * 4 / 3 + 1_000_000  # base64 of the grids plus the axes
    assert peak < HEAVIEST_PEAK_BOUND, f"peak {peak / 1e6:.0f} MB"


def test_the_multi_map_served_with_its_venues(client):
    body = client.get("/api/map", params={"symbol": "BTCUSDT", "venue": "all"}).json()
    multi = liqmap.build_map("BTCUSDT", venue="all", window="30d")
    assert body["exchange"] == "all" and [b["total"] for b in body["bins"]] == pytest.approx(multi.total.tolist())
    assert {v["venue"]: v["status"] for v in body["model"]["venues"]} == {
        "binance": "ok", "bybit": "missing", "hyperliquid": "ok", "okx": "missing"}
    assert body["venues"]["hyperliquid"]["bins"]["long"] == pytest.approx(multi.extras["venues"]["hyperliquid"]["bins"]["long"])
    figure = client.get("/api/figure/map", params={"symbol": "BTCUSDT", "venue": "all"}).json()
    assert "hyperliquid: long $" in figure["data"][0]["customdata"][0][6]
    heatmap = client.get("/api/heatmap", params={"symbol": "BTCUSDT", "venue": "all"}).json()
    assert heatmap["error"] == ("venue 'all' (the Multi map) is drawn by liqmap map, liqmap live and the dashboard's "
                                "map; this takes one venue: binance, bybit, hyperliquid, okx")


@pytest.fixture(scope="module")
def store_client(tmp_path_factory):
    """The app over a backfill store: hourly moments 2025-09-30 12:00 .. 2025-10-01 11:00 (tests/backfill)."""
    from tests.backfill.small_store import make_store

    root = tmp_path_factory.mktemp("served")
    make_store(root, "2025-09-30T12:00", "2025-10-01T12:00", 3_600_000)
    with TestClient(create_app(f"backfill:{root / 'bf'}"), base_url="http://127.0.0.1:8000") as c:
        c.store = root / "bf"
        yield c


def test_a_store_is_served_as_it_holds_its_moments(store_client):
    import pyarrow.parquet as pq

    from liqmap.backfill.store import partition_file

    assert store_client.get("/api/info").json()["backfill"] is True
    streams = store_client.get("/api/store").json()["streams"]
    assert [(s["venue"], s["symbol"], s["first"], s["last"], s["step_ms"]) for s in streams] == [
        ("binance", "BTCUSDT", 1759233600000, 1759316400000, 3_600_000)]  # 2025-09-30T12:00 .. 2025-10-01T11:00
    assert streams[0]["months"] == [["2025-09", 1759233600000, 1759273200000], ["2025-10", 1759276800000, 1759316400000]]
    stored = pq.read_table(partition_file(store_client.store, "bins", "binance", "BTCUSDT", "2025-10")).to_pandas()
    for as_of, view in ((1759302000000, "optical"), (1759276800000, "all")):  # 2025-10-01T07:00, 00:00
        body = store_client.get("/api/map", params={"as_of": "2025-10-01T07:00" if as_of == 1759302000000 else as_of,
                                                    "view": view, "window": "24h"}).json()
        rows = stored[(stored.time == as_of) & (stored.view == view)].sort_values("bin")
        assert body["as_of"] == liqmap.frames.format_ms(as_of) and body["view"] == view
        assert [b["long"] for b in body["bins"]] == rows.long.tolist()
        assert [b["short"] for b in body["bins"]] == rows.short.tolist()
        assert [b["z"] for b in body["bins"]] == rows.z.tolist()
    heat = store_client.get("/api/heatmap", params={"window": "24h"}).json()
    assert len(heat["time"]) == 24 and heat["time"][0] == 1759233600000


def test_a_moment_the_store_lacks_is_a_4xx_naming_its_span(store_client):
    span = "binance BTCUSDT: 2025-09-30T12:00:00Z .. 2025-10-01T11:00:00Z every 60 min (2 months)"
    for as_of in ("2025-10-02T00:00", "2025-10-01T07:30"):  # after the span; off the hourly step
        r = store_client.get("/api/map", params={"as_of": as_of, "window": "24h"})
        assert r.status_code == 404 and span in r.json()["error"], r.json()
    r = store_client.get("/api/map", params={"as_of": "yesterday", "window": "24h"})
    assert r.status_code == 400 and "as_of" in r.json()["error"]
    r = store_client.get("/api/map", params={"window": "7d"})
    assert r.status_code == 404 and "holds maps with a 1d window, not 7d" in r.json()["error"]
    r = store_client.get("/api/heatmap", params={"window": "24h", "start": "2025-09-01"})
    assert r.status_code == 404 and "is outside the store" in r.json()["error"]


def test_other_sources_have_no_store(client):
    assert client.get("/api/info").json()["backfill"] is False
    r = client.get("/api/store")
    assert r.status_code == 404 and "is not a backfill store" in r.json()["error"]

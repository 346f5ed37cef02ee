"""The dashboard's JSON API over HTTP against the real app and the bundled sample, bad input included."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import liqmap
from liqmap.server.app import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app("sample")) as c:
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
    first = service.liqmap("BTCUSDT", "medium", "7d", "last")
    assert service.liqmap("BTCUSDT", "medium", "168h", "last") is first


def test_refresh_rebuilds_the_map(client):
    service = client.app.state.service
    before = service.liqmap("BTCUSDT", "all", "30d", "last")
    assert client.get("/api/map", params={"refresh": "true"}).status_code == 200
    assert service.liqmap("BTCUSDT", "all", "30d", "last") is not before


def test_map_as_of_an_earlier_moment(client):
    body = client.get("/api/map", params={"as_of": "2026-02-05T20:00", "window": "7d"}).json()
    assert body["as_of"] == "2026-02-05T20:00:00Z" and body["window"] == "7d"


def test_heatmap_rows_are_the_books_history(client):
    r = client.get("/api/heatmap", params={"start": "2026-03-01", "end": "2026-03-02", "resolution": "4h"})
    assert r.status_code == 200
    body = r.json()
    # rows every 4 h from 2026-03-01 00:00 to 2026-03-02 00:00 inclusive: 7 rows
    assert len(body["time"]) == 7 and body["time"][1] - body["time"][0] == 4 * 3_600_000
    assert len(body["long"]) == 7 and len(body["long"][0]) == len(body["price_low"])
    expected = liqmap.build_heatmap("BTCUSDT", start="2026-03-01", end="2026-03-02", resolution="4h")
    assert body["long"][3] == pytest.approx(expected.long[3].tolist())


def test_liqprice_is_the_exchange_formula(client):
    r = client.get("/api/liqprice", params={"side": "long", "entry": 100_000, "leverage": 100, "notional": 10_000})
    assert r.status_code == 200
    # DESIGN 3.1: 100,000 * (1 - 1/100) / (1 - 0.004) = 99,397.59 in the 0.40 % bracket
    assert r.json()["liquidation_price"] == pytest.approx(99_397.59, abs=0.01)


def test_map_figure_is_plotly_json_with_the_bins(client, sample_map):
    figure = client.get("/api/figure/map").json()
    bars = [t for t in figure["data"] if t.get("meta") == "liqmap-bins"]
    assert sum(len(_values(t["y"])) for t in bars) == sample_map.price_low.size
    assert any(t["name"] == "cluster #1" for t in bars)


def _values(array):
    """plotly sends numpy arrays as base64 typed arrays; decode either form."""
    import base64

    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
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

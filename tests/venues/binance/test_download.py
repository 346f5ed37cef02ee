"""The Vision downloader and ``liqmap data`` against a real HTTP server on 127.0.0.1.

The server lays out files exactly as Binance Vision publishes them (zip +
``.zip.CHECKSUM``), honours HTTP Range, can cut a response in half (an
interrupted download) and answers 404 for days it does not have.
"""

from __future__ import annotations

import hashlib
import threading
import zipfile
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from liqmap.cli import main
from liqmap.sources.cache import Store
from liqmap.venues.binance.download import RemoteFile, fetch, plan
from liqmap.venues.binance.vision import read_aggtrades, read_klines

FIXTURES = Path(__file__).parents[2] / "fixtures" / "vision"
PUBLISHED = {  # fixture CSV -> the file the server publishes
    "BTCUSDT-aggTrades-2025-01-15.csv": RemoteFile("BTCUSDT", "aggTrades", "2025-01-15"),
    "BTCUSDT-aggTrades-2025-01-16.csv": RemoteFile("BTCUSDT", "aggTrades", "2025-01-16"),
    "BTCUSDT-1m-2025-01-15.csv": RemoteFile("BTCUSDT", "klines", "2025-01-15", "1m"),
    "BTCUSDT-metrics-2025-01-15.csv": RemoteFile("BTCUSDT", "metrics", "2025-01-15"),
    "BTCUSDT-fundingRate-2025-01.csv": RemoteFile("BTCUSDT", "fundingRate", "2025-01"),
}


class VisionServer:
    """A Binance Vision look-alike serving ``root``; ``cut_once`` paths send half a body once."""

    def __init__(self, root: Path):
        self.root, self.cut_once, self.requests = root, set(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.lstrip("/")
                server.requests.append((path, self.headers.get("Range")))
                file = server.root / path
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if path in server.cut_once:
                    server.cut_once.discard(path)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def publish(self, csv_name: str, remote: RemoteFile, checksum: str | None = None) -> bytes:
        target = self.root / remote.url_path
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(FIXTURES / csv_name, remote.name.replace(".zip", ".csv"))
        data = target.read_bytes()
        digest = checksum or hashlib.sha256(data).hexdigest()
        (target.parent / (target.name + ".CHECKSUM")).write_text(f"{digest}  {remote.name}\n")
        return data


@pytest.fixture
def server(tmp_path):
    srv = VisionServer(tmp_path / "www")
    for csv_name, remote in PUBLISHED.items():
        srv.publish(csv_name, remote)
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_plan_names_files_like_binance():
    files = plan("BTCUSDT", date(2025, 1, 31), date(2025, 2, 1), kinds=("klines", "fundingRate"), interval="1m")
    assert [f.url_path for f in files] == [
        "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-31.zip",
        "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-02-01.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-01.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2025-02.zip",
    ]
    assert plan("BTCUSDT", date(2025, 1, 1), date(2025, 1, 1), kinds=("markPriceKlines",))[0].url_path == (
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip"
    )
    with pytest.raises(ValueError, match="unknown kind 'trades'"):
        plan("BTCUSDT", date(2025, 1, 1), date(2025, 1, 1), kinds=("trades",))


def test_fetch_resumes_an_interrupted_download_and_reports_a_missing_day(server, tmp_path):
    store = Store(tmp_path / "cache")
    agg15 = PUBLISHED["BTCUSDT-aggTrades-2025-01-15.csv"]
    size = (server.root / agg15.url_path).stat().st_size
    server.cut_once.add(agg15.url_path)
    report = fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 16), kinds=("aggTrades", "klines", "fundingRate"),
                   base_url=server.url, store=store, backoff_s=0, progress=False)
    assert [(r.store_kind, r.period) for r in report.stored] == [
        ("aggTrades", "2025-01-15"), ("aggTrades", "2025-01-16"), ("klines-1m", "2025-01-15"), ("fundingRate", "2025-01"),
    ]
    assert [r.name for r in report.missing] == ["BTCUSDT-1m-2025-01-16.zip"]  # not published: 404
    assert report.failed == []
    # The cut response left half the bytes; the retry asked only for the rest.
    zip_requests = [rng for path, rng in server.requests if path == agg15.url_path]
    assert zip_requests == [None, f"bytes={size // 2}-"]
    # What was stored equals the fixtures read directly; no download is left behind.
    trades = store.read("BTCUSDT", "aggTrades")
    direct = read_aggtrades([FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv", FIXTURES / "BTCUSDT-aggTrades-2025-01-16.csv"], cache=False)
    np.testing.assert_array_equal(trades.time, direct.time)
    np.testing.assert_array_equal(trades.price, direct.price)
    candles = store.read("BTCUSDT", "klines-1m")
    np.testing.assert_array_equal(candles.close, read_klines(FIXTURES / "BTCUSDT-1m-2025-01-15.csv", cache=False).close)
    assert store.extra("BTCUSDT", "klines-1m") == {"origin": f"{server.url}/data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-15.zip"}
    assert not [p for p in (store.root / "downloads").rglob("*") if p.is_file()]
    # A second run downloads nothing it already has: only the missing day is asked again.
    server.requests.clear()
    again = fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 16), kinds=("aggTrades", "klines", "fundingRate"),
                  base_url=server.url, store=store, backoff_s=0, progress=False)
    assert len(again.skipped) == 4 and again.stored == [] and len(again.missing) == 1
    assert [path for path, _ in server.requests] == ["data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-16.zip.CHECKSUM"]


def test_a_part_file_left_by_an_earlier_run_is_resumed(server, tmp_path):
    store = Store(tmp_path / "cache")
    remote = PUBLISHED["BTCUSDT-metrics-2025-01-15.csv"]
    data = (server.root / remote.url_path).read_bytes()
    part = store.root / "downloads" / (remote.url_path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100])
    report = fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 15), kinds=("metrics",),
                   base_url=server.url, store=store, backoff_s=0, progress=False)
    assert [r.name for r in report.stored] == ["BTCUSDT-metrics-2025-01-15.zip"]
    assert (remote.url_path, "bytes=100-") in server.requests
    assert store.read("BTCUSDT", "metrics").oi.tolist() == [78118.37, 78015.092, 78020.0]


def test_a_bad_checksum_is_retried_then_reported_and_nothing_is_stored(server, tmp_path):
    store = Store(tmp_path / "cache")
    remote = PUBLISHED["BTCUSDT-metrics-2025-01-15.csv"]
    data = server.publish("BTCUSDT-metrics-2025-01-15.csv", remote, checksum="0" * 64)
    report = fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 15), kinds=("metrics",),
                   base_url=server.url, store=store, retries=1, backoff_s=0, progress=False)
    assert report.stored == [] and len(report.failed) == 1
    assert report.failed[0][1] == (
        f"BTCUSDT-metrics-2025-01-15.zip: checksum mismatch: published {'0' * 64}, "
        f"downloaded {hashlib.sha256(data).hexdigest()} (gave up after 2 tries)"
    )
    assert [path for path, _ in server.requests].count(remote.url_path) == 2  # first try + one retry
    assert store.kinds("BTCUSDT") == []
    assert not [p for p in (store.root / "downloads").rglob("*") if p.is_file()]


def test_cli_fetch_list_and_import(server, tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["data", "fetch", "btcusdt", "--from", "2025-01-15", "--to", "2025-01-16", "--kinds", "klines,metrics",
                 "--base-url", server.url, "--cache", str(cache), "--retries", "0"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == f"stored 2 file(s), 0 already cached, in {cache / 'binance'}\n"
    assert err == (
        "missing (not published, HTTP 404): 2 file(s)\n"
        "  data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-16.zip\n"
        "  data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-01-16.zip\n"
    )
    assert main(["data", "list", "--cache", str(cache)]) == 0
    assert capsys.readouterr().out == (
        f"the cache at {cache}:\n"
        "venue    symbol   kind       first       last        files\n"
        "binance  BTCUSDT  klines-1m  2025-01-15  2025-01-15  1\n"
        "binance  BTCUSDT  metrics    2025-01-15  2025-01-15  1\n"
    )
    # Import the server's tree (files a user already has): the two cached ones are skipped.
    assert main(["data", "import", str(server.root), "--cache", str(cache)]) == 0
    assert capsys.readouterr().out == f"imported 3 file(s), 2 already cached, into {cache / 'binance'}\n"
    assert main(["data", "import", str(tmp_path / "empty"), "--cache", str(cache)]) == 1
    assert "error: no such folder" in capsys.readouterr().err
    assert main(["data", "fetch", "BTCUSDT", "--from", "2025-13-01", "--to", "2025-01-02"]) == 1
    assert capsys.readouterr().err == "liqmap data: error: --from '2025-13-01' is not a day like 2025-01-15\n"

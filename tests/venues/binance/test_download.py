"""The Vision downloader and ``liqmap data`` against a real HTTP server on 127.0.0.1.

The server lays out files exactly as Binance Vision publishes them (zip +
``.zip.CHECKSUM``), honours HTTP Range, can cut a response in half (an
interrupted download) and answers 404 for days it does not have.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
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
    """A Binance Vision look-alike serving ``root``; ``cut_once`` paths send half a body once,
    ``status`` paths always answer with that status, ``slow`` paths trickle their body."""

    def __init__(self, root: Path):
        self.root, self.cut_once, self.requests = root, set(), []
        self.status: dict[str, int] = {}
        self.slow: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                path = self.path.lstrip("/")
                server.requests.append((path, "HEAD"))
                file = server.root / path
                self.send_response(200 if file.is_file() else 404)
                self.send_header("Content-Length", str(file.stat().st_size if file.is_file() else 0))
                self.end_headers()

            def do_GET(self):
                path = self.path.lstrip("/")
                server.requests.append((path, self.headers.get("Range")))
                file = server.root / path
                if path in server.status:
                    self.send_error(server.status[path])
                    return
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
                if path in server.slow:
                    for i in range(start, len(body), 64):
                        self.wfile.write(body[i : i + 64])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def publish(self, csv_name: str, remote: RemoteFile, checksum: str | None = None, text: str | None = None) -> bytes:
        """Publish a fixture (or ``text``) as ``remote``, with its checksum (or the one given)."""
        target = self.root / remote.url_path
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(remote.name.replace(".zip", ".csv"), text or (FIXTURES / csv_name).read_text())
        data = target.read_bytes()
        digest = checksum or hashlib.sha256(data).hexdigest()
        (target.parent / (target.name + ".CHECKSUM")).write_text(f"{digest}  {remote.name}\n")
        return data


def left_behind(store: Store) -> list:
    """Files a fetch left in the download folder, apart from its lock files."""
    return [p for p in (store.root / "downloads").rglob("*") if p.is_file() and p.suffix != ".lock"]


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
    assert not left_behind(store)
    # A second run downloads nothing it already has: only the missing day is asked again.
    server.requests.clear()
    again = fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 16), kinds=("aggTrades", "klines", "fundingRate"),
                  base_url=server.url, store=store, backoff_s=0, progress=False)
    assert len(again.skipped) == 4 and again.stored == [] and len(again.missing) == 1
    missing = "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-16.zip"
    assert server.requests == [(missing + ".CHECKSUM", None), (missing, "HEAD")]  # neither is published


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
    assert not left_behind(store)


def test_cli_fetch_list_and_import(server, tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["data", "fetch", "btcusdt", "--from", "2025-01-15", "--to", "2025-01-16", "--kinds", "klines,metrics",
                 "--base-url", server.url, "--cache", str(cache), "--retries", "0"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == f"stored 2 file(s), 0 already cached, 2 not published, 0 failed, in {cache / 'binance'}\n"
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


# ---------------------------------------------------------------- every failure named, the run goes on


KLINES_15 = PUBLISHED["BTCUSDT-1m-2025-01-15.csv"]
METRICS_15 = PUBLISHED["BTCUSDT-metrics-2025-01-15.csv"]
AGG_15, AGG_16 = PUBLISHED["BTCUSDT-aggTrades-2025-01-15.csv"], PUBLISHED["BTCUSDT-aggTrades-2025-01-16.csv"]


def fetch_15th(server, store, kinds=("aggTrades", "klines", "metrics"), **options):
    return fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 15), kinds=kinds, base_url=server.url, store=store,
                 retries=1, backoff_s=0, progress=False, **options)


def test_each_failure_kind_is_named_and_the_other_files_are_still_stored(server, tmp_path):
    store = Store(tmp_path / "cache")
    server.status[KLINES_15.url_path + ".CHECKSUM"] = 503  # a server error that does not pass
    (server.root / (METRICS_15.url_path + ".CHECKSUM")).unlink()  # the zip is there, its checksum is not
    report = fetch_15th(server, store)
    assert [r.name for r in report.stored] == ["BTCUSDT-aggTrades-2025-01-15.zip"]
    assert report.missing == []
    assert [(r.name, reason) for r, reason in report.failed] == [
        ("BTCUSDT-1m-2025-01-15.zip", "BTCUSDT-1m-2025-01-15.zip: "
         "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-15.zip.CHECKSUM: HTTP 503 (gave up after 2 tries)"),
        ("BTCUSDT-metrics-2025-01-15.zip", "BTCUSDT-metrics-2025-01-15.zip: published (HTTP 200) without its "
         ".CHECKSUM, so it cannot be verified; not stored"),
    ]
    assert store.kinds("BTCUSDT") == ["aggTrades"]


def test_a_zip_with_a_bad_crc_or_another_days_rows_fails_and_is_not_stored(server, tmp_path):
    store = Store(tmp_path / "cache")
    # the published bytes match the published checksum, but the zip inside is broken
    target = server.root / AGG_15.url_path
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(AGG_15.name.replace(".zip", ".csv"), (FIXTURES / "BTCUSDT-aggTrades-2025-01-15.csv").read_text())
    broken = bytearray(target.read_bytes())
    broken[broken.find(b"96002.9") + 1] = ord("7")
    target.write_bytes(broken)
    (target.parent / (target.name + ".CHECKSUM")).write_text(f"{hashlib.sha256(broken).hexdigest()}  {AGG_15.name}\n")
    # the 15th's klines file holds the 14th's rows
    shifted = (FIXTURES / "BTCUSDT-1m-2025-01-15.csv").read_text()
    for t in ("1736899200000", "1736899259999", "1736899260000", "1736899319999", "1736899320000", "1736899379999"):
        shifted = shifted.replace(t, str(int(t) - 86_400_000))
    server.publish("", KLINES_15, text=shifted)
    report = fetch_15th(server, store, kinds=("aggTrades", "klines", "metrics"))
    assert [r.name for r in report.stored] == ["BTCUSDT-metrics-2025-01-15.zip"]
    reasons = dict((r.name, reason) for r, reason in report.failed)
    download = store.root / "downloads"
    assert reasons == {
        "BTCUSDT-aggTrades-2025-01-15.zip": f"{download / AGG_15.url_path}: corrupt compressed data "
                                            "(Bad CRC-32 for file 'BTCUSDT-aggTrades-2025-01-15.csv')",
        "BTCUSDT-1m-2025-01-15.zip": f"{download / KLINES_15.url_path}: line 2, column 'open_time': time "
                                     "2025-01-14T00:00:00Z is outside 2025-01-15, the day the file's name gives "
                                     "(rows outside: 3 of 3)",
    }
    assert store.kinds("BTCUSDT") == ["metrics"] and not left_behind(store)
    # nothing was stored for them, so the next run tries them again instead of skipping them
    again = fetch_15th(server, store, kinds=("aggTrades", "klines"))
    assert again.skipped == [] and len(again.failed) == 2


def test_a_file_past_its_deadline_fails_and_resumes_next_run(server, tmp_path):
    store = Store(tmp_path / "cache")
    server.slow.add(AGG_16.url_path)  # 64 bytes every 100 ms
    size = (server.root / AGG_16.url_path).stat().st_size
    report = fetch("BTCUSDT", date(2025, 1, 16), date(2025, 1, 16), kinds=("aggTrades",), base_url=server.url,
                   store=store, retries=0, deadline_s=0.15, progress=False)
    [(remote, reason)] = report.failed
    assert re.fullmatch(rf"BTCUSDT-aggTrades-2025-01-16\.zip: not downloaded within the 0\.15 s deadline "
                        rf"\(\d+ of {size:,} bytes; the rest resumes next run\)", reason)
    server.slow.clear()
    resumed = fetch("BTCUSDT", date(2025, 1, 16), date(2025, 1, 16), kinds=("aggTrades",), base_url=server.url,
                    store=store, retries=0, progress=False)
    assert [r.name for r in resumed.stored] == ["BTCUSDT-aggTrades-2025-01-16.zip"]
    assert server.requests[-1][1].startswith("bytes=")  # the second run asked only for the rest


def test_symbol_and_interval_are_checked_before_anything_is_fetched(server, tmp_path):
    store = Store(tmp_path / "cache")
    with pytest.raises(ValueError) as err:
        fetch("../../ETC", date(2025, 1, 15), date(2025, 1, 15), base_url=server.url, store=store, progress=False)
    assert str(err.value) == ("symbol '../../ETC' is not a Binance USD-M symbol (2-30 capital letters and digits, "
                              "e.g. BTCUSDT)")
    with pytest.raises(ValueError) as err:
        fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 15), kinds=("klines",), interval="7m", base_url=server.url,
              store=store, progress=False)
    assert str(err.value) == ("interval '7m' is not a Binance kline interval; choose from 1s, 1m, 3m, 5m, 15m, 30m, "
                              "1h, 2h, 4h, 6h, 8h, 12h, 1d")
    assert server.requests == [] and not (tmp_path / "cache").exists()


def test_cli_lists_failures_and_exits_1_after_fetching_the_rest(server, tmp_path, capsys):
    cache = tmp_path / "cache"
    server.status[METRICS_15.url_path + ".CHECKSUM"] = 500
    code = main(["data", "fetch", "BTCUSDT", "--from", "2025-01-15", "--to", "2025-01-15", "--kinds", "klines,metrics",
                 "--base-url", server.url, "--cache", str(cache), "--retries", "0"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == f"stored 1 file(s), 0 already cached, 0 not published, 1 failed, in {cache / 'binance'}\n"
    assert err == (
        "failed: 1 file(s), not stored (run the command again to retry them)\n"
        "  data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-01-15.zip: BTCUSDT-metrics-2025-01-15.zip: "
        "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2025-01-15.zip.CHECKSUM: HTTP 500 (gave up after 1 tries)\n"
    )
    assert main(["data", "fetch", "BTC/../../x", "--from", "2025-01-15", "--to", "2025-01-15"]) == 1
    assert capsys.readouterr().err == ("liqmap data: error: symbol 'BTC/../../X' is not a Binance USD-M symbol "
                                       "(2-30 capital letters and digits, e.g. BTCUSDT)\n")


def test_concurrent_fetches_into_one_cache_download_each_file_once(server, tmp_path):
    store_root = tmp_path / "cache"

    def run(_):
        return fetch("BTCUSDT", date(2025, 1, 15), date(2025, 1, 16), kinds=("aggTrades", "metrics"),
                     base_url=server.url, store=Store(store_root), retries=0, progress=False)

    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(run, range(3)))
    assert [r.failed for r in reports] == [[], [], []]
    stored = sorted(r.name for report in reports for r in report.stored)
    assert stored == ["BTCUSDT-aggTrades-2025-01-15.zip", "BTCUSDT-aggTrades-2025-01-16.zip",
                      "BTCUSDT-metrics-2025-01-15.zip"]
    zips = [path for path, rng in server.requests if path.endswith(".zip") and rng != "HEAD"]
    assert sorted(zips) == sorted({AGG_15.url_path, AGG_16.url_path, METRICS_15.url_path})  # each fetched once

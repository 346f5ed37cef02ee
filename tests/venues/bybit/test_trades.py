"""Bybit's public daily trade files: the reader on a file built from the documented columns, and
``liqmap data fetch --venue bybit`` from a local file server into the cache, where flow reads them."""

from __future__ import annotations

import gzip
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from liqmap.cli import main
from liqmap.frames import DataError
from liqmap.sources.cache import Store
from liqmap.venues.bybit.trades import read_trades

HEADER = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional\n"
# three trades of 2024-01-01 (1704067200 = 00:00:00Z), written newest first as some of Bybit's files are
ROWS = [
    "1704067260.5000,BTCUSDT,Sell,0.250,42310.5,MinusTick,c3f0a1e2-0003,1057762500,0.25,10577.625",
    "1704067230.0470,BTCUSDT,Buy,0.100,42320.0,PlusTick,c3f0a1e2-0002,423200000,0.1,4232.0",
    "1704067200.0047,BTCUSDT,Buy,1.500,42313.1,ZeroPlusTick,c3f0a1e2-0001,6346965000,1.5,63469.65",
]


def day_file(rows=ROWS) -> bytes:
    return gzip.compress((HEADER + "\n".join(rows) + "\n").encode())


def test_rows_become_trades_sorted_by_time_in_ms():
    trades = read_trades(day_file(), "BTCUSDT2024-01-01.csv.gz", "BTCUSDT")
    assert trades.time.tolist() == [1704067200005, 1704067230047, 1704067260500]  # seconds x 1000, rounded
    assert trades.price.tolist() == [42313.1, 42320.0, 42310.5]
    assert trades.quantity.tolist() == [1.5, 0.1, 0.25]
    assert trades.is_buyer_maker.tolist() == [False, False, True]  # side is the taker's: Sell = the buyer made


@pytest.mark.parametrize("row, error", [
    ("1704067200.1,BTCUSDT,Long,1,42000,PlusTick,x,1,1,1", r"line 5, column 'side': 'Long' is not Buy or Sell"),
    ("1704067200.1,BTCUSDT,Buy,one,42000,PlusTick,x,1,1,1", r"line 5, column 'size': 'one' is not a number"),
    ("1704067200.1,ETHUSDT,Buy,1,2000,PlusTick,x,1,1,1", r"line 5, column 'symbol': 'ETHUSDT', not BTCUSDT"),
])
def test_bad_rows_are_named_by_line_and_column(row, error):
    with pytest.raises(DataError, match=rf"f.csv.gz: {error}"):
        read_trades(day_file(ROWS + [row]), "f.csv.gz", "BTCUSDT")
    with pytest.raises(DataError, match="column\\(s\\) side missing"):
        read_trades(gzip.compress(b"timestamp,symbol,size,price\n1,BTCUSDT,1,1\n"), "f.csv.gz")


def test_fetch_into_the_cache_and_flow_reads_them(tmp_path, capsys, monkeypatch):
    root = tmp_path / "public"
    (root / "trading" / "BTCUSDT").mkdir(parents=True)
    (root / "trading" / "BTCUSDT" / "BTCUSDT2024-01-01.csv.gz").write_bytes(day_file())
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/trading"
        args = ["data", "fetch", "btcusdt", "--venue", "bybit", "--from", "2024-01-01", "--to", "2024-01-02",
                "--base-url", url, "--cache", str(tmp_path / "cache")]
        assert main(args) == 0
        out = capsys.readouterr()
        assert "stored 1 day(s) of trades, 0 already cached, 1 not published" in out.out
        assert "missing (not published, HTTP 404): 2024-01-02" in out.err
        assert main(args) == 0  # a rerun keeps what it has
        assert "stored 0 day(s) of trades, 1 already cached" in capsys.readouterr().out
    finally:
        server.shutdown()
        server.server_close()
    trades = Store(tmp_path / "cache", "bybit").read("BTCUSDT", "aggTrades")
    assert trades.time.tolist() == [1704067200005, 1704067230047, 1704067260500]
    # the taker-signed volume, as CVD sums it: 1.5 + 0.1 - 0.25
    signed = np.where(trades.is_buyer_maker, -trades.quantity, trades.quantity)
    assert signed.sum() == pytest.approx(1.35)
    assert Store(tmp_path / "cache", "bybit").extra("BTCUSDT", "aggTrades")["origin"] == \
        f"{url}/BTCUSDT/BTCUSDT2024-01-01.csv.gz"
    monkeypatch.setenv("LIQMAP_CACHE", str(tmp_path / "cache"))
    assert main(["flow", "BTCUSDT", "--venue", "bybit", "--source", "cache"]) == 0
    out = capsys.readouterr().out
    assert "+1.35" in out and "exact taker side from aggregate trades" in out


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

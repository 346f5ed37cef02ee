"""Bybit REST parsers on recorded answers, and the client and backfill against the local Bybit server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.model.margin import parse_bracket_table
from liqmap.net import TransientError
from liqmap.sources.cache import Store
from liqmap.venues.binance.rest import backfill
from liqmap.venues.bybit.rest import (BybitClient, fill_span, parse_funding, parse_klines, parse_open_interest,
                                      parse_risk_limit, result_of)
from tests.exchange_servers.base import Faults
from tests.exchange_servers.tape import synthetic_tape

from tests.exchange_servers.bybit import BybitServer
from tests.venues.frames import frame

MINUTE, HOUR = 60_000, 3_600_000
START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_klines_newest_first_are_sorted_and_carry_no_taker_volume():
    c = parse_klines(frame("bybit", "rest_kline"), HOUR)
    assert c.time.tolist() == [1786816800000, 1786820400000]
    assert c.open.tolist() == [63044.4, 63027.8] and c.close.tolist() == [63027.8, 63032.3]
    assert c.volume.tolist() == [385.721, 4.591]
    assert np.isnan(c.taker_buy_volume).all() and not c.has_taker_volume


def test_mark_klines_have_no_volume():
    c = parse_klines(frame("bybit", "rest_mark_price_kline_doc"), HOUR, mark=True)
    assert c.price_kind == "mark" and c.time.tolist() == [1670608800000]
    assert (c.open[0], c.high[0], c.low[0], c.close[0]) == (17164.16, 17164.16, 17121.5, 17131.64)
    assert math.isnan(c.volume[0])


def test_open_interest_in_base_coin_sorted():
    oi = parse_open_interest(frame("bybit", "rest_open_interest"))
    assert oi.time.tolist() == [1786816800000, 1786820400000]
    assert oi.oi.tolist() == [65041.568, 64992.054]


def test_funding_sorted_and_per_8_hours():
    f = parse_funding(frame("bybit", "rest_funding_history"))
    assert f.time.tolist() == [1786780800000, 1786809600000]  # 8 hours apart: rates unchanged
    assert f.rate.tolist() == [0.00004737, 0.00004403]


def test_risk_limit_lowest_tier_sends_an_empty_deduction():
    table = parse_risk_limit(frame("bybit", "rest_risk_limit_doc"), "BTCUSD", "2022-12-26")
    assert table["tiers"] == [{"cap": 150.0, "max_leverage": 100.0, "mmr": 0.5, "maintenance_amount": 0.0}]


def test_errors_name_the_field_the_row_and_the_code():
    payload = frame("bybit", "rest_kline")
    payload["result"]["list"][1][4] = "abc"
    with pytest.raises(DataError, match=r"row 1, field 4 \(close\): 'abc' is not a number"):
        parse_klines(payload, HOUR)
    del payload["result"]["list"][0][5:]
    with pytest.raises(DataError, match="row 0: expected a list of 6"):
        parse_klines(payload, HOUR)
    with pytest.raises(DataError, match=r"retCode 10001 \(params error\)"):
        result_of({"retCode": 10001, "retMsg": "params error"}, "GET /v5/market/kline")
    with pytest.raises(TransientError, match="retCode 10006"):
        result_of({"retCode": 10006, "retMsg": "Too many visits!"}, "GET /v5/market/kline")
    oi = frame("bybit", "rest_open_interest")
    del oi["result"]["list"][0]["timestamp"]
    with pytest.raises(DataError, match="row 0: field 'timestamp' is missing"):
        parse_open_interest(oi)
    with pytest.raises(DataError, match="expected a Bybit answer"):
        parse_klines([[1786816800000, "1", "1", "1", "1", "1"]], HOUR)  # a Binance klines body


def test_fill_span_covers_the_span_whichever_end_the_server_pages_from():
    times = np.arange(0, 1000, 10)

    def newest(lo, hi):
        return _frame(times[(times >= lo) & (times <= hi)][-7:])

    def oldest(lo, hi):
        return _frame(times[(times >= lo) & (times <= hi)][:7])

    for page in (newest, oldest):
        assert fill_span(page, 100, 500, 10, _frame(times[:0])).time.tolist() == list(range(100, 500, 10))


def _frame(t):
    from liqmap.frames import OpenInterest

    return OpenInterest(time=t, oi=np.ones(t.size), oi_value=np.full(t.size, np.nan), interval_ms=10)


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=1500, trades_per_second=0.05)  # a whole day and an hour


def test_backfill_against_the_local_server_pages_paces_resumes_and_waits_out_429(tape, tmp_path):
    faults = Faults(rest_status={"/v5/market/open-interest": [(429, 0.2)]})
    with BybitServer(tape, tape.end_ms, faults=faults) as server:
        client = BybitClient(server.rest_url, sleep=lambda s: None)
        store = Store(tmp_path, "bybit")
        report = backfill(client, store, "BTCUSDT", START, tape.end_ms, "1m")
        assert client.rate_limited == 1 and server.log["HTTP 429 /v5/market/open-interest"] == 1
        candles = store.read("BTCUSDT", "klines-1m", START, tape.end_ms)
        assert candles.time.tolist() == list(range(START, tape.end_ms, MINUTE))  # 1440 a day: pages of 1000
        assert np.array_equal(candles.close, np.round(server.klines[:, 4], 1))
        oi = store.read("BTCUSDT", "metrics", START, tape.end_ms)
        assert oi.time.tolist() == list(range(START, tape.end_ms, 5 * MINUTE))  # 288 a day: pages of 200
        assert oi.oi.tolist() == [tape.oi_at(int(t))[1] for t in oi.time]
        funding = store.read("BTCUSDT", "fundingRate", START, tape.end_ms)
        assert funding.time.tolist() == [START, START + 8 * HOUR, START + 16 * HOUR, START + 24 * HOUR]
        assert ("klines-1m", "2026-01-01") in report.written
        assert report.tiers_file == tmp_path / "bybit" / "tiers" / "BTCUSDT_2026-01-02.json"
        assert report.notes == [f"margin tiers of 2026-01-02 are in {report.tiers_file}; maps use them with "
                                f"--param brackets={report.tiers_file}"]
        before = server.log["GET /v5/market/kline"]
        again = backfill(client, store, "BTCUSDT", START, tape.end_ms, "1m")
        assert ("klines-1m", "2026-01-01") in again.skipped and ("klines-1m", "2026-01-02") in again.written
        assert server.log["GET /v5/market/kline"] == before + 1  # only the partial last day, one page
        tiers = client.tiers("BTCUSDT", "2026-01-01")
        table = parse_bracket_table(tiers, "bybit risk-limit")
        assert [b.cap for b in table.brackets] == [2_000_000, 2_600_000, 3_200_000]
        assert [b.maintenance_amount for b in table.brackets] == [0.0, 1200.0, 3020.0]  # the stated deductions agree
        client.close()

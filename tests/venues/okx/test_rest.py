"""OKX REST parsers on recorded answers (contracts x ctVal), and the client and backfill against the local server."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.model.margin import parse_bracket_table
from liqmap.net import TransientError
from liqmap.sources.cache import Store
from liqmap.venues.base import VenueError
from liqmap.venues.binance.rest import backfill
from liqmap.venues.okx.rest import (OkxClient, data_of, inst_id, parse_candles, parse_contract_value, parse_funding,
                                    parse_open_interest, parse_position_tiers)
from tests.exchange_servers.base import Faults
from tests.exchange_servers.tape import synthetic_tape

from tests.venues.frames import frame
from tests.exchange_servers.okx import OkxServer

MINUTE, HOUR = 60_000, 3_600_000
START = 1_767_225_600_000  # 2026-01-01T00:00Z


def test_names_and_contract_values():
    assert inst_id("btcusdt") == "BTC-USDT-SWAP"
    with pytest.raises(VenueError, match="'BTCUSD' is not a USDT swap like BTCUSDT"):
        inst_id("BTCUSD")
    assert parse_contract_value(frame("okx", "rest_instruments_swap"), "BTC-USDT-SWAP") == 0.01
    assert parse_contract_value(frame("okx", "rest_instruments_swap"), "BTC-USD-SWAP") == 100.0
    missing = frame("okx", "rest_instruments_swap")
    for row in missing["data"]:
        row.pop("ctVal")
    with pytest.raises(DataError, match="BTC-USDT-SWAP has no contract size \\(field 'ctVal' is missing\\)"):
        parse_contract_value(missing, "BTC-USDT-SWAP")


def test_candles_in_base_units_sorted_and_only_confirmed():
    c = parse_candles(frame("okx", "rest_candles"), 0.01, HOUR)
    # the newest row (confirm "0") is still forming: left out; 32101.18 contracts x 0.01 = 321.0118 BTC (volCcy)
    assert c.time.tolist() == [1786816800000]
    assert (c.open[0], c.high[0], c.low[0], c.close[0]) == (63045.5, 63081.5, 63013.7, 63028.0)
    assert c.volume[0] == pytest.approx(321.0118, abs=1e-9) and np.isnan(c.taker_buy_volume[0])


def test_open_interest_and_funding():
    assert parse_open_interest(frame("okx", "rest_open_interest"), 0.01) == (1786820650933, pytest.approx(33842.7306000001729))
    f = parse_funding(frame("okx", "rest_funding_rate_history"))
    assert f.time.tolist() == [1786780800000, 1786809600000]  # newest first on the wire
    assert f.rate.tolist() == [0.0000765914290582, 0.0000647375951599]


def test_position_tiers_become_a_bracket_file_in_contracts():
    table = parse_position_tiers(frame("okx", "rest_position_tiers_doc"), "BTCUSDT", 0.01, "2026-01-01")
    assert table["tiers"] == [{"cap": 50.0, "max_leverage": 10.0, "mmr": 0.03}]
    assert (table["size_unit"], table["contract_size"], table["taker_fee"]) == ("contracts", 0.01, 0.0005)


def test_errors_are_named():
    bad = frame("okx", "rest_candles")
    bad["data"][1][2] = "x"
    with pytest.raises(DataError, match=r"row 1, field 2 \(h\): 'x' is not a number"):
        parse_candles(bad, 0.01, HOUR)
    with pytest.raises(DataError, match=r"code 51001 \(Instrument ID does not exist\)"):
        data_of({"code": "51001", "msg": "Instrument ID does not exist", "data": []}, "GET /api/v5/market/candles")
    with pytest.raises(TransientError, match="code 50011"):
        data_of({"code": "50011", "msg": "Too Many Requests", "data": []}, "GET /api/v5/market/candles")
    with pytest.raises(DataError, match="expected an OKX answer"):
        data_of({"retCode": 0, "result": {}}, "GET /api/v5/market/candles")  # a Bybit answer


def test_backfill_against_the_local_server(tmp_path):
    tape = synthetic_tape(start_ms=START, minutes=1500, trades_per_second=0.05)
    faults = Faults(rest_status={"/api/v5/market/history-candles": [(429, 0.1)]})
    with OkxServer(tape, tape.end_ms, faults=faults) as server:
        client = OkxClient(server.rest_url, sleep=lambda s: None)
        store = Store(tmp_path, "okx")
        end = tape.end_ms
        report = backfill(client, store, "BTCUSDT", START, end, "1m")
        assert client.rate_limited == 1 and server.log["GET /api/v5/public/instruments"] == 1  # ctVal asked once
        candles = store.read("BTCUSDT", "klines-1m", START, end)
        assert candles.time.tolist() == list(range(START, end, MINUTE))  # 15 pages of 100 newest-first
        assert np.allclose(candles.volume, server.klines[:, 5], rtol=0, atol=1e-9)  # contracts x 0.01 = BTC
        oi = store.read("BTCUSDT", "metrics", START, end)
        # the history reaches 5 days back: all of these 25 hours
        assert oi.time.tolist() == list(range(START, end, 5 * MINUTE))
        assert np.allclose(oi.oi, [tape.oi_at(int(t))[1] for t in oi.time], rtol=0, atol=1e-9)
        assert store.read("BTCUSDT", "fundingRate", START, end).time.tolist() == [START + k * 8 * HOUR for k in range(4)]
        assert report.notes == [f"margin tiers of 2026-01-02 are in {report.tiers_file}; maps use them with "
                                f"--param brackets={report.tiers_file}"]
        longer = backfill(client, Store(tmp_path / "week", "okx"), "BTCUSDT", end - 7 * 24 * HOUR, end, "1m")
        assert longer.notes[0].startswith("open interest: okx serves only the latest 5 days of 5-minute history; "
                                          "before 2025-12-28T01:05:00Z there is none")  # end - 5 days + one step
        table = parse_bracket_table(client.tiers("BTCUSDT", "2026-01-02"), "okx position-tiers")
        assert [(b.floor, b.cap, b.mmr) for b in table.brackets] == [(0, 20000, 0.004), (20000, 50000, 0.005),
                                                                     (50000, 100000, 0.007)]
        assert table.contract_size == 0.01
        client.close()

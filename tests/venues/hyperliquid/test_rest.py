"""Hyperliquid POST /info history: parsers on recorded answers, and the client against the local server."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import MS_PER_HOUR, DataError
from liqmap.sources.cache import Store
from liqmap.venues.binance.rest import backfill
from liqmap.venues.hyperliquid.rest import HyperliquidClient, parse_candles, parse_funding_history
from tests.exchange_servers import hyperliquid as hl_server
from tests.exchange_servers.base import Faults
from tests.exchange_servers.hyperliquid import HyperliquidServer
from tests.exchange_servers.tape import synthetic_tape
from tests.venues.frames import frame

START = 1_767_225_600_000  # 2026-01-01T00:00Z
MINUTE = 60_000


def test_candle_snapshot_rows():
    candles = parse_candles(frame("hyperliquid", "rest_candleSnapshot"), MS_PER_HOUR)
    assert candles.time.tolist() == [1684699200000 + k * MS_PER_HOUR for k in range(5)]
    assert (candles.open[0], candles.high[0], candles.low[0], candles.close[0], candles.volume[0]) == (
        0.001601, 0.001616, 0.001601, 0.001604, 520665683.0)
    assert candles.close[-1] == 0.00155 and np.isnan(candles.taker_buy_volume).all()
    with pytest.raises(DataError, match="candleSnapshot row 0: a bar of 3600000 ms where 60000 ms were asked for"):
        parse_candles(frame("hyperliquid", "rest_candleSnapshot"), MINUTE)


def test_funding_history_rows_are_hourly_rates():
    funding = parse_funding_history(frame("hyperliquid", "rest_fundingHistory"))
    assert funding.interval_ms == MS_PER_HOUR
    assert funding.time[0] == 1683849600048 and funding.rate[0] == -0.00061334 and funding.rate[-1] == -0.00010343
    rows = frame("hyperliquid", "rest_fundingHistory")
    rows[2]["fundingRate"] = "n/a"
    with pytest.raises(DataError, match=r"fundingHistory row 2, field 'fundingRate': 'n/a' is not a number"):
        parse_funding_history(rows)


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=120, trades_per_second=0.5)


def test_backfill_pages_candles_and_funding_and_says_there_is_no_open_interest_history(tape, tmp_path, monkeypatch):
    monkeypatch.setattr(hl_server, "CANDLE_LIMIT", 50)  # 120 minutes: pages of 50, 50 and 20
    faults = Faults(rest_status={"candleSnapshot": [(429, 0)]})
    with HyperliquidServer(tape, START + 120 * MINUTE, faults=faults) as server:
        client = HyperliquidClient(server.rest_url)
        assert client.server_time() == START + 120 * MINUTE  # the Date header
        store = Store(tmp_path, "hyperliquid")
        report = backfill(client, store, "BTCUSDT", START, START + 120 * MINUTE)
        assert server.log["POST candleSnapshot"] == 4  # one 429, then three pages
        assert client.rate_limited == 1
        t, oi = client.open_interest("BTCUSDT")
        assert (t, oi) == (START + 120 * MINUTE, tape.oi_at(START + 120 * MINUTE)[1])
        client.close()
    assert sorted({kind for kind, _ in report.written}) == ["fundingRate", "klines-1m"]
    assert any("hyperliquid publishes no open-interest history" in note for note in report.notes)
    candles = store.read("BTCUSDT", "klines-1m")
    assert candles.time.tolist() == list(range(START, START + 120 * MINUTE, MINUTE))
    assert np.array_equal(candles.close, np.round(server.klines[:, 4], 1))
    funding = store.read("BTCUSDT", "fundingRate")
    assert funding.time.tolist() == [START, START + MS_PER_HOUR]  # hourly settlements
    assert funding.rate.tolist() == server.funding_rate[:2].tolist()

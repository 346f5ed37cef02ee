"""The REST backfill against the local Binance exchange (tests/exchange_servers/binance.py): pagination, store, resume, 429."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.sources.cache import Store
from liqmap.venues.binance import rest
from tests.exchange_servers.base import Faults
from tests.exchange_servers.binance import BinanceServer
from tests.exchange_servers.tape import synthetic_tape

DAY = 86_400_000
START = 1_767_139_200_000  # 2025-12-31T00:00Z


@pytest.fixture(scope="module")
def tape():
    return synthetic_tape(start_ms=START, minutes=25 * 60, trades_per_second=0.2)


def test_backfill_stores_days_like_vision_files_and_resumes(tape, tmp_path):
    live_start = START + DAY + 30 * 60_000  # 2026-01-01T00:30Z
    faults = Faults(rest_status={"/fapi/v1/klines": [(429, 1)]})
    with BinanceServer(tape, live_start, faults=faults) as server:
        client = rest.RestClient(server.rest_url)
        assert client.server_now() // 60_000 * 60_000 == live_start
        store = Store(tmp_path)
        report = rest.backfill(client, store, "BTCUSDT", START, live_start)
        # 2 days x klines, mark klines, metrics + one month of funding per month touched
        assert sorted(report.written) == [
            ("fundingRate", "2025-12"), ("fundingRate", "2026-01"),
            ("klines-1m", "2025-12-31"), ("klines-1m", "2026-01-01"),
            ("markPriceKlines-1m", "2025-12-31"), ("markPriceKlines-1m", "2026-01-01"),
            ("metrics", "2025-12-31"), ("metrics", "2026-01-01")]
        assert client.rate_limited == 1 and server.log["HTTP 429 /fapi/v1/klines"] == 1
        # 1,470 minutes in pages of 1,000 rows: 2 pages for the whole day, 1 for the half hour, 1 retried
        assert server.log["GET /fapi/v1/klines"] == 2 + 1 + 1
        candles = store.read("BTCUSDT", "klines-1m")
        assert candles.time.size == 24 * 60 + 30
        truth = server.klines[: 24 * 60 + 30]
        assert np.array_equal(candles.time, truth[:, 0].astype(np.int64))
        assert np.allclose(candles.close, truth[:, 4]) and np.allclose(candles.taker_buy_volume, truth[:, 6], atol=5e-4)
        mark = store.read("BTCUSDT", "markPriceKlines-1m")
        assert mark.price_kind == "mark" and np.allclose(mark.low, server.mark_klines[: 24 * 60 + 30, 3])
        oi = store.read("BTCUSDT", "metrics")
        assert oi.time.size == 24 * 12 + 6  # every 5 minutes from 00:00 up to 00:25 of the next day (end exclusive)
        funding = store.read("BTCUSDT", "fundingRate")
        assert funding.time.tolist() == [START, START + 8 * 3_600_000, START + 16 * 3_600_000, START + DAY]

        again = rest.backfill(client, store, "BTCUSDT", START, live_start)
        # the whole past day is complete and skipped; the partial day is fetched again
        assert ("klines-1m", "2025-12-31") in again.skipped and ("klines-1m", "2026-01-01") in again.written
        assert store.read("BTCUSDT", "fundingRate").time.size == 4
        client.close()


def test_a_window_longer_than_the_open_interest_history_says_what_it_assumed(tape, tmp_path):
    with BinanceServer(tape, START + 60 * 60_000) as server:
        client = rest.RestClient(server.rest_url)
        end = START + 60 * 60_000
        report = rest.backfill(client, Store(tmp_path), "BTCUSDT", end - 31 * DAY, end)
        client.close()
    assert "only the latest 30 days" in report.notes[0] and "2025-12-01T01:05:00Z" in report.notes[0]

"""The recorder: Parquet per hour or day, atomic, merged across restarts, hourly totals as realized liquidations."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.live.events import Liquidation, MarkTick, OpenInterestPoll, Trade
from liqmap.live.recorder import Recorder, period_of
from liqmap.sources.cache import Store

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
HOUR = 3_600_000


def liq(t, side, price, size):
    return Liquidation(t, "BTCUSDT", side, price, size, price * size, "binance")


def test_events_are_written_per_hour_and_totalled(tmp_path):
    store = Store(tmp_path)
    rec = Recorder(store, "BTCUSDT", "binance", "hour", trades=True)
    rec.add(liq(T0 + 10, "long", 100.0, 2.0))
    rec.add(liq(T0 + 20, "short", 110.0, 1.0))
    rec.add(liq(T0 + HOUR + 5, "long", 90.0, 1.0))
    rec.add(OpenInterestPoll(T0 + 15_000, 80_000.0))
    rec.add(MarkTick(T0 + 1000, 100.5, 100.4, 0.0001, T0 + 8 * HOUR))
    rec.add(Trade(T0 + 7, 100.1, 0.5, True, 1))
    rec.flush(T0 + HOUR + 5)
    assert store.periods("BTCUSDT", "forceOrders") == ["2026-01-01T00", "2026-01-01T01"]
    events = store.read("BTCUSDT", "forceOrders")
    assert events.time.tolist() == [T0 + 10, T0 + 20, T0 + HOUR + 5]
    assert events.is_long.tolist() == [True, False, True] and events.usd.tolist() == [200.0, 110.0, 90.0]
    totals = store.read("BTCUSDT", "liquidations")
    assert totals.time.tolist() == [T0, T0 + HOUR]
    assert totals.long_usd.tolist() == [200.0, 90.0] and totals.short_usd.tolist() == [110.0, 0.0]
    assert "lower bounds" in totals.source
    assert store.read("BTCUSDT", "oiPolls").oi.tolist() == [80_000.0]
    assert store.read("BTCUSDT", "markPrice").mark.tolist() == [100.5]
    assert store.read("BTCUSDT", "aggTrades").is_buyer_maker.tolist() == [True]
    # the finished hour is forgotten in memory; the open one keeps growing in place
    rec.add(liq(T0 + HOUR + 9, "short", 95.0, 2.0))
    rec.close()
    assert store.read("BTCUSDT", "forceOrders", T0 + HOUR).usd.tolist() == [90.0, 190.0]
    assert store.read("BTCUSDT", "forceOrders", T0, T0 + HOUR).usd.tolist() == [200.0, 110.0]


def test_a_restart_in_the_same_period_keeps_what_was_recorded(tmp_path):
    store = Store(tmp_path)
    first = Recorder(store, "BTCUSDT", "binance", "day")
    first.add(liq(T0 + 10, "long", 100.0, 1.0))
    first.close()
    second = Recorder(store, "BTCUSDT", "binance", "day")
    second.add(liq(T0 + 50, "long", 101.0, 1.0))
    second.close()
    assert store.periods("BTCUSDT", "forceOrders") == ["2026-01-01"]
    assert store.read("BTCUSDT", "forceOrders").price.tolist() == [100.0, 101.0]
    assert np.allclose(store.read("BTCUSDT", "liquidations").long_usd, [201.0])


def test_periods_and_a_bad_rotation():
    assert period_of(T0 + HOUR * 13 + 5, "hour") == "2026-01-01T13"
    assert period_of(T0 + HOUR * 13 + 5, "day") == "2026-01-01"
    with pytest.raises(ValueError, match="--rotate must be one of hour, day, not 'week'"):
        Recorder(Store("/nonexistent"), "BTCUSDT", "binance", "week")

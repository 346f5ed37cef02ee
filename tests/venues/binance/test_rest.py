"""REST parsers on recorded responses, and the client against a local server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.frames import DataError
from liqmap.venues.binance import rest

from tests.venues.frames import frame


def test_klines_parse_the_recorded_hourly_rows():
    c = rest.parse_klines(frame("binance", "rest_klines"))
    assert c.interval_ms == 3_600_000  # close time 1786820399999 - open 1786816800000 + 1
    assert c.time.tolist() == [1786816800000, 1786820400000]
    assert c.open.tolist() == [63043.40, 63026.30]
    assert c.high.tolist() == [63083.00, 63029.70]
    assert c.low.tolist() == [63011.60, 63026.20]
    assert c.close.tolist() == [63026.30, 63029.70]
    assert c.volume.tolist() == [1116.068, 70.640]
    assert c.taker_buy_volume.tolist() == [460.737, 48.581]
    assert c.price_kind == "last"


def test_mark_klines_have_no_volume():
    c = rest.parse_klines(frame("binance", "rest_markPriceKlines_doc"), "mark")
    assert c.price_kind == "mark" and c.interval_ms == 60_000
    assert c.close.tolist() == [9653.07367333]
    assert math.isnan(c.volume[0]) and math.isnan(c.taker_buy_volume[0])


def test_open_interest_history_and_current():
    oi = rest.parse_open_interest_hist(frame("binance", "rest_openInterestHist"))
    assert oi.time.tolist() == [1786816800000, 1786820400000]
    assert oi.oi.tolist() == [111856.664, 111688.14]
    assert oi.oi_value.tolist() == [7051831069.120872, 7039340891.315014]
    assert rest.parse_open_interest(frame("binance", "rest_openInterest")) == (1723425441998, 70056.543)


def test_funding_is_scaled_to_8_hours_from_the_row_spacing():
    f = rest.parse_funding(frame("binance", "rest_fundingRate"))
    assert f.time.tolist() == [1786780800002, 1786809600000]  # 8 h apart (rounded)
    assert f.rate.tolist() == [0.00006523, 0.00005311]
    hourly = [{"fundingTime": 3_600_000 * k, "fundingRate": "0.0001"} for k in range(3)]
    assert np.allclose(rest.parse_funding(hourly).rate, 0.0008)


def test_agg_trades_parse_the_documented_row_and_name_a_bad_field():
    # GET /fapi/v1/aggTrades, Binance's documented example response
    row = {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781, "T": 1498793709153, "m": True}
    (t,) = rest.parse_agg_trades([row])
    assert (t.trade_id, t.time, t.price, t.quantity, t.is_buyer_maker) == (26129, 1498793709153, 0.01633102,
                                                                           4.70443515, True)
    with pytest.raises(DataError, match=r"aggTrades row 1, field 'p': 'x' is not a number"):
        rest.parse_agg_trades([row, {**row, "p": "x"}])
    with pytest.raises(DataError, match="aggTrades row 0: expected an object"):
        rest.parse_agg_trades([[1, 2]])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"code": -1121}, "expected a JSON array, got dict"),
        ([[1, "1", "2", "0.5", "1.5", "x", 60_000, "0", 1, "0"]], "row 0, field 5 (volume): 'x' is not a number"),
        ([[1, "1", "2", "0.5", "1.5", "3"]], "row 0: expected a list of 12 fields"),
    ],
)
def test_bad_klines_name_the_row_and_field(payload, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rest.parse_klines(payload, what="GET /fapi/v1/klines")


def test_bad_open_interest_names_the_field():
    with pytest.raises(DataError, match="field 'openInterest' is missing"):
        rest.parse_open_interest({"time": 1, "symbol": "BTCUSDT"})
    with pytest.raises(DataError, match=r"row 1, field 'sumOpenInterest': 'nan\?' is not a number"):
        rest.parse_open_interest_hist([{"timestamp": 1, "sumOpenInterest": "1"},
                                       {"timestamp": 2, "sumOpenInterest": "nan?"}])

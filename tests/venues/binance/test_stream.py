"""Stream parsers on recorded frames."""

from __future__ import annotations

import json

import pytest

from liqmap.frames import DataError
from liqmap.live.events import Bar, Liquidation, MarkTick, Trade
from liqmap.venues.binance import stream

from tests.venues.frames import frame, frame_text


def test_agg_trade():
    name, event = stream.parse_message(frame_text("binance", "ws_aggTrade"))
    assert name == "ctkusdt@aggTrade"
    assert event == Trade(time=1626992741421, price=1.011, quantity=10.0, is_buyer_maker=False, trade_id=16599292)


def test_mark_price_recorded_and_documented_shapes():
    name, event = stream.parse_message(frame_text("binance", "ws_markPriceUpdate"))
    assert name == "btcusdt@markPrice@1s"
    assert event == MarkTick(time=1597536008000, mark=11857.56, index=11851.86949091, funding_rate=0.0001564,
                             next_funding_ms=1597564800000)
    name, event = stream.parse_message(frame_text("binance", "ws_markPriceUpdate_doc"))  # a bare payload, no wrapper
    assert name == "btcusdt@markPriceUpdate" and event.mark == 11794.15


def test_closed_kline():
    name, event = stream.parse_message(frame_text("binance", "ws_kline_1m"))
    assert name == "sushiusdt@kline_1m"
    assert event == Bar(time=1626992700000, interval_ms=60_000, open=7.608, high=7.618, low=7.607, close=7.617,
                        volume=3005.0, taker_buy_volume=1900.0, closed=True, event_time=1626992760203)


def test_force_order_sell_is_a_long_liquidated_at_the_average_fill_price():
    _, event = stream.parse_message(frame_text("binance", "ws_forceOrder"))
    assert isinstance(event, Liquidation)
    assert (event.side, event.price, event.size, event.time, event.venue) == ("long", 82651.90, 0.190,
                                                                             1791565602120, "binance")
    assert event.usd == pytest.approx(82651.90 * 0.190)  # 15,703.86 USD
    _, old = stream.parse_message(frame_text("binance", "ws_forceOrder_2021"))  # the 2021 shape, without ps/st
    assert (old.symbol, old.side, old.price, old.size) == ("IOTXUSDT", "long", 0.06669, 3661.0)


def test_buy_force_order_is_a_short():
    data = frame("binance", "ws_forceOrder")
    data["data"]["o"]["S"] = "BUY"


    assert stream.parse_message(json.dumps(data))[1].side == "short"


def test_subscription_answer_and_combined_wrapper():
    assert stream.parse_message('{"result": null, "id": 1}') == ("", None)
    wrapped = frame("binance", "ws_combined_wrapper")[0]  # a bookTicker: not a stream liqmap subscribes to


    with pytest.raises(DataError, match="sushiusdt@bookTicker: unknown event type 'bookTicker'"):
        stream.parse_message(json.dumps(wrapped))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1', "not JSON"),
        ('[1, 2]', "expected a JSON object, got list"),
        ('{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "T": 1, "p": "1", "q": "1", "a": 1}}',
         "btcusdt@aggTrade: field 'm' is missing"),
        ('{"stream": "btcusdt@markPrice@1s", "data": {"e": "markPriceUpdate", "E": 1, "p": "abc", "i": "1", '
         '"r": "0", "T": 2}}', "btcusdt@markPrice@1s, field 'p': 'abc' is not a number"),
    ],
)
def test_malformed_frames_name_the_stream_and_field(text, message):
    with pytest.raises(DataError, match=message):
        stream.parse_message(text)


def test_stream_names_and_route():
    names = stream.stream_names("BTCUSDT")
    assert list(names.values()) == ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "btcusdt@kline_1m",
                                    "btcusdt@forceOrder"]
    assert stream.stream_url("wss://fstream.binance.com/market/stream/", list(names.values())[:2]) == (
        "wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice@1s")

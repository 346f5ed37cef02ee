"""Running a live loop against the local exchange servers, and checking it ended on the exchange's whole series."""

from __future__ import annotations

import asyncio

import numpy as np


def run_to_end(loop, end_ms: int, timeout_s: float = 60.0) -> None:
    """Run ``loop`` until its newest map holds the tape's last bar (``end_ms``); fail after ``timeout_s``."""

    def done(lp):
        return lp.latest is not None and lp.latest.data_time >= end_ms

    asyncio.run(asyncio.wait_for(loop.run(until=done), timeout_s))


def assert_bars_are(market, candles, mark=None) -> None:
    """The market's bars are the exchange's series bar for bar (time, OHLCV), and so are its mark-price bars
    (OHLC) where the venue has them."""
    assert np.array_equal(market.candles.time, candles.time)
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(market.candles, name), getattr(candles, name)), name
    if mark is not None:
        for name in ("open", "high", "low", "close"):
            assert np.array_equal(getattr(market.mark_candles, name), getattr(mark, name)), name

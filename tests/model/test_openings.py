"""Openings from open-interest increments: the shrinkage toward the recent opening rate."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import Candles
from liqmap.model.openings import opens_and_closes
from liqmap.model.params import BookParams

from .test_book import T0, oi

M5 = 300_000


def five_minute_candles(n: int) -> Candles:
    flat = np.full(n, 100.0)
    return Candles(time=T0 + np.arange(n) * M5, open=flat, high=flat, low=flat, close=flat, volume=np.ones(n),
                   taker_buy_volume=np.full(n, 0.5), interval_ms=M5)


def test_increments_are_shrunk_toward_the_rate_of_the_rises_before_them():
    # OI 100, 110, 110, 100, 130 every 5 minutes (changes +10, 0, -10, +30); half weight on the rate of rises
    # over the 10 minutes before each increment:
    #   1st: nothing before it, its rise stands: opens 10
    #   2nd: before it +10 in 5 min, prior 10: opens 0.5*0 + 0.5*10 = 5, closes 5
    #   3rd: before it +10 and 0 in 10 min, prior 5: opens 2.5, closes 2.5 + 10 = 12.5
    #   4th: before it 0 and -10 in 10 min, prior 0: 0.5*30 = 15 is below the net rise, so opens 30, closes 0
    p = BookParams(oi_shrinkage=0.5, oi_prior_span_ms=2 * M5)
    opened, closed, oi_at_end = opens_and_closes(five_minute_candles(4), oi(np.arange(5) * M5, [100, 110, 110, 100, 130]),
                                                 p, [])
    assert opened.tolist() == pytest.approx([10.0, 5.0, 2.5, 30.0])
    assert closed.tolist() == pytest.approx([0.0, 5.0, 12.5, 0.0])
    assert (opened - closed).tolist() == pytest.approx([10.0, 0.0, -10.0, 30.0])  # the net is the OI's change
    assert oi_at_end.tolist() == [110.0, 110.0, 100.0, 130.0]


def test_no_shrinkage_keeps_the_rises_and_falls():
    opened, closed, _ = opens_and_closes(five_minute_candles(4), oi(np.arange(5) * M5, [100, 110, 110, 100, 130]),
                                         BookParams(oi_shrinkage=0.0), [])
    assert opened.tolist() == [10.0, 0.0, 0.0, 30.0] and closed.tolist() == [0.0, 0.0, 10.0, 0.0]


def test_full_shrinkage_opens_at_the_recent_rate_and_never_looks_ahead():
    # weight 1, a one-hour span: after the first increment every one opens the mean rise of the hour before it;
    # changing what comes later leaves the earlier openings as they were
    level = [100, 112, 100, 112, 100, 112, 100]
    p = BookParams(oi_shrinkage=1.0, oi_prior_span_ms=3_600_000)
    opened, _, _ = opens_and_closes(five_minute_candles(6), oi(np.arange(7) * M5, level), p, [])
    # (a fall opens the prior: 12 in 5 min, then 24 in 15 min = 8, then 36 in 25 min = 7.2; a rise of 12 is more)
    assert opened.tolist() == pytest.approx([12.0, 12.0, 12.0, 8.0, 12.0, 7.2])
    later = opens_and_closes(five_minute_candles(6), oi(np.arange(7) * M5, level[:-1] + [500]), p, [])[0]
    assert later[:5].tolist() == pytest.approx(opened[:5].tolist())

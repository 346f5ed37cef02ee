"""Openings from open-interest increments: the shrinkage toward the opening rate per traded volume."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import Candles
from liqmap.model.openings import opens_and_closes
from liqmap.model.params import BookParams

from .test_book import T0, oi

M5 = 300_000
DAY = 86_400_000


def candles_of(volume, interval: int = M5) -> Candles:
    flat = np.full(len(volume), 100.0)
    return Candles(time=T0 + np.arange(len(volume)) * interval, open=flat, high=flat, low=flat, close=flat,
                   volume=np.array(volume, float), taker_buy_volume=np.full(len(volume), 0.5), interval_ms=interval)


# OI every 5 minutes 100, 110, 105, 110, 112 (changes +10, -5, +5, +2) over 5-minute candles of volume 40, 60, 80, 60.
# Rate of rises per volume before each increment (a day's span: all of them):
#   1st: no volume before it, its rise stands: 10
#   2nd: a fall opens no entry group, so it takes no prior: opens 0, closes 5
#   3rd: 10 / (40 + 60) = 0.1 per unit, prior 0.1 * 80 = 8; opens (1 - s) 5 + s 8
#   4th: 15 / (40 + 60 + 80) = 1/12, prior 60 / 12 = 5; opens (1 - s) 2 + s 5
LEVELS, VOLUMES = [100, 110, 105, 110, 112], [40, 60, 80, 60]


@pytest.mark.parametrize("s, opens", [(0.0, [10, 0, 5, 2]), (0.5, [10, 0, 6.5, 3.5]), (1.0, [10, 0, 8, 5])])
def test_rises_are_shrunk_toward_the_opening_rate_per_volume(s, opens):
    p = BookParams(oi_shrinkage=s, oi_prior_span_ms=DAY)
    opened, closed, oi_at_end = opens_and_closes(candles_of(VOLUMES), oi(np.arange(5) * M5, LEVELS), p, [])
    assert opened.tolist() == pytest.approx(opens)
    assert (opened - closed).tolist() == pytest.approx([10, -5, 5, 2])  # the net is the OI's change
    assert oi_at_end.tolist() == [110, 105, 110, 112]


def test_the_prior_never_looks_ahead():
    # changing the data after the third increment (its last OI and the last candle's volume) leaves the first three
    p = BookParams(oi_shrinkage=0.5, oi_prior_span_ms=DAY)
    opened = opens_and_closes(candles_of(VOLUMES), oi(np.arange(5) * M5, LEVELS), p, [])[0]
    later = opens_and_closes(candles_of(VOLUMES[:3] + [600]), oi(np.arange(5) * M5, LEVELS[:4] + [111]), p, [])[0]
    assert later[:3].tolist() == pytest.approx(opened[:3].tolist())
    # the 4th: 15/180 of 600 = 50, opens 0.5 * 1 + 0.5 * 50 = 25.5
    assert later[3] == pytest.approx(25.5) and opened[3] == pytest.approx(3.5)


def test_the_span_bounds_the_rate():
    # a 10-minute span: the 4th increment sees the 2nd and 3rd only, 5 / (60 + 80) per unit, prior 60 * 5/140
    p = BookParams(oi_shrinkage=1.0, oi_prior_span_ms=2 * M5)
    opened = opens_and_closes(candles_of(VOLUMES), oi(np.arange(5) * M5, LEVELS), p, [])[0]
    assert opened[3] == pytest.approx(max(2, 60 * 5 / 140))  # 2.142857


@pytest.mark.parametrize("s, opens", [(0.0, [6, 0, 2]), (0.5, [6, 0, 1 + 1.25 + 1.2]), (1.0, [6, 0, 2 + 1.5 + 1.4])])
def test_coarser_candles_share_their_volume_and_their_entry_group(s, opens):
    # 15-minute candles of volume 30, 30, 60 over 5-minute OI: each increment has a third of its candle's volume
    # (10, 10, 10 | 10, 10, 10 | 20, 20, 20). OI 100, 102, 104, 106 | 105, 104, 103 | 102, 103, 104.
    #   candle 0: +2 each; the 2nd and 3rd see 2 per 10 of volume, prior 2: opens 6 whatever s
    #   candle 1: only falls, no entry group: opens 0, closes 3
    #   candle 2 opens (it rises), so each of its increments takes the prior, its first, falling, too:
    #     -1: 6 / 60 * 20 = 2        -> s 2 (above the net fall)
    #     +1: 6 / 80 * 20 = 1.5      -> (1 - s) 1 + s 1.5
    #     +1: 7 / 100 * 20 = 1.4     -> (1 - s) 1 + s 1.4
    level = [100, 102, 104, 106, 105, 104, 103, 102, 103, 104]
    p = BookParams(oi_shrinkage=s, oi_prior_span_ms=DAY)
    opened, closed, _ = opens_and_closes(candles_of([30, 30, 60], 3 * M5), oi(np.arange(10) * M5, level), p, [])
    assert opened.tolist() == pytest.approx(opens)
    assert (opened - closed).tolist() == pytest.approx([6, -3, 1])

"""The ex-ante first-touch test: touches written down by hand, the forecasts and their scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.validate.firsttouch import ATR_BANDS, atr_band, brier, first_touch, log_loss, reach_forecast


def test_first_touch_on_a_path_written_by_hand():
    #            row:    0    1    2    3    4    5
    low = np.array([99.0, 97.0, 98.0, 95.0, 96.0, 99.0])
    high = np.array([101.0, 100.0, 103.0, 102.0, 106.0, 101.0])
    start = np.array([0, 0, 2, 0, 0, 3, 5, 0])
    level = np.array([97.0, 96.0, 97.0, 103.0, 105.0, 103.0, 99.0, 110.0])
    above = np.array([False, False, False, True, True, True, False, True])
    # 97 below from 0: row 1 (low 97 reaches it exactly); 96 from 0: row 3; 97 from 2: row 3;
    # 103 above from 0: row 2; 105 from 0: row 4; 103 from 3: row 4; 99 below from 5: row 5 (same row);
    # 110 above: never (6 = the path's length)
    assert first_touch(low, high, start, level, above).tolist() == [1, 3, 3, 2, 4, 4, 5, 6]


def test_reach_forecast_adds_one_success_and_one_failure_per_band():
    bands = np.array([0, 0, 0, 1])
    hits = np.array([True, True, False, False])
    forecast = reach_forecast(bands, hits, np.array([0, 1, 2]))
    assert forecast == pytest.approx([(2 + 1) / (3 + 2), (0 + 1) / (1 + 2), 0.5])  # band 2: no data, 1/2


def test_scores_by_hand():
    p = np.array([0.8, 0.25])
    y = np.array([True, False])
    assert log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    assert brier(p, y.astype(float)) == pytest.approx((0.2 ** 2 + 0.25 ** 2) / 2)
    assert atr_band(np.array([0.5, 1.0, 1.5, 19.0, 25.0])).tolist() == [0, 0, 1, 6, len(ATR_BANDS) - 1]

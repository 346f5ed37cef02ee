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


def test_the_levels_of_an_as_of_time_ignore_everything_after_it(shared_data):
    """Planted changes after h (prices, OI, funding) leave every cluster read as of h or before as it was."""
    from liqmap.timeutil import parse_time
    from liqmap.validate.dataset import load_dataset
    from liqmap.validate.firsttouch import as_of_rows, cluster_levels
    from liqmap.validate.walkforward import ModelChoice
    from tests.validate.test_walkforward import _plant

    data = load_dataset(shared_data)
    start, end, h = parse_time("2026-02-01"), parse_time("2026-02-15"), parse_time("2026-02-08T12:00")
    rows = as_of_rows(data.hours, start, end)
    base = cluster_levels(data, rows, end, ModelChoice())
    planted = cluster_levels(_plant(data, h, 1.25), rows, end, ModelChoice())
    early, p_early = data.hours.time[base["row"]] <= h, data.hours.time[planted["row"]] <= h
    assert early.sum() > 50
    for key in ("row", "peak", "above", "atr", "notional", "z"):
        np.testing.assert_allclose(planted[key][p_early].astype(float), base[key][early].astype(float), rtol=1e-9)
    # the plant does reach the later as-of times (the test can see a change)
    assert not np.array_equal(planted["peak"][~p_early], base["peak"][~early])

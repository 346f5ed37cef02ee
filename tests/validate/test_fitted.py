"""The fitted baseline: least squares solved by hand, the walk-forward months, no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.frames import MS_PER_HOUR
from liqmap.timeutil import parse_time
from liqmap.validate.fitted import FEATURES, MIN_TRAIN_HOURS, least_squares, walk_forward


def test_least_squares_recovers_a_line_solvable_by_hand():
    # y = 1 + 2x exactly at x = 0, 1, 2: intercept 1, slope 2
    assert least_squares(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0])) == pytest.approx([1.0, 2.0])
    # y = 0, 1, 1, 3 at x = 0, 1, 2, 3: normal equations [[4, 6], [6, 14]] b = [5, 11] give b = (-0.1, 0.9)
    coef = least_squares(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0.0, 1.0, 1.0, 3.0]))
    assert coef == pytest.approx([-0.1, 0.9])


def test_each_month_is_fitted_on_earlier_months_only():
    # January: y = 2x; February: y = 10 + 5x.  February's rows are predicted with January's line,
    # and January (no earlier month) gets none.
    start = parse_time("2026-01-01")
    n_jan, n_feb = 31 * 24, 28 * 24
    time = start + np.arange(n_jan + n_feb) * MS_PER_HOUR
    x = (np.arange(time.size) % 7).astype(float)[:, None]
    y = np.where(np.arange(time.size) < n_jan, 2 * x[:, 0], 10 + 5 * x[:, 0])
    fitted = walk_forward(time, x, y, np.ones(time.size, bool), np.arange(time.size))
    assert np.isnan(fitted[:n_jan]).all()
    np.testing.assert_allclose(fitted[n_jan:], 2 * x[n_jan:, 0], atol=1e-9)
    assert n_jan >= MIN_TRAIN_HOURS


def test_too_few_earlier_hours_leave_the_month_unpredicted():
    start = parse_time("2026-01-25")  # 7 days of January before February
    time = start + np.arange(7 * 24 + 48) * MS_PER_HOUR
    x = np.ones((time.size, 1))
    fitted = walk_forward(time, x, np.ones(time.size), np.ones(time.size, bool), np.arange(time.size))
    assert np.isnan(fitted).all()


def test_the_design_has_the_documented_columns(shared_data):
    from liqmap.validate.dataset import load_dataset
    from liqmap.validate.fitted import features

    data = load_dataset(shared_data)
    design = features(data.hours, data.market.funding)
    h = data.hours
    i = int(np.searchsorted(h.time, parse_time("2026-02-10T12:00")))
    long = dict(zip(FEATURES, design["long"][i]))
    fall = (h.open[i] - h.low[i]) / h.open[i]
    assert long["move"] == pytest.approx(fall) and long["move_sq"] == pytest.approx(fall ** 2)
    assert long["other_move"] == pytest.approx((h.high[i] - h.open[i]) / h.open[i])
    assert long["realized_1h"] == pytest.approx(np.log1p(h.long_usd[i - 1]))
    assert long["realized_24h"] == pytest.approx(np.log1p(h.long_usd[i - 24:i].sum()))
    assert long["breakout_24h"] == pytest.approx(max(0.0, np.log(h.low[i - 24:i].min() / h.low[i])))
    assert long["return_24h"] == pytest.approx(np.log(h.open[i] / h.open[i - 24]))
    assert design["short"][i][FEATURES.index("move")] == pytest.approx(long["other_move"])


def test_fitted_nowcast_of_an_hour_ignores_everything_at_or_after_it(shared_data):
    """Planted changes from h on (prices, OI, funding, realized x100) leave every fitted row up to h as it was."""
    from liqmap.validate.dataset import load_dataset
    from liqmap.validate.walkforward import WITH_MAP, predict

    from tests.validate.test_walkforward import _plant as plant

    data = load_dataset(shared_data)
    start, end = parse_time("2026-02-01"), parse_time("2026-02-15")
    h = parse_time("2026-02-08T12:00")
    base = predict(data, start, end)
    planted = predict(plant(data, h, 1.25), start, end)
    upto = base.hours.time <= h
    for name in ("fitted", WITH_MAP):
        for k in range(2):
            np.testing.assert_allclose(planted.by_predictor[name][k][upto], base.by_predictor[name][k][upto],
                                       rtol=1e-9, err_msg=name)
            assert not np.allclose(planted.by_predictor[name][k][~upto], base.by_predictor[name][k][~upto])
    # the test can see a change: a plant in January, a training month, moves February's rows through the fit
    moved = predict(plant(data, parse_time("2026-01-20"), 1.0), start, end)
    assert not np.allclose(moved.by_predictor["fitted"][0][upto], base.by_predictor["fitted"][0][upto])

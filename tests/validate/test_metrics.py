"""Validation scores, bootstrap and the swept-mass reader on tiny series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.validate import bootstrap, metrics
from liqmap.validate.dataset import HourlyTruth
from liqmap.validate.predictors import log_grid, mass_between, move_prediction, uniform_prediction


def test_average_ranks_share_ties():
    # 5 is smallest (1), 10 next (2), the two 20s share ranks 3 and 4 -> 3.5
    assert metrics.average_ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_hand_computed_with_a_tie():
    # ranks a = 1..5, b = 1, 2, 3.5, 5, 3.5; centred: a = -2,-1,0,1,2, b = -2,-1,.5,2,.5
    # a.b = 4+1+0+2+1 = 8, |a|^2 = 10, |b|^2 = 9.5 -> 8 / sqrt(95)
    assert metrics.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_spearman_monotone_and_constant():
    x = np.array([0.3, 1.0, 2.0, 7.0])
    assert metrics.spearman(x, x**3) == pytest.approx(1.0)
    assert metrics.spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(metrics.spearman(x, np.ones(4)))


def test_top_decile_share_and_hit_rate():
    # 20 hours -> the top decile is 2 hours.  The predictor ranks hours 19 and 18 highest.
    predicted = np.arange(20.0)
    realized = np.ones(20)
    realized[19] = 30.0  # the biggest hour, caught
    realized[0] = 10.0  # the second biggest, missed
    # share: (30 + 1) / (30 + 10 + 18 * 1) = 31 / 58; hits: {19, 18} vs {19, 0} -> 1 of 2
    assert metrics.top_decile_share(predicted, realized) == pytest.approx(31 / 58)
    assert metrics.top_decile_hit_rate(predicted, realized) == pytest.approx(0.5)


def test_top_decile_size_rounds_up():
    assert metrics.top_decile(np.arange(21.0)).tolist() == [20, 19, 18]


def test_roc_auc_known_cases():
    # the textbook case: 3 of 4 positive-negative pairs ordered right
    assert metrics.roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half: (0.5 + 1) / 2
    assert metrics.roc_auc([1, 1, 2], [False, True, True]) == pytest.approx(0.75)
    assert math.isnan(metrics.roc_auc([1, 2], [True, True]))


def test_scale_and_its_monthly_stability():
    assert metrics.scale_factor([1, 2, 3], [2, 4, 6]) == pytest.approx(2.0)
    jan, feb = 1767225600000, 1769904000000  # 2026-01-01, 2026-02-01 UTC
    by_month = metrics.scale_by_month([jan, jan + 1, feb], [1.0, 1.0, 2.0], [2.0, 4.0, 2.0])
    assert by_month == {"2026-01": pytest.approx(3.0), "2026-02": pytest.approx(1.0)}
    # mean 2, sample std sqrt(2) -> CV 0.7071
    assert metrics.scale_stability(by_month) == pytest.approx(math.sqrt(2) / 2)
    # the dollar band: largest over smallest month, 3 / 1; undefined months and one month alone give none
    assert metrics.scale_band(by_month) == pytest.approx(3.0)
    assert metrics.scale_band({**by_month, "2026-03": math.nan}) == pytest.approx(3.0)
    assert math.isnan(metrics.scale_band({"2026-01": 3.0}))


def test_side_accuracy_counts_predicted_ties_half_and_skips_realized_ties():
    value = metrics.side_accuracy([3, 1, 2, 5], [1, 2, 2, 1], [10, 0, 5, 7], [0, 10, 1, 7])
    assert value == pytest.approx(2.5 / 3)


def test_score_sides_pools_both_sides():
    long_p, short_p = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.2, 0.1])
    long_r, short_r = np.array([2.0, 4.0, 6.0]), np.array([1.0, 0.4, 0.2])
    scores = metrics.score_sides(long_p, short_p, long_r, short_r)
    assert set(scores) == {"long", "short", "both"}
    assert set(metrics.SIDE_SCORES) <= set(scores["long"])
    assert scores["both"]["scale"] == pytest.approx(2.0)  # every realized value is twice the prediction
    assert scores["both"]["spearman"] == pytest.approx(1.0)
    assert scores["both"]["side_accuracy"] == pytest.approx(1.0)


def test_block_indices_are_circular_runs():
    idx = bootstrap.block_indices(10, 3, reps=50, seed=1)
    assert idx.shape == (50, 10)
    for row in idx:
        for start in (0, 3, 6):
            run = row[start:start + 3]
            assert ((run[1:] - run[:-1]) % 10 == 1).all()


def test_interval_percentiles_and_constant_statistic():
    assert bootstrap.interval(np.arange(101.0), level=0.9) == pytest.approx((5.0, 95.0))
    series = np.full(40, 7.0)
    ci = bootstrap.bootstrap_nested(lambda i: {"a": {"mean": float(series[i].mean())}}, 40, block=5, reps=20)
    assert ci == {"a": {"mean": (7.0, 7.0)}}


def test_bootstrap_interval_covers_the_mean_of_a_trend_free_series():
    rng = np.random.default_rng(5)
    series = rng.normal(1.0, 1.0, 600)
    low, high = bootstrap.bootstrap_nested(lambda i: {"m": float(series[i].mean())}, 600, reps=300)["m"]
    assert low < series.mean() < high
    assert high - low < 0.4  # about 2 * 1.645 / sqrt(600) = 0.13 for independent draws


def test_mass_between_spreads_partial_bins_evenly():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    binned = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    # row 0: half of bin 0 + bin 1 + half of bin 2 = 0.5 + 2 + 1.5; row 1: 0.25..0.75 of bin 0 = 2
    got = mass_between(binned, edges, np.array([0.5, 0.25]), np.array([2.5, 0.75]))
    assert got == pytest.approx([4.0, 2.0])
    # bounds beyond the grid are clipped to it
    assert mass_between(binned, edges, np.array([-5.0, -5.0]), np.array([10.0, 10.0])) == pytest.approx([6.0, 4.0])


def test_log_grid_edges_stay_put_when_the_range_widens():
    narrow = log_grid(60_000, 70_000)
    wide = log_grid(30_000, 140_000)
    assert narrow[0] <= 60_000 and narrow[-1] >= 70_000
    assert np.isin(narrow, wide).all()
    assert np.diff(np.log(narrow)) == pytest.approx(np.full(narrow.size - 1, 0.0005))


def _hours(open_, high, low, oi):
    n = len(open_)
    return HourlyTruth(
        time=np.arange(n, dtype=np.int64) * 3_600_000, open=np.array(open_, float), high=np.array(high, float),
        low=np.array(low, float), close=np.array(open_, float), long_usd=np.zeros(n), short_usd=np.zeros(n),
        oi_open_usd=np.array(oi, float), scorable=np.ones(n, bool),
    )


def test_baselines_use_the_move_and_open_interest():
    hours = _hours([100.0, 200.0], [103.0, 200.0], [98.0, 190.0], [1e9, 2e9])
    fall, rise = move_prediction(hours)
    assert fall == pytest.approx([0.02, 0.05]) and rise == pytest.approx([0.03, 0.0])
    long_u, short_u = uniform_prediction(hours, width=0.10)
    # 1e9 * 0.02 / 0.1 = 2e8; 2e9 * 0.05 / 0.1 = 1e9
    assert long_u == pytest.approx([2e8, 1e9]) and short_u == pytest.approx([3e8, 0.0])


def test_calibration_leaves_out_the_hours_predicted_zero_and_counts_them():
    from liqmap.validate.report import calibration_points

    # 4 of 10 hours predicted 0; the other 6 in 3 groups of 2 (sorted): (1, 2) -> realized (0, 0) is left out,
    # (3, 4) -> mean 3.5 and realized mean 15, (5, 6) -> 5.5 and 35
    predicted = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6], dtype=float)
    realized = np.array([9, 9, 9, 9, 0, 0, 10, 20, 30, 40], dtype=float)
    x, y, zero_share = calibration_points(predicted, realized, groups=3)
    assert x.tolist() == [3.5, 5.5] and y.tolist() == [15.0, 35.0] and zero_share == pytest.approx(0.4)

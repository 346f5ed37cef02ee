"""The closes stage on numbers checked by hand: what a swept level nets, and the survival fixed point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.model.closes import netting_weight, survival_log
from liqmap.model.decay import cohort_rates, decay_factor

H = 3_600_000


def test_a_swept_level_nets_what_is_left_of_it_and_only_inside_the_window():
    rate = math.log(2) / H  # a one-hour half-life
    # opened in a candle ending at 1h, swept in the candle after the one ending at 3h: two half-lives -> a quarter
    held = netting_weight(np.array([10.0]), rate, np.array([0]), np.array([H]), np.array([3 * H]), np.array([3 * H]),
                          window_ms=None)
    assert held.tolist() == pytest.approx([2.5])
    # with a 2-hour window the model no longer held a position opened at 0 when it died at 3h
    assert netting_weight(np.array([10.0]), rate, np.array([0]), np.array([H]), np.array([3 * H]),
                          np.array([3 * H]), window_ms=2 * H).tolist() == [0.0]


def test_survival_nets_a_level_opened_before_the_run():
    # before the run ln S = ln 0.8; the level opened at ln S = ln 0.5, holds 4 contracts and dies in step 0:
    # the model liquidated 4 * 0.8 / 0.5 = 6.4 of the 10 closed, so 3.6 of the 100 open before closed by choice
    log_s, converged = survival_log(np.array([10.0, 0.0]), np.array([90.0, 90.0]), death=np.array([0]),
                                    open_step=np.array([-1]), weight=np.array([4.0]),
                                    open_log=np.array([math.log(0.5)]), start_log=math.log(0.8))
    assert converged
    assert np.exp(log_s).tolist() == pytest.approx([0.8 * (1 - 3.6 / 100)] * 2)


def test_the_fixed_point_stops_short_when_told_and_says_so():
    # a level opened in step 0 and swept in step 1 depends on S of step 0: one pass cannot settle it
    args = (np.array([50.0, 10.0]), np.array([950.0, 940.0]), np.array([1]), np.array([0]), np.array([8.0]))
    _, converged = survival_log(*args, max_passes=1)
    assert not converged
    log_s, converged = survival_log(*args)
    assert converged
    s0 = 1 - 50 / 1000
    assert np.exp(log_s).tolist() == pytest.approx([s0, s0 * (1 - (10 - 8 * s0 / s0) / 950)])


def test_decay_rates_follow_leverage():
    rates = cohort_rates(48.0, [1.0, 10.0, 125.0])
    half_lives_h = np.log(2) / rates / H
    assert half_lives_h.tolist() == pytest.approx([480.0, 48.0, 3.84])
    assert cohort_rates(None, [1.0, 10.0]).tolist() == [0.0, 0.0]
    assert decay_factor(rates[1], 48 * H) == pytest.approx(0.5)

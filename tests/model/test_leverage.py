"""Leverage: the cohorts' weights and where a spread level sits inside its cohort's slice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqmap.model.leverage import SPREAD_STRATA, cohort_weights, slice_quantiles, spread_leverage


def test_quantiles_of_a_slice_centred_on_the_median_are_symmetric_in_log_leverage():
    # cohorts 4, 16, 64x: the 16x slice is [8, 32] (midpoints in ln L), centred on the median 16x,
    # so its j-th and (15-j)-th quantiles mirror each other: L_j * L_(15-j) = 16^2
    q = slice_quantiles((4.0, 16.0, 64.0), 16.0, 0.9)
    assert q.shape == (3, SPREAD_STRATA)
    assert (q[1] * q[1, ::-1]).tolist() == pytest.approx([256.0] * SPREAD_STRATA)
    assert 8.0 < q[1, 0] < q[1, 1] and q[1, -1] < 32.0
    # the outer slices are clipped to [1x, 125x]: no position below 1x or above 125x
    assert q[0, 0] > 1.0 and q[0, -1] < 8.0 and q[2, 0] > 32.0 and q[2, -1] < 125.0


def test_no_spread_keeps_every_level_on_its_preset():
    bucket = np.arange(100)
    out = spread_leverage((5.0, 10.0), 5.0, 0.9, 0.0, bucket)
    assert out.shape == (100, 2) and np.all(out == [5.0, 10.0])


def test_spread_share_and_strata_are_even_over_many_entries():
    # 1,600 entries on consecutive buckets, two thirds spread: about 1/3 of the levels stay on the preset
    # and each of the 16 strata of the slice gets about 1/16 of the rest (a golden-ratio sequence is even)
    leverages = (5.0, 10.0, 20.0)
    bucket = np.arange(4000, 5600)
    out = spread_leverage(leverages, 10.0, 0.9, 2 / 3, bucket)
    q = slice_quantiles(leverages, 10.0, 0.9)
    on_preset = out[:, 1] == 10.0
    assert on_preset.mean() == pytest.approx(1 / 3, abs=0.01)
    spread = out[~on_preset, 1]
    counts = np.array([(spread == q[1, j]).sum() for j in range(SPREAD_STRATA)])
    assert counts.sum() == spread.size  # every spread level sits on a stratum of its own slice
    assert counts.min() >= 0.9 * spread.size / SPREAD_STRATA and counts.max() <= 1.1 * spread.size / SPREAD_STRATA
    assert np.all((spread > math.sqrt(50.0)) & (spread < math.sqrt(200.0)))  # the 10x slice is [7.07, 14.14]


def test_weights_are_the_log_normal_mass_of_each_slice():
    # median 10x on cohorts (1, 10, 100): the 10x slice is [sqrt(10), sqrt(1000)], +-ln(10)/2 around the
    # median, so its mass is P(|Z| < 1.1513 / 0.9) = 2 Phi(1.2792) - 1 = 0.7992 and each tail half the rest
    w = cohort_weights((1.0, 10.0, 100.0), 10.0, 0.9)
    assert w.tolist() == pytest.approx([0.10041, 0.79918, 0.10041], abs=1e-4)

"""Holm's correction on p-values whose adjustment can be written down."""

from __future__ import annotations

import math

import pytest

from liqmap.validate.bootstrap import p_above_zero
from liqmap.validate.multiplicity import holm


def test_holm_on_known_p_values():
    # sorted 0.01, 0.02, 0.03, 0.04 with m = 4: 0.04, 0.06, 0.06 (kept non-decreasing), 0.06
    adjusted = holm({"a": 0.03, "b": 0.01, "c": 0.04, "d": 0.02})
    assert adjusted == pytest.approx({"b": 0.04, "d": 0.06, "a": 0.06, "c": 0.06})
    # at alpha 0.05 only "b" survives, where an uncorrected reading would claim all four
    assert [k for k, q in adjusted.items() if q < 0.05] == ["b"]


def test_holm_caps_at_one_and_leaves_undefined_p_values_out_of_the_family():
    adjusted = holm({"a": 0.5, "b": 0.8, "c": math.nan})
    assert adjusted["a"] == 1.0 and adjusted["b"] == 1.0 and math.isnan(adjusted["c"])
    assert holm({"a": 0.02, "n": math.nan})["a"] == pytest.approx(0.02)  # a family of one


def test_one_sided_p_value_from_the_bootstrap_standard_error():
    assert p_above_zero(0.0, 1.0) == pytest.approx(0.5)
    assert p_above_zero(1.6448536269514722, 1.0) == pytest.approx(0.05)
    assert p_above_zero(-2.0, 1.0) == pytest.approx(0.9772498680518208)
    assert p_above_zero(0.1, 0.0) == 0.0 and math.isnan(p_above_zero(math.nan, 1.0))

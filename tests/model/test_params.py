"""BookParams refuses nonsense with the bound in the message."""

from __future__ import annotations

import math

import pytest

from liqmap.model.params import BookParams


@pytest.mark.parametrize(("change", "message"), [
    ({"close_iterations": -1}, r"close_iterations must be a whole number between 1 and 1,000, not -1"),
    ({"close_iterations": 10**6}, r"between 1 and 1,000"),
    ({"close_iterations": 2.5}, r"whole number"),
    ({"leverages": [1000]}, r"leverages must each be between 1 and 125; 1000 is not"),
    ({"leverages": [0.5, 2]}, r"between 1 and 125; 0.5 is not"),
    ({"leverages": []}, r"at least one leverage cohort"),
    ({"leverages": [10, 5]}, r"strictly increasing, got \[10.0, 5.0\]"),
    ({"leverages": [5, 5]}, r"strictly increasing"),
    ({"leverages": ["x"]}, r"list of numbers"),
    ({"leverage_median": math.inf}, r"leverage_median must be a finite number between 1 and 125, not inf"),
    ({"leverage_sigma": 0}, r"leverage_sigma must be a finite number between 0.01 and 10"),
    ({"leverage_sigma": math.nan}, r"leverage_sigma must be a finite number"),
    ({"leverage_spread": 1.5}, r"leverage_spread must be a finite number between 0 and 1, not 1.5"),
    ({"maker_leveraged_share": 1.5}, r"maker_leveraged_share must be a finite number between 0 and 1"),
    ({"funding_tilt": "much"}, r"funding_tilt must be a number between -100 and 100, not 'much'"),
    ({"entry_bucket_pct": 0}, r"entry_bucket_pct must be a finite number between 0.001 and 10"),
    ({"position_notional": -5}, r"position_notional must be a finite number between 1 and 1e\+09"),
    ({"max_oi_gap_ms": -1}, r"max_oi_gap_ms must be a whole number between 0 and 2,592,000,000"),
    ({"decay_half_life_10x": 0}, r"decay_half_life_10x must be a finite number between 0.01 and 100000 "
                                 r"\(hours at 10x\), or None"),
    ({"exchange": "bybit"}, r"unknown model parameter\(s\): exchange; known: leverages"),
])
def test_nonsense_is_refused_with_its_bound(change, message):
    with pytest.raises(ValueError, match=message):
        BookParams().with_overrides(**change)


def test_sensible_values_pass_and_are_normalised():
    p = BookParams().with_overrides(leverages=[1, 125], close_iterations=7.0, decay_half_life_10x=None,
                                    max_oi_gap_ms=0, funding_tilt=-2)
    assert p.leverages == (1.0, 125.0) and p.close_iterations == 7 and isinstance(p.close_iterations, int)
    assert p.decay_half_life_10x is None and p.funding_tilt == -2.0

"""Correcting claims for the number of comparisons made (Holm's step-down method).

A report that shows twenty-odd map − baseline differences will find some
"significant" by chance; Holm's method keeps the chance of any false win
at most ``alpha`` across the whole family, without assuming independence.
"""

from __future__ import annotations

import math

ALPHA = 0.05
METHOD = "holm"


def holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values: sorted ascending, ``p_(i) * (m - i)`` (i from 0), made non-decreasing, capped at 1.

    Comparisons with an undefined (NaN) p-value are left out of the family and stay NaN.
    """
    defined = sorted((p, name) for name, p in p_values.items() if math.isfinite(p))
    m = len(defined)
    adjusted: dict[str, float] = {name: math.nan for name in p_values}
    running = 0.0
    for i, (p, name) in enumerate(defined):
        running = max(running, min(1.0, p * (m - i)))
        adjusted[name] = running
    return adjusted

"""Stage 6 of the book: the survival factor S, closes net of the model's own liquidations."""

from __future__ import annotations

import numpy as np

from .params import BookParams
from .positions import Levels


def survival_log(levels: Levels, opened, closed, oi_at_end, params: BookParams, notes: list[str]) -> np.ndarray:
    """ln S per step: voluntary closes (OI decrease net of model liquidations) shrink everyone alike."""
    n = opened.size
    oi_before = np.where(np.isfinite(oi_at_end), oi_at_end + closed, np.nan)  # OI before this step's closes
    dying = levels.death_step < n
    d, o, q = levels.death_step[dying], levels.open_step[dying], levels.contracts[dying]
    liquidated = np.zeros(n)
    log_s = np.zeros(n)
    for _ in range(params.close_iterations):
        voluntary = np.maximum(closed - liquidated, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(oi_before > 0, voluntary / oi_before, 0.0)
        log_s = np.cumsum(np.log1p(-np.clip(frac, 0.0, 1.0 - 1e-12)))
        liquidated = np.bincount(d, q * np.exp(log_s[d - 1] - log_s[o]), minlength=n)
    notes.append(
        "closes: OI decreases net of the model's own liquidations shrink all positions proportionally; "
        "OI already open at the window start is not placed (see coverage)"
    )
    return log_s

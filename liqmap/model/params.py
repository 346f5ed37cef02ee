"""The position book's parameters: every assumption, with its default (``BookParams``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..frames import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE
from .leverage import DEFAULT_LEVERAGES, cohort_weights

#: Candle price anchors for entries (weights sum to 1 within each choice).
ENTRY_ANCHORS = {
    "ohlc": (("open", 0.25), ("high", 0.25), ("low", 0.25), ("close", 0.25)),
    "hlc3": (("hlc3", 1.0),),
    "close": (("close", 1.0),),
    "range5": (("r0", 0.2), ("r1", 0.2), ("r2", 0.2), ("r3", 0.2), ("r4", 0.2)),
}
SIDE_SPLITS = ("auto", "taker", "clv", "even")


#: Bounds of the numeric parameters: (lowest, highest), both allowed.
BOUNDS = {
    "leverages": (1.0, 125.0),
    "leverage_median": (1.0, 125.0),
    "leverage_sigma": (0.01, 10.0),
    "leverage_spread": (0.0, 1.0),
    "maker_leveraged_share": (0.0, 1.0),
    "funding_tilt": (-100.0, 100.0),
    "oi_shrinkage": (0.0, 1.0),
    "oi_prior_span_ms": (MS_PER_MINUTE, 30 * MS_PER_DAY),
    "decay_half_life_10x": (0.01, 100_000.0),
    "position_notional": (1.0, 1e9),
    "entry_bucket_pct": (0.001, 10.0),
    "max_oi_gap_ms": (0, 30 * MS_PER_DAY),
    "max_candle_gap_ms": (0, 30 * MS_PER_DAY),
    "close_iterations": (1, 1000),
}


@dataclass(frozen=True)
class BookParams:
    """Every assumption of the position book, with its default.

    The defaults are the ones the validation study chose (see
    docs/validation.md); each can be changed per call.  The venue is not a
    parameter: it comes with the data (``MarketData.exchange``), so a
    market's liquidation prices always follow its own exchange's rule.
    """

    leverages: tuple[float, ...] = DEFAULT_LEVERAGES
    leverage_median: float = 50.0
    leverage_sigma: float = 0.9
    #: share of each cohort's levels spread inside its slice of leverage (cross margin), the rest on the preset
    leverage_spread: float = 1.0
    maker_leveraged_share: float = 0.35
    entry_anchors: str = "range5"
    side_split: str = "auto"
    funding_tilt: float = 1.0
    #: weight of the volume-rate prior (the recent opening rate per traded volume times the increment's volume)
    #: against each OI increment's own rise (0: the rise alone; docs/model.md)
    oi_shrinkage: float = 0.75
    #: how far back the opening rate per volume is measured
    oi_prior_span_ms: int = MS_PER_DAY
    decay_half_life_10x: float | None = 48.0
    position_notional: float = 10_000.0
    brackets: str | None = None  # a bracket file (see docs/liqprice.md) instead of the shipped snapshots
    entry_bucket_pct: float = 0.1
    max_oi_gap_ms: int = MS_PER_HOUR
    #: longest run of missing candles bridged (0: any missing candle is refused)
    max_candle_gap_ms: int = 0
    close_iterations: int = 50  # most passes of the survival fixed point (it stops once converged)
    #: scale the alive book to hold the open interest at the as-of time (liqmap.model.calibration); off: at the
    #: leverage prior chosen on the first-touch test the scale widens the monthly dollar band (docs/model.md)
    oi_reconcile: bool = False

    def __post_init__(self):
        if self.entry_anchors not in ENTRY_ANCHORS:
            raise ValueError(f"entry_anchors must be one of {', '.join(ENTRY_ANCHORS)}, not {self.entry_anchors!r}")
        if self.side_split not in SIDE_SPLITS:
            raise ValueError(f"side_split must be one of {', '.join(SIDE_SPLITS)}, not {self.side_split!r}")
        for name in ("leverage_median", "leverage_sigma", "leverage_spread", "maker_leveraged_share", "funding_tilt",
                     "oi_shrinkage", "position_notional", "entry_bucket_pct"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if self.decay_half_life_10x is not None:
            object.__setattr__(self, "decay_half_life_10x", _number("decay_half_life_10x", self.decay_half_life_10x,
                                                                     " (hours at 10x), or None for no decay"))
        for name in ("max_oi_gap_ms", "max_candle_gap_ms", "oi_prior_span_ms", "close_iterations"):
            object.__setattr__(self, name, _integer(name, getattr(self, name)))
        if not isinstance(self.oi_reconcile, bool):
            raise ValueError(f"oi_reconcile must be true or false, not {self.oi_reconcile!r}")
        object.__setattr__(self, "leverages", _leverages(self.leverages))
        cohort_weights(self.leverages, self.leverage_median, self.leverage_sigma)  # validates

    def with_overrides(self, **changes) -> "BookParams":
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model parameter(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(self.__dataclass_fields__)}")
        return replace(self, **changes)


def _number(name: str, value, hint: str = "") -> float:
    """``value`` as a finite float within ``BOUNDS[name]``, or an error naming the bound."""
    low, high = BOUNDS[name]
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number between {low:g} and {high:g}{hint}, not {value!r}") from None
    if not (math.isfinite(x) and low <= x <= high):
        raise ValueError(f"{name} must be a finite number between {low:g} and {high:g}{hint}, not {value!r}")
    return x


def _integer(name: str, value) -> int:
    low, high = BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number between {low:,} and {high:,}, not {value!r}")
    return int(value)


def _leverages(values) -> tuple[float, ...]:
    """Cohort leverages: non-empty, strictly increasing, each within the bounds."""
    low, high = BOUNDS["leverages"]
    try:
        out = tuple(float(x) for x in values)
    except (TypeError, ValueError):
        raise ValueError(f"leverages must be a list of numbers between {low:g} and {high:g}, not {values!r}") from None
    if not out:
        raise ValueError("leverages must name at least one leverage cohort (between 1 and 125)")
    bad = [x for x in out if not (math.isfinite(x) and low <= x <= high)]
    if bad:
        raise ValueError(f"leverages must each be between {low:g} and {high:g}; {bad[0]:g} is not")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"leverages must be strictly increasing, got {list(out)}")
    return out

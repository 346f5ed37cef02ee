"""The position book's parameters: every assumption, with its default (``BookParams``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .leverage import DEFAULT_LEVERAGES, cohort_weights

#: Candle price anchors for entries (weights sum to 1 within each choice).
ENTRY_ANCHORS = {
    "ohlc": (("open", 0.25), ("high", 0.25), ("low", 0.25), ("close", 0.25)),
    "hlc3": (("hlc3", 1.0),),
    "close": (("close", 1.0),),
    "range5": (("r0", 0.2), ("r1", 0.2), ("r2", 0.2), ("r3", 0.2), ("r4", 0.2)),
}
SIDE_SPLITS = ("auto", "taker", "clv", "even")


@dataclass(frozen=True)
class BookParams:
    """Every assumption of the position book, with its default.

    The defaults are the ones the validation study chose (see
    docs/validation.md); each can be changed per call.
    """

    leverages: tuple[float, ...] = DEFAULT_LEVERAGES
    leverage_median: float = 5.0
    leverage_sigma: float = 0.9
    maker_leveraged_share: float = 0.35
    entry_anchors: str = "range5"
    side_split: str = "auto"
    funding_tilt: float = 1.0
    decay_half_life_10x: float | None = 48.0
    position_notional: float = 10_000.0
    exchange: str = "binance"
    brackets: str | None = None  # a bracket file (see docs/liqprice.md) instead of the shipped snapshots
    entry_bucket_pct: float = 0.1
    max_oi_gap_ms: int = 3_600_000
    close_iterations: int = 4

    def __post_init__(self):
        if self.entry_anchors not in ENTRY_ANCHORS:
            raise ValueError(f"entry_anchors must be one of {', '.join(ENTRY_ANCHORS)}, not {self.entry_anchors!r}")
        if self.side_split not in SIDE_SPLITS:
            raise ValueError(f"side_split must be one of {', '.join(SIDE_SPLITS)}, not {self.side_split!r}")
        if not 0.0 <= self.maker_leveraged_share <= 1.0:
            raise ValueError("maker_leveraged_share must be between 0 and 1")
        if self.decay_half_life_10x is not None and self.decay_half_life_10x <= 0:
            raise ValueError("decay_half_life_10x must be positive (hours) or None")
        if self.position_notional <= 0 or self.entry_bucket_pct <= 0:
            raise ValueError("position_notional and entry_bucket_pct must be positive")
        object.__setattr__(self, "leverages", tuple(float(x) for x in self.leverages))
        cohort_weights(self.leverages, self.leverage_median, self.leverage_sigma)  # validates

    def with_overrides(self, **changes) -> "BookParams":
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown model parameter(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

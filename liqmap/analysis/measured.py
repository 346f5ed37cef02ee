"""The measured map: real positions' own liquidation prices, binned like a modelled map.

Where a venue publishes accounts' positions with their liquidation price
(Hyperliquid's ``clearinghouseState``), a sample of accounts gives a map that
is measured, not modelled.  Isolated and cross positions are kept apart: an
isolated position's liquidation price is its own, a cross position's belongs
to the whole account (it moves with every other position and the account's
equity), so it is where that position would go if nothing else moved.
Positions without a liquidation price (cross accounts so well collateralised
that no price liquidates them) are counted, not binned; so are those whose
price falls outside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mapping import MapSettings, price_grid
from .results import json_safe

MARGIN_TYPES = ("isolated", "cross")


@dataclass(frozen=True)
class MeasuredPosition:
    """One account's position as the venue reports it (``size`` signed: + long, - short)."""

    address: str
    coin: str
    size: float
    entry: float
    value: float  # position value (notional at mark), quote units
    margin_type: str  # isolated | cross
    leverage: float  # the leverage the account set
    liquidation_price: float | None
    margin_used: float
    account_value: float  # the account's equity (cross margin summary)


@dataclass(frozen=True)
class MeasuredMap:
    """Notional per bin by side and margin type, with what was left out and the sample's share of open interest."""

    coin: str
    price: float
    edges: np.ndarray
    bins: dict  # (margin type, side) -> notional per bin
    counts: dict
    open_interest_usd: float | None
    notes: tuple[str, ...]

    @property
    def long(self) -> np.ndarray:
        return self.bins[("isolated", "long")] + self.bins[("cross", "long")]

    @property
    def short(self) -> np.ndarray:
        return self.bins[("isolated", "short")] + self.bins[("cross", "short")]

    def to_dict(self) -> dict:
        return json_safe({
            "coin": self.coin,
            "price": self.price,
            "price_low": self.edges[:-1].tolist(),
            "price_high": self.edges[1:].tolist(),
            **{kind: {side: self.bins[(kind, side)].tolist() for side in ("long", "short")} for kind in MARGIN_TYPES},
            "counts": self.counts,
            "open_interest_usd": self.open_interest_usd,
            "sample_share_of_open_interest": (self.counts["value"] / self.open_interest_usd
                                              if self.open_interest_usd else None),
            "notes": list(self.notes),
        })


def measured_map(positions: list[MeasuredPosition], coin: str, price: float, settings: MapSettings | None = None,
                 open_interest_usd: float | None = None) -> MeasuredMap:
    """Bin ``coin``'s positions by their liquidation price on the grid around ``price`` (``price_grid``)."""
    settings = settings or MapSettings()
    edges = price_grid(price, settings.bin_pct, settings.span_pct)
    n = edges.size - 1
    bins = {(kind, side): np.zeros(n) for kind in MARGIN_TYPES for side in ("long", "short")}
    mine = [p for p in positions if p.coin == coin and p.size != 0]
    no_price = [p for p in mine if p.liquidation_price is None]
    off_grid = 0
    for p in mine:
        if p.liquidation_price is None:
            continue
        i = int(np.searchsorted(edges, p.liquidation_price, side="right")) - 1
        if not 0 <= i < n:
            off_grid += 1
            continue
        bins[(p.margin_type, "long" if p.size > 0 else "short")][i] += p.value
    counts = {
        "accounts": len({p.address for p in mine}),
        "positions": len(mine),
        "value": float(sum(p.value for p in mine)),
        "isolated": sum(p.margin_type == "isolated" for p in mine),
        "cross": sum(p.margin_type == "cross" for p in mine),
        "without_liquidation_price": len(no_price),
        "without_liquidation_price_value": float(sum(p.value for p in no_price)),
        "off_grid": off_grid,
    }
    notes = (
        "isolated: each position's own liquidation price; cross: the account's liquidation price for that "
        "position, which moves with the account's other positions and equity",
        f"{len(no_price)} of {len(mine)} positions have no liquidation price (counted, not binned)",
        f"{off_grid} positions liquidate outside the grid (±{settings.span_pct:g}% of {price:g})",
    )
    return MeasuredMap(coin, float(price), edges, bins, counts, open_interest_usd, notes)

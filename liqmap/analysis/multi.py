"""The Multi map: one position book per venue, summed on one price grid.

Each venue's book is built from its own data — its own open interest (in
coins, valued in USD at its own price), margin rule, tiers and mark price —
and read in its own prices.  The grid is the reference venue's (the first of
the venues asked for that has data).  A venue whose price at the as-of time is
``P_v`` against the reference's ``P_ref`` has basis ``b = P_v / P_ref``; its
book is binned on the edges ``b * edges``, so a level at the venue's price
``x`` lands in the reference bin holding ``x / b``: a move that takes the
reference from ``P_ref`` to ``p`` is assumed to take the venue to ``b * p``
(the current basis held constant).

Every venue asked for has a :class:`VenuePart` with a status: ``ok``,
``stale`` (its data ends more than the staleness limit before the map's
as-of time: its book is read at its own last moment, and said so) or
``missing`` (no data, or data that cannot make a book: contributes nothing,
and said so).  Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..frames import format_ms
from .mapping import MapSettings, liq_ratio_bands, optical_weights
from .results import LiqMap

STATUSES = ("ok", "stale", "missing")


@dataclass(frozen=True)
class VenuePart:
    """One venue's share of a Multi map: its status, price and basis, and its notional per reference bin."""

    venue: str
    status: str
    reason: str = ""  # why stale or missing
    price: float | None = None  # the venue's own price at its as-of time
    basis: float | None = None  # price / reference price
    as_of_ms: int | None = None
    coverage: dict | None = None  # PositionBook.coverage on the venue's own grid
    open_interest_usd: float | None = None
    long: np.ndarray = field(default_factory=lambda: np.zeros(0))
    short: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rests_on: tuple[str, ...] = ()  # the data notes of the venue's market

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"venue part status must be one of {', '.join(STATUSES)}, not {self.status!r}")


def missing(venue: str, reason: str) -> VenuePart:
    return VenuePart(venue, "missing", reason)


def combine(parts: list[VenuePart], n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Long and short notional per reference bin, summed over the parts that have a book."""
    long, short = np.zeros(n_bins), np.zeros(n_bins)
    for part in parts:
        if part.status != "missing":
            long += part.long
            short += part.short
    return long, short


def weighted(parts: list[VenuePart], edges: np.ndarray, price: float, atr: float,
             settings: MapSettings) -> list[VenuePart]:
    """The parts under the optical view's proximity weighting (the weight read_map gives the sum)."""
    centres = (edges[:-1] + edges[1:]) / 2
    weight = optical_weights(centres, price, atr, settings)
    return [p if p.status == "missing" else replace(p, long=p.long * weight, short=p.short * weight) for p in parts]


def multi_model(parts: list[VenuePart], reference: str, window_label: str) -> dict:
    """The Multi map's ``model`` record: the venues with their statuses, coverage per venue, notes."""
    notes = [
        f"Multi map: one book per venue summed on the {reference} price grid; each venue's book is in its own "
        f"prices, placed by its current basis to {reference} (venue price / {reference} price)",
        f"window: positions opened in the {window_label} before each venue's as-of time",
    ]
    for p in parts:
        if p.status != "ok":
            notes.append(f"{p.venue}: {p.status}: {p.reason}")
    return {
        "name": "multi",
        "reference": reference,
        "coverage": {p.venue: p.coverage for p in parts},
        "venues": [{
            "venue": p.venue,
            "status": p.status,
            "reason": p.reason or None,
            "price": p.price,
            "basis": p.basis,
            "as_of": format_ms(p.as_of_ms) if p.as_of_ms is not None else None,
            "coverage": p.coverage,
            "open_interest_usd": p.open_interest_usd,
            "rests_on": list(p.rests_on),
        } for p in parts],
        "notes": notes,
    }


def venue_breakdown(m: LiqMap, parts: list[VenuePart], edges: np.ndarray, shown: tuple[int, int],
                    settings: MapSettings) -> dict:
    """Per venue: long/short per bin, per cluster (bins of the cluster summed) and its LiqRatio bands.

    The parts are binned on ``edges``, of which the map shows the bins ``shown`` (``map_grid``).
    """
    centres = (edges[:-1] + edges[1:]) / 2
    a, b = shown
    out: dict[str, dict] = {}
    for p in parts:
        if p.status == "missing":
            out[p.venue] = {"status": p.status, "bins": None, "clusters": [], "liq_ratio": []}
            continue
        long, short = p.long[a:b], p.short[a:b]
        clusters = []
        for c in m.clusters:
            inside = (m.price_low >= c.price_low) & (m.price_high <= c.price_high)
            clusters.append({"id": c.id, "long": float(long[inside].sum()), "short": float(short[inside].sum())})
        bands = liq_ratio_bands(centres, m.price, p.long, p.short, settings.liq_ratio_bands)
        out[p.venue] = {
            "status": p.status,
            "bins": {"long": long.tolist(), "short": short.tolist()},
            "clusters": clusters,
            "liq_ratio": [b.to_dict() for b in bands],
        }
    return out

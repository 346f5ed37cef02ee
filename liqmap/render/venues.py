"""A Multi map's venues in the charts: each bin's long/short notional per venue, for the hover."""

from __future__ import annotations

import numpy as np

from ..analysis.results import LiqMap
from . import style


def venue_hover(m: LiqMap) -> np.ndarray:
    """Per bin, one line per venue with a book: ``venue: long $x · short $y``; empty strings for a
    single-venue map, so it can be appended to any hover text."""
    parts = {name: m.extras["venues"][name]["bins"] for name in style.map_venues(m)}
    lines = np.full(m.price_low.size, "", dtype=object)
    for name, bins in parts.items():
        lines = lines + np.array([f"<br>{name}: long {style.format_usd(lo)} · short {style.format_usd(sh)}"
                                  for lo, sh in zip(bins["long"], bins["short"])], dtype=object)
    return lines


def liq_ratio_segments(m: LiqMap) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """A Multi map's LiqRatio bars stacked by venue: ``(venue, side, base, width)`` per venue and side,
    arrays over the bands, as shares of each band's total (longs from 0, then shorts); [] for a single venue.

    Venues with a book are stacked in the map's venue order, each venue's longs and shorts from its own
    ``liq_ratio`` bands.
    """
    parts = [(name, m.extras["venues"][name]["liq_ratio"]) for name in style.map_venues(m)]
    if not parts:
        return []
    total = np.array([b.long_below + b.short_above for b in m.liq_ratio], dtype=float)
    scale = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)
    segments = []
    base = np.zeros(total.size)
    for side, key in (("long", "long_below"), ("short", "short_above")):
        for name, bands in parts:
            width = np.array([b[key] for b in bands], dtype=float) * scale
            segments.append((name, side, base.copy(), width))
            base = base + width
    return segments

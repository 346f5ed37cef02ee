"""A Multi map's venues in the charts: each bin's long/short notional per venue, for the hover."""

from __future__ import annotations

import numpy as np

from ..analysis.results import LiqMap
from . import style


def venue_hover(m: LiqMap) -> np.ndarray:
    """Per bin, one line per venue with a book: ``venue: long $x · short $y``; empty strings for a
    single-venue map, so it can be appended to any hover text."""
    parts = {name: part["bins"] for name, part in m.extras.get("venues", {}).items() if part.get("bins")}
    lines = np.full(m.price_low.size, "", dtype=object)
    for name, bins in parts.items():
        lines = lines + np.array([f"<br>{name}: long {style.format_usd(lo)} · short {style.format_usd(sh)}"
                                  for lo, sh in zip(bins["long"], bins["short"])], dtype=object)
    return lines

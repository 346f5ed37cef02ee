"""Where does the map put its levels?  Scored against single recorded liquidation events.

For each as-of time T (every ``step``) the maps are read as of T, and the
liquidation events of ``(T, T + horizon]`` are laid on them.  Within the
*traded range* of that window (lowest low to highest high of its bars), the
map's bins are ranked by the side's notional; the **top quarter** of them
(``ceil(n / 4)`` of the n bins meeting the range) should hold more of the
liquidated USD than a quarter of the bins picked blindly (**chance**: the
top quarter's share of the bins).  Beside it, the map's own USD inside the
range against the realized USD, and against what a **uniform** density of
the same total notional would put there.

Events come from ``liqmap live``'s recorder (``forceOrders``), or any feed
mapped onto :class:`~liqmap.frames.LiquidationEvents`; Binance pushes at
most one liquidation per symbol per second, so realized USD is a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..frames import MS_PER_MINUTE, DataError, LiquidationEvents, MarketData, format_ms

SIDES = ("long", "short")


@dataclass(frozen=True)
class EventScore:
    """One view and side, pooled over the windows that had liquidations of that side."""

    view: str
    side: str
    windows: int
    events: int
    realized_usd: float
    top_quarter_usd: float
    share: float | None  # top_quarter_usd / realized_usd
    chance: float | None  # mean over those windows of (top-quarter bins / bins in range)
    map_usd_in_range: float
    uniform_usd_in_range: float

    def to_dict(self) -> dict:
        return asdict(self)


def score_events(market: MarketData, events: LiquidationEvents, start_ms: int, end_ms: int, horizon_ms: int,
                 step_ms: int, views: tuple[str, ...], window_ms: int, params=None, settings=None) -> list[EventScore]:
    """Scores per view and side over the windows ``(T, T + horizon]`` for T from ``start_ms`` every ``step_ms``
    while ``T + horizon <= end_ms`` (see the module docstring)."""
    from ..api import book_state, build_maps

    times = np.arange(start_ms, end_ms - horizon_ms + 1, step_ms, dtype=np.int64)
    if times.size == 0:
        raise ValueError(f"no {horizon_ms // MS_PER_MINUTE}-minute window fits between {format_ms(start_ms)} and "
                         f"{format_ms(end_ms)}")
    if not market.start_ms < int(times[0]) or int(times[-1]) + horizon_ms > market.end_ms:
        raise DataError(f"the windows {format_ms(int(times[0]))} .. {format_ms(int(times[-1]) + horizon_ms)} are "
                        f"not inside the market data, which covers {format_ms(market.start_ms)} .. "
                        f"{format_ms(market.end_ms)}")
    state = book_state(market.symbol, market.exchange, params, window_ms)
    totals = {(v, s): np.zeros(6) for v in views for s in SIDES}  # windows, events, realized, top, map, uniform
    chances: dict[tuple[str, str], list[float]] = {(v, s): [] for v in views for s in SIDES}
    candles = market.candles
    for t in times.tolist():
        state.extend(market.slice_time(None, t))
        maps = build_maps(market=market, as_of=t, window=window_ms, views=list(views), state=state, settings=settings,
                          now=t)
        bars = candles.slice_time(t, t + horizon_ms)
        if not len(bars):
            continue
        lo, hi = float(bars.low.min()), float(bars.high.max())
        inside = (events.time > t) & (events.time <= t + horizon_ms)
        for m in maps:
            in_range = np.flatnonzero((m.price_high > lo) & (m.price_low < hi))
            if in_range.size == 0:
                continue
            k = math.ceil(in_range.size / 4)
            for side, is_long in (("long", True), ("short", False)):
                pick = inside & (events.is_long == is_long)
                if not pick.any():
                    continue
                notional = m.long if is_long else m.short
                order = np.argsort(-notional[in_range], kind="stable")
                top = in_range[order[:k]]
                bin_of = np.searchsorted(m.price_low, events.price[pick], side="right") - 1
                on_grid = (bin_of >= 0) & (events.price[pick] < m.price_high[np.clip(bin_of, 0, None)])
                in_top = on_grid & np.isin(bin_of, top)
                usd = events.usd[pick]
                row = totals[(m.view, side)]
                row += (1, pick.sum(), usd.sum(), usd[in_top].sum(), notional[in_range].sum(),
                        notional.sum() * in_range.size / notional.size)
                chances[(m.view, side)].append(k / in_range.size)
    scores = []
    for (view, side), (windows, n, realized, top_usd, in_map, uniform) in totals.items():
        chance = chances[(view, side)]
        scores.append(EventScore(view, side, int(windows), int(n), float(realized), float(top_usd),
                                 float(top_usd / realized) if realized > 0 else None,
                                 float(np.mean(chance)) if chance else None, float(in_map), float(uniform)))
    return scores

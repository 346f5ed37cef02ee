"""Peer-compatible mode: the simple open-source liquidation map, bin for bin.

It reproduces ``aoki-h-jp/py-liquidation-map`` 1.0.1
(``HistoricalMapping.liquidation_map_from_historical``) so that results and
speed can be compared with it side by side on the same trades:

* every selected large trade is a position opened at its price: long when the
  taker bought (``is_buyer_maker`` False), short otherwise;
* each leverage tier L gets the *full* notional ``price * quantity`` at
  ``price * (1 - 1/L)`` (long) or ``price * (1 + 1/L)`` (short); no
  maintenance margin, no weighting;
* levels on the wrong side of the current price (the last trade in the
  window) are dropped, and each side/tier is binned on its own grid with
  the peer's edge rules, which also drop the levels at the outer edges.

The rules, down to float rounding, are written up in
``shared/bench/peer_reference/README.md``; this module follows them with
array operations (one pass per side and tier, never per trade).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..frames import DataError, Trades, format_ms

#: The peer's fixed leverage tiers.
PEER_LEVERAGES = (10, 25, 50, 100)
#: The peer's ways to pick "large" trades.
PEER_MODES = ("gross_value", "top_n", "portion")


def _side_names(is_long: np.ndarray) -> np.ndarray:
    return np.where(is_long, "long", "short")


@dataclass(frozen=True)
class PeerRawLevels:
    """One liquidation level per selected trade and tier, before the side filter and binning.

    Groups come in the order long tiers then short tiers, each tier in the
    order of ``leverages``; within a group, trades in time order.
    """

    is_long: np.ndarray
    leverage: np.ndarray
    liq_price: np.ndarray
    amount: np.ndarray

    def to_frame(self):
        """Columns ``side, leverage, liq_price, amount_usdt`` like the peer's level CSVs."""
        import pandas as pd

        return pd.DataFrame(
            {
                "side": _side_names(self.is_long),
                "leverage": self.leverage,
                "liq_price": self.liq_price,
                "amount_usdt": self.amount,
            }
        )


@dataclass(frozen=True)
class PeerLevels:
    """The peer's binned map: non-empty bins ``(bin_left, bin_left + bin_width]`` per side and tier.

    Tiers are separate, overlapping histograms (the peer draws them with
    alpha 0.5, not stacked), so amounts of different tiers must not be added
    up as if they were different positions: every tier holds the same trades.
    """

    is_long: np.ndarray
    leverage: np.ndarray
    bin_left: np.ndarray
    amount: np.ndarray
    bin_width: float
    current_price: float
    selected_long: int
    selected_short: int
    raw: PeerRawLevels  # the unbinned levels behind the bins, before the side filter

    def to_frame(self):
        """Columns ``side, leverage, bin_left, bin_width, amount_usdt`` like the peer reference CSV."""
        import pandas as pd

        return pd.DataFrame(
            {
                "side": _side_names(self.is_long),
                "leverage": self.leverage,
                "bin_left": self.bin_left,
                "bin_width": np.full(self.amount.size, self.bin_width),
                "amount_usdt": self.amount,
            }
        )

    def to_records(self) -> list[dict]:
        """JSON-ready ``{side, leverage, bin_left, bin_width, amount_usdt}`` per bin."""
        return [
            {"side": side, "leverage": lev, "bin_left": left, "bin_width": self.bin_width, "amount_usdt": amount}
            for side, lev, left, amount in zip(
                _side_names(self.is_long).tolist(), self.leverage.tolist(), self.bin_left.tolist(), self.amount.tolist()
            )
        ]


def _window(trades: Trades, start_ms: int, end_ms: int) -> Trades:
    """Trades with ``start_ms <= time <= end_ms`` (both ends inclusive, as the peer filters)."""
    lo = int(np.searchsorted(trades.time, start_ms, "left"))
    hi = int(np.searchsorted(trades.time, end_ms, "right"))
    if hi <= lo:
        raise DataError(f"peer map: no trades between {format_ms(start_ms)} and {format_ms(end_ms)} (inclusive)")
    return trades._take(slice(lo, hi))


def _check_options(mode: str, threshold: float, top_n: int, portion: float, leverages) -> None:
    if mode not in PEER_MODES:
        raise ValueError(f"peer map: mode must be one of {', '.join(PEER_MODES)}, not {mode!r}")
    if mode == "gross_value" and not threshold >= 0:
        raise ValueError(f"peer map: threshold must be a notional >= 0, not {threshold!r}")
    if mode == "top_n" and (int(top_n) != top_n or top_n < 1):
        raise ValueError(f"peer map: top_n must be a whole number >= 1, not {top_n!r}")
    if mode == "portion" and not 0 < portion <= 1:
        raise ValueError(f"peer map: portion must be in (0, 1], not {portion!r}")
    if not leverages or any(int(lev) != lev or lev <= 1 for lev in leverages):
        raise ValueError(f"peer map: leverages must be whole numbers > 1, not {tuple(leverages)!r}")


def _select(amount: np.ndarray, is_long: np.ndarray, mode: str, threshold: float, top_n: int, portion: float):
    """Indices (time order) of the large trades the peer turns into levels, per side.

    ``top_n`` and ``portion`` keep the largest amounts of each side; the peer
    breaks ties at the cut arbitrarily (unstable sort), here the earlier trade wins.
    """
    if mode == "gross_value":
        big = amount >= threshold
        return np.flatnonzero(big & is_long), np.flatnonzero(big & ~is_long)
    picked = []
    for side_mask in (is_long, ~is_long):
        side_index = np.flatnonzero(side_mask)
        count = int(top_n) if mode == "top_n" else int(side_index.size * portion)
        largest_first = np.argsort(-amount[side_index], kind="stable")[:count]
        picked.append(np.sort(side_index[largest_first]))
    return picked[0], picked[1]


def _raw_levels(window: Trades, mode: str, threshold: float, top_n: int, portion: float, leverages) -> PeerRawLevels:
    amount = window.price * window.quantity
    is_long = ~window.is_buyer_maker
    long_index, short_index = _select(amount, is_long, mode, threshold, top_n, portion)
    lev = np.asarray(leverages, dtype=np.int64)
    parts = []
    for long_side, index, factors in ((True, long_index, 1.0 - 1.0 / lev), (False, short_index, 1.0 + 1.0 / lev)):
        # (tiers x trades): 1 -/+ 1/L equals the peer's literals (0.90, 1.01, ...) bit for bit
        prices = factors[:, None] * window.price[index][None, :]
        parts.append(
            (
                np.full(prices.size, long_side),
                np.repeat(lev, index.size),
                prices.ravel(),
                np.tile(amount[index], lev.size),
            )
        )
    return PeerRawLevels(*(np.concatenate(columns) for columns in zip(*parts)))


def bin_decimals(price: np.ndarray) -> int:
    """The peer's bin decimals ``2 - ceil(log10(max - min))`` over all traded prices; width is ``10**-d``."""
    span = float(price.max() - price.min())
    if not span > 0:
        raise DataError(f"peer map: every trade in the window has the same price {float(price[0])!r}; the bins are undefined")
    return 2 - math.ceil(math.log10(span))


def _bin_tier(levels: np.ndarray, amounts: np.ndarray, decimals: int, width: float):
    """Bin one side/tier the peer's way: its own grid from ``round(min)``, right-closed, outer edges dropped.

    Edges are ``round(lo + i*w, d)`` for ``i < g`` with ``g = int((hi - lo) * 10**d)``,
    so there are ``g - 1`` bins; levels ``<= e_0`` or ``> e_{g-1}`` are dropped.
    """
    lo = round(float(levels.min()), decimals)  # Python's round: half-even on the binary value, as the peer
    hi = round(float(levels.max()), decimals)
    n_edges = int((hi - lo) * 10**decimals)  # float, truncated: exactly the peer's count
    if n_edges < 2:
        return np.empty(0), np.empty(0)
    # lo + i*w lies within float noise of a multiple of w, never near a half, so
    # numpy's round gives the same nearest double as Python's round would.
    edges = np.round(lo + np.arange(n_edges) * width, decimals)
    bin_index = np.searchsorted(edges, levels, "left") - 1  # level in (e_i, e_{i+1}] -> i
    inside = (bin_index >= 0) & (bin_index <= n_edges - 2)
    counts = np.bincount(bin_index[inside], minlength=n_edges - 1)
    sums = np.bincount(bin_index[inside], weights=amounts[inside], minlength=n_edges - 1)
    occupied = counts > 0
    return edges[:-1][occupied], sums[occupied]


def peer_levels(
    trades: Trades,
    start_ms: int,
    end_ms: int,
    *,
    mode: str = "gross_value",
    threshold: float = 100_000.0,
    top_n: int = 100,
    portion: float = 0.01,
    leverages=PEER_LEVERAGES,
) -> PeerLevels:
    """The peer's liquidation map over the trades with ``start_ms <= time <= end_ms``.

    ``mode`` picks the large trades: ``gross_value`` (notional >= ``threshold``),
    ``top_n`` (the ``top_n`` largest per side) or ``portion`` (the largest
    ``int(n_side * portion)`` per side).  For the peer's own window of a day
    pass ``end_ms`` = 23:59:59.000 of the last day: it drops the final 999 ms.
    """
    _check_options(mode, threshold, top_n, portion, leverages)
    window = _window(trades, start_ms, end_ms)
    raw = _raw_levels(window, mode, threshold, top_n, portion, leverages)
    current_price = float(window.price[-1])
    decimals = bin_decimals(window.price)
    width = 10 ** (-decimals)  # an exact integer when decimals <= 0, as in the peer
    kept = np.where(raw.is_long, raw.liq_price <= current_price, raw.liq_price >= current_price)
    parts = []
    for long_side in (True, False):
        for lev in leverages:
            group = kept & (raw.is_long == long_side) & (raw.leverage == lev)
            if not group.any():
                continue
            bin_left, amount = _bin_tier(raw.liq_price[group], raw.amount[group], decimals, width)
            parts.append((np.full(amount.size, long_side), np.full(amount.size, lev, dtype=np.int64), bin_left, amount))
    columns = [np.concatenate(c) for c in zip(*parts)] if parts else [np.empty(0, bool), np.empty(0, np.int64), np.empty(0), np.empty(0)]
    n_tiers = len(leverages)
    return PeerLevels(
        is_long=columns[0],
        leverage=columns[1],
        bin_left=columns[2],
        amount=columns[3],
        bin_width=float(width),
        current_price=current_price,
        selected_long=int(raw.is_long.sum()) // n_tiers,
        selected_short=int((~raw.is_long).sum()) // n_tiers,
        raw=raw,
    )

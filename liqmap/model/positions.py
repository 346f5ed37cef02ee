"""The book's value: its levels and per-candle survival factors, and the questions it answers.

``PositionBook`` is immutable; ``snapshot`` is the map as of one moment,
``history`` as of many (see ``history``), both scaled to hold the open
interest (``calibration``); ``coverage`` says what share of the open interest
the map holds, in all, inside its grid and near price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .calibration import oi_at, oi_scale
from .decay import decay_factor, decay_rates
from .history import sweep
from .leverage import cohort_weights, view_mask
from .params import BookParams

MODEL_NAME = "liqmap-book"
MODEL_VERSION = "1"
#: ``coverage["within_5pct"]`` counts the levels within this fraction of price (±5 %).
NEAR_FRACTION = 0.05


@dataclass(frozen=True)
class Levels:
    """One record layout for all levels (struct of arrays)."""

    price: np.ndarray  # liquidation price
    contracts: np.ndarray  # base units at opening (before closes)
    is_long: np.ndarray
    cohort: np.ndarray  # index into BookParams.leverages
    open_step: np.ndarray  # candle index in which it opened
    death_step: np.ndarray  # first candle index whose path crossed it (n = never)



@dataclass(frozen=True)
class PositionBook:
    """Levels plus the per-candle survival factors; answers 'map as of T' for one or many T."""

    symbol: str
    params: BookParams
    step_time: np.ndarray  # candle open times (ms)
    step_end: np.ndarray  # candle end times (ms, exclusive)
    close: np.ndarray  # candle close (path price)
    levels: Levels
    log_survival: np.ndarray  # ln S after each step (closes net of model liquidations)
    oi_at_end: np.ndarray  # OI (base units) at each step's end, NaN where unknown
    opened: np.ndarray  # contracts opened per step
    closed: np.ndarray  # contracts closed per step (all causes)
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: OI scale per (as-of time, window) already computed: the views of one map share it
    _scales: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ----------------------------------------------------------------- queries
    @property
    def leverages(self) -> np.ndarray:
        return np.asarray(self.params.leverages)

    def steps_completed(self, as_of_ms) -> np.ndarray | int:
        """How many candles had ended at ``as_of_ms`` (the state uses only those)."""
        return np.searchsorted(self.step_end, as_of_ms, side="right")

    def level_log_weight(self, view: str, recency_half_life_ms: float | None):
        """Per level: mask of the view, and the log-rate (per ms) each cohort fades at, or None."""
        mask = view_mask(self.leverages, view)[self.levels.cohort]
        return mask, decay_rates(self.params.decay_half_life_10x, self.leverages, recency_half_life_ms)

    def alive_weights(self, as_of_ms: int, view: str = "all", window_ms: int | None = None,
                      recency_half_life_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Levels alive as of ``as_of_ms`` (opened in the window, in the view) and the share of each left.

        The share is the survival since opening times the decay (and the recency fade, if any).
        """
        n_done = int(self.steps_completed(as_of_ms))
        lv = self.levels
        mask, rate = self.level_log_weight(view, recency_half_life_ms)
        alive = mask & (lv.open_step < n_done) & (lv.death_step >= n_done)
        if window_ms is not None:
            alive &= self.step_time[lv.open_step] >= as_of_ms - window_ms
        idx = np.flatnonzero(alive)
        if n_done == 0 or idx.size == 0:
            return idx[:0], np.zeros(0)
        log_w = self.log_survival[n_done - 1] - self.log_survival[lv.open_step[idx]]
        share = np.exp(log_w)
        if rate is not None:
            share *= decay_factor(rate[lv.cohort[idx]], self.step_end[n_done - 1] - self.step_end[lv.open_step[idx]])
        return idx, share

    def snapshot(self, as_of_ms: int, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                 recency_half_life_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Outstanding long and short liquidation notional per price bin as of ``as_of_ms`` (scaled to the OI)."""
        idx, share = self.alive_weights(as_of_ms, view, window_ms, recency_half_life_ms)
        lv = self.levels
        notional = lv.contracts[idx] * lv.price[idx] * share
        long, short = bin_by_side(lv.price[idx], notional, lv.is_long[idx], edges)
        scale = self.oi_scale_at(as_of_ms, window_ms)
        return long * scale, short * scale

    def oi_scale_at(self, as_of_ms: int, window_ms: int | None) -> float:
        """``calibration.oi_scale`` at one moment, computed once per book (the map's views share it)."""
        key = (int(as_of_ms), window_ms)
        if key not in self._scales:
            self._scales[key] = float(oi_scale(self, [as_of_ms], window_ms)[0])
        return self._scales[key]

    def history(self, times_ms, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                recency_half_life_ms: float | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """The book as of every time in ``times_ms`` (increasing), in one pass (``liqmap.model.history``)."""
        # the scale first: its per-level arrays are gone before the history's output exists
        scale = oi_scale(self, times_ms, window_ms) if self.params.oi_reconcile and len(times_ms) else None
        long, short = sweep(self, times_ms, edges, view, window_ms, recency_half_life_ms, dtype)
        if scale is not None:
            long *= scale.astype(long.dtype)[:, None]
            short *= scale.astype(short.dtype)[:, None]
        return long, short

    def coverage(self, as_of_ms: int, window_ms: int | None, price: float, edges: np.ndarray) -> dict | None:
        """What share of the open interest at ``as_of_ms`` the map holds; None when that OI is unknown.

        Keys: ``placed`` (the window's alive levels as the book opened them, before
        the OI scale), ``scale`` (the factor applied, ``calibration.oi_scale``),
        then, with it applied, ``alive`` (all of them), ``in_grid`` (levels
        inside ``edges``) and ``within_5pct`` (within ``NEAR_FRACTION`` of ``price``).
        Each opened contract yields ``1 + maker_leveraged_share`` leveraged
        legs, divided out to count contracts; a level counts with what its
        survival and decay leave of it, as in the map.
        """
        oi = float(oi_at(self, [as_of_ms])[0])
        if not (np.isfinite(oi) and oi > 0):
            return None
        idx, share = self.alive_weights(as_of_ms, "all", window_ms)
        held = self.levels.contracts[idx] * share / (1.0 + self.params.maker_leveraged_share) / oi
        at = self.levels.price[idx]
        scale = self.oi_scale_at(as_of_ms, window_ms)
        placed = float(held.sum())
        in_grid = (at >= edges[0]) & (at < edges[-1])
        near = np.abs(at / price - 1.0) <= NEAR_FRACTION
        return {"placed": placed, "scale": scale, "alive": placed * scale,
                "in_grid": float(held[in_grid].sum()) * scale, "within_5pct": float(held[near].sum()) * scale}

    def model_info(self) -> dict:
        """Name, version, parameters and notes: every output is an estimate and says so."""
        params = asdict(self.params)
        params["leverage_weights"] = [round(float(w), 6) for w in cohort_weights(
            self.params.leverages, self.params.leverage_median, self.params.leverage_sigma)]
        return {"name": MODEL_NAME, "version": MODEL_VERSION, "parameters": params, "notes": list(self.notes)}



def bin_by_side(price, notional, is_long, edges):
    n_bins = len(edges) - 1
    bins = np.searchsorted(edges, price, side="right") - 1
    inside = (bins >= 0) & (bins < n_bins)
    long_sum = np.bincount(bins[inside & is_long], notional[inside & is_long], minlength=n_bins)
    short_sum = np.bincount(bins[inside & ~is_long], notional[inside & ~is_long], minlength=n_bins)
    return long_sum, short_sum

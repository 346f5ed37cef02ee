"""The book's value: its levels and per-candle survival factors, and the questions it answers.

``PositionBook`` is immutable; ``snapshot`` is the map as of one moment,
``history`` as of many (see ``history``), ``coverage`` the share of the open
interest the map represents.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .decay import decay_factor, decay_rates
from .history import sweep
from .leverage import cohort_weights, view_mask
from .params import BookParams

MODEL_NAME = "liqmap-book"
MODEL_VERSION = "1"


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
        """Outstanding long and short liquidation notional per price bin as of ``as_of_ms``."""
        idx, share = self.alive_weights(as_of_ms, view, window_ms, recency_half_life_ms)
        lv = self.levels
        notional = lv.contracts[idx] * lv.price[idx] * share
        return bin_by_side(lv.price[idx], notional, lv.is_long[idx], edges)

    def history(self, times_ms, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                recency_half_life_ms: float | None = None, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """The book as of every time in ``times_ms`` (increasing), in one pass (``liqmap.model.history``)."""
        return sweep(self, times_ms, edges, view, window_ms, recency_half_life_ms, dtype)

    def coverage(self, as_of_ms: int, window_ms: int | None = None) -> float | None:
        """Share of the open interest at ``as_of_ms`` that the alive levels of the window represent.

        Each opened contract yields ``1 + maker_leveraged_share`` leveraged legs
        (the taker's and the leveraged part of the maker's), so alive legs are
        divided by that to count contracts; faded legs count with what is left
        of them, as in the map.
        """
        n_done = int(self.steps_completed(as_of_ms))
        if n_done == 0 or not np.isfinite(self.oi_at_end[n_done - 1]) or self.oi_at_end[n_done - 1] <= 0:
            return None
        idx, share = self.alive_weights(as_of_ms, "all", window_ms)
        contracts = (self.levels.contracts[idx] * share).sum() / (1.0 + self.params.maker_leveraged_share)
        return float(contracts / self.oi_at_end[n_done - 1])

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

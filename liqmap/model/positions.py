"""The book's value: its levels and per-candle survival factors, and the questions it answers.

``PositionBook`` is immutable; ``read`` gives the maps as of many moments,
each on its own grid (see ``moments``; ``snapshot`` is one moment's),
``history`` as of many on one grid (see ``history``), all scaled to hold the
open interest (``calibration``); ``coverage`` says what share of the open
interest the map holds, in all, inside its grid and near price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import moments
from .calibration import held_contracts, oi_at, oi_scale, reconcile_scale
from .decay import decay_rates
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

    def read(self, times_ms, edges, views: dict[str, float | None], window_ms: int | None = None,
             prices=None) -> tuple[dict[str, tuple[list[np.ndarray], list[np.ndarray]]], list[dict | None] | None]:
        """The maps as of every time in ``times_ms`` (increasing), each on its own grid, in one pass (``moments``).

        ``edges`` is one grid for all or a list of one per moment; ``views``
        maps each view to its recency half-life (ms, or None).  Returns per
        view (long rows, short rows) of outstanding liquidation notional per
        bin, scaled to the OI, and with ``prices`` (one per moment) each
        moment's ``coverage`` record.
        """
        times = np.asarray(times_ms, dtype=np.int64)
        near = None if prices is None else \
            (np.asarray(prices, float) * (1.0 - NEAR_FRACTION), np.asarray(prices, float) * (1.0 + NEAR_FRACTION))
        found = moments.read(self, times, edges, views, window_ms, near)
        oi = oi_at(self, times)
        held = held_contracts(self, times, window_ms) if prices is not None or self.params.oi_reconcile else None
        scale = reconcile_scale(self, oi, held)
        maps = {v: ([row * s for row, s in zip(long, scale)], [row * s for row, s in zip(short, scale)])
                for v, (long, short) in found.views.items()}
        if prices is None:
            return maps, None
        assert held is not None and found.in_grid is not None and found.near is not None  # asked for with prices
        legs = 1.0 + self.params.maker_leveraged_share
        known = np.isfinite(oi) & (oi > 0)
        return maps, [{"placed": float(held[i] / oi[i]), "scale": float(scale[i]),
                       "alive": float(held[i] / oi[i]) * float(scale[i]),
                       "in_grid": float(found.in_grid[i] / legs / oi[i]) * float(scale[i]),
                       "within_5pct": float(found.near[i] / legs / oi[i]) * float(scale[i])}
                      if known[i] else None for i in range(times.size)]

    def snapshot(self, as_of_ms: int, edges: np.ndarray, view: str = "all", window_ms: int | None = None,
                 recency_half_life_ms: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Outstanding long and short liquidation notional per price bin as of ``as_of_ms`` (scaled to the OI)."""
        (long, short), = self.read([as_of_ms], [edges], {view: recency_half_life_ms}, window_ms)[0].values()
        return long[0], short[0]

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
        coverage = self.read([as_of_ms], [edges], {}, window_ms, prices=[price])[1]
        assert coverage is not None  # asked for with the price
        return coverage[0]

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

    def model_info(self) -> dict:
        """Name, version, parameters and notes: every output is an estimate and says so."""
        params = asdict(self.params)
        params["leverage_weights"] = [round(float(w), 6) for w in cohort_weights(
            self.params.leverages, self.params.leverage_median, self.params.leverage_sigma)]
        return {"name": MODEL_NAME, "version": MODEL_VERSION, "parameters": params, "notes": list(self.notes)}

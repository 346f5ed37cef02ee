"""Walk-forward predictions and their scores over a period.

One position book is built over the data up to the period's end and read as
of every hour's open in one pass (``PositionBook.history``): the row for hour
h uses only candles that ended at or before h, and the book never sees data
at or after the period's end.  The hour's own open, high and low only bound
the price range that is summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..frames import MS_PER_DAY, DataError, format_ms
from . import bootstrap, metrics
from .dataset import HourlyTruth, ValidationData
from .predictors import log_grid, map_prediction, move_prediction, uniform_prediction

if TYPE_CHECKING:
    from ..model.params import BookParams

DEFAULT_VIEW = "all"
DEFAULT_WINDOW_MS = 30 * MS_PER_DAY
BASELINES = ("move", "uniform")


class ModelFailure(ValueError):
    """The model produced non-finite predictions for a setting (a model problem, not a data one)."""


@dataclass(frozen=True)
class ModelChoice:
    """What the ``map`` predictor is: book parameters, the leverage view and the map window."""

    params: BookParams | None = None  # None = the defaults
    view: str = DEFAULT_VIEW
    window_ms: int | None = DEFAULT_WINDOW_MS


@dataclass(frozen=True)
class Predictions:
    """Per scored hour, each predictor's (long, short) swept notional."""

    start_ms: int
    end_ms: int
    hours: HourlyTruth
    by_predictor: dict[str, tuple[np.ndarray, np.ndarray]]
    model: dict


def scored_hours(data: ValidationData, start_ms: int | None, end_ms: int | None) -> np.ndarray:
    """Indices of the scorable hours in ``[start_ms, end_ms)``."""
    t = data.hours.time
    keep = data.hours.scorable.copy()
    if start_ms is not None:
        keep &= t >= start_ms
    if end_ms is not None:
        keep &= t < end_ms
    index = np.flatnonzero(keep)
    if index.size < 10:
        first, last = format_ms(t[0]), format_ms(t[-1] + 3_600_000)
        raise DataError(
            f"only {index.size} scorable hour(s) between {format_ms(start_ms) if start_ms else 'the start'} and "
            f"{format_ms(end_ms) if end_ms else 'the end'}; the data covers {first} .. {last}"
        )
    return index


def predict(data: ValidationData, start_ms: int | None = None, end_ms: int | None = None,
            choice: ModelChoice = ModelChoice(), variants: dict[str, ModelChoice] | None = None) -> Predictions:
    """The map (and any named ``variants``) beside the baselines for every scored hour of the period."""
    from ..model.build import build_book

    index = scored_hours(data, start_ms, end_ms)
    hours = data.hours.take(index)
    end = int(hours.time[-1]) + 3_600_000
    market = data.market.slice_time(None, end)  # the book never holds data past the period
    edges = log_grid(float(hours.low.min()), float(hours.high.max()))
    by_predictor = {}
    model = {}
    for name, c in {"map": choice, **(variants or {})}.items():
        book = build_book(market, c.params, c.window_ms)
        long, short = map_prediction(book, hours, edges, view=c.view, window_ms=c.window_ms)
        bad = np.flatnonzero(~(np.isfinite(long) & np.isfinite(short)))
        if bad.size:
            raise ModelFailure(
                f"the {name!r} model gave a non-finite prediction for {bad.size} hour(s), first "
                f"{format_ms(hours.time[bad[0]])}; parameters: {book.model_info()['parameters']}"
            )
        by_predictor[name] = (long, short)
        model[name] = {**book.model_info(), "view": c.view, "window_ms": c.window_ms}
    by_predictor["move"] = move_prediction(hours)
    by_predictor["uniform"] = uniform_prediction(hours)
    return Predictions(start_ms=int(hours.time[0]), end_ms=end, hours=hours, by_predictor=by_predictor, model=model)


def _scores_at(p: Predictions, index: np.ndarray) -> dict:
    """Every predictor's scores on the hours ``index``, plus the map's lead over each baseline."""
    h = p.hours
    out = {
        name: metrics.score_sides(long[index], short[index], h.long_usd[index], h.short_usd[index])
        for name, (long, short) in p.by_predictor.items()
    }
    out["lead"] = {  # the scale is in each predictor's own units, so it has no lead
        f"{name}-{base}": {
            side: {k: out[name][side][k] - out[base][side][k] for k in out[name][side] if k != "scale"}
            for side in out[name]
        }
        for name in p.by_predictor if name not in BASELINES
        for base in BASELINES
    }
    return out


def score(p: Predictions, *, reps: int = bootstrap.DEFAULT_REPS, block: int = bootstrap.DEFAULT_BLOCK,
          seed: int = 0) -> dict:
    """Point scores, block-bootstrap intervals and monthly scale factors of every predictor."""
    n = len(p.hours)
    everything = np.arange(n)
    point = _scores_at(p, everything)
    ci = bootstrap.bootstrap_nested(lambda index: _scores_at(p, index), n, block=block, reps=reps, seed=seed)
    monthly = {}
    for name, (long, short) in p.by_predictor.items():
        both_p = np.concatenate((long, short))
        both_r = np.concatenate((p.hours.long_usd, p.hours.short_usd))
        by_month = metrics.scale_by_month(np.concatenate((p.hours.time, p.hours.time)), both_p, both_r)
        monthly[name] = {"scale_by_month": by_month, "scale_cv": metrics.scale_stability(by_month)}
    months = metrics.month_keys(p.hours.time)
    per_month = {
        m: _scores_at(p, np.flatnonzero(months == m)) for m in np.unique(months) if np.count_nonzero(months == m) >= 48
    }
    return {"point": point, "ci": ci, "monthly_scale": monthly, "per_month": per_month,
            "bootstrap": {"reps": reps, "block_hours": block, "level": bootstrap.DEFAULT_LEVEL}}

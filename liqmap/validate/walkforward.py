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

from ..frames import MS_PER_DAY, MS_PER_HOUR, DataError, format_ms
from . import bootstrap, metrics, multiplicity
from .dataset import HourlyTruth, ValidationData
from .predictors import log_grid, map_prediction, move_prediction, uniform_prediction

if TYPE_CHECKING:
    from ..model.params import BookParams

DEFAULT_VIEW = "all"
DEFAULT_WINDOW_MS = 30 * MS_PER_DAY
BASELINES = ("move", "uniform", "fitted")
#: What the map adds to the fitted baseline: ``fitted+map`` is compared with ``fitted`` only.
WITH_MAP = "fitted+map"


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
        first, last = format_ms(t[0]), format_ms(t[-1] + MS_PER_HOUR)
        raise DataError(
            f"only {index.size} scorable hour(s) between {format_ms(start_ms) if start_ms else 'the start'} and "
            f"{format_ms(end_ms) if end_ms else 'the end'}; the data covers {first} .. {last}"
        )
    return index


def predict(data: ValidationData, start_ms: int | None = None, end_ms: int | None = None,
            choice: ModelChoice = ModelChoice(), variants: dict[str, ModelChoice] | None = None,
            fitted: bool = True, stored: str | None = None) -> Predictions:
    """The map (and any named ``variants``) beside the baselines for every scored hour of the period.

    With ``fitted`` the fitted baseline and ``fitted+map`` are added when every
    scored month has enough earlier hours to train on (``fitted.MIN_TRAIN_HOURS``).
    ``stored`` (``backfill:STORE``) reads the map from a backfill store made with
    ``choice`` instead of building it (``liqmap.validate.stored``).
    """
    from ..model.build import build_book

    index = scored_hours(data, start_ms, end_ms)
    hours = data.hours.take(index)
    end = int(hours.time[-1]) + MS_PER_HOUR
    market = data.market.slice_time(None, end)  # the book never holds data past the period
    by_predictor = {}
    model = {}
    map_on = None  # the map predictor on other hours (the fitted baseline's training hours)
    if stored is not None:
        from .stored import check_choice, stored_prediction

        if variants:
            raise ValueError("variants are models to build; a backfill store holds one configuration")
        check_choice(stored, market.exchange, choice)

        def map_on(some: HourlyTruth) -> tuple[np.ndarray, np.ndarray]:
            return stored_prediction(stored, market.symbol, market.exchange, some, choice.view)

        by_predictor["map"] = _finite("map", map_on(hours), hours, choice.params)
        model["map"] = {"stored": stored, "view": choice.view, "window_ms": choice.window_ms}
    for name, c in ({} if stored is not None else {"map": choice, **(variants or {})}).items():
        book = build_book(market, c.params, c.window_ms)
        if map_on is None:
            map_on = _book_predictor(book, c)
        by_predictor[name] = _finite(name, _book_predictor(book, c)(hours), hours, book.model_info()["parameters"])
        model[name] = {**book.model_info(), "view": c.view, "window_ms": c.window_ms}
    by_predictor["move"] = move_prediction(hours)
    by_predictor["uniform"] = uniform_prediction(hours)
    if fitted and map_on is not None:
        by_predictor.update(_fitted(data, index, by_predictor["map"], map_on))
    return Predictions(start_ms=int(hours.time[0]), end_ms=end, hours=hours, by_predictor=by_predictor, model=model)


def _book_predictor(book, choice: ModelChoice):
    """The map predictor of ``book``: swept notional on a log grid over the hours' range."""
    def on(hours: HourlyTruth) -> tuple[np.ndarray, np.ndarray]:
        edges = log_grid(float(hours.low.min()), float(hours.high.max()))
        return map_prediction(book, hours, edges, view=choice.view, window_ms=choice.window_ms)

    return on


def _finite(name: str, prediction: tuple[np.ndarray, np.ndarray], hours: HourlyTruth, parameters) -> tuple:
    long, short = prediction
    bad = np.flatnonzero(~(np.isfinite(long) & np.isfinite(short)))
    if bad.size:
        raise ModelFailure(
            f"the {name!r} model gave a non-finite prediction for {bad.size} hour(s), first "
            f"{format_ms(hours.time[bad[0]])}; parameters: {parameters}"
        )
    return long, short


def _fitted(data: ValidationData, index: np.ndarray, map_usd: tuple[np.ndarray, np.ndarray],
            map_on) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``fitted`` and ``fitted+map`` for the scored rows ``index`` (empty if a month cannot be trained)."""
    from .fitted import fitted_predictions

    h = data.hours
    plain = fitted_predictions(h, data.market.funding, index)
    if not np.isfinite(plain[0]).all():
        return {}
    # the map on the earlier (training) hours, from the same book, as of each hour's open
    earlier = np.flatnonzero(h.scorable & (h.time < h.time[index[0]]))
    full = (np.full(len(h), np.nan), np.full(len(h), np.nan))
    for k in range(2):
        full[k][index] = map_usd[k]
    if earlier.size:
        long, short = map_on(h.take(earlier))
        full[0][earlier], full[1][earlier] = long, short
    return {"fitted": plain, WITH_MAP: fitted_predictions(h, data.market.funding, index, full)}


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
        for name, base in comparisons(p.by_predictor)
    }
    return out


def lead_tests(lead: dict, standard_errors: dict) -> dict:
    """Every lead (pair, side, score) as one claim that it is above 0: one-sided p-value from the
    bootstrap standard error, Holm-adjusted over the whole family, and the claims that survive."""
    flat = {f"{pair} {side} {k}": bootstrap.p_above_zero(v, standard_errors[pair][side][k])
            for pair in lead for side in lead[pair] for k, v in lead[pair][side].items()}
    adjusted = multiplicity.holm(flat)
    return {
        "method": multiplicity.METHOD, "alpha": multiplicity.ALPHA, "family": len(flat),
        "p": flat, "p_adjusted": adjusted,
        "wins": [name for name, q in adjusted.items() if q < multiplicity.ALPHA],
    }


def comparisons(names) -> list[tuple[str, str]]:
    """(model, baseline) pairs compared: each map against each baseline present, ``fitted+map`` against ``fitted``."""
    present = [b for b in BASELINES if b in names]
    pairs = [(name, base) for name in names if name not in BASELINES and name != WITH_MAP for base in present]
    return pairs + ([(WITH_MAP, "fitted")] if WITH_MAP in names else [])


def score(p: Predictions, *, reps: int = bootstrap.DEFAULT_REPS, block: int = bootstrap.DEFAULT_BLOCK,
          seed: int = 0) -> dict:
    """Point scores, block-bootstrap intervals and monthly scale factors of every predictor."""
    n = len(p.hours)
    everything = np.arange(n)
    point = _scores_at(p, everything)
    draws = bootstrap.bootstrap_draws(lambda index: _scores_at(p, index), n, block=block, reps=reps, seed=seed)
    ci = bootstrap.summarise(draws, bootstrap.interval)
    monthly = {}
    t = p.hours.time
    for name, (long, short) in p.by_predictor.items():
        both_p = np.concatenate((long, short))
        both_r = np.concatenate((p.hours.long_usd, p.hours.short_usd))
        by_month = metrics.scale_by_month(np.concatenate((t, t)), both_p, both_r)
        sides = {"long": metrics.scale_by_month(t, long, p.hours.long_usd),
                 "short": metrics.scale_by_month(t, short, p.hours.short_usd)}
        monthly[name] = {"scale_by_month": by_month, "scale_cv": metrics.scale_stability(by_month), **sides,
                         "band": {side: metrics.scale_band(v) for side, v in (*sides.items(), ("both", by_month))}}
    months = metrics.month_keys(p.hours.time)
    per_month = {
        m: _scores_at(p, np.flatnonzero(months == m)) for m in np.unique(months) if np.count_nonzero(months == m) >= 48
    }
    return {"point": point, "ci": ci, "monthly_scale": monthly, "per_month": per_month,
            "lead_tests": lead_tests(point["lead"], bootstrap.summarise([d["lead"] for d in draws], bootstrap.spread)),
            "bootstrap": {"reps": reps, "block_hours": block, "level": bootstrap.DEFAULT_LEVEL}}

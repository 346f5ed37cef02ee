"""Choosing the model's defaults on a tuning period, honestly.

A coordinate search: starting from the given choice, each setting in
``SEARCH_SPACE`` is tried in turn with the others held, the best is kept,
and the sweep repeats until a round changes nothing (at most ``rounds``).
A change is kept only if it gains at least ``MIN_GAIN`` (smaller gains are
noise and would make the defaults wander).  A setting for which the model
fails (non-finite output) is recorded as a failed trial.
The objective is the Spearman rank correlation of the map's swept notional
with realized liquidations, both sides pooled, on the tuning period only;
the test period is never looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..frames import MS_PER_DAY
from . import metrics
from .dataset import ValidationData
from .walkforward import ModelChoice, ModelFailure, predict

#: Settings tried per model choice.  ``view`` and ``window_ms`` belong to the map, the rest to BookParams.
SEARCH_SPACE: dict[str, tuple] = {
    "leverage_median": (5.0, 8.0, 12.0, 20.0, 35.0),
    "leverage_sigma": (0.5, 0.9, 1.3),
    "maker_leveraged_share": (0.0, 0.2, 0.35, 0.6, 1.0),
    "entry_anchors": ("ohlc", "hlc3", "close", "range5"),
    "side_split": ("clv", "even"),
    "funding_tilt": (0.0, 1.0, 3.0),
    "decay_half_life_10x": (None, 12.0, 48.0, 168.0),
    "window_ms": (7 * MS_PER_DAY, 14 * MS_PER_DAY, 30 * MS_PER_DAY, 90 * MS_PER_DAY),
    "view": ("all", "high"),
}
CHOICE_FIELDS = ("view", "window_ms")
#: The first model, before any tuning (``reports/starting_config.yaml``): scored as ``map_untuned``.
UNTUNED: dict = {
    "leverage_median": 12.0, "leverage_sigma": 0.9, "leverage_spread": 0.0, "maker_leveraged_share": 0.35,
    "entry_anchors": "ohlc",
    "side_split": "even", "funding_tilt": 0.0, "decay_half_life_10x": None, "oi_reconcile": False, "oi_shrinkage": 0.0,
    "window": "30d",
    "view": "all",
}
#: BookParams fields that are no modelling choice of the first model (the leverage grid, the printed position's
#: size, the tier file, the entry pooling, data checks, the fixed point's passes, the span of a prior it did not
#: use): ``map_untuned`` keeps today's. Every other field is in ``UNTUNED``, so a new assumption cannot slip in.
UNTUNED_KEEPS = ("leverages", "position_notional", "brackets", "entry_bucket_pct", "max_oi_gap_ms", "max_candle_gap_ms",
                 "close_iterations", "oi_prior_span_ms")
MIN_GAIN = 0.002


@dataclass(frozen=True)
class Tuning:
    """The chosen model, its objective on the tuning period, and every trial made."""

    choice: ModelChoice
    objective: float
    baseline_objective: float
    trials: tuple[tuple[dict, float], ...]


def apply(choice: ModelChoice, name: str, value) -> ModelChoice:
    """``choice`` with one setting changed (a map setting or a BookParams field)."""
    if name in CHOICE_FIELDS:
        return replace(choice, **{name: value})
    from ..model.params import BookParams

    params = choice.params or BookParams()
    return replace(choice, params=params.with_overrides(**{name: value}))


def setting(choice: ModelChoice, name: str):
    if name in CHOICE_FIELDS:
        return getattr(choice, name)
    from ..model.params import BookParams

    return getattr(choice.params or BookParams(), name)


def objective(data: ValidationData, start_ms: int, end_ms: int, choice: ModelChoice) -> float:
    """Pooled long+short Spearman of the map on the period (NaN if the model fails)."""
    try:
        p = predict(data, start_ms, end_ms, choice, fitted=False)
    except ModelFailure:
        return math.nan
    long, short = p.by_predictor["map"]
    both_p = np.concatenate((long, short))
    both_r = np.concatenate((p.hours.long_usd, p.hours.short_usd))
    return metrics.spearman(both_p, both_r)


def tune(data: ValidationData, start_ms: int, end_ms: int, start: ModelChoice = ModelChoice(),
         space: dict[str, tuple] | None = None, rounds: int = 3, evaluate=None) -> Tuning:
    """Coordinate search over ``space`` on ``[start_ms, end_ms)``.

    ``evaluate`` maps a list of choices to their objectives (default: one
    after the other here; ``on_dask`` runs them on a cluster).  The values of
    one setting are tried together: each candidate changes only that setting
    of the best so far, so a better value found among them changes none of
    the others, and the search goes as one value at a time would.
    """
    if evaluate is None:
        def evaluate(choices):
            return [objective(data, start_ms, end_ms, c) for c in choices]

    space = SEARCH_SPACE if space is None else space
    best = start
    best_score = evaluate([best])[0]
    first_score = best_score
    trials: list[tuple[dict, float]] = [({}, best_score)]
    tried = {_key(best): best_score}
    for _ in range(rounds):
        changed = False
        for name, values in space.items():
            candidates = [(value, apply(best, name, value)) for value in values]
            fresh = [(value, c) for value, c in candidates if _key(c) not in tried]
            for (value, candidate), score in zip(fresh, evaluate([c for _, c in fresh])):
                tried[_key(candidate)] = score
                trials.append(({name: value, **_differences(start, candidate)}, score))
            for _, candidate in candidates:
                if tried[_key(candidate)] >= best_score + MIN_GAIN:
                    best, best_score, changed = candidate, tried[_key(candidate)], True
        if not changed:
            break
    return Tuning(choice=best, objective=best_score, baseline_objective=first_score, trials=tuple(trials))


def month_prediction(data: ValidationData, start_ms: int, end_ms: int, choice: ModelChoice):
    """One task of the tuning on a cluster: the map's predictions and the realized notional of one month
    (a book over the data before the month's end: the same values a book over the whole period gives there);
    None when the model fails."""
    try:
        p = predict(data, start_ms, end_ms, choice, fitted=False)
    except ModelFailure:
        return None
    long, short = p.by_predictor["map"]
    return np.concatenate((long, short)), np.concatenate((p.hours.long_usd, p.hours.short_usd))


def on_dask(client, data: ValidationData, start_ms: int, end_ms: int):
    """An ``evaluate`` for ``tune`` running one task per configuration and month on the Dask ``client``."""
    from ..backfill.plan import months_between

    months = months_between(start_ms, end_ms)
    shared = client.scatter(data, broadcast=True)

    def evaluate(choices: list[ModelChoice]) -> list[float]:
        futures = [[client.submit(month_prediction, shared, lo, hi, c, pure=False) for lo, hi in months]
                   for c in choices]
        out = []
        for parts in client.gather(futures):
            if any(part is None for part in parts):
                out.append(math.nan)
                continue
            out.append(metrics.spearman(np.concatenate([p for p, _ in parts]), np.concatenate([r for _, r in parts])))
        return out

    return evaluate


def _key(choice: ModelChoice) -> tuple:
    return tuple(setting(choice, name) for name in SEARCH_SPACE)


def _differences(start: ModelChoice, choice: ModelChoice) -> dict:
    return {name: setting(choice, name) for name in SEARCH_SPACE if setting(choice, name) != setting(start, name)}


def choice_settings(choice: ModelChoice) -> dict:
    """Every searched setting of ``choice``, as a config mapping (``--config`` reads the same keys)."""
    return {name: setting(choice, name) for name in SEARCH_SPACE}


def choice_from_settings(settings: dict, source: str = "config") -> ModelChoice:
    """The inverse of ``choice_settings``: a mapping of map settings and BookParams fields.

    ``window`` may be given as a span ('30d') instead of ``window_ms``.
    """
    from ..model.params import BookParams
    from ..timeutil import parse_span

    if not isinstance(settings, dict):
        raise ValueError(f"{source}: expected a mapping of model settings, got {type(settings).__name__}")
    settings = dict(settings)
    if "window" in settings:
        settings["window_ms"] = parse_span(settings.pop("window"), f"{source}: window")
    choice = ModelChoice()
    for name in CHOICE_FIELDS:
        if name in settings:
            choice = replace(choice, **{name: settings.pop(name)})
    try:
        params = BookParams().with_overrides(**settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from None
    return replace(choice, params=params)

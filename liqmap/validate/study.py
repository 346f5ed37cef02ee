"""The whole validation study in one call: optional tuning, walk-forward scores, the claims.

``run_study`` returns a plain dict (the content of ``figures.json``) plus the
per-hour predictions the report plots.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frames import format_ms
from . import bootstrap
from .claims import study_claims
from .dataset import ValidationData
from .firsttouch import study_first_touch
from .registry import Registry, config_hash, config_settings, covers_test_month
from .tuning import UNTUNED, choice_from_settings, choice_settings, tune
from .walkforward import ModelChoice, Predictions, predict, score, scored_hours

#: What the hourly scores are: a nowcast, since every predictor knows the hour's own range.
SCORE_KIND = ("nowcast: each hour's predicted liquidations given the hour's own open, high and low "
              "(the book as of the open), not a forecast")


@dataclass(frozen=True)
class Study:
    figures: dict
    predictions: Predictions


def run_study(data: ValidationData, start_ms: int | None, end_ms: int | None, *,
              choice: ModelChoice = ModelChoice(), tune_period: tuple[int, int] | None = None,
              reps: int = bootstrap.DEFAULT_REPS, block: int = bootstrap.DEFAULT_BLOCK,
              claims: bool = True, first_touch: bool = True, registry: Registry | None = None,
              stored: str | None = None, tune_evaluate=None) -> Study:
    """Score the map against the baselines on ``[start_ms, end_ms)``.

    With ``tune_period`` the model is first chosen there (from ``choice``)
    and the untuned first model (``tuning.UNTUNED``) is scored beside it as
    ``map_untuned``; ``tune_evaluate`` runs its trials elsewhere
    (``tuning.on_dask``).  With a ``registry``, a period covering the test month
    is refused if that configuration was scored on it before, else recorded.
    ``stored`` (``backfill:STORE``) takes the map from a backfill store made
    with ``choice``; the first-touch test and the claims, which read the
    book's clusters, are then left out (they would build it).
    """
    figures: dict = {}
    variants = {}
    if stored is not None:
        if tune_period is not None:
            raise ValueError("tuning tries configurations a backfill store was not made with; tune without it")
        claims = first_touch = False
    if tune_period is not None:
        tuned = tune(data, *tune_period, start=choice, evaluate=tune_evaluate)
        figures["tuning"] = {
            "period": {"from": format_ms(tune_period[0]), "to": format_ms(tune_period[1])},
            "objective": "spearman, both sides pooled",
            "start_objective": tuned.baseline_objective,
            "chosen_objective": tuned.objective,
            "chosen": choice_settings(tuned.choice),
            "trials": [{"changes": changes, "objective": value} for changes, value in tuned.trials],
        }
        variants["map_untuned"] = choice_from_settings(dict(UNTUNED), source="tuning.UNTUNED")
        choice = tuned.choice
    digest = config_hash(choice)
    if registry is not None and not covers_test_month(data.hours.time[scored_hours(data, start_ms, end_ms)]):
        registry = None  # the period does not touch the test month: nothing to record
    if registry is not None:
        registry.check(digest)
    p = predict(data, start_ms, end_ms, choice, variants, stored=stored)
    scored = score(p, reps=reps, block=block)
    figures.update({
        "period": {"from": format_ms(p.start_ms), "to": format_ms(p.end_ms)},
        "hours": len(p.hours),
        "unscored_hours": _unscored(data, p),
        "score_kind": SCORE_KIND,
        "scores": _with_intervals(scored["point"], scored["ci"], p.by_predictor),
        "lead": _with_intervals(scored["point"]["lead"], scored["ci"]["lead"], scored["point"]["lead"]),
        "lead_tests": scored["lead_tests"],
        "monthly_scale": scored["monthly_scale"],
        "per_month": {m: {k: v for k, v in s.items() if k != "lead"} for m, s in scored["per_month"].items()},
        "bootstrap": scored["bootstrap"],
        "model": {"settings": choice_settings(choice), "config_hash": digest, **p.model["map"]},
        "notes": list(data.notes) + ([f"map predictions read from {stored}; the first-touch test and the claims "
                                      f"need the book and were left out"] if stored else []),
    })
    if first_touch:
        figures["first_touch"] = study_first_touch(data, p.start_ms, p.end_ms, choice, reps=reps)
    if claims:
        figures["claims"] = study_claims(data, p, choice, reps=reps)
    if registry is not None:
        figures["registry"] = registry.record(digest, config_settings(choice), figures)
    return Study(figures=figures, predictions=p)


def _unscored(data: ValidationData, p: Predictions) -> list[str]:
    """The hours inside the scored period left out: bridged in the panel (missing bar or liquidations)."""
    t = data.hours.time
    return [format_ms(x) for x in t[(t >= p.start_ms) & (t < p.end_ms) & ~data.hours.scorable]]


def _with_intervals(point: dict, ci: dict, names) -> dict:
    """``{name: {side: {metric: value, metric_ci: [low, high]}}}`` for the names kept."""
    out: dict[str, dict] = {}
    for name in names:
        out[name] = {}
        for side, values in point[name].items():
            merged = dict(values)
            merged.update({f"{k}_ci": list(ci[name][side][k]) for k in values})
            out[name][side] = merged
    return out

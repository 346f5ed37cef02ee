"""Scores of a predictor of hourly liquidation notional against what was realized.

Every function takes plain arrays (one value per hour) and returns a float
(NaN where the score is undefined, e.g. a constant series).  "both" pools
the long and the short side-hours into one series of 2N values, so it rewards
getting the side right as well as the size.
"""

from __future__ import annotations

import math

import numpy as np

#: Realized notional above which an hour counts as a big liquidation hour (AUC label).
BIG_HOUR_USD = 10e6
SIDE_SCORES = ("spearman", "top_decile_share", "top_decile_hit_rate", "auc_10m", "scale")


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    ends = np.concatenate((starts[1:], [values.size]))
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(predicted, realized) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks)."""
    a = average_ranks(predicted)
    b = average_ranks(realized)
    a -= a.mean()
    b -= b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else math.nan


def top_decile(values) -> np.ndarray:
    """Indices of the ceil(n/10) largest values (ties broken by earlier position)."""
    values = np.asarray(values, dtype=np.float64)
    k = max(1, math.ceil(values.size / 10))
    return np.argsort(-values, kind="stable")[:k]


def top_decile_share(predicted, realized) -> float:
    """Share of all realized notional that falls in the predictor's top-decile hours (chance: 0.1)."""
    realized = np.asarray(realized, dtype=np.float64)
    total = realized.sum()
    return float(realized[top_decile(predicted)].sum() / total) if total > 0 else math.nan


def top_decile_hit_rate(predicted, realized) -> float:
    """Share of the predictor's top-decile hours that are also top-decile realized hours (chance: 0.1)."""
    hits = np.isin(top_decile(predicted), top_decile(realized))
    return float(hits.mean())


def roc_auc(score, label) -> float:
    """Area under the ROC curve of ``score`` for the boolean ``label`` (ties count one half)."""
    label = np.asarray(label, dtype=bool)
    n_pos = int(label.sum())
    n_neg = label.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def scale_factor(predicted, realized) -> float:
    """Realized / predicted in total: the factor that turns the prediction into dollars realized."""
    total = float(np.sum(predicted))
    return float(np.sum(realized)) / total if total > 0 else math.nan


def side_accuracy(pred_long, pred_short, real_long, real_short) -> float:
    """Share of hours whose larger realized side is also the larger predicted side.

    Hours with equal realized sides are left out; a predicted tie counts one half.
    """
    real = np.sign(np.asarray(real_long, float) - np.asarray(real_short, float))
    pred = np.sign(np.asarray(pred_long, float) - np.asarray(pred_short, float))
    decided = real != 0
    if not decided.any():
        return math.nan
    agree = np.where(pred[decided] == 0, 0.5, (pred[decided] == real[decided]).astype(float))
    return float(agree.mean())


def side_scores(predicted, realized) -> dict:
    """The per-side scores of SIDE_SCORES for one series."""
    return {
        "spearman": spearman(predicted, realized),
        "top_decile_share": top_decile_share(predicted, realized),
        "top_decile_hit_rate": top_decile_hit_rate(predicted, realized),
        "auc_10m": roc_auc(predicted, np.asarray(realized) > BIG_HOUR_USD),
        "scale": scale_factor(predicted, realized),
    }


def score_sides(pred_long, pred_short, real_long, real_short) -> dict:
    """``{"long": {...}, "short": {...}, "both": {..., "side_accuracy"}}`` for one predictor."""
    both = side_scores(np.concatenate((pred_long, pred_short)), np.concatenate((real_long, real_short)))
    both["side_accuracy"] = side_accuracy(pred_long, pred_short, real_long, real_short)
    return {
        "long": side_scores(pred_long, real_long),
        "short": side_scores(pred_short, real_short),
        "both": both,
    }


def month_keys(time_ms) -> np.ndarray:
    """'YYYY-MM' of each millisecond timestamp (UTC)."""
    return np.asarray(time_ms, dtype="datetime64[ms]").astype("datetime64[M]").astype(str)


def scale_by_month(time_ms, predicted, realized) -> dict[str, float]:
    """The fitted scale factor per calendar month: is one factor enough?"""
    months = month_keys(time_ms)
    predicted = np.asarray(predicted, float)
    realized = np.asarray(realized, float)
    return {str(m): scale_factor(predicted[months == m], realized[months == m]) for m in np.unique(months)}


def scale_band(by_month: dict[str, float]) -> float:
    """Largest over smallest monthly scale factor (1 = the same every month; the dollar target is <= 2)."""
    values = np.array([v for v in by_month.values() if np.isfinite(v) and v > 0])
    return float(values.max() / values.min()) if values.size >= 2 else math.nan


def scale_stability(by_month: dict[str, float]) -> float:
    """Coefficient of variation of the monthly scale factors (0 = the same every month)."""
    values = np.array([v for v in by_month.values() if np.isfinite(v)])
    if values.size < 2:
        return math.nan
    return float(values.std(ddof=1) / values.mean())

"""Confidence intervals by circular block bootstrap.

Liquidation hours cluster (one cascade spans several hours), so resampling
single hours would make intervals too narrow.  Whole blocks of consecutive
hours are resampled instead, wrapping around the end of the series.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

DEFAULT_BLOCK = 24
DEFAULT_REPS = 500
DEFAULT_LEVEL = 0.90


def block_indices(n: int, block: int, reps: int, seed: int = 0) -> np.ndarray:
    """``(reps, n)`` row indices: each row concatenates random circular blocks of ``block`` hours."""
    if n <= 0:
        raise ValueError("block bootstrap needs at least one observation")
    block = max(1, min(int(block), n))
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(n / block)
    starts = rng.integers(0, n, size=(reps, n_blocks))
    offsets = np.arange(block)
    return ((starts[:, :, None] + offsets) % n).reshape(reps, -1)[:, :n]


def interval(samples, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Equal-tailed percentile interval of the finite bootstrap samples."""
    values = np.asarray(samples, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return (float(low), float(high))


def bootstrap_draws(statistic: Callable[[np.ndarray], dict], n: int, *, block: int = DEFAULT_BLOCK,
                    reps: int = DEFAULT_REPS, seed: int = 0) -> list[dict]:
    """``statistic(index)`` (a nested dict of floats) for each block-bootstrap resample of the ``n`` hours."""
    return [statistic(index) for index in block_indices(n, block, reps, seed)]


def summarise(draws: list[dict], reduce: Callable[[list[float]], Any]) -> dict:
    """The nested dict of the draws' shape with ``reduce(values across draws)`` at every leaf."""

    def collect(path: tuple) -> list[float]:
        values: list[float] = []
        for draw in draws:
            node: Any = draw
            for key in path:
                node = node[key]
            values.append(node)
        return values

    def walk(template, path: tuple):
        if isinstance(template, dict):
            return {k: walk(v, path + (k,)) for k, v in template.items()}
        return reduce(collect(path))

    return walk(draws[0], ())


def spread(samples) -> float:
    """Standard deviation of the finite bootstrap samples (the bootstrap standard error)."""
    values = np.asarray(samples, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.std(ddof=1)) if values.size >= 2 else math.nan


def p_above_zero(point: float, standard_error: float) -> float:
    """One-sided p-value against "the difference is at most 0": ``1 - Phi(point / standard_error)``.

    The normal approximation gives p-values finer than ``1 / reps``, which a
    multiplicity correction over dozens of comparisons needs.
    """
    if not (math.isfinite(point) and math.isfinite(standard_error)):
        return math.nan
    if standard_error == 0:
        return 0.0 if point > 0 else 1.0
    return 0.5 * math.erfc(point / standard_error / math.sqrt(2.0))


def bootstrap_nested(statistic: Callable[[np.ndarray], dict], n: int, *, block: int = DEFAULT_BLOCK,
                     reps: int = DEFAULT_REPS, seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Intervals for every number in the nested dict ``statistic(index)`` returns.

    ``statistic`` receives an index array into the hours and returns a nested
    dict of floats; the result has the same shape with ``(low, high)`` leaves.
    """
    draws = bootstrap_draws(statistic, n, block=block, reps=reps, seed=seed)
    return summarise(draws, lambda values: interval(values, level))

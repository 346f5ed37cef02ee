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


def bootstrap_nested(statistic: Callable[[np.ndarray], dict], n: int, *, block: int = DEFAULT_BLOCK,
                     reps: int = DEFAULT_REPS, seed: int = 0, level: float = DEFAULT_LEVEL) -> dict:
    """Intervals for every number in the nested dict ``statistic(index)`` returns.

    ``statistic`` receives an index array into the hours and returns a nested
    dict of floats; the result has the same shape with ``(low, high)`` leaves.
    """
    draws = [statistic(index) for index in block_indices(n, block, reps, seed)]

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
        return interval(collect(path), level)

    return walk(draws[0], ())

"""The map predictor read from a backfill store (``liqmap validate --predictions backfill:STORE``).

The store's heatmap cells of a view are the book as of each stored moment on
the month's price grid, in float64: exactly what ``map_prediction`` sums.
So for each scored hour the swept notional is the stored cells' mass between
the hour's open and low (longs) or open and high (shorts), with no book built.
The configuration is the store's: its manifest's parameters and window; a
``--config`` that differs is refused, naming what differs.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from ..frames import DataError
from .dataset import HourlyTruth
from .predictors import mass_between


def store_choice(source: str, venue: str, view: str = "all"):
    """The ``ModelChoice`` a store was made with: its parameters for ``venue`` and its window."""
    from ..backfill.read import open_store_for
    from ..model.params import BookParams
    from ..options import coerce_fields
    from .walkforward import ModelChoice

    _, manifest = open_store_for(source, None)
    params = manifest["parameters"].get(venue)
    if params is None:
        raise DataError(f"{source} holds no {venue} maps; it holds {', '.join(manifest['parameters'])}")
    return ModelChoice(params=BookParams().with_overrides(**coerce_fields(BookParams, params, "parameters")),
                       view=view, window_ms=manifest["window_ms"])


def check_choice(source: str, venue: str, choice) -> None:
    """Refuse a configuration the store was not made with (parameters, window), naming what differs."""
    from ..model.params import BookParams

    held = store_choice(source, venue, choice.view)
    mine = json.loads(json.dumps(asdict(choice.params or BookParams())))
    theirs = json.loads(json.dumps(asdict(held.params)))
    differ = [k for k in sorted(mine) if mine[k] != theirs.get(k)]
    if choice.window_ms != held.window_ms:
        differ.append("window_ms")
    if differ:
        have = ", ".join(f"{k}={theirs.get(k, held.window_ms)!r}" if k != "window_ms" else f"window_ms={held.window_ms}"
                         for k in differ)
        raise DataError(f"{source} was made with other {', '.join(differ)} than the configuration asks ({have}); "
                        f"score it without --config or backfill that configuration")


def stored_prediction(source: str, symbol: str, venue: str, hours: HourlyTruth, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Per hour, the stored map's long notional between its low and open and short between open and high."""
    from ..backfill.read import stored_cells

    _, _, months = stored_cells(source, symbol, venue, view, hours.time, what="the scored hours")
    long, short = np.zeros(len(hours)), np.zeros(len(hours))
    for month in months:
        rows = month.rows
        long_binned, short_binned = month.dense()
        edges = month.edges
        long[rows] = mass_between(long_binned, edges, hours.low[rows], hours.open[rows])
        short[rows] = mass_between(short_binned, edges, hours.open[rows], hours.high[rows])
    return long, short

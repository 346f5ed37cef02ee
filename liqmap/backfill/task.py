"""One backfill task: a venue-symbol-month's maps and heatmap cells from one book built with its warm-up."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..frames import MS_PER_DAY, DataError, MarketData, format_ms
from .plan import Task
from .store import TABLES, is_done, write_partition

#: Candles loaded before the warm-up for the ATR of the first as-of time (as ``build_maps`` does).
ATR_WARMUP_MS = 2 * MS_PER_DAY


@dataclass(frozen=True)
class Config:
    """What every task of one backfill shares (picklable: it travels to the workers)."""

    store: str
    source: str
    window_ms: int
    views: tuple[str, ...]
    heatmap_views: tuple[str, ...]
    params: dict = field(default_factory=dict)  # overrides of the venue's BookParams
    settings: dict = field(default_factory=dict)  # overrides of MapSettings
    cache_root: str | None = None  # $LIQMAP_CACHE for source "cache" on the workers


def load_span(task: Task, config: Config, first_ms: int) -> MarketData:
    """The market data from ``first_ms`` (warm-up included) to the task's last as-of time."""
    from .. import api

    if config.cache_root is not None:
        os.environ["LIQMAP_CACHE"] = config.cache_root
    return api.load_market(task.symbol, config.source, start=first_ms - ATR_WARMUP_MS, end=task.times()[-1] + 1,
                           venue=task.venue)


def build(market: MarketData, config: Config, book_from_ms: int):
    """The book over ``market`` from ``book_from_ms`` on, with the backfill's parameters and window."""
    from ..api import _params
    from ..model.build import build_book

    return build_book(market.slice_time(book_from_ms, None), _params(config.params or None, market.exchange),
                      config.window_ms)


def tables(task: Task, market: MarketData, book, config: Config) -> dict:
    """The partition's tables (pyarrow) for the task's as-of times, read from ``book``."""
    import pyarrow as pa

    from .. import api

    times = task.times()
    if times[-1] > market.end_ms:
        raise DataError(f"{task.key}: the {config.source} data for {task.symbol} ends {format_ms(market.end_ms)}, "
                        f"before the as-of time {format_ms(times[-1])}; backfill up to its end")
    rows: dict[str, dict[str, list]] = {name: {} for name in TABLES}

    def add(table: str, **columns) -> None:
        for k, v in columns.items():
            rows[table].setdefault(k, []).append(v)

    def extend(table: str, n: int, **columns) -> None:  # chunks of n rows, joined in ``_columns``
        for k, v in columns.items():  # text as objects: arrow reads those faster than numpy's fixed-width text
            value = np.asarray(v, dtype=object) if isinstance(v, str) else np.asarray(v)
            rows[table].setdefault(k, []).append(np.broadcast_to(value, (n,)))

    for t, maps in zip(times, api.maps_from_book(market, book, times, config.window_ms, config.views, config.settings)):
        for m in maps:
            model = dict(m.model)
            add("maps", time=t, view=m.view, price=m.price, atr=m.atr, window_ms=m.window_ms,
                coverage=(model.get("coverage") or {}).get("placed"), nearest_above=m.nearest_above, nearest_below=m.nearest_below,
                model=json.dumps(model, sort_keys=True, default=str))
            n = m.price_low.size
            extend("bins", n, time=t, view=m.view, bin=np.arange(n), price_low=m.price_low, price_high=m.price_high,
                   long=m.long, short=m.short, total=m.total, z=m.z)
            for cluster in m.clusters:
                add("clusters", time=t, view=m.view, **cluster.to_dict())
            for b in m.liq_ratio:
                add("bands", time=t, view=m.view, pct=b.pct, long_below=b.long_below, short_above=b.short_above,
                    ratio=b.ratio)
    settings = api._settings(config.settings)
    edges = heatmap_grid(task, market, config)
    for view in config.heatmap_views:
        h = api.heatmap_from_book(market, book, np.asarray(times, np.int64), edges, view, config.window_ms, settings,
                                  dtype=np.float64)
        r, c = np.nonzero((h.long > 0) | (h.short > 0))
        extend("heatmap", r.size, time=h.time[r], view=view, price=h.price[r], price_low=h.price_low[c],
               price_high=h.price_high[c], long=h.long[r, c], short=h.short[r, c])
    return {name: pa.table(_columns(name, rows[name])) for name in TABLES}


def month_lattice(task: Task, market: MarketData, config: Config) -> tuple[float, float, int]:
    """The month's heatmap grid as (first edge, step, bins) over its candles' range (``heatmap_lattice``).

    Kept in the partition's record, so a reader rebuilds the very edges and
    can lay several months on one grid.
    """
    from .. import api
    from ..analysis.mapping import heatmap_lattice

    times = task.times()
    return heatmap_lattice(market.candles.slice_time(times[0], times[-1] + 1), api._settings(config.settings))


def heatmap_grid(task: Task, market: MarketData, config: Config) -> np.ndarray:
    from ..analysis.mapping import lattice_edges

    return lattice_edges(*month_lattice(task, market, config))


#: Column types of the tables (an empty table still has them).
_TYPES = {
    "time": "int64", "view": "string", "price": "float64", "atr": "float64", "window_ms": "int64",
    "coverage": "float64", "nearest_above": "int64", "nearest_below": "int64", "model": "string", "bin": "int32",
    "price_low": "float64", "price_high": "float64", "long": "float64", "short": "float64", "total": "float64",
    "z": "float64", "id": "int64", "peak": "float64", "notional": "float64", "band": "string",
    "distance_pct": "float64", "distance_atr": "float64", "reach": "string", "pct": "float64",
    "long_below": "float64", "short_above": "float64", "ratio": "float64",
}
_COLUMNS = {
    "maps": ("time", "view", "price", "atr", "window_ms", "coverage", "nearest_above", "nearest_below", "model"),
    "bins": ("time", "view", "bin", "price_low", "price_high", "long", "short", "total", "z"),
    "clusters": ("time", "view", "id", "price_low", "price_high", "peak", "notional", "z", "band", "long", "short",
                 "distance_pct", "distance_atr", "reach"),
    "bands": ("time", "view", "pct", "long_below", "short_above", "ratio"),
    "heatmap": ("time", "view", "price", "price_low", "price_high", "long", "short"),
}


def _columns(table: str, values: dict[str, list]):
    """The table's columns from their values: one per row, or chunks of rows (numpy arrays)."""
    import pyarrow as pa

    def column(name: str):
        value = values.get(name, [])
        return pa.array(np.concatenate(value) if value and isinstance(value[0], np.ndarray) else value,
                        type=_TYPES[name])

    return {name: column(name) for name in _COLUMNS[table]}


def run_task(task: Task, config: Config) -> dict:
    """Compute and write one partition (nothing when it is already done); returns its completion record."""
    if is_done(config.store, task.venue, task.symbol, task.month):
        return {"key": task.key, "skipped": True}
    began = time.perf_counter()
    book_from = task.start_ms - task.warmup_ms
    market = load_span(task, config, book_from)
    book = build(market, config, book_from)
    out = tables(task, market, book, config)
    record = {"venue": task.venue, "symbol": task.symbol, "month": task.month, "first": task.start_ms,
              "last": task.times()[-1], "step_ms": task.step_ms, "book_from": max(book_from, market.start_ms),
              "rows": {name: out[name].num_rows for name in TABLES}, "seconds": time.perf_counter() - began,
              "key": task.key, "skipped": False,
              "heatmap_grid": dict(zip(("start", "step", "bins"), month_lattice(task, market, config)))}
    write_partition(config.store, task.venue, task.symbol, task.month, out, record)
    return record


def sequential(tasks: list[Task], config: Config) -> dict[str, dict]:
    """The reference: each venue-symbol's tasks read from ONE book built over their whole span.

    A month-split backfill equals this within the tolerance of docs/backfill.md;
    returns the partition tables by task key.
    """
    out: dict[str, dict] = {}
    streams: dict[tuple[str, str], list[Task]] = {}
    for t in tasks:
        streams.setdefault((t.venue, t.symbol), []).append(t)
    for group in streams.values():
        group.sort(key=lambda t: t.start_ms)
        first, last = group[0], group[-1]
        book_from = first.start_ms - first.warmup_ms
        market = load_span(last, config, book_from)
        book = build(market, config, book_from)
        for t in group:
            out[t.key] = tables(t, market, book, config)
    return out

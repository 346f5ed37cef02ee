"""Running a backfill on Dask distributed: a LocalCluster of processes, or an existing scheduler.

Tasks are coarse (one venue-symbol-month, seconds to minutes each), so the
scheduler's overhead is negligible.  A worker that dies mid-task has its task
run again elsewhere (Dask reschedules it; ``retries`` covers a task that
raised); a finished partition is skipped, so a rerun writes only what is missing.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

from .plan import Task
from .store import is_done, open_store
from .task import Config, run_task

#: Times a task that raised is tried again (a killed worker's task is rescheduled by Dask anyway).
RETRIES = 2


def pending(tasks: list[Task], config: Config) -> list[Task]:
    """The tasks whose partition is not finished yet."""
    return [t for t in tasks if not is_done(config.store, t.venue, t.symbol, t.month)]


def run_backfill(tasks: list[Task], config: Config, manifest: dict, *, workers: int | None = 2,
                 scheduler: str | None = None, progress: bool = False, say=None) -> dict:
    """Write every unfinished partition of ``tasks``; returns counts and each task's record.

    ``workers``: processes of a LocalCluster (0: run in this process, one task
    after the other); ``scheduler``: the address of an existing cluster instead.
    ``say`` receives the progress lines (the dashboard link).
    """
    say = say or (lambda text: print(text, file=sys.stderr))
    open_store(config.store, manifest)
    todo = pending(tasks, config)
    began = time.perf_counter()
    if not todo:
        records: list[dict] = []
    elif scheduler is None and workers == 0:
        records = [run_task(t, config) for t in todo]
    else:
        records = _on_dask(todo, config, workers, scheduler, progress, say)
    return {"tasks": len(tasks), "skipped": len(tasks) - len(todo), "written": sum(not r["skipped"] for r in records),
            "seconds": time.perf_counter() - began, "records": records}


def _on_dask(todo: list[Task], config: Config, workers: int | None, scheduler: str | None, progress: bool,
             say) -> list[dict]:
    from distributed.diagnostics.progressbar import progress as progress_bar

    from ..cluster import dask_client

    with dask_client(workers, scheduler, say) as client:
        futures = client.map(run_task, todo, config=config, pure=False, retries=RETRIES,
                             key=[f"backfill-{t.venue}-{t.symbol}-{t.month}" for t in todo])
        if progress:
            progress_bar(futures)
        return client.gather(futures)


def manifest_of(tasks: list[Task], config: Config, venues: list[str], symbols: list[str], start_ms: int,
                end_ms: int, step_ms: int) -> dict:
    """What the store holds and how it was computed: model, parameters, views, grid, window, source."""
    from .. import api
    from ..model.positions import MODEL_NAME, MODEL_VERSION
    from .store import FORMAT

    params = {v: asdict(api._params(config.params or None, v)) for v in venues}
    manifest = {
        "format": FORMAT,
        "model": {"name": MODEL_NAME, "version": MODEL_VERSION},
        "parameters": params,
        "settings": asdict(api._settings(config.settings)),
        "window_ms": config.window_ms,
        "step_ms": step_ms,
        "views": list(config.views),
        "heatmap_views": list(config.heatmap_views),
        "source": config.source,
        "venues": sorted(venues),
        "symbols": sorted(symbols),
        "from": start_ms,
        "to": end_ms,
        "warmup_ms": tasks[0].warmup_ms if tasks else None,
        "tables": {"maps": "per time and view: price, atr, coverage, nearest cluster ids, model (JSON)",
                   "bins": "per time, view and bin: price_low, price_high, long, short, total, z",
                   "clusters": "per time and view: the ranked clusters",
                   "bands": "per time and view: LiqRatio bands (pct, long_below, short_above, ratio)",
                   "heatmap": "per time and view: the non-empty cells on the month's price grid"},
    }
    return json.loads(json.dumps(manifest))  # as it reads back (tuples become lists), so reruns compare equal

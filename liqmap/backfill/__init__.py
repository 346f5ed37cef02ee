"""Backfill: maps, clusters, LiqRatio bands and heatmap cells for many moments, on Dask distributed.

``plan`` cuts the span into venue-symbol-month tasks with their warm-up,
``task`` computes one partition, ``run`` schedules them on a cluster, ``store``
lays out the Parquet dataset and its manifest.  See docs/backfill.md.
"""

from .plan import Task, plan, warmup_ms
from .run import manifest_of, pending, run_backfill
from .task import Config, run_task, sequential

__all__ = ["Config", "Task", "manifest_of", "pending", "plan", "run_backfill", "run_task", "sequential", "warmup_ms"]

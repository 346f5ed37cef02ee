"""The backfill store: a partitioned Parquet dataset that DuckDB and pandas read directly.

Layout under the store folder::

    manifest.json                                     what was computed, and how (see ``manifest``)
    <table>/venue=<v>/symbol=<S>/month=<YYYY-MM>/part.parquet
    _done/<v>/<S>/<YYYY-MM>.json                      a partition's completion record

Tables (one row per as-of ``time`` and ``view``):

* ``maps``: price, ATR, coverage, nearest cluster ids and the map's ``model`` record (JSON);
* ``bins``: the map's grid, ``long``, ``short``, ``total`` and ``z`` per bin;
* ``clusters``: the ranked clusters (as ``liqmap map --json`` gives them);
* ``bands``: the LiqRatio bands;
* ``heatmap``: the non-empty heatmap cells of the month (its own price grid over the month's range).

A partition's files are written under temporary names and renamed into place;
its completion record is written last, so a partition without one (a killed
run) is written again by the next run and never read by liqmap.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from ..frames import DataError

TABLES = ("maps", "bins", "clusters", "bands", "heatmap")
MANIFEST = "manifest.json"
#: Bump when the tables' columns change: a store of another format is refused, not mixed.
FORMAT = 1


def partition_file(root: str | Path, table: str, venue: str, symbol: str, month: str) -> Path:
    return Path(root) / table / f"venue={venue}" / f"symbol={symbol}" / f"month={month}" / "part.parquet"


def done_file(root: str | Path, venue: str, symbol: str, month: str) -> Path:
    return Path(root) / "_done" / venue / symbol / f"{month}.json"


def is_done(root: str | Path, venue: str, symbol: str, month: str) -> bool:
    return done_file(root, venue, symbol, month).exists()


def _write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def write_partition(root: str | Path, venue: str, symbol: str, month: str, tables: dict, record: dict) -> None:
    """Write one partition's tables (pyarrow Tables) under temporary names, rename them, then its record."""
    import pyarrow.parquet as pq

    root = Path(root)
    staging = root / "_tmp" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        for name in TABLES:
            pq.write_table(tables[name], staging / f"{name}.parquet", compression="zstd")
        for name in TABLES:
            target = partition_file(root, name, venue, symbol, month)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f"{name}.parquet", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_json_atomic(done_file(root, venue, symbol, month), record)


def read_manifest(root: Path) -> dict | None:
    path = Path(root) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable backfill manifest ({exc})") from None


def open_store(root: str | Path, manifest: dict) -> None:
    """Create the store with ``manifest``, or check an existing one was made the same way (then resume it).

    A store made with other parameters is refused, naming what differs.
    """
    root = Path(root)
    held = read_manifest(root)
    if held is None:
        root.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(root / MANIFEST, manifest)
        return
    fixed = ("format", "model", "parameters", "settings", "window_ms", "step_ms", "views", "heatmap_views",
             "source")
    differ = [k for k in fixed if held.get(k) != manifest.get(k)]
    if differ:
        raise DataError(f"{root / MANIFEST}: this store was made with other {', '.join(differ)} than asked "
                        f"(held: {', '.join(f'{k}={held.get(k)!r}' for k in differ)}); use another --out folder")
    merged = dict(held)
    for key in ("venues", "symbols"):
        merged[key] = sorted(set(held.get(key, [])) | set(manifest.get(key, [])))
    merged["from"] = min(held.get("from", manifest["from"]), manifest["from"])
    merged["to"] = max(held.get("to", manifest["to"]), manifest["to"])
    _write_json_atomic(root / MANIFEST, merged)


def partitions(root: Path) -> list[dict]:
    """The completion records of the finished partitions (venue, symbol, month, first/last time, rows)."""
    done = Path(root) / "_done"
    if not done.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(done.glob("*/*/*.json"))]

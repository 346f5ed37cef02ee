"""Reading maps back from a backfill store: any stored moment, without building a book.

``liqmap map --source backfill:STORE`` (``build_maps(source="backfill:STORE")``)
lands here.  A moment, venue or symbol the store lacks is a ``DataError``
listing what it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..analysis.results import Cluster, LiqMap, LiqRatioBand
from ..frames import MS_PER_HOUR, MS_PER_MINUTE, DataError, format_ms
from .store import partition_file, partitions, read_manifest

#: The source prefix naming a backfill store.
PREFIX = "backfill:"


def store_of(source) -> Path | None:
    """The store folder of a ``backfill:STORE`` source; None for any other source."""
    text = str(source)
    return Path(text[len(PREFIX):]) if text.startswith(PREFIX) else None


def holdings(root: Path) -> str:
    """What the store holds, in words (for the errors)."""
    parts = partitions(root)
    if not parts:
        return "no finished partitions"
    streams: dict[tuple[str, str], list[dict]] = {}
    for p in parts:
        streams.setdefault((p["venue"], p["symbol"]), []).append(p)
    return "; ".join(
        f"{v} {s}: {format_ms(min(p['first'] for p in ps))} .. {format_ms(max(p['last'] for p in ps))} "
        f"every {ps[0]['step_ms'] // MS_PER_MINUTE} min ({len(ps)} months)"
        for (v, s), ps in sorted(streams.items()))


def read_maps(source, symbol: str, venue: str, as_of_ms: int | None, views, window_ms: int | None,
              now_ms: int, stale_after_ms: int) -> list[LiqMap]:
    """The stored maps of ``symbol`` on ``venue`` at ``as_of_ms`` (default: the last stored moment)."""
    import pyarrow.dataset as ds

    root = store_of(source)
    assert root is not None
    manifest = read_manifest(root)
    if manifest is None:
        raise DataError(f"{root}: not a backfill store (no manifest.json); make one with liqmap backfill --out {root}")
    if window_ms is not None and window_ms != manifest["window_ms"]:
        raise DataError(f"{root} holds maps with a {manifest['window_ms'] // MS_PER_HOUR} h window, not "
                        f"{window_ms // MS_PER_HOUR} h; leave --window out or backfill that window")
    missing = [v for v in views if v not in manifest["views"]]
    if missing:
        raise DataError(f"{root} holds the views {', '.join(manifest['views'])}, not {', '.join(missing)}")
    mine = [p for p in partitions(root) if p["venue"] == venue and p["symbol"] == symbol]
    if not mine:
        raise DataError(f"{root} holds no {venue} {symbol} maps; it holds: {holdings(root)}")
    if as_of_ms is None:
        as_of_ms = max(p["last"] for p in mine)
    month = next((p for p in mine if p["first"] <= as_of_ms <= p["last"]
                  and (as_of_ms - p["first"]) % p["step_ms"] == 0), None)
    if month is None:
        raise DataError(f"{root} holds no {venue} {symbol} map as of {format_ms(as_of_ms)}; it holds: {holdings(root)}")

    def rows(table: str):
        path = partition_file(root, table, venue, symbol, month["month"])
        t = ds.dataset(path).to_table(filter=ds.field("time") == as_of_ms)
        return t.to_pandas()

    maps_rows, bins, clusters, bands = rows("maps"), rows("bins"), rows("clusters"), rows("bands")
    out = []
    for view in views:
        m = maps_rows[maps_rows.view == view].iloc[0]
        b = bins[bins.view == view].sort_values("bin")
        cl = clusters[clusters.view == view].sort_values("id")
        bd = bands[bands.view == view]
        age_s = (now_ms - as_of_ms) / 1000.0
        out.append(LiqMap(
            symbol=symbol, exchange=venue, as_of_ms=int(as_of_ms), window_ms=int(m.window_ms), view=view,
            price=float(m.price), atr=float(m.atr), price_low=b.price_low.to_numpy(),
            price_high=b.price_high.to_numpy(), long=b.long.to_numpy(), short=b.short.to_numpy(), z=b.z.to_numpy(),
            clusters=tuple(_cluster(r) for r in cl.itertuples()),
            liq_ratio=tuple(LiqRatioBand(float(r.pct), float(r.long_below), float(r.short_above))
                            for r in bd.itertuples()),
            model=json.loads(m.model), age_s=age_s, stale=age_s * 1000 > stale_after_ms,
            nearest_above=None if np.isnan(m.nearest_above) else int(m.nearest_above),
            nearest_below=None if np.isnan(m.nearest_below) else int(m.nearest_below),
        ))
    return out


def _cluster(row) -> Cluster:
    return Cluster(id=int(row.id), price_low=float(row.price_low), price_high=float(row.price_high),
                   peak=float(row.peak), notional=float(row.notional), z=float(row.z), long=float(row.long),
                   short=float(row.short), distance_pct=float(row.distance_pct), distance_atr=float(row.distance_atr),
                   reach=str(row.reach))

"""Reading maps back from a backfill store: any stored moment, without building a book.

``liqmap map --source backfill:STORE`` (``build_maps(source="backfill:STORE")``)
lands here.  A moment, venue or symbol the store lacks is a ``DataError``
listing what it holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..analysis.mapping import rebin
from ..analysis.results import Cluster, Heatmap, LiqMap, LiqRatioBand, format_window
from ..frames import MS_PER_DAY, MS_PER_MINUTE, DataError, format_ms
from ..options import OptionError
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


def open_store_for(source, window_ms: int | None) -> tuple[Path, dict]:
    """The store folder and manifest of a ``backfill:STORE`` source, checked to hold maps of ``window_ms``."""
    root = store_of(source)
    assert root is not None
    manifest = read_manifest(root)
    if manifest is None:
        raise DataError(f"{root}: not a backfill store (no manifest.json); make one with liqmap backfill --out {root}")
    if window_ms is not None and window_ms != manifest["window_ms"]:
        raise DataError(f"{root} holds maps with a {format_window(manifest['window_ms'])} window, not "
                        f"{format_window(window_ms)}; leave --window out or backfill that window")
    return root, manifest


def months_of(root: Path, venue: str, symbol: str, what: str = "maps") -> list[dict]:
    """The finished partitions of ``symbol`` on ``venue``, oldest first (an error naming the holdings if none)."""
    mine = sorted((p for p in partitions(root) if p["venue"] == venue and p["symbol"] == symbol),
                  key=lambda p: p["first"])
    if not mine:
        raise DataError(f"{root} holds no {venue} {symbol} {what}; it holds: {holdings(root)}")
    return mine


def catalog(source) -> list[dict]:
    """Per venue and symbol, the stored moments: first, last, step and the months (for the as-of picker)."""
    root, manifest = open_store_for(source, None)
    streams: dict[tuple[str, str], list[dict]] = {}
    for p in partitions(root):
        streams.setdefault((p["venue"], p["symbol"]), []).append(p)
    return [{"venue": v, "symbol": s, "first": min(p["first"] for p in ps), "last": max(p["last"] for p in ps),
             "step_ms": ps[0]["step_ms"], "views": list(manifest["views"]),
             "heatmap_views": list(manifest["heatmap_views"]), "window_ms": manifest["window_ms"],
             "months": sorted([p["month"], p["first"], p["last"]] for p in ps)}
            for (v, s), ps in sorted(streams.items())]


def read_maps(source, symbol: str, venue: str, as_of_ms: int | None, views, window_ms: int | None,
              now_ms: int, settings) -> list[LiqMap]:
    """The stored maps of ``symbol`` on ``venue`` at ``as_of_ms`` (default: the last stored moment).

    ``settings`` (``MapSettings``) must be those the store was read with, but for ``stale_after_ms``
    (staleness is judged when the map is read).
    """
    import pyarrow.dataset as ds
    from dataclasses import asdict

    root, manifest = open_store_for(source, window_ms)
    stored = {k: v for k, v in manifest["settings"].items() if k != "stale_after_ms"}
    asked = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items() if k in stored}
    differ = [k for k in stored if asked.get(k) != stored[k]]
    if differ:
        raise DataError(f"{root} holds maps read with " + ", ".join(f"{k}={stored[k]}" for k in differ)
                        + f", not {', '.join(f'{k}={asked[k]}' for k in differ)}: a store answers only what was "
                          f"written (backfill again with --setting, or leave it out)")
    missing = [v for v in views if v not in manifest["views"]]
    if missing:
        raise DataError(f"{root} holds the views {', '.join(manifest['views'])}, not {', '.join(missing)}")
    mine = months_of(root, venue, symbol)
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
            model=_with_note(json.loads(m.model), root), age_s=age_s, stale=age_s * 1000 > settings.stale_after_ms,
            nearest_above=None if np.isnan(m.nearest_above) else int(m.nearest_above),
            nearest_below=None if np.isnan(m.nearest_below) else int(m.nearest_below),
        ))
    return out


def _with_note(model: dict, root: Path) -> dict:
    model["notes"] = [*model.get("notes", []), f"read from the backfill store {root}: its book holds the open "
                      f"interest sampled at the as-of time, a map built directly there only what came before (on "
                      f"the sample up to 5.3 % of the largest bin apart; docs/backfill.md)"]
    return model


def _cluster(row) -> Cluster:
    return Cluster(id=int(row.id), price_low=float(row.price_low), price_high=float(row.price_high),
                   peak=float(row.peak), notional=float(row.notional), z=float(row.z), long=float(row.long),
                   short=float(row.short), distance_pct=float(row.distance_pct), distance_atr=float(row.distance_atr),
                   reach=str(row.reach))


class MonthCells:
    """One month's stored heatmap cells at the asked times: ``rows`` are the times in the month, each cell has its
    ``row`` (both indices into the times) and its ``column`` on the month's grid."""

    def __init__(self, grid: dict, rows: np.ndarray, row: np.ndarray, column: np.ndarray, price: np.ndarray,
                 long: np.ndarray, short: np.ndarray):
        self.grid, self.rows, self.row, self.column = grid, rows, row, column
        self.price, self.long, self.short = price, long, short

    @property
    def edges(self) -> np.ndarray:
        from ..analysis.mapping import lattice_edges

        return lattice_edges(self.grid["start"], self.grid["step"], self.grid["bins"])

    def dense(self) -> tuple[np.ndarray, np.ndarray]:
        """(long, short) as float64 grids, one row per time of the month (``rows``) x the month's bins."""
        at = np.searchsorted(self.rows, self.row)
        out = []
        for values in (self.long, self.short):
            grid = np.zeros((self.rows.size, self.grid["bins"]))
            grid[at, self.column] = values
            out.append(grid)
        return out[0], out[1]


def stored_cells(source, symbol: str, venue: str, view: str, times: np.ndarray, window_ms: int | None = None,
                 what: str = "heatmap") -> tuple[Path, dict, list[MonthCells]]:
    """The stored heatmap cells of ``view`` at ``times`` (each a stored moment), month by month.

    A time the store does not hold (outside its span or off its step) is a
    ``DataError`` naming the span; so is a view without heatmap cells.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    root, manifest = open_store_for(source, window_ms)
    if view not in manifest["heatmap_views"]:
        raise DataError(f"{root} holds heatmap cells of the views {', '.join(manifest['heatmap_views'])}, not {view}")
    mine = months_of(root, venue, symbol, "heatmap")
    month_of = np.full(times.size, -1)
    for k, p in enumerate(mine):
        month_of[(times >= p["first"]) & (times <= p["last"]) & ((times - p["first"]) % p["step_ms"] == 0)] = k
    if (month_of < 0).any():
        first, last = mine[0]["first"], max(p["last"] for p in mine)
        raise DataError(f"{what} {format_ms(times[0])} .. {format_ms(times[-1])} is outside the store: {root} holds "
                        f"{venue} {symbol} from {format_ms(first)} to {format_ms(last)} every "
                        f"{format_window(mine[0]['step_ms'])}")
    if any("heatmap_grid" not in mine[k] for k in np.unique(month_of)):
        raise DataError(f"{root} was written before its partitions recorded their heatmap grid; backfill it again "
                        f"into a new --out folder")
    months = []
    for k in np.unique(month_of):
        p = mine[k]
        cells = ds.dataset(partition_file(root, "heatmap", venue, symbol, p["month"])).to_table(
            filter=(ds.field("view") == view) & ds.field("time").isin(pa.array(times[month_of == k], pa.int64())),
            columns=["time", "price", "price_low", "long", "short"])
        grid = p["heatmap_grid"]
        months.append(MonthCells(
            grid, rows=np.flatnonzero(month_of == k), row=np.searchsorted(times, cells["time"].to_numpy()),
            column=np.rint((cells["price_low"].to_numpy() - grid["start"]) / grid["step"]).astype(np.int64),
            price=cells["price"].to_numpy(), long=cells["long"].to_numpy(), short=cells["short"].to_numpy()))
    return root, manifest, months


def read_heatmap(source, symbol: str, venue: str, view: str, start_ms: int | None, end_ms: int | None,
                 step_ms: int | None, window_ms: int | None, max_bytes: int) -> Heatmap:
    """The stored heatmap rows of ``symbol`` on ``venue`` every ``step_ms`` (default: the store's step) in
    ``[start_ms, end_ms]`` (default: the last 30 days stored), on one price grid.

    Each month's cells sit on its own grid (``heatmap_grid`` of its record);
    months with the same step are laid on their common lattice as they are, a
    month with another step is spread over the coarsest one, each cell's
    notional evenly over its price range.  A row where no level was alive has
    no stored cells: its price is NaN.
    """
    from ..analysis.mapping import lattice_edges
    from ..options import check_heatmap

    root, _ = open_store_for(source, window_ms)
    mine = months_of(root, venue, symbol, "heatmap")
    every = mine[0]["step_ms"]
    step_ms = every if step_ms is None else step_ms
    if step_ms % every:
        raise OptionError(f"resolution {format_window(step_ms)} is not a multiple of the store's step: {root} holds "
                          f"{venue} {symbol} every {format_window(every)}")
    end_ms = max(p["last"] for p in mine) if end_ms is None else end_ms
    start_ms = max(mine[0]["first"], end_ms - 30 * MS_PER_DAY) if start_ms is None else start_ms
    if start_ms >= end_ms:
        raise ValueError(f"heatmap start {format_ms(start_ms)} must be before its end {format_ms(end_ms)}")
    times = np.arange(-(-start_ms // step_ms) * step_ms, end_ms + 1, step_ms, dtype=np.int64)
    if not times.size:
        raise ValueError(f"no {format_window(step_ms)} step fits between {format_ms(start_ms)} and {format_ms(end_ms)}")
    _, manifest, months = stored_cells(source, symbol, venue, view, times, window_ms)
    grids = [m.grid for m in months]
    coarse = max(g["step"] for g in grids)
    same = all(g["step"] == coarse for g in grids)
    base = min(g["start"] for g in grids) if same else math.floor(min(g["start"] for g in grids) / coarse) * coarse
    top = max(g["start"] + g["bins"] * g["step"] for g in grids)
    bins = int(round((top - base) / coarse))
    check_heatmap(times.size, bins, step_ms, int(times[-1] - times[0]), max_bytes)
    edges = lattice_edges(base, coarse, bins)
    long = np.zeros((times.size, bins), np.float32)
    short = np.zeros((times.size, bins), np.float32)
    price = np.full(times.size, np.nan)
    for m in months:
        price[m.row] = m.price
        if m.grid["step"] == coarse:
            column = m.column + int(round((m.grid["start"] - base) / coarse))
            long[m.row, column], short[m.row, column] = m.long, m.short
            continue
        for out, grid in zip((long, short), m.dense()):
            out[m.rows] += rebin(grid, m.edges, edges).astype(np.float32)
    info = json.loads(json.dumps(manifest["model"]))
    info.update(parameters=manifest["parameters"].get(venue, {}), notes=[
        f"read from the backfill store {root}: each row as stored ({format_window(manifest['window_ms'])} window)"])
    return Heatmap(symbol=symbol, exchange=venue, view=view, time=times, price=price, price_low=edges[:-1],
                   price_high=edges[1:], long=long, short=short, model=info)

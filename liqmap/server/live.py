"""Live maps pushed to the page (``liqmap serve --live``): server-sent events from running live loops.

Each live loop (``liqmap.live``) runs in a worker thread and publishes into a
:class:`LiveHub`: its maps after each update, a heatmap column per update (the
map's outstanding long and short notional on one fixed price grid), and every
``TICK_S`` the new realized liquidations and the stream health.  ``GET
/api/live/stream?symbol=&view=`` answers with ``text/event-stream``; each
client gets only what is new to it:

``map``           the plotly figure of the newest map and its cluster summary
``heatmap``       once, on connecting: the columns held so far (at most ``MAX_COLUMNS``)
``column``        one new heatmap column (time, close, long and short USD per bin)
``liquidations``  realized liquidations not sent yet (time, side, price, size, usd, venue)
``health``        the per-stream health rows (:meth:`liqmap.live.health.Health.rows`)

so the page grows its heatmap column by column and draws liquidations as
they happen, without a reload, a poll or the whole heatmap sent again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

#: A comment line is sent after this many seconds without news, so proxies keep the stream open.
KEEPALIVE_S = 15.0
#: Liquidations and health are published this often (seconds); maps and columns as the loop makes them.
TICK_S = 0.5
#: Heatmap columns kept per view (12 hours of 1-minute bars).
MAX_COLUMNS = 720
#: Realized liquidations kept for clients that connect later.
MAX_LIQUIDATIONS = 500


def grid_of(m) -> np.ndarray:
    """The price edges of a map's bins (uniform: the map's own grid)."""
    return np.append(np.asarray(m.price_low, float), float(m.price_high[-1]))


def on_grid(m, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A map's long and short notional per bin of ``edges`` (each bin of the map goes to the grid bin holding its
    centre; bins off the grid are left out: the live heatmap keeps the price range of its first map)."""
    step = edges[1] - edges[0]
    centre = (np.asarray(m.price_low) + np.asarray(m.price_high)) / 2
    at = np.floor((centre - edges[0]) / step).astype(np.int64)
    keep = (at >= 0) & (at < edges.size - 1)
    n = edges.size - 1
    return (np.bincount(at[keep], np.asarray(m.long)[keep], n), np.bincount(at[keep], np.asarray(m.short)[keep], n))


@dataclass
class _Symbol:
    """What the hub holds of one live symbol; ``version`` moves on every change."""

    version: int = 0
    map_version: int = 0
    maps: dict = field(default_factory=dict)
    edges: np.ndarray | None = None
    columns: dict = field(default_factory=dict)  # view -> deque of column dicts
    column_count: dict = field(default_factory=dict)  # view -> columns ever added
    liquidations: deque = field(default_factory=lambda: deque(maxlen=MAX_LIQUIDATIONS))
    liquidation_count: int = 0
    seen: deque = field(default_factory=lambda: deque(maxlen=256))  # keys of liquidations taken
    health: dict = field(default_factory=dict)
    health_version: int = 0


@dataclass
class Cursor:
    """What one page has been sent (the hub sends it only what is newer)."""

    map_version: int = 0
    columns: int | None = None  # None: the heatmap so far is still to be sent
    liquidations: int = 0
    health_version: int = 0


class LiveHub:
    """The live symbols' maps, heatmap columns, liquidations and health, with a version to wait on."""

    def __init__(self):
        self._cond = threading.Condition()
        self._symbols: dict[str, _Symbol] = {}

    @property
    def symbols(self) -> list[str]:
        with self._cond:
            return sorted(self._symbols)

    def add(self, symbol: str) -> None:
        with self._cond:
            self._symbols.setdefault(symbol, _Symbol())

    def publish(self, loop) -> None:
        """Called by a live loop after each map (its ``on_update``): the maps and one column per view."""
        latest = loop.latest
        record = self._record(latest.market.symbol)
        edges = record.edges if record.edges is not None else grid_of(latest.maps[0])
        columns = {}
        for m in latest.maps:
            long, short = on_grid(m, edges)
            columns[m.view] = {"time": m.as_of_ms, "price": m.price, "long": np.round(long, 2).tolist(),
                               "short": np.round(short, 2).tolist()}
        with self._cond:
            record.edges = edges
            record.maps = {m.view: m for m in latest.maps}
            record.map_version += 1
            for view, column in columns.items():
                record.columns.setdefault(view, deque(maxlen=MAX_COLUMNS)).append(column)
                record.column_count[view] = record.column_count.get(view, 0) + 1
            self._changed(record)
        self.tick(loop)

    def tick(self, loop) -> None:
        """The realized liquidations not taken yet and the health rows (run in the loop's thread)."""
        record = self._record(loop.market.history.symbol)
        new = []
        for e in loop.market.liquidations:
            key = (e.time, e.side, e.price, e.size)
            if key not in record.seen:
                record.seen.append(key)
                new.append({"time": e.time, "side": e.side, "price": e.price, "size": e.size, "usd": e.usd,
                            "venue": e.venue})
        health = {"rows": loop.health.rows(), "skew_ms": loop.health.skew_ms,
                  "rate_limited": loop.health.rate_limited, "rotations": loop.health.rotations}
        with self._cond:
            for item in new:
                record.liquidation_count += 1
                record.liquidations.append({"seq": record.liquidation_count, **item})
            record.health = health
            record.health_version += 1
            self._changed(record)

    def _record(self, symbol: str) -> _Symbol:
        with self._cond:
            return self._symbols.setdefault(symbol, _Symbol())

    def _changed(self, record: _Symbol) -> None:
        record.version += 1
        self._cond.notify_all()

    def wait(self, symbol: str, after: int, timeout: float) -> int | None:
        """The symbol's version once newer than ``after``, waiting up to ``timeout`` seconds (None: none came)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                version = self._symbols[symbol].version
                if version > after:
                    return version
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def news(self, symbol: str, view: str, cursor: Cursor) -> dict:
        """What ``cursor`` has not been sent for ``view`` (and moves it on)."""
        with self._cond:
            record = self._symbols[symbol]
            out: dict = {}
            if record.map_version > cursor.map_version and view in record.maps:
                out["map"] = record.maps[view]
            cursor.map_version = record.map_version
            held = record.columns.get(view, ())
            total = record.column_count.get(view, 0)
            if cursor.columns is None:
                if record.edges is not None:
                    out["heatmap"] = {"edges": record.edges.tolist(), "columns": list(held)}
                    cursor.columns = total
            elif total > cursor.columns:
                out["columns"] = list(held)[-min(total - cursor.columns, len(held)):]
                cursor.columns = total
            if record.liquidation_count > cursor.liquidations:
                out["liquidations"] = [x for x in record.liquidations if x["seq"] > cursor.liquidations]
                cursor.liquidations = record.liquidation_count
            if record.health_version > cursor.health_version:
                out["health"] = record.health
                cursor.health_version = record.health_version
            return out


def run_in_thread(loop, hub: LiveHub) -> threading.Thread:
    """Run a live loop in a daemon thread, publishing every map into ``hub`` and, every ``TICK_S``, its
    liquidations and health."""
    hub.add(loop.market.history.symbol)
    loop.on_update = hub.publish

    async def ticks() -> None:
        while True:
            hub.tick(loop)
            await asyncio.sleep(TICK_S)

    async def main() -> None:
        ticker = asyncio.ensure_future(ticks())
        try:
            await loop.run()
        finally:
            ticker.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name=f"liqmap-live-{loop.market.history.symbol}",
                              daemon=True)
    thread.start()
    return thread


def _event(name: str, body) -> str:
    return f"event: {name}\ndata: {json.dumps(body, allow_nan=False)}\n\n"


def push_events(news: dict, palette: str) -> list[str]:
    """The server-sent events of ``news`` (see the module docstring)."""
    from ..analysis.results import json_safe
    from ..render import style
    from ..render.interactive import liqmap_figure

    events = []
    m = news.get("map")
    if m is not None:
        summary = {"symbol": m.symbol, "view": m.view, "as_of": m.as_of, "price": m.price, "atr": json_safe(m.atr),
                   "clusters": json_safe([c.to_dict() for c in m.clusters]),
                   "age_s": max(0.0, time.time() - m.as_of_ms / 1000), "stale": False}
        events.append(_event("map", {"figure": json.loads(liqmap_figure(m, palette=palette).to_json()),
                                     "summary": summary}))
    if "heatmap" in news:
        pal = style.palette(palette)  # the colours of the files' heatmap
        events.append(_event("heatmap", {**news["heatmap"], "colorscale": style.HEATMAP_COLORSCALE,
                                         "price_colour": style.PRICE_PATH, "long_colour": pal.long,
                                         "short_colour": pal.short}))
    for column in news.get("columns", ()):
        events.append(_event("column", column))
    if "liquidations" in news:
        events.append(_event("liquidations", news["liquidations"]))
    if "health" in news:
        events.append(_event("health", json_safe(news["health"])))
    return events


def install(app: FastAPI, hub: LiveHub, symbol_name, palettes) -> None:
    """The live routes: ``/api/live`` (which symbols are live) and ``/api/live/stream`` (the pushes);
    ``symbol_name`` and ``palettes`` are the app's own symbol check and palette enum."""

    @app.get("/api/live", summary="The symbols whose maps are pushed live (liqmap serve --live)")
    def live_info():
        return {"symbols": hub.symbols}

    @app.get("/api/live/stream", summary="Server-sent events: the live map, heatmap columns, realized "
                                         "liquidations and stream health as they come")
    async def live_stream(symbol: str = Query(..., description="a live symbol, e.g. BTCUSDT"),
                          view: str = Query("all", description="leverage view"),
                          palette: str = Query("default", description="colour palette: default or colorblind")):

        symbol = symbol_name(symbol)
        palette_name = palettes(palette).value  # a ValueError names a wrong one
        if symbol not in hub.symbols:
            raise ValueError(f"{symbol} is not live on this server; live: {', '.join(hub.symbols) or 'none'}")

        async def events():
            version = 0
            cursor = Cursor()
            while True:
                got = await asyncio.to_thread(hub.wait, symbol, version, KEEPALIVE_S)
                if got is None:
                    yield ": keepalive\n\n"
                    continue
                version = got
                for event in push_events(hub.news(symbol, view, cursor), palette_name):
                    yield event

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

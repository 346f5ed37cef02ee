"""Live maps pushed to the page (``liqmap serve --live``): server-sent events from running live loops.

Each live loop (``liqmap.live``) runs in a worker thread and publishes its
latest maps into a :class:`LiveHub`; ``GET /api/live/stream?symbol=&view=``
answers with ``text/event-stream`` and sends a ``map`` event (the plotly
figure, the cluster summary, the health lines and the last realized
liquidations) each time a newer map is published, so the page redraws
without a reload or a poll.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

#: A comment line is sent after this many seconds without a map, so proxies keep the stream open.
KEEPALIVE_S = 15.0


class LiveHub:
    """The newest live update per symbol (maps by view, health, liquidations), with a version to wait on."""

    def __init__(self):
        self._cond = threading.Condition()
        self._latest: dict[str, tuple[int, dict]] = {}

    @property
    def symbols(self) -> list[str]:
        with self._cond:
            return sorted(self._latest)

    def add(self, symbol: str) -> None:
        with self._cond:
            self._latest.setdefault(symbol, (0, {}))

    def publish(self, loop) -> None:
        """Called by a live loop after each map (its ``on_update``)."""
        latest = loop.latest
        record = {"maps": {m.view: m for m in latest.maps}, "health": loop.health.lines(),
                  "liquidations": [{"time": e.time, "side": e.side, "price": e.price, "size": e.size, "usd": e.usd}
                                   for e in reversed(loop.market.liquidations)]}
        with self._cond:
            version = self._latest.get(latest.market.symbol, (0, {}))[0] + 1
            self._latest[latest.market.symbol] = (version, record)
            self._cond.notify_all()

    def wait(self, symbol: str, after: int, timeout: float) -> tuple[int, dict] | None:
        """The symbol's update newer than version ``after``, waiting up to ``timeout`` seconds (None: none came)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                version, record = self._latest.get(symbol, (0, {}))
                if version > after:
                    return version, record
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


def run_in_thread(loop, hub: LiveHub) -> threading.Thread:
    """Run a live loop in a daemon thread, publishing every map into ``hub``."""
    hub.add(loop.market.history.symbol)
    loop.on_update = hub.publish

    def run() -> None:
        asyncio.run(loop.run())

    thread = threading.Thread(target=run, name=f"liqmap-live-{loop.market.history.symbol}", daemon=True)
    thread.start()
    return thread


def push_event(record: dict, view: str, palette: str) -> str | None:
    """One ``map`` event for ``view`` (None when the loop does not compute that view)."""
    from ..analysis.results import json_safe
    from ..render.interactive import liqmap_figure

    m = record["maps"].get(view)
    if m is None:
        return None
    summary = {"symbol": m.symbol, "view": m.view, "as_of": m.as_of, "price": m.price, "atr": json_safe(m.atr),
               "clusters": json_safe([c.to_dict() for c in m.clusters]),
               "age_s": max(0.0, time.time() - m.as_of_ms / 1000), "stale": False}
    body = {"figure": json.loads(liqmap_figure(m, palette=palette).to_json()), "summary": summary,
            "health": record["health"], "liquidations": record["liquidations"][:10]}
    return f"event: map\ndata: {json.dumps(body)}\n\n"


def install(app: FastAPI, hub: LiveHub, symbol_name, palettes) -> None:
    """The live routes: ``/api/live`` (which symbols are live) and ``/api/live/stream`` (the pushes);
    ``symbol_name`` and ``palettes`` are the app's own symbol check and palette enum."""

    @app.get("/api/live", summary="The symbols whose maps are pushed live (liqmap serve --live)")
    def live_info():
        return {"symbols": hub.symbols}

    @app.get("/api/live/stream", summary="Server-sent events: a 'map' event with each new live map")
    async def live_stream(symbol: str = Query(..., description="a live symbol, e.g. BTCUSDT"),
                          view: str = Query("all", description="leverage view"),
                          palette: str = Query("default", description="colour palette: default or colorblind")):

        symbol = symbol_name(symbol)
        palette_name = palettes(palette).value  # a ValueError names a wrong one
        if symbol not in hub.symbols:
            raise ValueError(f"{symbol} is not live on this server; live: {', '.join(hub.symbols) or 'none'}")

        async def events():
            version = 0
            while True:
                got = await asyncio.to_thread(hub.wait, symbol, version, KEEPALIVE_S)
                if got is None:
                    yield ": keepalive\n\n"
                    continue
                version, record = got
                event = push_event(record, view, palette_name)
                if event is not None:
                    yield event

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

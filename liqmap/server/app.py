"""The local web dashboard: JSON endpoints over the public API and one page that draws them.

``create_app(source)`` returns a FastAPI app.  Built maps, heatmaps and the
loaded market data are cached per request key, so moving between views and
windows on the page is fast after the first visit; the page's refresh
control (``refresh=true``) drops a symbol's cache and reloads its data.

Errors are JSON ``{"error": "...", "status": N}``: 400 for a value that
does not parse (a window, a time), 404 when the data cannot answer (unknown
symbol, a time outside the data), 422 for a parameter of the wrong kind (an
unknown view).  The charts are the plotly figures of ``liqmap.render.interactive``,
sent as JSON; plotly.js comes from the installed plotly package, so the page
needs no internet.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from enum import Enum
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..frames import DataError

STATIC = Path(__file__).resolve().parent / "static"
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


class View(str, Enum):
    all = "all"
    high = "high"
    medium = "medium"
    low = "low"
    optical = "optical"


class Side(str, Enum):
    long = "long"
    short = "short"


class Scale(str, Enum):
    log = "log"
    z = "z"


class PaletteName(str, Enum):
    default = "default"
    colorblind = "colorblind"


class _Cache:
    """A small thread-safe LRU: key -> value, built at most once per key at a time."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict = {}

    def get(self, key, build):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value

    def forget(self, symbol: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == symbol]:
                del self._items[key]


class MapService:
    """Loads market data and builds maps and heatmaps through the public API, with caching."""

    def __init__(self, source: str, cache_size: int = 64):
        self.source = source
        self.markets = _Cache(8)
        self.maps = _Cache(cache_size)
        self.heatmaps = _Cache(max(4, cache_size // 8))

    def market(self, symbol: str):
        from .. import api

        return self.markets.get((symbol,), lambda: api.load_market(symbol, self.source))

    def liqmap(self, symbol: str, view: str, window: str, as_of: str):
        from .. import api
        from ..timeutil import parse_span, parse_time

        # Normalise before keying, so '30d' and '720h' share one entry, and bad text fails fast.
        window_ms = parse_span(window, "window")
        as_of_ms = None if as_of in ("", "last") else parse_time(as_of, "as_of")
        key = (symbol, view, window_ms, as_of_ms)
        return self.maps.get(key, lambda: api.build_map(
            symbol, market=self.market(symbol), view=view, window=window_ms, as_of=as_of_ms))

    def heatmap(self, symbol: str, view: str, window: str, resolution: str, start: str | None, end: str | None):
        from .. import api
        from ..timeutil import parse_span, parse_time

        window_ms = parse_span(window, "window")
        step_ms = parse_span(resolution, "resolution")
        start_ms = parse_time(start, "start") if start else None
        end_ms = parse_time(end, "end") if end else None
        key = (symbol, view, window_ms, step_ms, start_ms, end_ms)
        return self.heatmaps.get(key, lambda: api.build_heatmap(
            symbol, market=self.market(symbol), view=view, window=window_ms, resolution=step_ms,
            start=start_ms, end=end_ms))

    def refresh(self, symbol: str) -> None:
        for cache in (self.markets, self.maps, self.heatmaps):
            cache.forget(symbol)


def create_app(source: str = "sample", *, symbols: tuple[str, ...] = ("BTCUSDT",), cache_size: int = 64) -> FastAPI:
    """The dashboard app over ``source`` ("sample", "cache" or a Binance Vision folder).

    ``symbols`` are the ones the page offers in its selector (any other can be typed).
    """
    app = FastAPI(
        title="liqmap",
        version=__version__,
        description="Liquidation maps for crypto perpetual futures: where leveraged positions will be force-closed. "
        "Every number is a model estimate; see each response's `model` record.",
    )
    service = MapService(source, cache_size)
    app.state.service = service
    _install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    symbol_q = Query("BTCUSDT", description="perpetual symbol, e.g. BTCUSDT (case-insensitive)")
    view_q = Query(View.all, description="leverage view: all, high (10-125x), medium (3-10x), low (1-3x), optical")
    window_q = Query("30d", description="how far back position openings count: 24h, 7d, 30d, ...")
    as_of_q = Query("last", description="the moment the map describes: ISO time (UTC), epoch ms, or 'last'")
    refresh_q = Query(False, description="drop this symbol's cached data and maps first")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(_plotly_js_path(), media_type="application/javascript")

    @app.get("/api/info", summary="What this server serves")
    def info():
        return {"version": __version__, "source": source, "symbols": list(symbols), "views": [v.value for v in View]}

    @app.get("/api/map", summary="The liquidation map (bins, clusters, LiqRatio, model record)")
    def map_json(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                 refresh: bool = refresh_q):
        m = _map(service, symbol, view, window, as_of, refresh)
        payload = m.to_dict()
        payload.update(_freshness(m))
        return payload

    @app.get("/api/clusters", summary="The map's clusters, ranked, with distance in % and ATR and reach")
    def clusters(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                 refresh: bool = refresh_q):
        from ..analysis.results import json_safe

        m = _map(service, symbol, view, window, as_of, refresh)
        return {"symbol": m.symbol, "view": m.view, "as_of": m.as_of, "price": m.price, "atr": json_safe(m.atr),
                "clusters": json_safe([c.to_dict() for c in m.clusters]), **_freshness(m)}

    @app.get("/api/heatmap", summary="Outstanding liquidation notional over time x price (one pass over the book)")
    def heatmap_json(symbol: str = symbol_q, view: View = view_q, window: str = window_q,
                     resolution: str = Query("1h", description="time between rows: 15m, 1h, 4h, ..."),
                     start: str | None = Query(None, description="first row (ISO time, UTC); default 30 days before end"),
                     end: str | None = Query(None, description="last row (ISO time, UTC); default end of data")):
        h = service.heatmap(_symbol(symbol), view.value, window, resolution, start, end)
        return {"symbol": h.symbol, "exchange": h.exchange, "view": h.view, "time": h.time.tolist(),
                "price": h.price.tolist(), "price_low": h.price_low.tolist(), "price_high": h.price_high.tolist(),
                "long": h.long.tolist(), "short": h.short.tolist(), "model": h.model}

    @app.get("/api/liqprice", summary="Exact liquidation price of one isolated position (exchange brackets)")
    def liqprice(symbol: str = symbol_q, side: Side = Query(..., description="long or short"),
                 entry: float = Query(..., gt=0, description="entry price"),
                 leverage: float = Query(..., gt=0, description="leverage, e.g. 20"),
                 notional: float = Query(..., gt=0, description="position notional in quote units"),
                 exchange: str = Query("binance", description="binance, bybit or okx")):
        from .. import quote_liquidation

        return quote_liquidation(exchange, _symbol(symbol), side.value, entry, leverage, notional).to_dict()

    @app.get("/api/figure/map", summary="The LiqMap as a plotly figure (what the page draws)")
    def map_figure(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                   palette: PaletteName = Query(PaletteName.default), refresh: bool = refresh_q):
        from ..render.interactive import liqmap_figure

        m = _map(service, symbol, view, window, as_of, refresh)
        return Response(liqmap_figure(m, palette=palette.value).to_json(), media_type="application/json")

    @app.get("/api/figure/heatmap", summary="The heatmap as a plotly figure, realized liquidations overlaid")
    def heatmap_figure(symbol: str = symbol_q, view: View = view_q, window: str = window_q,
                       resolution: str = Query("1h"), start: str | None = Query(None), end: str | None = Query(None),
                       scale: Scale = Query(Scale.log), palette: PaletteName = Query(PaletteName.default)):
        from ..render.interactive import heatmap_figure as figure

        symbol = _symbol(symbol)
        h = service.heatmap(symbol, view.value, window, resolution, start, end)
        fig = figure(h, liquidations=service.market(symbol).liquidations, scale=scale.value, palette=palette.value)
        return Response(fig.to_json(), media_type="application/json")

    return app


def _symbol(text: str) -> str:
    symbol = text.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {text!r} is not a symbol like BTCUSDT (2-30 letters and digits)")
    return symbol


def _map(service: MapService, symbol: str, view: View, window: str, as_of: str, refresh: bool):
    symbol = _symbol(symbol)
    if refresh:
        service.refresh(symbol)
    return service.liqmap(symbol, view.value, window, as_of)


def _freshness(m) -> dict:
    """Age against the clock now (the cached map's own age was taken when it was built)."""
    age_s = max(0.0, time.time() - m.as_of_ms / 1000)
    stale_after_ms = m.model.get("reading", {}).get("stale_after_ms")
    stale = m.stale if stale_after_ms is None else age_s * 1000 > stale_after_ms
    return {"age_s": age_s, "stale": bool(stale)}


def _plotly_js_path() -> Path:
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.js is missing from the installed plotly package (looked for {path})")
    return path


def _install_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "status": status}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError):
        problems = []
        for item in exc.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "query")
            problems.append(f"{where}: {item.get('msg')} (got {item.get('input')!r})")
        return error(422, "; ".join(problems))

    @app.exception_handler(DataError)
    async def data_missing(request: Request, exc: DataError):
        return error(404, str(exc))

    @app.exception_handler(FileNotFoundError)
    async def file_missing(request: Request, exc: FileNotFoundError):
        return error(404, str(exc))

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return error(400, str(exc))

    @app.exception_handler(KeyError)
    async def unknown_name(request: Request, exc: KeyError):
        return error(400, str(exc.args[0]) if exc.args else "unknown name")

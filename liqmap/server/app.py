"""The local web dashboard: JSON endpoints over the public API and one page that draws them.

``create_app(source)`` returns a FastAPI app.  Built maps, heatmaps, their
encoded bodies and the loaded market data are cached per request key in
caches bounded in bytes, so moving between views and windows on the page is
fast after the first visit; the page's refresh control (``refresh=true``)
drops a symbol's cache and reloads its data.

Every query parameter is checked by the same code as the CLI's options
(``liqmap.options``, the API).  Errors are JSON ``{"error": "...",
"status": N}``: 400 for a value that does not parse or is out of its range
(a window, a time, a heatmap over its work budget, a Host header naming
another machine), 404 when the data cannot answer (unknown symbol, a time
outside the data), 422 for a parameter of the wrong kind (an unknown view).
Heatmap grids are sent as base64 float32; the charts are the plotly figures
of ``liqmap.render.interactive``.  plotly.js and Swagger UI (``/docs``) come
from installed packages, so nothing needs the internet.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import re
import threading
import time
from collections import OrderedDict
from enum import Enum
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..frames import DataError
from ..model.leverage import VIEWS
from ..options import SERVED_HEATMAP_MAX_BYTES

STATIC = Path(__file__).resolve().parent / "static"
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


#: The leverage views as a query-parameter type (their one definition is liqmap.model.leverage.VIEWS).
View = Enum("View", {name: name for name in VIEWS}, type=str)  # type: ignore[misc]


class Side(str, Enum):
    long = "long"
    short = "short"


class Scale(str, Enum):
    log = "log"
    z = "z"


class PaletteName(str, Enum):
    default = "default"
    colorblind = "colorblind"


class MapLayout(str, Enum):
    """The LiqMap's layouts (``liqmap.render.style.LAYOUTS``)."""

    map = "map"
    profile = "profile"


class _Cache:
    """A thread-safe LRU bounded in bytes: key -> value, built at most once per key at a time.

    ``max_bytes`` bounds the sum of the entries' sizes (``nbytes``); an entry
    larger than the whole budget is returned but not kept.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict = {}

    def get(self, key, build):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key][0]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            size = nbytes(value)
            if size <= self.max_bytes:
                with self._lock:
                    self._items[key] = (value, size)
                    self.bytes += size
                    while self.bytes > self.max_bytes:
                        self.bytes -= self._items.popitem(last=False)[1][1]
            return value

    def forget(self, symbol: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == symbol]:
                self.bytes -= self._items.pop(key)[1]


def nbytes(value) -> int:
    """About how many bytes ``value`` holds: its arrays and byte strings, through dataclasses and containers."""
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return 64 + sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 64 + sum(nbytes(v) for v in value)
    return 32


class MapService:
    """Loads market data and builds maps and heatmaps through the public API, with caches bounded in bytes.

    Heatmaps are built within ``heatmap_max_bytes``; their encoded
    bodies are cached too, so a repeated heatmap request costs no encoding.
    """

    def __init__(self, source: str, cache_bytes: int = 512_000_000, heatmap_max_bytes: int = SERVED_HEATMAP_MAX_BYTES):
        self.source = source  # the venue comes with each request (``venue``)
        self.heatmap_max_bytes = heatmap_max_bytes
        self.markets = _Cache(cache_bytes // 2)
        self.maps = _Cache(cache_bytes // 8)
        self.heatmaps = _Cache(cache_bytes // 8)
        self.bodies = _Cache(cache_bytes // 4)

    @property
    def stored(self) -> bool:
        """Whether the source is a backfill store: maps and heatmaps are read from it, nothing is built."""
        from ..backfill.read import store_of

        return store_of(self.source) is not None

    def market(self, symbol: str, venue: str):
        from .. import api

        return self.markets.get((symbol, venue), lambda: api.load_market(symbol, self.source, venue=venue))

    def liquidations(self, symbol: str, venue: str):
        """The realized liquidations drawn under the heatmap (a store keeps none)."""
        return None if self.stored else self.market(symbol, venue).liquidations

    def liqmap(self, symbol: str, venue: str, view: str, window: str, as_of: str):
        from .. import api
        from ..options import span_ms
        from ..timeutil import parse_time

        # Normalise before keying, so '30d' and '720h' share one entry, and bad text fails fast.
        window_ms = span_ms("window", window)
        as_of_ms = None if as_of in ("", "last") else parse_time(as_of, "as_of")
        key = (symbol, venue, view, window_ms, as_of_ms)
        if venue.lower() == api.ALL_VENUES or self.stored:  # the Multi map and a store read the source themselves
            return self.maps.get(key, lambda: api.build_map(
                symbol, source=self.source, venue=venue, view=view, window=window_ms, as_of=as_of_ms))
        return self.maps.get(key, lambda: api.build_map(
            symbol, market=self.market(symbol, venue), view=view, window=window_ms, as_of=as_of_ms))

    def heatmap_key(self, symbol: str, venue: str, view: str, window: str, resolution: str, start: str | None,
                    end: str | None) -> tuple:
        """The request normalised (spans in ms, times in epoch ms): equal requests share one entry."""
        from ..options import span_ms
        from ..timeutil import parse_time

        return (symbol, venue, view, span_ms("window", window), span_ms("resolution", resolution),
                parse_time(start, "start") if start else None, parse_time(end, "end") if end else None)

    def heatmap(self, key: tuple):
        from .. import api

        symbol, venue, view, window_ms, step_ms, start_ms, end_ms = key
        return self.heatmaps.get(key, lambda: api.build_heatmap(
            symbol, market=None if self.stored else self.market(symbol, venue), source=self.source, venue=venue,
            view=view, window=window_ms, resolution=step_ms, start=start_ms, end=end_ms,
            max_bytes=self.heatmap_max_bytes))

    def body(self, key: tuple, encode) -> bytes:
        """The encoded response for ``key`` (its first item the symbol), encoded once."""
        return self.bodies.get(key, encode)

    def refresh(self, symbol: str) -> None:
        for cache in (self.markets, self.maps, self.heatmaps, self.bodies):
            cache.forget(symbol)


def typed_array(values: np.ndarray) -> dict:
    """A float32 grid as base64 little-endian bytes with its shape (plotly's typed-array form)."""
    data = np.ascontiguousarray(values, dtype="<f4")
    return {"dtype": "f4", "shape": list(data.shape), "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def create_app(source: str = "sample", *, symbols: tuple[str, ...] = ("BTCUSDT",), host: str = "127.0.0.1",
               allow_hosts: tuple[str, ...] = (), cache_bytes: int = 512_000_000,
               heatmap_max_bytes: int = SERVED_HEATMAP_MAX_BYTES, venue: str = "binance",
               live_hub=None) -> FastAPI:
    """The dashboard app over ``source`` ("sample", "cache" or a folder of the venue's files).

    ``symbols`` are the ones the page offers in its selector (any other can
    be typed); ``venue`` is the default of every request's ``venue``.  ``host`` is the address the server is bound to: requests
    whose Host header names another machine are refused (see ``HostGuard``),
    plus any name in ``allow_hosts``.  ``cache_bytes`` bounds the caches;
    ``heatmap_max_bytes`` a heatmap's two float32 grids (48 MB).  ``live_hub`` (a
    :class:`~liqmap.server.live.LiveHub` fed by live loops) adds the pushed live maps.
    """
    app = FastAPI(
        title="liqmap",
        version=__version__,
        description="Liquidation maps for crypto perpetual futures: where leveraged positions will be force-closed. "
        "Every number is a model estimate; see each response's `model` record.",
        docs_url=None,
        redoc_url=None,
    )
    service = MapService(source, cache_bytes, heatmap_max_bytes)
    app.state.service = service
    _install_error_handlers(app)
    app.add_middleware(HostGuard, bound=host, allow=allow_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/vendor/swagger-ui", StaticFiles(directory=_swagger_ui_path()), name="swagger-ui")

    symbol_q = Query("BTCUSDT", description="perpetual symbol, e.g. BTCUSDT (case-insensitive)")
    venue_q = Query(venue, description="the venue whose data to read: a name `liqmap venues` lists, e.g. binance, or "
                                      "all for the Multi map (map, clusters and map figure)")
    view_q = Query(View("all"), description="leverage view: all, high (10-125x), medium (3-10x), low (1-3x), optical")
    window_q = Query("30d", description="how far back position openings count: 24h, 7d, 30d, ...")
    as_of_q = Query("last", description="the moment the map describes: ISO time (UTC), epoch ms, or 'last'")
    refresh_q = Query(False, description="drop this symbol's cached data and maps first")

    from .live import LiveHub, install

    install(app, live_hub if live_hub is not None else LiveHub(), symbol_name, PaletteName)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(_plotly_js_path(), media_type="application/javascript")

    @app.get("/docs", include_in_schema=False)
    def docs():
        """Swagger UI from the installed swagger-ui-bundle package: the API docs work offline."""
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="liqmap API",
                                   swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/vendor/swagger-ui/favicon-32x32.png")

    @app.get("/api/info", summary="What this server serves")
    def info():
        return {"version": __version__, "source": source, "venue": venue, "symbols": list(symbols),
                "views": [v.value for v in View], "backfill": service.stored}

    @app.get("/api/store", summary="A backfill store's moments (liqmap serve --source backfill:STORE)",
             description="Per venue and symbol: the first and last stored as-of times (epoch ms), the step between "
                         "them, the views, the window and the months.  Any of these moments is read from the store "
                         "by `/api/map?as_of=...` without building anything; other sources answer 404.")
    def store():
        from ..backfill.read import catalog

        if not service.stored:
            raise DataError(f"source {source} is not a backfill store (serve --source backfill:STORE)")
        return {"source": source, "streams": catalog(source)}

    @app.get("/api/map", summary="The liquidation map (bins, clusters, LiqRatio, model record)")
    def map_json(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                 refresh: bool = refresh_q, venue: str = venue_q):
        m = _map(service, symbol, venue, view, window, as_of, refresh)
        payload = m.to_dict()
        payload.update(_freshness(m))
        return payload

    @app.get("/api/clusters", summary="The map's clusters, ranked, with distance in % and ATR and reach")
    def clusters(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                 refresh: bool = refresh_q, venue: str = venue_q):
        from ..analysis.results import json_safe

        m = _map(service, symbol, venue, view, window, as_of, refresh)
        return {"symbol": m.symbol, "view": m.view, "as_of": m.as_of, "price": m.price, "atr": json_safe(m.atr),
                "clusters": json_safe([c.to_dict() for c in m.clusters]), **_freshness(m)}

    resolution_q = Query("1h", description="time between columns: 1h, 4h, 1d, ... (not finer than the data's "
                                           "candles; columns x bins within the 48 MB budget)")
    start_q = Query(None, description="first column (ISO time, UTC); default 30 days before end")
    end_q = Query(None, description="last column (ISO time, UTC); default end of data")

    @app.get("/api/heatmap", summary="Outstanding liquidation notional over time x price (one pass over the book)",
             description="`long` and `short` are float32 grids (one row per time, one column per price bin) sent "
                         "as base64 little-endian bytes with their shape: `{dtype: 'f4', shape: [rows, bins], "
                         "bdata}` (plotly's typed-array form; numpy: `np.frombuffer(b64decode(bdata), '<f4')"
                         ".reshape(shape)`).")
    def heatmap_json(symbol: str = symbol_q, view: View = view_q, window: str = window_q,
                     resolution: str = resolution_q, start: str | None = start_q, end: str | None = end_q,
                     venue: str = venue_q):
        key = service.heatmap_key(symbol_name(symbol), venue, view.value, window, resolution, start, end)

        def encode() -> bytes:
            from ..analysis.results import json_safe

            h = service.heatmap(key)
            return json.dumps({
                "symbol": h.symbol, "exchange": h.exchange, "view": h.view, "time": h.time.tolist(),
                "price": json_safe(h.price), "price_low": h.price_low.tolist(), "price_high": h.price_high.tolist(),
                "long": typed_array(h.long), "short": typed_array(h.short), "model": json_safe(h.model),
            }, allow_nan=False).encode()

        return Response(service.body(key + ("json",), encode), media_type="application/json")

    @app.get("/api/liqprice", summary="Exact liquidation price of one isolated position (exchange brackets)")
    def liqprice(symbol: str = symbol_q, side: Side = Query(..., description="long or short"),
                 entry: float = Query(..., gt=0, description="entry price"),
                 leverage: float = Query(..., gt=0, description="leverage, e.g. 20"),
                 notional: float = Query(..., gt=0, description="position notional in quote units"),
                 exchange: str = Query("binance", description="a venue with a margin rule: binance, bybit, okx, hyperliquid, ...")):
        from .. import quote_liquidation

        return quote_liquidation(exchange, symbol_name(symbol), side.value, entry, leverage, notional).to_dict()

    @app.get("/api/figure/map", summary="The LiqMap as a plotly figure (what the page draws)")
    def map_figure(symbol: str = symbol_q, view: View = view_q, window: str = window_q, as_of: str = as_of_q,
                   palette: PaletteName = Query(PaletteName.default), refresh: bool = refresh_q,
                   venue: str = venue_q,
                   layout: MapLayout = Query(MapLayout.map, description="map: price across, bars rising, cumulative "
                                                                        "curves; profile: price up the side, as in "
                                                                        "the heatmap")):
        from ..render.interactive import liqmap_figure

        m = _map(service, symbol, venue, view, window, as_of, refresh)
        return Response(liqmap_figure(m, layout=layout.value, palette=palette.value).to_json(),
                        media_type="application/json")

    @app.get("/api/figure/heatmap", summary="The heatmap as a plotly figure, realized liquidations overlaid")
    def heatmap_figure(symbol: str = symbol_q, view: View = view_q, window: str = window_q,
                       resolution: str = resolution_q, start: str | None = start_q, end: str | None = end_q,
                       scale: Scale = Query(Scale.log), palette: PaletteName = Query(PaletteName.default),
                       venue: str = venue_q):
        from ..render.interactive import heatmap_figure as figure

        symbol = symbol_name(symbol)
        key = service.heatmap_key(symbol, venue, view.value, window, resolution, start, end)

        def encode() -> bytes:
            h = service.heatmap(key)
            fig = figure(h, liquidations=service.liquidations(symbol, venue), scale=scale.value,
                         palette=palette.value)
            return fig.to_json().encode()

        return Response(service.body(key + ("figure", scale.value, palette.value), encode),
                        media_type="application/json")

    return app


def symbol_name(text: str, what: str = "symbol") -> str:
    """``text`` as an upper-case symbol of 2-30 letters and digits, or a ValueError naming ``what``."""
    symbol = text.strip().upper()
    if not _SYMBOL.match(symbol):
        raise ValueError(f"{what} {text!r} is not a symbol like BTCUSDT (2-30 letters and digits)")
    return symbol


def _map(service: MapService, symbol: str, venue: str, view: View, window: str, as_of: str, refresh: bool):
    symbol = symbol_name(symbol)
    if refresh:
        service.refresh(symbol)
    return service.liqmap(symbol, venue, view.value, window, as_of)


def _freshness(m) -> dict:
    """Age against the clock now (the cached map's own age was taken when it was built)."""
    age_s = max(0.0, time.time() - m.as_of_ms / 1000)
    stale_after_ms = m.model.get("reading", {}).get("stale_after_ms")
    stale = m.stale if stale_after_ms is None else age_s * 1000 > stale_after_ms
    return {"age_s": age_s, "stale": bool(stale)}


def _swagger_ui_path() -> str:
    import swagger_ui_bundle

    return swagger_ui_bundle.swagger_ui_path


class HostGuard:
    """Refuse requests whose Host header names another machine than the one the server is bound to.

    A web page cannot then reach the local server by DNS rebinding (its
    requests carry the attacker's host name).  Loopback names and addresses
    are always accepted, and the bound address; a wildcard bind (0.0.0.0,
    ::) also accepts any IP address, which rebinding cannot produce.  Other
    names must be allowed explicitly (``liqmap serve --allow-host NAME``).
    """

    def __init__(self, app, bound: str, allow: tuple[str, ...] = ()):
        self.app = app
        self.bound = bound
        self.names = {"localhost", "127.0.0.1", "::1", bound.strip("[]").lower(), *(a.lower() for a in allow)}
        self.any_ip = bound in ("0.0.0.0", "::", "")

    def allowed(self, host: str) -> bool:
        name = host_name(host)
        if name in self.names or name.endswith(".localhost"):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return self.any_ip or address.is_loopback

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not self.allowed(host):
                message = (f"host {host!r} is not this server (bound to {self.bound}); liqmap serve answers requests "
                           f"addressed to it only, so a web page cannot reach it by DNS rebinding "
                           f"(liqmap serve --allow-host NAME adds a name)")
                await JSONResponse({"error": message, "status": 400}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(host: str) -> str:
    """The name or address of a Host header, without the port ('[::1]:8000' -> '::1')."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


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

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        return error(500, f"internal error ({type(exc).__name__}): {exc}")

"""The public Python API: what the CLI, the server, the alerts and the validation call.

    >>> import liqmap
    >>> m = liqmap.build_map("BTCUSDT")                 # bundled sample, end of data, 30-day window
    >>> m.price, len(m.clusters) > 0
    >>> maps = liqmap.build_maps("BTCUSDT", views=["all", "high", "optical"])
    >>> h = liqmap.build_heatmap("BTCUSDT", start="2026-02-01", end="2026-03-01", resolution="1h")
"""

from __future__ import annotations

import math
import time as _time

import numpy as np

from .analysis.indicators import atr_known_at
from .analysis.mapping import MapSettings, heatmap_lattice, lattice_edges, optical_weights, map_grid, read_map
from .analysis.results import Heatmap, LiqMap, format_window
from .frames import MS_PER_DAY, DataError, MarketData, format_ms
from .model.params import BookParams
from .model.positions import PositionBook
from .model.state import BookState
from .model.build import build_book as _build_book
from .model.leverage import VIEWS, check_view, view_mask
from .options import (HEATMAP_MAX_BYTES, MAX_HEATMAP_BINS, OptionError, check_heatmap, coerce_fields,
                      dataclass_from, distinct, in_range, number, span_ms, to_ms)

MODELS = ("book", "peer")
#: The venue name of the Multi map: every registered venue, one book each, summed.
ALL_VENUES = "all"
#: Candles needed before the window for the ATR (Wilder 14 on 1h bars plus slack).
_WARMUP_MS = 2 * MS_PER_DAY
#: The window when neither ``window`` nor ``start`` is given.
DEFAULT_WINDOW = "30d"


def _to_ms(value, what: str) -> int | None:
    """A moment the caller gave (epoch ms or ISO text), or None for "last" (the end of the data)."""
    return None if value == "last" else to_ms(value, what)


def load_market(symbol: str = "BTCUSDT", source: str = "sample", start=None, end=None,
                venue: str = "binance") -> MarketData:
    """Market data for ``symbol`` on ``venue`` from ``source``: "sample", "cache" or a folder of the
    venue's files (Binance Vision files for ``binance``); see ``liqmap venues`` for the venues."""
    from .sources.loader import load_market as _load

    return _load(symbol, source=str(source), start_ms=_to_ms(start, "start"), end_ms=_to_ms(end, "end"),
                 venue=venue)


def _now_ms(now) -> int:
    """The moment maps are aged against: ``now`` (epoch ms or ISO text), else the clock."""
    ms = None if now is None else _to_ms(now, "now")
    return int(_time.time() * 1000) if ms is None else ms


def list_venues() -> list[dict]:
    """The registered venues as documented JSON: what each reads, its margin rule and, per symbol,
    the shipped tier tables (vintages) with the date each came into force (approximate)."""
    from . import venues
    from .model.margin import shipped_tables

    tables = shipped_tables()
    out = []
    for venue in venues.all_venues():
        rule = venue.margin
        symbols = []
        for symbol in venue.symbols():
            info = venue.symbol_info(symbol)
            symbols.append({
                "symbol": symbol,
                "contract_size": info.contract_size,
                "tick": info.tick,
                "tiers": [{"date": t.date, "tiers": len(t.brackets), "max_leverage": t.brackets[0].max_leverage,
                           "size_unit": t.size_unit, "file": t.origin}
                          for t in tables.get((venue.name, symbol), ())],
            })
        out.append({
            "name": venue.name,
            "title": venue.title,
            "kinds": list(venue.kinds),
            "download": venue.download_url,
            "margin": None if rule is None else {
                "formula": rule.formula,
                "tier_bounds": "(floor, cap]" if rule.cap_inclusive else "[floor, cap)",
                "source": rule.source,
            },
            "symbols": symbols,
        })
    return out


def build_book(market: MarketData, params: BookParams | dict | None = None, window=None) -> PositionBook:
    """The position book over all of ``market`` (see ``liqmap.model.build``).

    ``window`` (e.g. "30d"; default none) is how long the model holds a position
    when netting its own liquidations against closes: give the maps' window.
    """
    return _build_book(market, _params(params, market.exchange), None if window is None else span_ms("window", window))


def book_state(symbol: str, exchange: str = "binance", params: BookParams | dict | None = None,
               window="30d") -> BookState:
    """An empty position book that updates in place (``.extend(market)``, ``.append(...)``, ``.book()``).

    Pass it to ``build_maps(state=...)`` to read maps from it instead of
    building a book; after every update it equals ``build_book`` over the same data.
    """
    return BookState(symbol, exchange, _params(params, exchange), span_ms("window", window))


def _params(params, venue: str | None = None) -> BookParams:
    """Model parameters from None, a dict of overrides (typed and checked like ``--param``) or BookParams.

    None and a dict start from ``venue``'s own defaults (its ``book_defaults``,
    e.g. Hyperliquid's leverage prior); a BookParams is taken as it is.
    """
    if params is None or isinstance(params, dict):
        base = BookParams()
        if venue is not None:
            from . import venues

            if venue in venues.names():
                base = base.with_overrides(**venues.get(venue).book_defaults)
        return base.with_overrides(**coerce_fields(BookParams, params, "params")) if params else base
    return dataclass_from(BookParams, params, "params")


def _settings(settings) -> MapSettings:
    """Map settings from None, a dict of overrides (typed and checked like ``--setting``) or MapSettings."""
    return dataclass_from(MapSettings, settings, "settings")


def _resolve_span(market_or_none, symbol, source, as_of, start, window, venue):
    """Load what is needed and fix the map's moment (as_of) and span (window).

    ``window`` and ``start`` both say where the window begins: giving both is
    refused.  A window reaching before the data is cut to the data, and the
    map says so in its label and notes.
    """
    as_of_ms = _to_ms(as_of, "as-of time")
    start_ms = _to_ms(start, "start")
    if start_ms is not None and window is not None:
        raise OptionError(f"window {window!r} and start {format_ms(start_ms)} both set where the window begins; "
                          f"give one of them")
    window_ms = span_ms("window", DEFAULT_WINDOW if window is None else window) if start_ms is None else None
    if market_or_none is None:
        from .sources.loader import SpanMissed

        load_from = None
        if as_of_ms is not None:
            # (a start after the as-of time still loads up to it, and is refused below)
            first_needed = as_of_ms - window_ms if start_ms is None else min(start_ms, as_of_ms)
            load_from = first_needed - _WARMUP_MS
        try:
            market = load_market(symbol, source, start=load_from, end=as_of_ms + 1 if as_of_ms is not None else None,
                                 venue=venue)
        except SpanMissed as exc:
            if as_of_ms is not None and exc.span is not None:
                _check_inside(as_of_ms, str(symbol).upper(), *exc.span)
            raise
    else:
        market = market_or_none
    if as_of_ms is None:
        as_of_ms = _data_end(market)
    interval = market.candles.interval_ms
    first = market.start_ms
    _check_inside(as_of_ms, market.symbol, first, market.end_ms)
    if as_of_ms < first + 2 * interval:
        raise DataError(f"as-of time {format_ms(as_of_ms)} leaves less than two {format_window(interval)} candles of "
                        f"{market.symbol} data before it (the data starts {format_ms(first)}); use "
                        f"{format_ms(first + 2 * interval)} or later")
    if start_ms is not None:
        if start_ms >= as_of_ms:
            raise ValueError(f"start {format_ms(start_ms)} must be before the as-of time {format_ms(as_of_ms)}")
        window_ms = as_of_ms - start_ms
    assert window_ms is not None
    if window_ms < 2 * interval:
        raise OptionError(f"window {format_window(window_ms)} holds less than two {format_window(interval)} candles "
                          f"of the {market.symbol} data; use at least {format_window(2 * interval)}")
    return market, as_of_ms, window_ms


def _check_inside(as_of_ms: int, symbol: str, first: int, end: int) -> None:
    """Refuse an as-of time outside the data ``(first, end]``, naming the data's end or start."""
    if as_of_ms > end:
        raise DataError(f"as-of time {format_ms(as_of_ms)} is outside the data for {symbol}, which ends "
                        f"{format_ms(end)}")
    if as_of_ms <= first:
        raise DataError(f"as-of time {format_ms(as_of_ms)} is outside the data for {symbol}, which starts "
                        f"{format_ms(first)}")


def _window_in_data(market: MarketData, as_of_ms: int, window_ms: int) -> tuple[int, str | None]:
    """The window cut to the data it can hold, and a note saying so when it was cut."""
    available = as_of_ms - market.start_ms
    if window_ms <= available:
        return window_ms, None
    return available, (f"window: {format_window(window_ms)} asked, but the data starts {format_ms(market.start_ms)}: "
                       f"the map counts openings over the {format_window(available)} the data holds")


def _between_candles(market: MarketData, as_of_ms: int) -> str | None:
    """A note when ``as_of_ms`` falls inside a candle: the book holds only the candles ended by then."""
    c = market.candles
    done = int(np.searchsorted(c.time + c.interval_ms, as_of_ms, side="right"))
    last_end = int(c.time[done - 1] + c.interval_ms) if done else None
    if last_end is None or last_end == as_of_ms:
        return None
    traded = market.trades is not None and len(market.trades) and int(market.trades.time[0]) <= as_of_ms
    return (f"as-of time {format_ms(as_of_ms)} falls inside a {format_window(c.interval_ms)} candle: the book holds "
            f"the candles ended by {format_ms(last_end)}"
            + ("; the price is the last trade at or before the as-of time" if traded else
               "; the price is that candle's close"))


def _data_end(market: MarketData) -> int:
    """The last moment the data describes: the last trade, else the end of the last candle."""
    if market.trades is not None and len(market.trades):
        return int(market.trades.time[-1])
    return market.end_ms


def _price_at(market: MarketData, as_of_ms: int) -> float:
    """Last traded price known at ``as_of_ms``: last trade, else close of the last finished candle."""
    if market.trades is not None and len(market.trades):
        i = int(np.searchsorted(market.trades.time, as_of_ms, side="right")) - 1
        if i >= 0:
            return float(market.trades.price[i])
    c = market.candles
    i = int(np.searchsorted(c.time + c.interval_ms, as_of_ms, side="right")) - 1
    return float(c.close[max(i, 0)])


def build_maps(
    symbol: str = "BTCUSDT",
    *,
    market: MarketData | None = None,
    source: str = "sample",
    as_of=None,
    start=None,
    window=None,
    views=VIEWS,
    model: str = "book",
    params: BookParams | dict | None = None,
    settings: MapSettings | dict | None = None,
    peer_options: dict | None = None,
    venue: str = "binance",
    now=None,
    state: BookState | None = None,
) -> list[LiqMap]:
    """Maps for several views from one position book (one load, one build).

    ``venue`` names the data's venue (``liqmap venues``; ignored when ``market`` is
    given, which carries its own), or "all" for the Multi map (one book per venue summed on the
    reference venue's grid, see ``liqmap.analysis.multi``); ``as_of`` (default: end of data) is the moment the map describes;
    ``window`` (default 30d) how far back openings count, or ``start`` to
    give the window's first moment instead (not both).  The book is built over the data
    up to ``as_of``, holding positions for the window; ``state`` (a
    ``book_state`` fed the same data) gives that book without a build.
    ``views`` is a non-empty list without repeats; ``settings`` and
    ``params`` take a dict of overrides too.
    """
    views = list(distinct("views", [views] if isinstance(views, str) else views, allowed=VIEWS, what="view"))
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    settings = _settings(settings)
    from .backfill.read import read_maps, store_of

    if store_of(source) is not None and market is None:
        if model != "book" or state is not None or start is not None or params is not None:
            raise OptionError(f"source {source} answers with the maps it stores: it takes no model, state, start "
                              f"or params (its manifest.json says how they were made)")
        from . import venues as registry

        name = registry.get(venue).symbol_name(symbol) if str(venue).lower() in registry.names() else str(symbol).upper()
        return read_maps(source, name, venue, _to_ms(as_of, "as-of time"),
                         views, None if window is None else span_ms("window", window), _now_ms(now),
                         settings)
    if params is not None:
        _params(params)  # checked now; a venue's defaults join it where its book is built
    if str(venue).lower() == ALL_VENUES and market is None:
        if model != "book" or state is not None:
            raise OptionError("venue 'all' (the Multi map) builds one position book per venue: it takes "
                              "model='book' and no state")
        return _multi_maps(symbol, source, as_of, start, window, views, params, settings, _now_ms(now))
    market, as_of_ms, window_ms = _resolve_span(market, symbol, source, as_of, start, window, venue)
    window_note = None
    if state is None:  # a state holds positions for its own window
        window_ms, window_note = _window_in_data(market, as_of_ms, window_ms)
    now_ms = _now_ms(now)
    price = _price_at(market, as_of_ms)
    atr_value = float(atr_known_at(market.candles, [as_of_ms], settings.atr_period, settings.atr_interval_ms)[0])
    common = dict(symbol=market.symbol, exchange=market.exchange, as_of_ms=as_of_ms, window_ms=window_ms,
                  atr=atr_value, now_ms=now_ms, settings=settings)
    if model == "peer":
        return _peer_maps(market, as_of_ms, window_ms, views, price, common, peer_options or {}, window_note)
    edges, shown = map_grid(price, settings)
    book = _book_for(market, as_of_ms, window_ms, params, state)
    [(info, binned)] = _read_views(book, [as_of_ms], [price], [edges], views, window_ms, settings, window_note,
                                   market.notes if state is not None else ())
    between = _between_candles(market, as_of_ms)
    if between:
        info["notes"].append(between)
    return [read_map(view=view, price=price, edges=edges, long=binned[view][0], short=binned[view][1], model=info,
                     shown=shown, **common) for view in views]


def _read_views(book: PositionBook, times, prices, grids, views, window_ms: int, settings: MapSettings,
                window_note: str | None = None, notes_first=()) -> list[tuple[dict, dict]]:
    """Per moment, the ``model`` record (parameters, notes, coverage) and each view's (long, short) on its grid.

    One read of the book for all moments and views (``PositionBook.read``);
    ``notes_first`` go before the book's notes (a state's book: what a whole
    build's book says first).
    """
    recency: dict[str, float | None] = {view: settings.optical_half_life_ms if view == "optical" else None
                                        for view in views}
    binned, coverage = book.read(times, grids, recency, window_ms, prices=prices)
    assert coverage is not None  # asked for with the prices
    out = []
    for i, as_of_ms in enumerate(times):
        info = _book_info(book, as_of_ms, window_ms, coverage[i], window_note)
        if notes_first:
            info["notes"] = list(dict.fromkeys([*notes_first, *info["notes"]]))
        out.append((info, {view: (binned[view][0][i], binned[view][1][i]) for view in views}))
    return out


def maps_from_book(market: MarketData, book: PositionBook, times, window_ms: int, views=VIEWS,
                   settings: MapSettings | dict | None = None, now=None) -> list[list[LiqMap]]:
    """The maps as of each of ``times`` (increasing) read from a book already built over ``market`` (no build).

    This is how a backfill reads many moments from one book, in one pass
    (``PositionBook.read``): the same price, ATR, grid, coverage and notes as
    ``build_maps`` at each moment.  Each map is aged against ``now``, by
    default against its own as-of time (as a backfill stores it).
    """
    settings = _settings(settings)
    times = [int(t) for t in times]
    views = list(views)
    prices = [_price_at(market, t) for t in times]
    readings = [map_grid(price, settings) for price in prices]
    grids = [edges for edges, _ in readings]
    atrs = atr_known_at(market.candles, times, settings.atr_period, settings.atr_interval_ms) if times else np.zeros(0)
    now_ms = None if now is None else _now_ms(now)
    out = []
    for t, price, (edges, shown), atr_value, (info, binned) in zip(
            times, prices, readings, atrs, _read_views(book, times, prices, grids, views, window_ms, settings)):
        common = dict(symbol=market.symbol, exchange=market.exchange, as_of_ms=t, window_ms=window_ms,
                      atr=float(atr_value), now_ms=t if now_ms is None else now_ms, settings=settings)
        out.append([read_map(view=view, price=price, edges=edges, long=binned[view][0], short=binned[view][1],
                             model=info, shown=shown, **common) for view in views])
    return out


def _multi_maps(symbol, source, as_of, start, window, views, params, settings: MapSettings,
                now_ms: int) -> list[LiqMap]:
    """The Multi map: every registered venue's book at the reference venue's as-of time, summed.

    The reference is Binance when it has data, else the first venue (by name)
    that has; a venue whose data fails is kept as ``missing`` with the reason.
    """
    from . import venues as registry

    names = sorted(registry.names(), key=lambda n: (n != "binance", n))
    entries: dict[str, tuple[MarketData, int] | str] = {}
    reference = None
    for name in names:
        try:
            ref_market, as_of_ms, window_ms = _resolve_span(None, symbol, source, as_of, start, window, name)
        except (DataError, OptionError) as exc:
            entries[name] = str(exc)
            continue
        reference = name
        entries[name] = (ref_market, as_of_ms)
        break
    if reference is None:
        raise DataError(f"no venue has {symbol} data in {source} for the Multi map: "
                        + "; ".join(f"{n}: {r}" for n, r in entries.items()))
    origins = {}
    for name in names:
        if name in entries:
            continue
        try:
            # loaded as the reference was (all of it for the end of data), so a venue's part is its own map
            load_from = None if as_of is None else as_of_ms - window_ms - _WARMUP_MS
            market = load_market(symbol, source, start=load_from, end=as_of_ms + 1, venue=name)
            venue_as_of = min(as_of_ms, _data_end(market))
            market, venue_as_of, _ = _resolve_span(market, symbol, source, venue_as_of, None, window_ms, name)
        except (DataError, OptionError, registry.VenueError) as exc:
            entries[name] = str(exc)
            continue
        entries[name] = (market, venue_as_of)
    for name, entry in entries.items():
        if not isinstance(entry, str):
            origins[name] = _origins(source, name, entry[0].symbol)
    ordered = {name: entries[name] for name in names}
    return multi_maps(ordered, reference, as_of_ms, window_ms, views, params, settings, now_ms, origins=origins)


def multi_maps(entries: dict, reference: str, as_of_ms: int, window_ms: int, views, params,
               settings: MapSettings | dict | None, now_ms: int, states: dict | None = None,
               origins: dict | None = None, venue_params: dict | None = None) -> list[LiqMap]:
    """The Multi map from each venue's ``(market, as-of time)``, or the reason it is missing (a str).

    The grid, the price and the ATR are the ``reference`` venue's; each venue's book is built over its
    market up to its as-of time (or read from its book state in ``states``, fed that data: the live
    Multi map), binned at its basis to the reference and summed; ``origins`` are lines saying where a
    venue's data came from; ``venue_params`` gives a venue its own model parameters instead of ``params``
    (e.g. the tiers a live backfill fetched).
    """
    from dataclasses import replace

    from . import venues as registry
    from .analysis.multi import VenuePart, combine, missing, multi_model, venue_breakdown, weighted

    settings = _settings(settings)
    ref_market = entries[reference][0]
    ref_price = _price_at(ref_market, as_of_ms)
    edges, shown = map_grid(ref_price, settings)
    atr_value = float(atr_known_at(ref_market.candles, [as_of_ms], settings.atr_period, settings.atr_interval_ms)[0])
    books = {}  # venue -> each view's (long, short), binned at its basis on the reference's grid
    parts = []
    for name, entry in entries.items():
        if isinstance(entry, str):
            parts.append(missing(name, entry))
            continue
        market, venue_as_of = entry
        state = (states or {}).get(name)
        try:
            venue_window, window_note = (window_ms, None) if state is not None else \
                _window_in_data(market, venue_as_of, window_ms)
            price = _price_at(market, venue_as_of)
            basis = price / ref_price
            book = _book_for(market, venue_as_of, venue_window, (venue_params or {}).get(name, params), state)
            [(info, binned)] = _read_views(book, [venue_as_of], [price], [edges * basis], views, venue_window,
                                           settings, window_note, market.notes if state is not None else ())
        except (DataError, OptionError, registry.VenueError) as exc:
            parts.append(missing(name, str(exc)))
            continue
        late = as_of_ms - venue_as_of
        status, reason = "ok", ""
        if late > settings.stale_after_ms:
            status, reason = "stale", (f"its data ends {format_ms(venue_as_of)}, {format_window(late)} before the "
                                       f"map's as-of time: its book is read there")
        oi = book.oi_at_end[int(book.steps_completed(venue_as_of)) - 1]
        books[name] = binned
        parts.append(VenuePart(name, status, reason, price=price, basis=basis, as_of_ms=venue_as_of,
                               coverage=info["coverage"], open_interest_usd=float(oi * price),
                               rests_on=tuple((origins or {}).get(name, ())) + tuple(info["notes"])))
    info = multi_model(parts, reference, format_window(window_ms))
    common = dict(symbol=ref_market.symbol, exchange=ALL_VENUES, as_of_ms=as_of_ms, window_ms=window_ms,
                  atr=atr_value, now_ms=now_ms, settings=settings)
    maps = []
    for view in views:
        view_parts = []
        for part in parts:
            if part.venue in books:
                long, short = books[part.venue][view]
                part = replace(part, long=long, short=short)
            view_parts.append(part)
        long, short = combine(view_parts, edges.size - 1)
        m = read_map(view=view, price=ref_price, edges=edges, long=long, short=short, model=info, shown=shown,
                     **common)
        if view == "optical":
            view_parts = weighted(view_parts, edges, ref_price, atr_value, settings)
        maps.append(replace(m, extras={"venues": venue_breakdown(m, view_parts, edges, shown, settings)}))
    return maps


def _origins(source, venue: str, symbol: str) -> tuple[str, ...]:
    """Where a store's files came from (the ``origin`` written with them), one line per kind; none for folders."""
    from .sources.cache import Store
    from .sources.loader import open_source

    store = open_source(source, venue)
    if not isinstance(store, Store):
        return ()
    return tuple(f"{kind}: {store.extra(symbol, kind)['origin']}" for kind in store.kinds(symbol)
                 if "origin" in store.extra(symbol, kind))


def _book_for(market: MarketData, as_of_ms: int, window_ms: int, params, state: BookState | None) -> PositionBook:
    """The book as of ``as_of_ms``: built over the market before it, or the state's."""
    if state is None and (market.open_interest is None or not len(market.open_interest)):
        raise DataError(f"{market.symbol}: the position book needs open interest (metrics files), and the data "
                        "has none; the peer-compatible model (--model peer, model='peer') maps from aggTrades alone")
    if state is None:
        return _build_book(market.slice_time(None, as_of_ms), _params(params, market.exchange), window_ms)
    return _state_book(state, as_of_ms, window_ms, params)


def _book_info(book: PositionBook, as_of_ms: int, window_ms: int, coverage: dict | None,
               window_note: str | None = None) -> dict:
    """The book's ``model`` record as of ``as_of_ms``: parameters, notes and the window's ``coverage``."""
    info = book.model_info()
    if window_note:
        info["notes"].append(window_note)
    info["coverage"] = coverage
    info["notes"].append(
        f"window: positions opened {format_ms(as_of_ms - window_ms)} .. {format_ms(as_of_ms)}; "
        f"coverage = shares of the OI at the as-of time: placed by the book, and alive, inside the grid and "
        f"within 5 % of price as the map holds them"
    )
    if coverage is None:
        info["notes"].append("dollars: no open interest known at the as-of time; notional is the book's own, "
                             "not scaled to the OI")
    elif book.params.oi_reconcile:
        info["notes"].append(f"dollars: the book's alive levels hold {coverage['placed']:.1%} of the OI at the "
                             f"as-of time; notional is scaled by {coverage['scale']:.3g} to hold all of it "
                             f"(oi_reconcile; shape, Z-scores and ratios unchanged)")
    else:
        info["notes"].append(f"dollars: the map holds {coverage['placed']:.1%} of the OI at the as-of time (what "
                             f"the book placed; the rest opened before the window or faded; oi_reconcile=true "
                             f"scales the book to hold all of it)")
    return info


def _state_book(state: BookState, as_of_ms: int, window_ms: int, params) -> PositionBook:
    """The state's book, checked to be the one ``build_maps`` would build."""
    if state.window_ms != window_ms:
        raise ValueError(f"the book state holds positions for {format_window(state.window_ms or 0)}, "
                         f"the maps ask for a {format_window(window_ms)} window")
    if params is not None and _params(params) != state.params:
        raise ValueError("the book state was made with other model parameters than the maps ask for")
    if state.end_ms is None or as_of_ms < state.end_ms:
        raise ValueError(f"the book state ends at {format_ms(state.end_ms or 0)}; maps from it need an as-of "
                         f"time at or after it, not {format_ms(as_of_ms)}")
    return state.book()


def build_map(symbol: str = "BTCUSDT", *, view: str = "all", **options) -> LiqMap:
    """One liquidation map (see ``build_maps`` for the options)."""
    return build_maps(symbol, views=[view], **options)[0]


def _peer_maps(market, as_of_ms, window_ms, views, price, common, options, window_note) -> list[LiqMap]:
    """The peer-compatible map: its exact per-tier bins, summed over the view's tiers on its grid."""
    from .model.peer import PEER_LEVERAGES, peer_levels

    if market.trades is None or len(market.trades) == 0:
        raise DataError("the peer-compatible model needs aggregate trades (aggTrades files) in the source")
    options = dict(options)  # the caller's dict stays as it was
    leverages = tuple(options.pop("leverages", PEER_LEVERAGES))
    levels = peer_levels(market.trades, as_of_ms - window_ms, as_of_ms, leverages=leverages, **options)
    width = levels.bin_width
    if levels.bin_left.size:
        k = np.rint(levels.bin_left / width).astype(np.int64)
        k0, k1 = int(k.min()), int(k.max())
    else:
        k = np.zeros(0, np.int64)
        k0 = k1 = int(math.floor(price / width))
    edges = np.arange(k0, k1 + 2) * width
    model = {
        "name": "peer-compatible",
        "version": "py-liquidation-map 1.0.1 rules",
        "parameters": {"leverages": list(leverages), **options, "bin_width": width},
        "notes": [
            "every selected large trade opens a position at its price with the full notional in every tier",
            "LP = entry * (1 -/+ 1/L); no maintenance margin; bins are right-closed (left, left + width]",
            f"selected trades: {levels.selected_long} long / {levels.selected_short} short",
            *([window_note] if window_note else []),
        ],
    }
    maps = []
    for view in views:
        keep = view_mask(levels.leverage.astype(float), view)
        n_bins = edges.size - 1
        long = np.bincount(k[keep & levels.is_long] - k0, levels.amount[keep & levels.is_long], minlength=n_bins)
        short = np.bincount(k[keep & ~levels.is_long] - k0, levels.amount[keep & ~levels.is_long], minlength=n_bins)
        maps.append(read_map(view=view, price=levels.current_price, edges=edges, long=long, short=short,
                             model=model, extras={"peer_levels": levels}, **common))
    return maps


def build_setups(
    symbol: str = "BTCUSDT",
    *,
    market: MarketData | None = None,
    source: str = "sample",
    style: str = "day",
    as_of=None,
    params=None,
    flow_params=None,
    book_params: BookParams | dict | None = None,
    venue: str = "binance",
) -> dict:
    """Cluster bounce, sweep and range-fade setups for a trading style, as the documented JSON object.

    ``params`` is a ``SetupParams`` (thresholds), ``flow_params`` a
    ``FlowParams``; the style fixes the views and windows read.
    """
    from .analysis.setups import SetupParams, setups_report, style_profile

    profile = style_profile(style)
    maps = build_maps(symbol, market=market, source=source, as_of=as_of, window=profile.window,
                      views=profile.views, params=book_params, venue=venue)
    if market is None:
        market = load_market(symbol, source, end=maps[0].as_of_ms + 1, venue=venue)
    return setups_report(maps, market, style, params or SetupParams(), flow_params)


def build_heatmap(
    symbol: str = "BTCUSDT",
    *,
    market: MarketData | None = None,
    source: str = "sample",
    start=None,
    end=None,
    resolution=None,
    view: str = "all",
    window=None,
    params: BookParams | dict | None = None,
    bins: int | None = None,
    settings: MapSettings | dict | None = None,
    venue: str = "binance",
    max_bytes: int = HEATMAP_MAX_BYTES,
) -> Heatmap:
    """Outstanding liquidation levels over time x price, from one book in one pass.

    Rows are as-of moments every ``resolution`` (default 1h) from ``start`` to ``end``
    (default: the last 30 days of data); each row holds the levels opened in
    the ``window`` (default 30d) before it.  The price grid spans the period's range with
    a margin; ``bins`` fixes the number of bins (default: about 0.1% of
    price per bin).  The two float32 grids may take at most ``max_bytes``
    (default 320 MB); a larger request is refused before anything is
    allocated, saying which resolution would fit.  A ``backfill:STORE``
    source answers with the rows the store holds (default resolution: its
    step; see ``liqmap.backfill.read.read_heatmap``), building nothing.
    """
    view = check_view(view)
    settings = _settings(settings)
    _params(params)  # checked before the data is read
    step_ms = None if resolution is None else span_ms("resolution", resolution)
    window_ms = None if window is None else span_ms("window", window)
    if bins is not None:
        bins = int(in_range("bins", bins, 2, MAX_HEATMAP_BINS, integer=True))
    max_bytes = int(number("max_bytes", max_bytes, integer=True))
    start_ms, end_ms = _to_ms(start, "start"), _to_ms(end, "end")
    from .backfill.read import read_heatmap, store_of

    if store_of(source) is not None and market is None:
        if params is not None or bins is not None:
            raise OptionError(f"source {source} answers with the heatmap cells it stores: it takes no params or bins "
                              f"(its manifest.json says how they were made)")
        return read_heatmap(source, str(symbol).upper(), venue, view, start_ms, end_ms, step_ms, window_ms, max_bytes)
    step_ms = span_ms("resolution", "1h") if step_ms is None else step_ms
    window_ms = span_ms("window", DEFAULT_WINDOW) if window_ms is None else window_ms
    if market is None:
        load_from = None if start_ms is None else start_ms - window_ms - _WARMUP_MS
        market = load_market(symbol, source, start=load_from, end=end_ms, venue=venue)
    interval = market.candles.interval_ms
    if step_ms < interval:
        raise OptionError(f"resolution {format_window(step_ms)} is finer than the {market.symbol} candles "
                          f"({format_window(interval)}): the columns in between would repeat the one before; "
                          f"use {format_window(interval)} or coarser")
    if window_ms < interval:
        raise OptionError(f"window {format_window(window_ms)} is shorter than one candle of the {market.symbol} data "
                          f"({format_window(interval)}); use at least {format_window(interval)}")
    end_ms = min(end_ms, market.end_ms) if end_ms is not None else market.end_ms
    start_note = None
    if start_ms is None:
        start_ms = max(market.start_ms, end_ms - 30 * MS_PER_DAY)
    elif start_ms < market.start_ms:  # cut to the data, as a map's window is
        start_note = (f"start: {format_ms(start_ms)} asked, but the {market.symbol} data starts "
                      f"{format_ms(market.start_ms)}: the heatmap begins there")
        start_ms = market.start_ms
    if start_ms >= end_ms:
        raise ValueError(f"heatmap start {format_ms(start_ms)} must be before its end {format_ms(end_ms)}")
    first_row = -(-start_ms // step_ms) * step_ms
    if first_row > end_ms:
        raise ValueError(f"no {format_window(step_ms)} step fits between {format_ms(start_ms)} and {format_ms(end_ms)}")
    edges = heatmap_edges(market.candles.slice_time(start_ms, end_ms), bins, settings)
    check_heatmap((end_ms - first_row) // step_ms + 1, edges.size - 1, step_ms, end_ms - start_ms, max_bytes)
    times = np.arange(first_row, end_ms + 1, step_ms, dtype=np.int64)
    book = _build_book(market.slice_time(start_ms - window_ms, end_ms), _params(params, market.exchange), window_ms)
    heatmap = heatmap_from_book(market, book, times, edges, view, window_ms, settings)
    if start_note:
        heatmap.model["notes"].append(start_note)
    return heatmap


def heatmap_from_book(market: MarketData, book: PositionBook, times: np.ndarray, edges: np.ndarray, view: str,
                      window_ms: int, settings: MapSettings, dtype=np.float32) -> Heatmap:
    """Heatmap rows at ``times`` on the price grid ``edges`` from a book already built over ``market``.

    float32 cells by default: a picture needs no more, and a year at 15
    minutes is 35,000 rows; a backfill keeps float64 (the validation sums them).
    """
    rows_done = book.steps_completed(times)
    price = book.close[np.maximum(rows_done - 1, 0)]
    recency = settings.optical_half_life_ms if view == "optical" else None
    long, short = book.history(times, edges, view, window_ms, recency_half_life_ms=recency, dtype=dtype)
    if view == "optical":
        centres = (edges[:-1] + edges[1:]) / 2
        weight = optical_weights(centres[None, :], price[:, None], _atr_rows(market, times, settings)[:, None], settings)
        long *= weight
        short *= weight
    info = book.model_info()
    info["notes"].append(f"each row: positions opened in the {format_window(window_ms)} before it")
    return Heatmap(symbol=market.symbol, exchange=market.exchange, view=view, time=times, price=price,
                   price_low=edges[:-1], price_high=edges[1:], long=long, short=short, model=info)


def heatmap_edges(candles, bins: int | None, settings: MapSettings) -> np.ndarray:
    """The heatmap's price grid over the period's range +- ``span_pct`` (at most ``MAX_HEATMAP_BINS`` bins)."""
    if bins is None:
        return lattice_edges(*heatmap_lattice(candles, settings))
    lo = float(candles.low.min()) * (1 - settings.span_pct / 100)
    hi = float(candles.high.max()) * (1 + settings.span_pct / 100)
    return np.linspace(lo, hi, bins + 1)


def _atr_rows(market: MarketData, times: np.ndarray, settings: MapSettings) -> np.ndarray:
    """ATR known at each row time (for the optical weighting); the period's mean ATR before one is known."""
    values = atr_known_at(market.candles, times, settings.atr_period, settings.atr_interval_ms)
    fallback = float(np.nanmean(values)) if np.isfinite(values).any() else 1.0
    return np.where(np.isfinite(values), values, fallback)

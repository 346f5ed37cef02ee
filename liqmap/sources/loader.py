"""``load_market``: one symbol's market data from the sample, the cache or a folder of Vision files.

The three sources answer the same questions (which symbols, which kinds,
the rows of a kind in a time range, the span a kind covers), so assembling
:class:`~liqmap.frames.MarketData` and its provenance notes happens once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import venues
from ..frames import MS_PER_HOUR, MS_PER_MINUTE, Candles, DataError, MarketData, Trades, format_ms
from ..options import to_ms
from ..timeutil import parse_span
from ..venues.base import Source, Venue
from .cache import CANDLES, FUNDING, LIQUIDATIONS, MARK_CANDLES, OPEN_INTEREST, TRADES, Store, cache_root, migrate_legacy

#: The bundled sample (store format), inside the package.
SAMPLE_ROOT = Path(__file__).resolve().parents[1] / "data" / "sample"


def open_source(source: str | Path, venue: str | Venue = "binance") -> Source:
    """'sample', 'cache' or a folder of the venue's files -> a :class:`~liqmap.venues.base.Source`.

    A cache still in the layout without venues is moved under ``binance/`` first.
    """
    adapter = venue if isinstance(venue, Venue) else venues.get(venue)
    if str(source) == "sample":
        return Store(SAMPLE_ROOT, adapter.name, "the bundled sample", remedy="reinstall liqmap to restore the sample")
    if str(source) == "cache":
        root = cache_root()
        migrate_legacy(root)
        return Store(root, adapter.name)
    return adapter.open_folder(Path(source))


def load_market(
    symbol: str,
    source: str | Path = "sample",
    start_ms: int | str | None = None,
    end_ms: int | str | None = None,
    venue: str = "binance",
) -> MarketData:
    """Candles (finest klines), mark candles, open interest, funding, trades and
    realized liquidations of ``symbol`` on ``venue`` with ``start_ms <= time < end_ms``.

    ``start_ms``/``end_ms`` are epoch ms or ISO text (UTC).  Errors name the
    registered venues, the symbols a source holds, or the span it covers,
    when the request misses.
    """
    try:
        adapter = venues.get(venue)
    except venues.VenueError as exc:
        raise DataError(str(exc)) from None
    start, end = to_ms(start_ms, "start"), to_ms(end_ms, "end")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"empty date range: end {format_ms(end)} is not after start {format_ms(start)}")
    symbol = adapter.symbol_name(symbol)
    try:
        src = open_source(source, adapter)
    except venues.VenueError as exc:
        raise DataError(str(exc)) from None
    kinds = src.kinds(symbol)
    if not kinds:
        held = ", ".join(src.symbols()) or "no symbols"
        raise DataError(f"no {adapter.name} data for {symbol} in {src.label}; it holds: {held}")

    candle_kind = _finest(kinds, CANDLES)
    if candle_kind is None and TRADES not in kinds:
        raise DataError(f"{src.label} has no klines or aggTrades for {symbol} (it has: {', '.join(kinds)})")
    # without klines, the price path comes from the trades (the peer-compatible mode needs nothing else)
    frame_kind = candle_kind or TRADES
    candles = src.read(symbol, frame_kind, start, end)
    trades_only = candle_kind is None
    if candles is not None and len(candles) and trades_only:
        trades, candles = candles, candles_from_trades(candles)
    if candles is None or not len(candles):
        span = src.time_range(symbol, frame_kind)
        covers = f"it covers {format_ms(span[0])} .. {format_ms(span[1])}" if span else "it holds none"
        raise SpanMissed(f"no {symbol} {frame_kind} {_range_text(start, end)} in {src.label}; {covers}", span)
    same_interval = f"{MARK_CANDLES}-{candle_kind.split('-')[1]}" if candle_kind else None
    mark_kind = same_interval if same_interval in kinds else _finest(kinds, MARK_CANDLES)

    def optional(kind):
        frame = src.read(symbol, kind, start, end) if kind in kinds else None
        return frame if frame is not None and len(frame) else None

    open_interest, funding = optional(OPEN_INTEREST), optional(FUNDING)
    market = MarketData(
        symbol=symbol,
        exchange=adapter.name,
        candles=candles,
        mark_candles=optional(mark_kind),
        open_interest=_with_interval(open_interest, adapter.open_interest_interval_ms, "open interest", adapter),
        funding=_with_interval(funding, adapter.funding_interval_ms, "funding", adapter),
        trades=trades if trades_only else optional(TRADES),
        liquidations=optional(LIQUIDATIONS),
    )
    return replace(market, notes=_notes(market, src.label, candle_kind, mark_kind, adapter))


class SpanMissed(DataError):
    """The source holds the symbol's prices, but none in the span asked for; ``span``: (first time,
    end) of what it holds, or None."""

    def __init__(self, message: str, span: tuple[int, int] | None):
        super().__init__(message)
        self.span = span


def candles_from_trades(trades: Trades, interval_ms: int = MS_PER_MINUTE) -> Candles:
    """Bars of ``interval_ms`` from aggregate trades: OHLC, volume and taker-buy volume per bar.

    A bar without trades repeats the previous close with zero volume, as
    exchanges publish it, so the price path has no gaps.
    """
    step = trades.time // interval_ms
    first = int(step[0])
    bar = step - first
    starts = np.flatnonzero(np.r_[True, bar[1:] != bar[:-1]])
    ends = np.r_[starts[1:], bar.size] - 1
    n = int(bar[-1]) + 1
    has = np.zeros(n, bool)
    has[bar[starts]] = True
    # each bar's last bar with trades (itself when it has some)
    source = np.maximum.accumulate(np.where(has, np.arange(n), 0))
    close = np.empty(n)
    close[bar[starts]] = trades.price[ends]
    close = close[source]
    open_, high, low = close.copy(), close.copy(), close.copy()
    open_[bar[starts]] = trades.price[starts]
    high[bar[starts]] = np.maximum.reduceat(trades.price, starts)
    low[bar[starts]] = np.minimum.reduceat(trades.price, starts)
    volume, taker = np.zeros(n), np.zeros(n)
    volume[bar[starts]] = np.add.reduceat(trades.quantity, starts)
    taker[bar[starts]] = np.add.reduceat(np.where(trades.is_buyer_maker, 0.0, trades.quantity), starts)
    return Candles(time=(first + np.arange(n)) * interval_ms, open=open_, high=high, low=low, close=close,
                   volume=volume, taker_buy_volume=taker, interval_ms=interval_ms)


def _with_interval(frame, venue_interval_ms: int | None, what: str, adapter: Venue):
    """The frame with its sampling interval: its own, else the venue's; neither is an error."""
    if frame is None or frame.interval_ms:
        return frame
    if venue_interval_ms is None:
        raise DataError(f"{what}: one row cannot show its interval and the {adapter.name} venue does not state it")
    return replace(frame, interval_ms=venue_interval_ms)


def _notes(market: MarketData, label: str, candle_kind: str | None, mark_kind: str | None,
           adapter: Venue) -> tuple[str, ...]:
    if candle_kind is None:
        candles = "candles: 1m bars built from aggTrades (no klines in source)"
    else:
        candles = f"candles: last-price {candle_kind.split('-')[1]} klines"
    if market.mark_candles is not None and mark_kind is not None:
        candles += f"; mark-price {mark_kind.split('-')[1]} klines for the price path"
    elif candle_kind is not None:
        candles += " (no mark-price klines in source)"
    if market.candles.has_taker_volume and candle_kind is not None:
        taker = "taker side: taker-buy volume of the klines"
    elif market.trades is not None:
        taker = "taker side: aggTrades is_buyer_maker"
    else:
        taker = "taker side: not in source"
    notes = [f"data: {label}", candles, taker]
    oi, funding = market.open_interest, market.funding
    if oi is not None:
        notes.append(f"open interest: {_span_text(oi.interval_ms)} {adapter.open_interest_label or 'snapshots'}")
    else:
        notes.append("open interest: not in source")
    notes.append(f"funding: settled rates per {_span_text(funding.interval_ms)}" if funding is not None else "funding: not in source")
    notes.append(f"trades: {len(market.trades):,} aggTrades" if market.trades is not None else "trades: not in source")
    if market.liquidations is not None:
        notes.append(f"realized liquidations: {market.liquidations.source or 'unknown feed'}")
    return tuple(notes)


def _span_text(ms: int) -> str:
    """5 minutes -> '5m', 8 hours -> '8h'."""
    return f"{ms // MS_PER_HOUR}h" if ms % MS_PER_HOUR == 0 else f"{ms / MS_PER_MINUTE:g}m"


def _finest(kinds: list[str], prefix: str) -> str | None:
    """The store kind ``<prefix>-<interval>`` with the shortest interval (1m before 1h)."""
    matching = {k: _interval_ms(k.split("-", 1)[1]) for k in kinds if k.startswith(prefix + "-")}
    known = [k for k, ms in matching.items() if ms]
    return min(known, key=lambda k: matching[k]) if known else None


def _interval_ms(text: str) -> int:
    """A kind's interval suffix in ms, 0 if it is not a span."""
    try:
        return parse_span(text)
    except ValueError:
        return 0


def _range_text(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return "at all"
    if end is None:
        return f"from {format_ms(start)}"  # type: ignore[arg-type]  # start is set here
    if start is None:
        return f"before {format_ms(end)}"
    return f"from {format_ms(start)} to {format_ms(end)}"

"""``load_market``: one symbol's market data from the sample, the cache or a folder of Vision files.

The three sources answer the same questions (which symbols, which kinds,
the rows of a kind in a time range, the span a kind covers), so assembling
:class:`~liqmap.frames.MarketData` and its provenance notes happens once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..frames import DataError, MarketData, format_ms
from ..timeutil import parse_span, parse_time
from .cache import Store, cache_root
from ..venues.binance.layout import INTERVALS, discover, read_vision_files

#: The bundled sample (store format), inside the package.
SAMPLE_ROOT = Path(__file__).resolve().parents[1] / "data" / "sample"


class FolderSource:
    """Binance Vision files below a folder, read (and memoised) on demand."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.label = f"the folder {self.folder}"
        if not self.folder.is_dir():
            raise FileNotFoundError(f"source {str(folder)!r} is not 'sample', 'cache' or an existing folder")
        self.files = discover(self.folder)

    def symbols(self) -> list[str]:
        return sorted({f.symbol for f in self.files})

    def kinds(self, symbol: str) -> list[str]:
        return sorted({f.store_kind for f in self.files if f.symbol == symbol})

    def _files(self, symbol: str, kind: str, start_ms: int | None = None, end_ms: int | None = None) -> list:
        return [f for f in self.files if f.symbol == symbol and f.store_kind == kind and f.overlaps(start_ms, end_ms)]

    def read(self, symbol: str, kind: str, start_ms: int | None, end_ms: int | None):
        files = self._files(symbol, kind, start_ms, end_ms)
        return read_vision_files(files).slice_time(start_ms, end_ms) if files else None

    def time_range(self, symbol: str, kind: str) -> tuple[int, int] | None:
        files = self._files(symbol, kind)
        return (files[0].bounds[0], files[-1].bounds[1] - 1) if files else None


def open_source(source: str | Path):
    """'sample', 'cache' or a folder path -> an object with symbols/kinds/read/time_range/label."""
    if str(source) == "sample":
        return Store(SAMPLE_ROOT, "the bundled sample")
    if str(source) == "cache":
        root = cache_root()
        return Store(root, f"the cache at {root}")
    return FolderSource(Path(source))


def load_market(
    symbol: str,
    source: str | Path = "sample",
    start_ms: int | str | None = None,
    end_ms: int | str | None = None,
    exchange: str = "binance",
) -> MarketData:
    """Candles (finest klines), mark candles, open interest, funding, trades and
    realized liquidations of ``symbol`` with ``start_ms <= time < end_ms``.

    ``start_ms``/``end_ms`` are epoch ms or ISO text (UTC).  Errors name the
    symbols a source holds, or the span it covers, when the request misses.
    """
    if exchange != "binance":
        raise DataError(f"exchange {exchange!r} is not supported: liqmap reads Binance USD-M data")
    start, end = _as_ms(start_ms, "start"), _as_ms(end_ms, "end")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"empty date range: end {format_ms(end)} is not after start {format_ms(start)}")
    symbol = str(symbol).upper()
    src = open_source(source)
    kinds = src.kinds(symbol)
    if not kinds:
        held = ", ".join(src.symbols()) or "no symbols"
        raise DataError(f"no data for {symbol} in {src.label}; it holds: {held}")

    candle_kind = _finest(kinds, "klines")
    if candle_kind is None:
        raise DataError(f"{src.label} has no klines for {symbol} (it has: {', '.join(kinds)})")
    candles = src.read(symbol, candle_kind, start, end)
    if candles is None or not len(candles):
        first, last = src.time_range(symbol, candle_kind)
        raise DataError(
            f"no {symbol} {candle_kind} {_range_text(start, end)} in {src.label}; "
            f"it covers {format_ms(first)} .. {format_ms(last)}"
        )
    same_interval = f"markPriceKlines-{candle_kind.split('-')[1]}"
    mark_kind = same_interval if same_interval in kinds else _finest(kinds, "markPriceKlines")

    def optional(kind):
        frame = src.read(symbol, kind, start, end) if kind in kinds else None
        return frame if frame is not None and len(frame) else None

    mark = optional(mark_kind)
    market = MarketData(
        symbol=symbol,
        exchange=exchange,
        candles=candles,
        mark_candles=mark,
        open_interest=optional("metrics"),
        funding=optional("fundingRate"),
        trades=optional("aggTrades"),
        liquidations=optional("liquidations"),
    )
    return replace(market, notes=_notes(market, src.label, candle_kind, mark_kind))


def _notes(market: MarketData, label: str, candle_kind: str, mark_kind: str | None) -> tuple[str, ...]:
    interval = candle_kind.split("-")[1]
    candles = f"candles: last-price {interval} klines"
    if market.mark_candles is not None and mark_kind is not None:
        candles += f"; mark-price {mark_kind.split('-')[1]} klines for the price path"
    else:
        candles += " (no mark-price klines in source)"
    if market.candles.has_taker_volume:
        taker = "taker side: taker-buy volume of the klines"
    elif market.trades is not None:
        taker = "taker side: aggTrades is_buyer_maker"
    else:
        taker = "taker side: not in source"
    notes = [f"data: {label}", candles, taker]
    notes.append("open interest: 5m metrics (sum_open_interest)" if market.open_interest is not None else "open interest: not in source")
    notes.append("funding: settled rates per 8h" if market.funding is not None else "funding: not in source")
    notes.append(f"trades: {len(market.trades):,} aggTrades" if market.trades is not None else "trades: not in source")
    if market.liquidations is not None:
        notes.append(f"realized liquidations: {market.liquidations.source or 'unknown feed'}")
    return tuple(notes)


def _finest(kinds: list[str], prefix: str) -> str | None:
    """The store kind ``<prefix>-<interval>`` with the shortest interval (1m before 1h)."""
    matching = [k for k in kinds if k.startswith(prefix + "-") and k.split("-", 1)[1] in INTERVALS]
    return min(matching, key=lambda k: parse_span(k.split("-", 1)[1])) if matching else None


def _as_ms(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return parse_time(str(value), what)


def _range_text(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return "at all"
    if end is None:
        return f"from {format_ms(start)}"  # type: ignore[arg-type]  # start is set here
    if start is None:
        return f"before {format_ms(end)}"
    return f"from {format_ms(start)} to {format_ms(end)}"

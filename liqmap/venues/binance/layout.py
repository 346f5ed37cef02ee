"""Finding Binance Vision files in a folder, by the names Binance gives them.

Two layouts work, and can be mixed:

* the published tree, ``data/futures/um/{daily,monthly}/<kind>/<SYMBOL>/[<interval>/]<file>``,
  e.g. ``data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-15.zip``;
* loose files with the published names anywhere below the folder
  (``BTCUSDT-aggTrades-2025-01-15.csv``, ``BTCUSDT-1m-2025-01-15.zip``,
  ``BTCUSDT-metrics-2025-01-15.csv.gz``, ``BTCUSDT-fundingRate-2025-01.zip``);
  ``.csv``, ``.zip`` and ``.csv.gz`` are read alike.

Kline files are named alike whatever their price; a file is mark-price when a
folder on its path is called ``markPriceKlines`` (index and premium klines are
ignored the same way).  Where a monthly file and daily files cover the same
month, the monthly one is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...sources.cache import BAR_KINDS, CANDLES, MARK_CANDLES, OPEN_INTEREST, TRADES, Store, period_bounds, period_overlaps
from . import BINANCE

#: The store kinds Binance Vision publishes.
KINDS = BINANCE.kinds
#: Binance kline intervals, finest first.
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<what>aggTrades|metrics|fundingRate|" + "|".join(INTERVALS) + r")-"
    r"(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:csv|zip|csv\.gz)$"
)
_SKIPPED_KLINES = ("indexPriceKlines", "premiumIndexKlines")


@dataclass(frozen=True)
class VisionFile:
    """One Vision file: what it holds and the day (YYYY-MM-DD) or month (YYYY-MM) it covers."""

    path: Path
    symbol: str
    kind: str  # one of KINDS
    period: str
    interval: str | None = None  # klines only

    @property
    def store_kind(self) -> str:
        """The kind's folder name in the local store (``klines-1m``, ``metrics``, ...)."""
        return f"{self.kind}-{self.interval}" if self.interval else self.kind

    @property
    def bounds(self) -> tuple[int, int]:
        return period_bounds(self.period)

    def overlaps(self, start_ms: int | None, end_ms: int | None) -> bool:
        return period_overlaps(self.period, start_ms, end_ms)


def parse_name(path: Path) -> VisionFile | None:
    """The VisionFile a path names, or None if it is not a Vision file liqmap reads."""
    match = _NAME.match(path.name)
    if not match:
        return None
    what = match.group("what")
    interval = None
    if what in INTERVALS:
        folders = set(path.parts[:-1])
        if folders.intersection(_SKIPPED_KLINES):
            return None
        interval, what = what, MARK_CANDLES if MARK_CANDLES in folders else CANDLES
    return VisionFile(path, match.group("symbol"), what, match.group("period"), interval)


def name_period(path: Path) -> str | None:
    """The day or month a file's published name gives (``BTCUSDT-1m-2025-01-15.zip`` -> ``2025-01-15``), or None."""
    match = _NAME.match(Path(path).name)
    return match.group("period") if match else None


def discover(folder: Path, symbol: str | None = None, start_ms: int | None = None, end_ms: int | None = None) -> list[VisionFile]:
    """Vision files below ``folder`` (for ``symbol``, overlapping ``[start_ms, end_ms)``), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    found = []
    for path in folder.rglob("*"):
        item = parse_name(path)
        if item and (not symbol or item.symbol == symbol) and item.overlaps(start_ms, end_ms) and path.is_file():
            found.append(item)
    return _prefer_monthly(sorted(found, key=lambda f: (f.symbol, f.store_kind, f.period, f.path.suffix)))


def _prefer_monthly(files: list[VisionFile]) -> list[VisionFile]:
    """Drop daily files whose month is covered by a monthly file of the same kind, and csv/zip twins."""
    months = {(f.symbol, f.store_kind, f.period) for f in files if len(f.period) == 7}
    kept, seen = [], set()
    for f in files:
        key = (f.symbol, f.store_kind, f.period)
        if key in seen or (len(f.period) == 10 and (f.symbol, f.store_kind, f.period[:7]) in months):
            continue
        seen.add(key)
        kept.append(f)
    return kept


def read_vision_files(files: list[VisionFile], *, cache: bool = True):
    """Parse files of one store kind (see :attr:`VisionFile.store_kind`) into one frame."""
    from .vision import read_aggtrades, read_funding, read_klines, read_metrics

    kinds = {f.store_kind for f in files}
    if len(kinds) != 1:
        raise ValueError(f"read_vision_files needs files of one kind, got {sorted(kinds)}")
    kind, paths = files[0].kind, [f.path for f in files]
    if kind == TRADES:
        return read_aggtrades(paths, cache=cache)
    if kind in BAR_KINDS:
        return read_klines(paths, "mark" if kind == MARK_CANDLES else "last", cache=cache)
    if kind == OPEN_INTEREST:
        return read_metrics(paths, files[0].symbol, cache=cache)
    return read_funding(paths, cache=cache)


def import_file(store: Store, vision_file: VisionFile, origin: str | None = None) -> Path:
    """Parse one Vision file into the store's period for it."""
    frame = read_vision_files([vision_file], cache=False)
    extra = {"origin": origin or str(vision_file.path)}
    return store.write(vision_file.symbol, vision_file.store_kind, vision_file.period, frame, extra)


def import_folder(store: Store, folder: Path, symbol: str | None = None) -> tuple[list, list]:
    """Parse every Vision file below ``folder`` the store lacks -> (imported, already held)."""
    imported, held = [], []
    for item in discover(folder, symbol):
        if store.has(item.symbol, item.store_kind, item.period):
            held.append(item)
        else:
            import_file(store, item)
            imported.append(item)
    return imported, held


class VisionFolder:
    """Binance Vision files below a folder as a :class:`~liqmap.venues.base.Source`, read on demand."""

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
        return (files[0].bounds[0], files[-1].bounds[1]) if files else None

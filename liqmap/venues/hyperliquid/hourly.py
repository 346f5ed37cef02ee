"""A folder of hourly multi-venue exports (``candles.csv.gz``, ``open_interest.csv.gz``,
``funding_rates.csv.gz``; long format ``timestamp, venue, coin, ...``) read as Hyperliquid's data.

Hyperliquid has no historical open-interest endpoint, so hourly open interest
recorded by others (``oi_usd`` = coins x mark) is what a historical book can
rest on.  Where the export has no Hyperliquid candles for an hour, the hour's
candle is the Binance perpetual's from the same export (cross-venue BTC closes
agree to a few hundredths of a percent); the source's label says so, and so
does every map's notes.  Open interest in coins is ``oi_usd`` over the close
known at its time stamp.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...frames import MS_PER_HOUR, Candles, DataError, Funding, OpenInterest
from ...sources.cache import CANDLES, FUNDING, OPEN_INTEREST, data_end
from . import symbols as hl_symbols

FILES = {"candles": "candles.csv.gz", "open_interest": "open_interest.csv.gz", "funding": "funding_rates.csv.gz"}
COLUMNS = {"candles": ("timestamp", "venue", "coin", "o", "h", "l", "c", "v"),
           "open_interest": ("timestamp", "venue", "coin", "oi_usd"),
           "funding": ("timestamp", "venue", "coin", "funding_rate")}
VENUE = "hyperliquid"
PRICE_STAND_IN = "binance"  # whose candles fill hours without Hyperliquid candles
KLINES_1H = f"{CANDLES}-1h"


def _read(path: Path, columns: tuple[str, ...]):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read it as CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: column(s) {', '.join(missing)} missing; it has {', '.join(map(str, frame.columns))}")
    frame = frame[list(columns)]
    for name in columns:
        if name not in ("venue", "coin") and not pd.api.types.is_numeric_dtype(frame[name]):
            bad = pd.to_numeric(frame[name], errors="coerce").isna() & frame[name].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2 if bad.any() else 0
            raise DataError(f"{path}: line {row}, column {name!r}: not a number ({frame[name].iloc[row - 2]!r})")
    return frame


class HourlyFolder:
    """The export's Hyperliquid rows as a :class:`~liqmap.venues.base.Source` (store kinds ``klines-1h``,
    ``metrics``, ``fundingRate``), symbols in liqmap's names (BTCUSDT for the coin BTC)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"source {str(folder)!r} is not 'sample', 'cache' or an existing folder")
        present = {kind: self.folder / name for kind, name in FILES.items() if (self.folder / name).is_file()}
        if "candles" not in present:
            raise DataError(f"the folder {self.folder} has no {FILES['candles']} (the hourly multi-venue export "
                            f"liqmap reads for Hyperliquid: {', '.join(FILES.values())})")
        self.tables = {kind: _read(path, COLUMNS[kind]) for kind, path in present.items()}
        self.label = (f"the folder {self.folder} (hourly export; hours without Hyperliquid candles take the "
                      f"{PRICE_STAND_IN} perpetual's candle)")
        self._candles: dict[str, Candles | None] = {}

    def _rows(self, kind: str, coin: str, venue: str = VENUE):
        table = self.tables.get(kind)
        if table is None:
            return None
        rows = table[(table.venue == venue) & (table.coin == coin)].drop_duplicates("timestamp").sort_values("timestamp")
        return rows if len(rows) else None

    def symbols(self) -> list[str]:
        table = self.tables["candles"]
        coins = set(table.coin[table.venue == VENUE])
        for kind in ("open_interest", "funding"):
            if kind in self.tables:
                t = self.tables[kind]
                coins |= set(t.coin[t.venue == VENUE])
        return sorted(hl_symbols.symbol_of(c) for c in coins)

    def kinds(self, symbol: str) -> list[str]:
        coin = hl_symbols.coin_of(symbol)
        kinds = []
        if self._rows("candles", coin) is not None:
            kinds.append(KLINES_1H)
        if self._rows("open_interest", coin) is not None:
            kinds.append(OPEN_INTEREST)
        if self._rows("funding", coin) is not None:
            kinds.append(FUNDING)
        return kinds

    def candles(self, symbol: str) -> Candles | None:
        """Hyperliquid's hourly candles, hours it lacks filled from the stand-in venue's."""
        coin = hl_symbols.coin_of(symbol)
        if coin not in self._candles:
            own, other = self._rows("candles", coin), self._rows("candles", coin, PRICE_STAND_IN)
            if own is None:
                self._candles[coin] = None
            else:
                import pandas as pd

                if other is not None:
                    own = pd.concat([own, other[~other.timestamp.isin(own.timestamp)]]).sort_values("timestamp")
                self._candles[coin] = Candles(
                    time=own.timestamp.to_numpy(np.int64), open=own.o.to_numpy(float), high=own.h.to_numpy(float),
                    low=own.l.to_numpy(float), close=own.c.to_numpy(float), volume=own.v.to_numpy(float),
                    taker_buy_volume=np.full(len(own), np.nan), interval_ms=MS_PER_HOUR)
        return self._candles[coin]

    def read(self, symbol: str, kind: str, start_ms: int | None, end_ms: int | None):
        coin = hl_symbols.coin_of(symbol)
        frame: Candles | OpenInterest | Funding | None = None
        if kind == KLINES_1H:
            frame = self.candles(symbol)
        elif kind == OPEN_INTEREST:
            rows, candles = self._rows("open_interest", coin), self.candles(symbol)
            if rows is not None and candles is not None:
                time = rows.timestamp.to_numpy(np.int64)
                usd = rows.oi_usd.to_numpy(float)
                frame = OpenInterest(time=time, oi=usd / price_at(candles, time), oi_value=usd, interval_ms=MS_PER_HOUR)
        elif kind == FUNDING:
            rows = self._rows("funding", coin)
            if rows is not None:  # Hyperliquid settles funding every hour: the rate is per hour
                frame = Funding(time=rows.timestamp.to_numpy(np.int64), rate=rows.funding_rate.to_numpy(float),
                                interval_ms=MS_PER_HOUR)
        return None if frame is None else frame.slice_time(start_ms, end_ms)

    def time_range(self, symbol: str, kind: str) -> tuple[int, int] | None:
        frame = self.read(symbol, kind, None, None)
        return (int(frame.time[0]), data_end(kind, frame.time[-1])) if frame is not None and len(frame) else None


def price_at(candles: Candles, time: np.ndarray) -> np.ndarray:
    """The price known at each moment: the close of the last candle ended by then, else the first open."""
    i = np.searchsorted(candles.time + candles.interval_ms, time, side="right") - 1
    return np.where(i >= 0, candles.close[np.maximum(i, 0)], candles.open[0])

"""The recorder: the live feed's own ground truth, written into the local store as Parquet.

Kinds written under ``<store>/<SYMBOL>/`` (one file per hour ``YYYY-MM-DDTHH``
or per day ``YYYY-MM-DD``):

``forceOrders``   every liquidation event (:class:`~liqmap.frames.LiquidationEvents`)
``liquidations``  their hourly long/short USD totals (:class:`~liqmap.frames.Liquidations`),
                  which every command reading ``--source cache`` uses as realized liquidations
``oiPolls``       every open-interest poll (:class:`~liqmap.frames.OpenInterest`)
``markPrice``     the mark price, index and funding rate each second (:class:`~liqmap.frames.MarkPrices`)
``aggTrades``     optionally, every aggregate trade (:class:`~liqmap.frames.Trades`)

Each flush rewrites the open period's file through a temporary file and an
atomic rename, so a reader (another command, while recording) always sees a
complete file, and Ctrl-C leaves complete files.  Binance pushes at most one
liquidation per symbol per second: totals from ``forceOrders`` are lower bounds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np

from ..frames import MS_PER_HOUR, LiquidationEvents, Liquidations, MarkPrices, OpenInterest, Trades
from ..sources.cache import FORCE_ORDERS, LIQUIDATIONS, MARK_PRICES, OI_POLLS, TRADES, Store
from .events import Liquidation, MarkTick, OpenInterestPoll, Trade

ROTATIONS = ("hour", "day")
LOWER_BOUND_NOTE = "at most one liquidation per symbol per second is pushed: totals are lower bounds"


def period_of(ms: int, rotate: str) -> str:
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H" if rotate == "hour" else "%Y-%m-%d")


class Recorder:
    """Buffers events per kind and period; :meth:`flush` writes the periods touched since the last one."""

    def __init__(self, store: Store, symbol: str, venue: str, rotate: str = "hour", trades: bool = False,
                 flush_every_s: float = 10.0, oi_interval_ms: int = 15_000):
        if rotate not in ROTATIONS:
            raise ValueError(f"--rotate must be one of {', '.join(ROTATIONS)}, not {rotate!r}")
        self.store, self.symbol, self.venue, self.rotate = store, symbol, venue, rotate
        self.trades, self.flush_every_s, self.oi_interval_ms = trades, flush_every_s, oi_interval_ms
        self._rows: dict[tuple[str, str], list] = defaultdict(list)
        self._touched: set[tuple[str, str]] = set()
        self._earlier: dict[tuple[str, str], object] = {}
        self._last_flush = time.monotonic()
        self.files_written = 0

    def add(self, event) -> None:
        if isinstance(event, Liquidation):
            self._put(FORCE_ORDERS, event.time, (event.time, event.side == "long", event.price, event.size, event.usd))
        elif isinstance(event, OpenInterestPoll):
            self._put(OI_POLLS, event.time, (event.time, event.oi))
        elif isinstance(event, MarkTick):
            self._put(MARK_PRICES, event.time, (event.time, event.mark, event.index, event.funding_rate))
        elif isinstance(event, Trade) and self.trades:
            self._put(TRADES, event.time, (event.time, event.price, event.quantity, event.is_buyer_maker))

    def _put(self, kind: str, t: int, row: tuple) -> None:
        key = (kind, period_of(t, self.rotate))
        self._rows[key].append(row)
        self._touched.add(key)

    def maybe_flush(self, data_time: int) -> None:
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush(data_time)

    def flush(self, data_time: int | None = None) -> None:
        """Write every touched period; forget periods that ended before ``data_time``."""
        for kind, period in sorted(self._touched):
            rows = self._rows[(kind, period)]
            self._write(kind, period, rows)
            if kind == FORCE_ORDERS:
                self._write_totals(period, rows)
        self._touched.clear()
        self._last_flush = time.monotonic()
        if data_time is not None:
            current = period_of(data_time, self.rotate)
            for key in [k for k in self._rows if k[1] < current]:
                del self._rows[key]
                self._earlier.pop(key, None)

    def close(self) -> None:
        self.flush()

    def _write(self, kind: str, period: str, rows: list) -> None:
        held = self._held(kind, period)
        cols = [np.asarray(col) for col in zip(*rows)]
        frame: LiquidationEvents | OpenInterest | MarkPrices | Trades
        if kind == FORCE_ORDERS:
            frame = LiquidationEvents(time=cols[0], is_long=cols[1], price=cols[2], size=cols[3], usd=cols[4],
                                      venue=self.venue)
        elif kind == OI_POLLS:
            frame = OpenInterest(time=cols[0], oi=cols[1], oi_value=np.full(len(rows), np.nan),
                                 interval_ms=self.oi_interval_ms)
        elif kind == MARK_PRICES:
            frame = MarkPrices(time=cols[0], mark=cols[1], index=cols[2], funding_rate=cols[3])
        else:
            frame = Trades(time=cols[0], price=cols[1], quantity=cols[2], is_buyer_maker=cols[3])
        if held is not None:
            frame = _after(held, frame)
        self.store.write(self.symbol, kind, period, frame, {"origin": f"{self.venue} live recorder",
                                                            "note": LOWER_BOUND_NOTE if kind == FORCE_ORDERS else ""})
        self.files_written += 1

    def _held(self, kind: str, period: str):
        """Rows an earlier run wrote for this period (kept when the recorder restarts mid-period)."""
        key = (kind, period)
        if key not in self._earlier:
            held = self.store.has(self.symbol, kind, period)
            self._earlier[key] = self.store.read(self.symbol, kind, *_bounds(period)) if held else None
        return self._earlier[key]

    def _write_totals(self, period: str, rows: list) -> None:
        events = self.store.read(self.symbol, FORCE_ORDERS, *_bounds(period))
        hours = events.time // MS_PER_HOUR * MS_PER_HOUR
        unique = np.unique(hours)
        at = np.searchsorted(unique, hours)
        long_usd = np.bincount(at, np.where(events.is_long, events.usd, 0.0), unique.size)
        short_usd = np.bincount(at, np.where(events.is_long, 0.0, events.usd), unique.size)
        totals = Liquidations(time=unique, long_usd=long_usd, short_usd=short_usd,
                              source=f"{self.venue} forceOrder stream, recorded ({LOWER_BOUND_NOTE})")
        self.store.write(self.symbol, LIQUIDATIONS, period, totals, {"origin": f"{self.venue} live recorder"})


def _bounds(period: str) -> tuple[int, int]:
    from ..sources.cache import period_bounds

    return period_bounds(period)


def _after(held, new):
    """``held`` rows before the first new row, then the new rows (a restart's overlap is not doubled)."""
    from ..sources.tables import concat_frames

    older = held.slice_time(None, int(new.time[0]))
    return concat_frames([older, new]) if len(older) else new

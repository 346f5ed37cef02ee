"""Bybit's public daily trade files (``https://public.bybit.com/trading/BTCUSDT/BTCUSDT2024-01-01.csv.gz``)
into the store as trades (the ``aggTrades`` kind), so flow and CVD work on Bybit history.

One gzip CSV per symbol and UTC day with the header
``timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional``:
``timestamp`` in seconds with a fraction (read as milliseconds when it is already one), ``side`` the
taker's (``Buy``/``Sell``), ``size`` in base units for linear contracts.  Rows are sorted by time on
reading.  Errors name the file, the line and the column.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from datetime import date, timedelta

import numpy as np

from ...frames import DataError, Trades

DEFAULT_BASE_URL = "https://public.bybit.com/trading"
COLUMNS = ("timestamp", "symbol", "side", "size", "price", "tickDirection", "trdMatchID", "grossValue",
           "homeNotional", "foreignNotional")
#: Timestamps above this are milliseconds already (seconds reach it only in the year 5138).
MS_THRESHOLD = 1e11


def file_url(symbol: str, day: str, base_url: str = DEFAULT_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{symbol}/{symbol}{day}.csv.gz"


def read_trades(data: bytes, where: str, symbol: str | None = None) -> Trades:
    """A day file's bytes (gzip or plain CSV) -> :class:`Trades` sorted by time (``is_buyer_maker``: the taker sold)."""
    import pandas as pd

    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    try:
        frame = pd.read_csv(io.BytesIO(raw), dtype={"symbol": str, "side": str})
    except (ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{where}: cannot read it as CSV ({exc})") from None
    missing = [c for c in ("timestamp", "symbol", "side", "size", "price") if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: column(s) {', '.join(missing)} missing; Bybit's trade files have "
                        f"{','.join(COLUMNS)}")
    for name in ("timestamp", "size", "price"):
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if bad.size:
            raise DataError(f"{where}: line {bad[0] + 2}, column {name!r}: {frame[name].iloc[bad[0]]!r} is not a number")
        frame[name] = values
    sides = frame["side"].to_numpy()
    odd = np.flatnonzero(~np.isin(sides, ("Buy", "Sell")))
    if odd.size:
        raise DataError(f"{where}: line {odd[0] + 2}, column 'side': {sides[odd[0]]!r} is not Buy or Sell")
    if symbol is not None:
        other = np.flatnonzero(frame["symbol"].to_numpy() != symbol)
        if other.size:
            raise DataError(f"{where}: line {other[0] + 2}, column 'symbol': {frame['symbol'].iloc[other[0]]!r}, "
                            f"not {symbol}")
    stamp = frame["timestamp"].to_numpy(np.float64)
    ms = np.where(stamp > MS_THRESHOLD, stamp, stamp * 1000.0)
    time = np.rint(ms).astype(np.int64)
    order = np.argsort(time, kind="stable")
    return Trades(time=time[order], price=frame["price"].to_numpy(np.float64)[order],
                  quantity=frame["size"].to_numpy(np.float64)[order], is_buyer_maker=(sides == "Sell")[order])


@dataclass
class FetchReport:
    stored: list[str] = field(default_factory=list)  # days written
    skipped: list[str] = field(default_factory=list)  # days already in the store
    missing: list[str] = field(default_factory=list)  # days Bybit has not published (HTTP 404)


def fetch_trades(symbol: str, first: date, last: date, store, *, base_url: str = DEFAULT_BASE_URL,
                 retries: int = 3, progress: Callable[[str], None] | None = None) -> FetchReport:
    """Each day's trade file of ``[first, last]`` into ``store`` (kind ``aggTrades``); days already stored are
    skipped, days not published are listed."""
    import httpx

    from ...net import with_retries
    from ...sources.cache import TRADES

    report = FetchReport()
    with httpx.Client(timeout=60.0, follow_redirects=True, headers={"User-Agent": "liqmap"}) as http:
        day = first
        while day <= last:
            name = day.isoformat()
            url = file_url(symbol, name, base_url)
            if store.has(symbol, TRADES, name):
                report.skipped.append(name)
            else:
                response = with_retries(partial(_get, http, url), what=f"GET {url}", retries=retries)
                if response.status_code == 404:
                    report.missing.append(name)
                elif response.status_code != 200:
                    raise DataError(f"GET {url}: HTTP {response.status_code}")
                else:
                    trades = read_trades(response.content, url, symbol)
                    store.write(symbol, TRADES, name, trades, {"origin": url, "complete": True})
                    report.stored.append(name)
            if progress is not None:
                progress(name)
            day += timedelta(days=1)
    return report



def _get(http, url: str):
    """One GET; statuses worth retrying raise :class:`~liqmap.net.TransientError`."""
    from ...net import raise_for_transient

    return raise_for_transient(http.get(url), url)

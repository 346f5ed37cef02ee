"""Reading a validation data folder (the layout of ``shared/data``) into liqmap's frames.

The ground truth is an hourly panel: prices, realized long/short liquidation
USD and the Binance open interest at each hour's open.  The model side needs
a ``MarketData``: hourly candles, 5-minute open interest and funding.  Any
folder with the same files and columns can be scored with the same code, so
a held-out period needs nothing new.

Files read (relative to the folder; ``{coin}`` defaults to BTC):

* ``coinglass_btc_aggliq_2025_2026/DERIVED_btc_1h_panel.csv.gz`` (required)
* ``coinglass_btc_aggliq_2025_2026/btc_1h_aggliq_only.csv.gz`` (fills the
  liquidations of hours missing from the panel; optional)
* ``binance_um_oi5m_funding_hlreaper/{coin}_oi_5m.csv.gz`` (required)
* ``binance_um_oi5m_funding_hlreaper/{coin}_funding.csv.gz`` (optional)
* ``binance_btcusdt_um_1h_2024_2025/BTCUSDT_um_1h.csv.gz`` and the
  ``binance`` rows of ``multivenue_perp_hourly_finm33150/candles.csv.gz``
  (optional: the USD-M perpetual's own hourly bars, for the price path and
  the warm-up before the panel starts)

Liquidations trigger on the perpetual's mark price, not on spot, so every
hour the perpetual has a bar for uses it (prices and traded volume); the
panel's spot bars fill only the hours it lacks, and the notes say how many.
The data have no mark-price klines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..frames import (
    MS_PER_HOUR,
    MS_PER_MINUTE,
    Candles,
    DataError,
    Funding,
    Liquidations,
    MarketData,
    OpenInterest,
    format_ms,
)

PANEL = "coinglass_btc_aggliq_2025_2026/DERIVED_btc_1h_panel.csv.gz"
LIQ_FILL = "coinglass_btc_aggliq_2025_2026/btc_1h_aggliq_only.csv.gz"
OI_5M = "binance_um_oi5m_funding_hlreaper/{coin}_oi_5m.csv.gz"
FUNDING = "binance_um_oi5m_funding_hlreaper/{coin}_funding.csv.gz"
WARMUP = "binance_btcusdt_um_1h_2024_2025/BTCUSDT_um_1h.csv.gz"
PERP_HOURLY = "multivenue_perp_hourly_finm33150/candles.csv.gz"

#: How much perp price history before the panel is kept for ATR warm-up.
WARMUP_SPAN_MS = 30 * 24 * MS_PER_HOUR
OI_STEP_MS = 5 * MS_PER_MINUTE
#: ``{coin}_funding`` holds an hourly-equivalent rate; Binance settles every 8 hours.
FUNDING_HOURS = 8.0


@dataclass(frozen=True)
class HourlyTruth:
    """The scored quantities per hour (bar open times, strictly hourly, no gaps).

    ``oi_open_usd`` is the open interest at the hour's open (known before
    the hour).  ``scorable`` is False where the hour's price bar or its
    realized liquidations had to be filled in.
    """

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    oi_open_usd: np.ndarray
    scorable: np.ndarray

    def __len__(self) -> int:
        return int(self.time.size)

    def take(self, index) -> "HourlyTruth":
        return HourlyTruth(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class ValidationData:
    """The model's inputs (``market``) and the truth it is scored against (``hours``)."""

    market: MarketData
    hours: HourlyTruth
    notes: tuple[str, ...]


def _read_csv(path: Path, columns: tuple[str, ...]):
    import pandas as pd

    if not path.is_file():
        raise DataError(f"missing data file {path} (the folder must have the layout of shared/data)")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many kinds; the user needs the file name
        raise DataError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            values = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
        if bad.size:
            row = int(bad[0])
            raise DataError(
                f"{path}: row {row + 2} column {column!r} has invalid value {frame[column].iloc[row]!r}"
            )
        frame[column] = values
    return frame


def _strictly_hourly(path: Path, time: np.ndarray) -> None:
    off = np.flatnonzero(time % MS_PER_HOUR != 0)
    if off.size:
        raise DataError(f"{path}: row {int(off[0]) + 2} time {format_ms(time[off[0]])} is not on the hour")
    steps = np.diff(time)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        raise DataError(f"{path}: row {int(bad[0]) + 3} time {format_ms(time[bad[0] + 1])} is not after the row before")


def load_dataset(data_dir, coin: str = "BTC") -> ValidationData:
    """Read a data folder into model inputs and hourly truth; notes say what was assumed."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    notes: list[str] = []
    panel_path = root / PANEL
    panel = _read_csv(
        panel_path,
        ("timestamp", "price_open", "price_high", "price_low", "price_close",
         "liquidation_long_usd", "liquidation_short_usd", "binance_oi_open_usd"),
    )
    p_time = panel["timestamp"].to_numpy(np.int64)
    _strictly_hourly(panel_path, p_time)
    hours = _fill_hours(root, panel, p_time, notes)
    open_interest = _open_interest(root / OI_5M.format(coin=coin), notes)
    funding = _funding(root / FUNDING.format(coin=coin), notes)
    perp = _perp_bars(root, coin)
    hours, volume = _perp_prices(hours, perp, notes)
    candles = _candles(perp, hours, volume, notes)
    liquidations = Liquidations(
        time=hours.time, long_usd=hours.long_usd, short_usd=hours.short_usd,
        source="Coinglass aggregated Binance+Bybit+OKX",
    )
    market = MarketData(
        symbol=f"{coin}USDT", exchange="binance", candles=candles, open_interest=open_interest,
        funding=funding, liquidations=liquidations, notes=tuple(notes),
    )
    return ValidationData(market=market, hours=hours, notes=tuple(notes))


def _fill_hours(root: Path, panel, p_time: np.ndarray, notes: list[str]) -> HourlyTruth:
    """Panel rows on a gap-free hourly grid; missing hours get a bridged bar and are not scored."""
    time = np.arange(p_time[0], p_time[-1] + MS_PER_HOUR, MS_PER_HOUR, dtype=np.int64)
    row = np.searchsorted(p_time, time)
    present = p_time[np.minimum(row, p_time.size - 1)] == time
    missing = np.flatnonzero(~present)

    def column(name: str) -> np.ndarray:
        out = np.full(time.size, np.nan)
        out[present] = panel[name].to_numpy(np.float64)
        return out

    o, h, lo, c = (column(f"price_{k}") for k in ("open", "high", "low", "close"))
    long_usd, short_usd = column("liquidation_long_usd"), column("liquidation_short_usd")
    oi_open = column("binance_oi_open_usd")
    if missing.size:
        # a bridged bar: open at the previous close, close at the next open; its true range is unknown
        o[missing] = c[missing - 1]
        c[missing] = o[missing + 1]
        h[missing] = np.maximum(o[missing], c[missing])
        lo[missing] = np.minimum(o[missing], c[missing])
        oi_open[missing] = np.nan
        filled = _fill_liquidations(root / LIQ_FILL, time[missing], notes)
        long_usd[missing], short_usd[missing] = filled
        notes.append(
            f"panel: {missing.size} missing hour(s) ({', '.join(format_ms(t) for t in time[missing])}) "
            "bridged with a flat bar (open = previous close, close = next open) and not scored"
        )
    return HourlyTruth(
        time=time, open=o, high=h, low=lo, close=c, long_usd=long_usd, short_usd=short_usd,
        oi_open_usd=oi_open, scorable=present,
    )


def _fill_liquidations(path: Path, times: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    nan = np.full(times.size, np.nan)
    if not path.is_file():
        notes.append(f"no {LIQ_FILL}: realized liquidations of the missing panel hours stay unknown")
        return nan, nan.copy()
    fill = _read_csv(path, ("timestamp", "longUsd", "shortUsd"))
    f_time = fill["timestamp"].to_numpy(np.int64)
    at = np.clip(np.searchsorted(f_time, times), 0, max(f_time.size - 1, 0))
    found = f_time[at] == times if f_time.size else np.zeros(times.size, bool)
    long_usd = np.where(found, fill["longUsd"].to_numpy(np.float64)[at], np.nan)
    short_usd = np.where(found, fill["shortUsd"].to_numpy(np.float64)[at], np.nan)
    notes.append(f"realized liquidations of {int(found.sum())} missing panel hour(s) taken from {LIQ_FILL}")
    return long_usd, short_usd


def _open_interest(path: Path, notes: list[str]) -> OpenInterest:
    frame = _read_csv(path, ("timestamp", "oi", "oi_usd"))
    raw = frame["timestamp"].to_numpy(np.int64)
    time = (raw + OI_STEP_MS // 2) // OI_STEP_MS * OI_STEP_MS
    jitter = int(np.count_nonzero(time != raw))
    if jitter:
        notes.append(f"open interest: {jitter} snapshot time(s) a few seconds off the 5-minute mark rounded to it")
    steps = np.diff(time)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        raise DataError(f"{path}: row {i + 3} time {format_ms(time[i + 1])} repeats or goes back after rounding")
    gaps = np.flatnonzero(steps > OI_STEP_MS)
    if gaps.size:
        notes.append(f"open interest: {gaps.size} gap(s) in the 5-minute series (largest {steps.max() // MS_PER_MINUTE} min)")
    return OpenInterest(time=time, oi=frame["oi"].to_numpy(np.float64), oi_value=frame["oi_usd"].to_numpy(np.float64),
                        interval_ms=OI_STEP_MS)


def _funding(path: Path, notes: list[str]) -> Funding | None:
    if not path.is_file():
        notes.append("no funding file: the model runs without funding")
        return None
    frame = _read_csv(path, ("timestamp", "rate"))
    # settlement times carry a few ms of jitter; the hourly-equivalent rate times 8 is Binance's 8h rate
    time = (frame["timestamp"].to_numpy(np.int64) + (MS_PER_MINUTE // 2)) // MS_PER_MINUTE * MS_PER_MINUTE
    return Funding(time=time, rate=frame["rate"].to_numpy(np.float64) * FUNDING_HOURS,
                   interval_ms=int(FUNDING_HOURS * MS_PER_HOUR))


def _perp_bars(root: Path, coin: str) -> dict[str, np.ndarray]:
    """The perpetual's hourly bars from every file that has them (time, open, high, low, close, volume).

    The Binance Vision file comes first where both have an hour (they agree
    where they overlap).  Empty when neither file is there.
    """
    parts = []
    vision = root / WARMUP
    if coin == "BTC" and vision.is_file():
        frame = _read_csv(vision, ("timestamp", "Open", "High", "Low", "Close", "Volume"))
        parts.append({k: frame[c].to_numpy() for k, c in (("time", "timestamp"), ("open", "Open"), ("high", "High"),
                                                          ("low", "Low"), ("close", "Close"), ("volume", "Volume"))})
        _strictly_hourly(vision, parts[-1]["time"].astype(np.int64))
    multi = root / PERP_HOURLY
    if multi.is_file():
        import pandas as pd

        try:
            frame = pd.read_csv(multi, usecols=["timestamp", "venue", "coin", "o", "h", "l", "c", "v"])
        except Exception as exc:  # pandas raises many kinds; the user needs the file name
            raise DataError(f"{multi}: cannot be read as CSV with columns timestamp, venue, coin, o, h, l, c, v "
                            f"({exc})") from None
        rows = frame[(frame["venue"] == "binance") & (frame["coin"] == coin)]
        bad = rows[["timestamp", "o", "h", "l", "c", "v"]].apply(pd.to_numeric, errors="coerce")
        broken = np.flatnonzero(~np.isfinite(bad.to_numpy(np.float64)).all(axis=1))
        if broken.size:
            raise DataError(f"{multi}: row {int(rows.index[broken[0]]) + 2} has a value that is not a finite number")
        parts.append({k: bad[c].to_numpy() for k, c in (("time", "timestamp"), ("open", "o"), ("high", "h"),
                                                        ("low", "l"), ("close", "c"), ("volume", "v"))})
        _strictly_hourly(multi, parts[-1]["time"].astype(np.int64))
    if not parts:
        return {k: np.zeros(0) for k in ("time", "open", "high", "low", "close", "volume")}
    merged = {k: np.concatenate([p[k] for p in parts]).astype(np.float64) for k in parts[0]}
    time = merged["time"].astype(np.int64)
    _, first = np.unique(time, return_index=True)  # sorted by time, the first file's bar where both have one
    out: dict[str, np.ndarray] = {k: v[first] for k, v in merged.items()}
    out["time"] = time[first]
    return out


def _perp_prices(hours: HourlyTruth, perp: dict[str, np.ndarray], notes: list[str]) -> tuple[HourlyTruth, np.ndarray]:
    """The hours with the perpetual's bars wherever it has one; the traded volume (NaN elsewhere)."""
    at = np.clip(np.searchsorted(perp["time"], hours.time), 0, max(perp["time"].size - 1, 0))
    has = perp["time"][at] == hours.time if perp["time"].size else np.zeros(len(hours), bool)
    volume = np.where(has, perp["volume"][at] if perp["time"].size else 0.0, np.nan)
    if not has.any():
        notes.append("prices: Binance spot hourly bars from the panel (no perpetual bars in the folder); "
                     "no volume or taker-buy volume, so the book uses its stated side-split fallback")
        return hours, volume
    prices = {k: np.where(has, perp[k][at], getattr(hours, k)) for k in ("open", "high", "low", "close")}
    spot = np.flatnonzero(~has)
    filled = int(np.count_nonzero(has & ~hours.scorable))
    notes.append(
        f"prices: the Binance USD-M perpetual's hourly bars (liquidations trigger on the perpetual) for "
        f"{int(has.sum())} of {len(hours)} hours"
        + (f" (their true bar for {filled} of the bridged hours, which stay unscored)" if filled else "")
        + (f"; the panel's spot bars for the other {spot.size} ({format_ms(hours.time[spot[0]])} .. "
           f"{format_ms(hours.time[spot[-1]])}; perp ~0.05% below spot)" if spot.size else "")
        + "; no mark-price klines in the data; no taker-buy volume, so the book uses its stated side-split fallback"
    )
    return replace(hours, **prices), volume


def _candles(perp: dict[str, np.ndarray], hours: HourlyTruth, volume: np.ndarray, notes: list[str]) -> Candles:
    """The hours' bars, preceded by up to 30 days of the perpetual's bars for warm-up when present."""
    keep = (perp["time"] < hours.time[0]) & (perp["time"] >= hours.time[0] - WARMUP_SPAN_MS)
    if keep.any():
        notes.append(f"warm-up: {int(keep.sum())} Binance USD-M perp hourly bars before the panel "
                     f"({format_ms(perp['time'][keep][0])} onwards)")

    def column(name: str, values: np.ndarray) -> np.ndarray:
        return np.concatenate((perp[name][keep], values))

    return Candles(
        time=column("time", hours.time).astype(np.int64), open=column("open", hours.open),
        high=column("high", hours.high), low=column("low", hours.low), close=column("close", hours.close),
        volume=column("volume", volume), taker_buy_volume=np.full(int(keep.sum()) + len(hours), np.nan),
        interval_ms=MS_PER_HOUR,
    )

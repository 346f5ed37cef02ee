#!/usr/bin/env python3
"""Regenerate the bundled sample (liqmap/data/sample/) from the shared real-data folder.

Real BTCUSDT data from 2025-12-01 00:00 UTC to the end of the Binance perp
candles (2026-03-05 11:00 UTC), written in the local-store format under
``binance/BTCUSDT/`` (one Parquet file per kind and month, see liqmap/sources/cache.py):

    klines-1h     Binance USD-M BTCUSDT hourly perp candles (no taker volume in the source)
    metrics       Binance USD-M 5-minute open interest (BTC and USDT)
    fundingRate   Binance settled funding, per 8 hours
    liquidations  Coinglass hourly realized liquidations, Binance + Bybit + OKX

and Hyperliquid's BTC (``hyperliquid/BTCUSDT/``, from 2026-01-20, after the export's 19-hour
open-interest gap) read through the Hyperliquid venue's reader of the hourly export:

    klines-1h     the export has no Hyperliquid candles after 2025-04-18: the Binance candles stand in
    metrics       Hyperliquid hourly open interest (oi_usd; coins = oi_usd / close)
    fundingRate   Hyperliquid funding, per hour

Usage:  python scripts/make_sample.py [--shared ../shared/data] [--out liqmap/data/sample]
It rewrites SOURCE.md beside the data, including the candle gaps it finds.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from liqmap.frames import Candles, Funding, Liquidations, OpenInterest, format_ms
from liqmap.sources.cache import Store

REPO = Path(__file__).resolve().parents[1]
VENUE, SYMBOL = "binance", "BTCUSDT"
START_MS = 1_764_547_200_000  # 2025-12-01 00:00 UTC
HOUR = 3_600_000
FIVE_MIN = 300_000

CANDLES = "multivenue_perp_hourly_finm33150/candles.csv.gz"
OI = "binance_um_oi5m_funding_hlreaper/BTC_oi_5m.csv.gz"
FUNDING = "binance_um_oi5m_funding_hlreaper/BTC_funding.csv.gz"
LIQUIDATIONS = "coinglass_btc_aggliq_2025_2026/btc_1h_aggliq_only.csv.gz"
LIQ_SOURCE = "coinglass aggregated Binance+Bybit+OKX"


HL_START_MS = 1_768_867_200_000  # 2026-01-20 00:00 UTC
HL_FOLDER = "multivenue_perp_hourly_finm33150"


def read(shared: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(shared / name)


def build(shared: Path) -> tuple[dict, int]:
    """kind -> (frame, origin text), and the end of the sample (exclusive ms)."""
    raw = read(shared, CANDLES)
    raw = raw[(raw.venue == "binance") & (raw.coin == "BTC") & (raw.timestamp >= START_MS)].sort_values("timestamp")
    end_ms = int(raw.timestamp.iloc[-1]) + HOUR
    candles = Candles(
        time=raw.timestamp.to_numpy(np.int64),
        open=raw.o.to_numpy(),
        high=raw.h.to_numpy(),
        low=raw.l.to_numpy(),
        close=raw.c.to_numpy(),
        volume=raw.v.to_numpy(),
        taker_buy_volume=np.full(len(raw), np.nan),
        interval_ms=HOUR,
    )

    oi = read(shared, OI)
    oi_time = (oi.timestamp.to_numpy(np.int64) + FIVE_MIN // 2) // FIVE_MIN * FIVE_MIN
    keep = (oi_time >= START_MS) & (oi_time < end_ms)
    open_interest = OpenInterest(time=oi_time[keep], oi=oi.oi.to_numpy()[keep], oi_value=oi.oi_usd.to_numpy()[keep],
                                 interval_ms=FIVE_MIN)

    fund = read(shared, FUNDING)
    keep = (fund.timestamp >= START_MS) & (fund.timestamp < end_ms)
    # The source stores the hourly equivalent (last_funding_rate / 8 for BTC): x8 is per 8 h.
    funding = Funding(time=fund.timestamp[keep].to_numpy(np.int64), rate=fund.rate[keep].to_numpy() * 8,
                      interval_ms=8 * HOUR)

    liq = read(shared, LIQUIDATIONS)
    keep = (liq.timestamp >= START_MS) & (liq.timestamp < end_ms)
    liquidations = Liquidations(
        time=liq.timestamp[keep].to_numpy(np.int64),
        long_usd=liq.longUsd[keep].to_numpy(),
        short_usd=liq.shortUsd[keep].to_numpy(),
        interval_ms=HOUR,
        source=LIQ_SOURCE,
    )
    frames = {
        "klines-1h": (candles, "Binance USD-M BTCUSDT 1h perp klines (shared/data/" + CANDLES + ")"),
        "metrics": (open_interest, "Binance Vision USD-M 5m metrics (shared/data/" + OI + ")"),
        "fundingRate": (funding, "Binance Vision USD-M fundingRate (shared/data/" + FUNDING + ")"),
        "liquidations": (liquidations, LIQ_SOURCE + " (shared/data/" + LIQUIDATIONS + ")"),
    }
    return frames, end_ms


def month_of(ms: np.ndarray) -> np.ndarray:
    return ms.astype("datetime64[ms]").astype("datetime64[M]").astype(str)


def build_hyperliquid(shared: Path, end_ms: int) -> dict:
    """kind -> (frame, origin text) of Hyperliquid's BTC, read by the venue's own reader."""
    from liqmap.venues.hyperliquid.hourly import HourlyFolder

    folder = HourlyFolder(shared / HL_FOLDER)
    origin = {
        "klines-1h": "Binance USD-M BTCUSDT 1h perp klines standing in for Hyperliquid's (none in the export after "
                     "2025-04-18; shared/data/" + CANDLES + ")",
        "metrics": "Hyperliquid hourly open interest, oi_usd = coins x mark (shared/data/" + HL_FOLDER + "/open_interest.csv.gz)",
        "fundingRate": "Hyperliquid hourly funding (shared/data/" + HL_FOLDER + "/funding_rates.csv.gz)",
    }
    return {kind: (folder.read(SYMBOL, kind, HL_START_MS, end_ms), text) for kind, text in origin.items()}


def write(frames: dict, out: Path, venue: str = VENUE) -> None:
    """One venue's frames as monthly store files (that venue's folder is rewritten)."""
    if (out / venue).exists():
        shutil.rmtree(out / venue)
    store = Store(out, venue)
    for kind, (frame, origin) in frames.items():
        months = month_of(frame.time)
        for month in np.unique(months):
            rows = np.flatnonzero(months == month)
            store.write(SYMBOL, kind, str(month), frame._take(slice(rows[0], rows[-1] + 1)), {"origin": origin})


def candle_gaps(candles: Candles) -> list[str]:
    steps = np.diff(candles.time)
    return [
        f"{format_ms(candles.time[i] + HOUR)} .. {format_ms(candles.time[i + 1] - HOUR)} ({int(steps[i] // HOUR) - 1} h)"
        for i in np.flatnonzero(steps != HOUR)
    ]


def source_md(frames: dict, end_ms: int, hl_frames: dict) -> str:
    candles = frames["klines-1h"][0]
    gaps = candle_gaps(candles)
    lines = [
        "# Bundled sample: real BTCUSDT data",
        "",
        f"Span: {format_ms(START_MS)} to {format_ms(end_ms)} (exclusive), the overlap of the Binance",
        "perp candles with the open-interest series.  Regenerate with `python scripts/make_sample.py`.",
        "Values are as published by the sources below; only units and time stamps were normalised.",
        "",
        "| kind | rows | first | last | origin |",
        "|---|---|---|---|---|",
    ]
    for kind, (frame, origin) in frames.items():
        lines.append(f"| {kind} | {len(frame):,} | {format_ms(frame.time[0])} | {format_ms(frame.time[-1])} | {origin} |")
    lines += [
        "",
        "Origins (see ../shared/data/README.md for the upstream repositories and commits):",
        "",
        "- klines-1h: Binance USD-M BTCUSDT hourly klines from the `0xknxwledge/group-m-finm33150-final`",
        "  export (venue binance, coin BTC).  Volume `v` in BTC; the source has no taker-buy volume, so",
        "  `taker_buy_volume` is NaN (unknown) and the model estimates the taker side from the candles.",
        "- metrics: Binance Vision `futures/um/daily/metrics` via `theyachtsman/hl-reaper`:",
        "  `oi` = sum_open_interest (BTC), `oi_value` = sum_open_interest_value (USDT).  Times rounded to",
        "  the 5-minute mark (a few source rows are stamped 1-2 s late).",
        "- fundingRate: Binance Vision `futures/um/monthly/fundingRate` via the same repository; the",
        "  source stores the hourly equivalent, multiplied by 8 here to give the rate per 8 hours.",
        f"- liquidations: realized liquidations per hour, {LIQ_SOURCE}",
        "  (`ismethanhtung/btc-liquidations-analysis`, Coinglass v4 API).  They cover more exchanges than",
        "  the Binance-only open interest: expect a scale factor between a map and these totals.",
        "",
        "Candle gaps (missing hours): " + ("; ".join(gaps) if gaps else "none") + ".",
        "",
        "## hyperliquid/BTCUSDT (for the Multi map, `--venue all`)",
        "",
        "| kind | rows | first | last | origin |",
        "|---|---|---|---|---|",
        *(f"| {kind} | {len(frame):,} | {format_ms(frame.time[0])} | {format_ms(frame.time[-1])} | {origin} |"
          for kind, (frame, origin) in hl_frames.items()),
        "",
        "What Hyperliquid's part rests on: its own hourly open interest (in USD, turned into coins with the",
        "close) and its own hourly funding, both real; its price path is Binance's (the export has no",
        "Hyperliquid candles in this span; cross-venue BTC closes agree to a median 0.006-0.04 %), so the",
        "basis between the two venues is zero in the sample.  It starts 2026-01-20, after a 19-hour gap in",
        "the open interest (2026-01-18 23:00 .. 2026-01-19 18:00).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "liqmap" / "data" / "sample")
    args = parser.parse_args()
    frames, end_ms = build(args.shared)
    hl_frames = build_hyperliquid(args.shared, end_ms)
    write(frames, args.out)
    write(hl_frames, args.out, "hyperliquid")
    (args.out / "SOURCE.md").write_text(source_md(frames, end_ms, hl_frames))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({size / 1024:.0f} KB), span {format_ms(START_MS)} .. {format_ms(end_ms)}")
    for kind, (frame, _) in [*frames.items(), *hl_frames.items()]:
        print(f"  {kind:13s} {len(frame):6,d} rows  {format_ms(frame.time[0])} .. {format_ms(frame.time[-1])}")


if __name__ == "__main__":
    main()

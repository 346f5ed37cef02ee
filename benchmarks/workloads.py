"""The benchmark inputs: the shared standard workloads and a year of 1-minute klines.

Everything is written once under the work folder (``benchmarks/.work/``,
git-ignored) in the Binance Vision layout that ``liqmap ... --source DIR``
reads, and reused while its ``.complete`` marker is there.  The aggTrades
files are checked against the sha256 figures in ``shared/bench/README.md``:
other numpy versions draw other random streams, and then the peer's
reference figures no longer describe the same input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: numpy version the generator's published checksums come from.
PINNED_NUMPY = "2.4.6"

AGGTRADES = "data/futures/um/daily/aggTrades/{symbol}/{symbol}-aggTrades-{date}.csv"
KLINES_1M = "data/futures/um/daily/klines/{symbol}/1m/{symbol}-1m-{date}.csv"
METRICS = "data/futures/um/daily/metrics/{symbol}/{symbol}-metrics-{date}.csv"
SYMBOL = "BTCUSDT"


@dataclass(frozen=True)
class TradeWorkload:
    """Arguments of ``gen_aggtrades.py`` and the sha256 of each day's aggTrades CSV (empty: none published)."""

    name: str
    date: str
    days: int
    trades_per_day: int
    seed: int
    sha256: dict = field(default_factory=dict)

    @property
    def last_day(self) -> str:
        return (dt.date.fromisoformat(self.date) + dt.timedelta(days=self.days - 1)).isoformat()

    @property
    def trades(self) -> int:
        return self.days * self.trades_per_day


W1 = TradeWorkload("W1", "2025-01-15", 1, 1_000_000, 1, {
    "2025-01-15": "755ede87728dc9f63445c94f7486e6be972d238f7680acbe29842a2f50966078",
})
W2 = TradeWorkload("W2", "2025-01-06", 10, 1_000_000, 2, {
    "2025-01-06": "05eaa5e5024eba6c11f4282441192d0858bbdbea1ab5e666c4c757d8a4ecfcda",
    "2025-01-07": "9ac71d21278b668e297df7c1208bec1565296bc361d1b6eae0f26dcca7cc65aa",
    "2025-01-08": "b0546d3621b5a1549217ce051fccf7998b2dd6e8412248e201f41d7af50d17d0",
    "2025-01-09": "9548306326c1793eaaa28a9809309875de65f5b4a17b27d7d5eef9aa8668f70b",
    "2025-01-10": "98606b3e0f45f1bcb7b5f63a7d36d717a180b31033785e1e3f10d261de34181b",
    "2025-01-11": "df8c54d5c9f4c20e6740f10a23e8685298c3b46a53e359689e97a3868dfc0c90",
    "2025-01-12": "5dd1efee7ef4278fb30a60b53249ab8d986ea1d8f1df076f6eee947376a7a27d",
    "2025-01-13": "9d71c43dff683f295fb567a3c7d028a422fde57cb7d3c292fbe10382fdef5fc5",
    "2025-01-14": "efb963d1b622bd230bf44774a6c4b9b7b4a725d4c823e2bb98ac9e4065d5420c",
    "2025-01-15": "ab7317ddaabec5f90b16cea036ca979110e2e482492395bd588edee7fbf6b575",
})
#: Tiny stand-ins for --smoke: same shape, seconds to make.
SMOKE_1DAY = TradeWorkload("W1-smoke", "2025-01-15", 1, 20_000, 1)
SMOKE_3DAYS = TradeWorkload("W2-smoke", "2025-01-13", 3, 20_000, 2)


def _day_ms(date: str) -> int:
    return int(dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def numpy_warning() -> str | None:
    """A loud warning when numpy is not the version the published checksums assume."""
    if np.__version__ == PINNED_NUMPY:
        return None
    bar = "!" * 78
    return (
        f"{bar}\n numpy is {np.__version__}, the generator's checksums assume {PINNED_NUMPY}:\n"
        f" the workloads will differ from the peer's input and the ratios are not like for like.\n{bar}"
    )


def _complete(folder: Path) -> bool:
    return (folder / ".complete").is_file()


def _mark_complete(folder: Path, record: dict) -> None:
    (folder / ".complete").write_text(json.dumps(record, indent=1) + "\n")


def ensure_trades(workload: TradeWorkload, work_dir: Path, generator: Path) -> Path:
    """The workload's Vision folder (aggTrades, 1m klines, 5m metrics), generated and verified if missing."""
    folder = work_dir / workload.name
    if _complete(folder):
        return folder
    print(f"generating {workload.name} ({workload.trades:,} trades) into {folder} ...", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, str(generator), "--symbol", SYMBOL, "--date", workload.date, "--days", str(workload.days),
         "--trades", str(workload.trades_per_day), "--seed", str(workload.seed), "--quiet",
         "--out", str(folder / AGGTRADES), "--klines", str(folder / KLINES_1M), "--metrics", str(folder / METRICS)],
        check=True,
    )
    digests = {}
    for k in range(workload.days):
        date = (dt.date.fromisoformat(workload.date) + dt.timedelta(days=k)).isoformat()
        with open(folder / AGGTRADES.format(symbol=SYMBOL, date=date), "rb") as handle:
            digests[date] = hashlib.file_digest(handle, "sha256").hexdigest()
        expected = workload.sha256.get(date)
        if expected and digests[date] != expected:
            raise SystemExit(
                f"{workload.name} {date}: aggTrades sha256 {digests[date]} is not the published {expected};"
                f" the generator ran with numpy {np.__version__} (checksums assume {PINNED_NUMPY})"
            )
    _mark_complete(folder, {"workload": workload.name, "numpy": np.__version__, "aggtrades_sha256": digests})
    return folder


@dataclass(frozen=True)
class KlineYear:
    """Deterministic 1-minute klines and 5-minute open interest for case (d)."""

    name: str
    date: str
    days: int
    seed: int = 20240101

    @property
    def first_ms(self) -> int:
        return _day_ms(self.date)

    @property
    def end_date(self) -> str:
        """The day after the last one: the exclusive end of the span."""
        return (dt.date.fromisoformat(self.date) + dt.timedelta(days=self.days)).isoformat()

    @property
    def minutes(self) -> int:
        return self.days * 1440


KLINE_YEAR = KlineYear("klines-1y", "2024-01-01", 365)
SMOKE_KLINES = KlineYear("klines-3d", "2024-01-01", 3)


def _ar1(phi: float, shocks: np.ndarray, block: int = 1024) -> np.ndarray:
    """x[t] = phi * x[t-1] + shocks[t] from x[-1] = 0, in closed form per block (phi**-block stays finite)."""
    out = np.empty(shocks.size)
    carry = 0.0
    powers = phi ** np.arange(1, block + 1)
    for start in range(0, shocks.size, block):
        chunk = shocks[start:start + block]
        p = powers[:chunk.size]
        out[start:start + chunk.size] = p * (carry + np.cumsum(chunk / p))
        carry = out[start + chunk.size - 1]
    return out


def simulate_klines(spec: KlineYear) -> dict:
    """A random walk with clustered volatility and a drifting open interest, one row per minute.

    Daily volatility about 2.5% (log-vol AR(1) around it), intraminute
    wicks from the minute's own volatility, taker buys leaning with the
    move, and open interest (base units) drifting as a mean-reverting log
    walk around 80k BTC.  All from one seeded numpy stream.
    """
    rng = np.random.default_rng(spec.seed)
    n = spec.minutes
    sigma_bar = 0.025 / np.sqrt(1440)
    log_vol = _ar1(0.995, 0.45 * np.sqrt(1 - 0.995**2) * rng.standard_normal(n))
    sigma = sigma_bar * np.exp(log_vol - 0.5 * 0.45**2)
    returns = sigma * rng.standard_t(5, n) / np.sqrt(5 / 3)
    close = 42_000.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([42_000.0], close[:-1]))
    wick = sigma * np.abs(rng.standard_normal((2, n)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = np.exp(np.log(150.0) + 0.6 * rng.standard_normal(n)) * (sigma / sigma_bar)
    buy_share = np.clip(0.5 + 0.3 * returns / sigma / 3 + 0.05 * rng.standard_normal(n), 0.05, 0.95)
    steps = n // 5
    oi_log = _ar1(0.999, 0.002 * rng.standard_normal(steps))
    oi = 80_000.0 * np.exp(oi_log)
    return {
        "open_time": spec.first_ms + 60_000 * np.arange(n, dtype=np.int64),
        "open": np.round(open_, 1), "high": np.round(high, 1), "low": np.round(low, 1), "close": np.round(close, 1),
        "volume": np.round(volume, 3), "taker_buy_volume": np.round(volume * buy_share, 3),
        "oi_time": spec.first_ms + 300_000 * np.arange(1, steps + 1, dtype=np.int64), "oi": np.round(oi, 3),
    }


def _write_day_csv(path: Path, header: str, columns: list, row_format: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = zip(*(c.tolist() if isinstance(c, np.ndarray) else c for c in columns))
    path.write_text(header + "\n" + "".join(row_format % row for row in rows))


def ensure_klines(spec: KlineYear, work_dir: Path) -> Path:
    """The Vision folder of daily 1m klines and 5m metrics files for ``spec``, written if missing."""
    folder = work_dir / spec.name
    if _complete(folder):
        return folder
    print(f"generating {spec.name} ({spec.minutes:,} one-minute klines) into {folder} ...", file=sys.stderr, flush=True)
    k = simulate_klines(spec)
    # OHLC must contain open and close after rounding to the tick
    k["high"] = np.maximum.reduce([k["high"], k["open"], k["close"]])
    k["low"] = np.minimum.reduce([k["low"], k["open"], k["close"]])
    quote = np.round(k["volume"] * k["close"], 5)
    taker_quote = np.round(k["taker_buy_volume"] * k["close"], 5)
    for day in range(spec.days):
        date = (dt.date.fromisoformat(spec.date) + dt.timedelta(days=day)).isoformat()
        m = slice(day * 1440, (day + 1) * 1440)
        open_time = k["open_time"][m]
        _write_day_csv(
            folder / KLINES_1M.format(symbol=SYMBOL, date=date),
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
            "taker_buy_quote_volume,ignore",
            [open_time, k["open"][m], k["high"][m], k["low"][m], k["close"][m], k["volume"][m], open_time + 59_999,
             quote[m], np.full(1440, 1000), k["taker_buy_volume"][m], taker_quote[m]],
            "%d,%.2f,%.2f,%.2f,%.2f,%.3f,%d,%.5f,%d,%.3f,%.5f,0\n",
        )
        o = slice(day * 288, (day + 1) * 288)
        times = [dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                 for t in k["oi_time"][o].tolist()]
        last_close = k["close"][day * 1440 + 4: (day + 1) * 1440: 5]  # the close just before each create_time
        _write_day_csv(
            folder / METRICS.format(symbol=SYMBOL, date=date),
            "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
            "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio",
            [times, [SYMBOL] * 288, k["oi"][o], k["oi"][o] * last_close],
            "%s,%s,%.3f,%.8f,1.0,1.0,1.0,1.0\n",
        )
    _mark_complete(folder, {"workload": spec.name, "seed": spec.seed, "minutes": spec.minutes})
    return folder

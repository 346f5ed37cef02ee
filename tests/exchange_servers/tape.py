"""The synthetic market every local exchange of the tests plays: a :class:`Tape`.

A mark price every second, aggregate trades, 1-minute klines made from them, open interest every
5 s, funding every 8 hours and forced liquidations, deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MINUTE = 60_000


@dataclass
class Tape:
    """The market the server plays: arrays sorted by time (ms)."""

    symbol: str
    start_ms: int
    end_ms: int
    tick_time: np.ndarray  # every second
    mark: np.ndarray
    trade_time: np.ndarray
    trade_price: np.ndarray
    trade_qty: np.ndarray
    trade_buyer_maker: np.ndarray
    oi_time: np.ndarray
    oi: np.ndarray
    funding_time: np.ndarray
    funding_rate: np.ndarray
    liquidations: list = field(default_factory=list)  # (time, "SELL"|"BUY", price, qty)

    def klines(self) -> np.ndarray:
        """Rows (open time, o, h, l, c, volume, taker buy volume) of every minute, from the trades."""
        minutes = np.arange(self.start_ms, self.end_ms, MINUTE)
        idx = np.searchsorted(self.trade_time, minutes)
        ends = np.append(idx[1:], np.searchsorted(self.trade_time, self.end_ms))
        rows = []
        for t, a, b in zip(minutes, idx, ends):
            p, q, m = self.trade_price[a:b], self.trade_qty[a:b], self.trade_buyer_maker[a:b]
            if b > a:
                rows.append((t, p[0], p.max(), p.min(), p[-1], q.sum(), q[~m].sum()))
            else:
                last = rows[-1][4] if rows else float(self.mark[0])
                rows.append((t, last, last, last, last, 0.0, 0.0))
        return np.array(rows, dtype=float)

    def mark_klines(self) -> np.ndarray:
        minutes = np.arange(self.start_ms, self.end_ms, MINUTE)
        rows = []
        for t in minutes:
            a, b = np.searchsorted(self.tick_time, [t, t + MINUTE])
            p = self.mark[a:b]
            rows.append((t, p[0], p.max(), p.min(), p[-1]))
        return np.array(rows, dtype=float)

    def oi_at(self, t: int) -> tuple[int, float]:
        i = int(np.searchsorted(self.oi_time, t, side="right")) - 1
        return int(self.oi_time[i]), float(self.oi[i])


def synthetic_tape(symbol: str = "BTCUSDT", start_ms: int = 1_767_225_600_000, minutes: int = 180,
                   seed: int = 7, trades_per_second: float = 2.0, price: float = 90_000.0) -> Tape:
    """A random-walk market of ``minutes`` minutes (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    end = start_ms + minutes * MINUTE
    tick_time = np.arange(start_ms, end, 1000, dtype=np.int64)
    mark = np.round(price * np.exp(np.cumsum(rng.normal(0, 2e-4, tick_time.size))), 1)
    counts = rng.poisson(trades_per_second, tick_time.size)
    trade_time = np.repeat(tick_time, counts) + np.concatenate([np.sort(rng.integers(0, 1000, c)) for c in counts])
    trade_time = np.sort(trade_time)
    base = np.repeat(mark, counts)
    trade_price = np.round(base * (1 + rng.normal(0, 1e-4, base.size)), 1)
    trade_qty = np.round(rng.lognormal(-3, 1, base.size), 3) + 0.001
    buyer_maker = rng.random(base.size) < 0.5
    oi_time = np.arange(start_ms, end, 5000, dtype=np.int64)
    oi = np.round(80_000 + np.cumsum(rng.normal(0, 3.0, oi_time.size)), 3)
    funding_time = np.arange(start_ms - start_ms % (8 * 3_600_000), end, 8 * 3_600_000, dtype=np.int64)
    funding_rate = np.round(rng.normal(1e-4, 5e-5, funding_time.size), 8)
    liq_times = np.arange(start_ms + 45_000, end, 97_000)
    liquidations = [(int(t), "SELL" if k % 3 else "BUY", float(mark[(t - start_ms) // 1000]), round(0.01 * (k + 1), 3))
                    for k, t in enumerate(liq_times)]
    return Tape(symbol, start_ms, end, tick_time, mark, trade_time, trade_price, trade_qty, buyer_maker,
                oi_time, oi, funding_time, funding_rate, liquidations)

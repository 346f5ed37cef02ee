"""A local exchange on 127.0.0.1 speaking Hyperliquid: ``POST /info`` and the ``/ws`` WebSocket.

It plays a :class:`~tests.exchange_servers.tape.Tape` for the coin BTC in Hyperliquid's formats: info
answers (``candleSnapshot`` oldest first, at most 5,000; ``fundingHistory`` at most 500, hourly;
``metaAndAssetCtxs`` index-aligned) with the clock in the HTTP Date header; subscriptions by
``{"method": "subscribe", "subscription": {...}}`` acknowledged with ``subscriptionResponse``, ``ping``
answered ``pong``, a ``liquidations`` subscription refused with an ``error`` frame; each second the
trades (``side`` B/A), the growing 1-minute candle (pushed after each second's trades, so its last push
in a minute holds the whole minute) and the asset context (mark, oracle, hourly funding, open interest
in coins, no time).  Faults and fault statuses are keyed by the request's ``type``.
"""

from __future__ import annotations

import json

import numpy as np

from .base import ExchangeServer
from .tape import MINUTE

COIN = "BTC"
HOUR = 60 * MINUTE
CANDLE_LIMIT, FUNDING_LIMIT = 5000, 500


class HyperliquidServer(ExchangeServer):

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tape = self.tape
        # hourly settlements: the tape's 8-hour rate spread over its hours
        self.funding_time = np.arange(tape.start_ms - tape.start_ms % HOUR, tape.end_ms, HOUR, dtype=np.int64)
        block = np.searchsorted(tape.funding_time, self.funding_time, side="right") - 1
        self.funding_rate = np.round(tape.funding_rate[np.clip(block, 0, None)] / 8, 10)

    def request_key(self, path: str, body) -> str:
        return body.get("type", "") if isinstance(body, dict) else path

    def refusal(self, status: int) -> object:
        return "rate limited" if status == 429 else "internal error"

    def rate_now(self, t: int) -> float:
        """The funding rate of the hour holding ``t`` (what settles at its end)."""
        return float(self.funding_rate[max(int(np.searchsorted(self.funding_time, t, side="right")) - 1, 0)])

    def answer(self, path: str, query: dict, body) -> tuple[int, object]:
        if path != "/info" or not isinstance(body, dict):
            return 404, "no such route"
        now, tape, kind = self.cursor_ms, self.tape, body.get("type")
        if kind == "candleSnapshot":
            req = body["req"]
            if req["coin"] != COIN or req["interval"] != "1m":
                return 200, []
            rows = self.minute_rows(self.klines, int(req["startTime"]), int(req.get("endTime") or 2**62), now,
                                    CANDLE_LIMIT)
            return 200, [{"t": int(r[0]), "T": int(r[0]) + MINUTE - 1, "s": COIN, "i": "1m", "o": f"{r[1]:.1f}",
                          "c": f"{r[4]:.1f}", "h": f"{r[2]:.1f}", "l": f"{r[3]:.1f}", "v": f"{r[5]:.3f}", "n": 60}
                         for r in rows]
        if kind == "fundingHistory":
            lo, hi = int(body["startTime"]), int(body.get("endTime") or 2**62)
            keep = (self.funding_time >= lo) & (self.funding_time <= hi) & (self.funding_time <= now)
            return 200, [{"coin": COIN, "fundingRate": f"{r:.10f}", "premium": "0.0", "time": int(t)}
                         for t, r in zip(self.funding_time[keep], self.funding_rate[keep])][:FUNDING_LIMIT]
        if kind == "metaAndAssetCtxs":
            t, oi = tape.oi_at(now)
            self.served_oi.append((now, oi))
            k = min(int(np.searchsorted(tape.tick_time, now, side="right")) - 1, tape.tick_time.size - 1)
            return 200, [{"universe": [{"name": COIN, "szDecimals": 5, "maxLeverage": 40},
                                       {"name": "ETH", "szDecimals": 4, "maxLeverage": 25}]},
                         [self.context(k, now, oi), self.context(k, now, 1_000_000.0, 0.034)]]
        return 422, "Failed to deserialize the JSON body into the target type"

    def context(self, k: int, now: int, oi: float, scale: float = 1.0) -> dict:
        mark = float(self.tape.mark[max(k, 0)]) * scale
        return {"funding": f"{self.rate_now(now):.10f}", "openInterest": f"{oi:.3f}", "prevDayPx": f"{mark:.1f}",
                "dayNtlVlm": "0.0", "premium": "0.0", "oraclePx": f"{mark - 3 * scale:.1f}", "markPx": f"{mark:.1f}",
                "midPx": f"{mark:.1f}", "impactPxs": [f"{mark - 1:.1f}", f"{mark + 1:.1f}"]}

    async def on_message(self, client: dict, text: str) -> set[str]:
        message = json.loads(text)
        ws = client["ws"]
        if message.get("method") == "ping":
            self.log["pings"] += 1
            await ws.send(json.dumps({"channel": "pong"}))
            return set()
        if message.get("method") != "subscribe":
            return set()
        sub = message["subscription"]
        if sub.get("type") not in ("trades", "activeAssetCtx", "candle"):
            self.log["refused subscriptions"] += 1
            await ws.send(json.dumps({"channel": "error", "data": f"Invalid subscription {json.dumps(sub)}"}))
            return set()
        await ws.send(json.dumps({"channel": "subscriptionResponse", "data": {"method": "subscribe",
                                                                              "subscription": sub}}))
        return {":".join(str(sub[k]) for k in ("type", "coin", "interval") if k in sub)}

    def frames(self, k: int, second: int) -> list[tuple[str, object]]:
        tape = self.tape
        trades = self.trades_in(second)
        frames: list[tuple[str, object]] = []
        if len(trades):
            frames.append((f"trades:{COIN}", {"channel": "trades", "data": [
                {"coin": COIN, "side": "A" if tape.trade_buyer_maker[i] else "B", "px": f"{tape.trade_price[i]:.1f}",
                 "sz": f"{tape.trade_qty[i]:.3f}", "time": int(tape.trade_time[i]), "hash": f"0x{i:064x}",
                 "tid": (i * 7_919_000_003) % 10**15, "users": [f"0x{i:040x}", f"0x{i + 1:040x}"]}
                for i in trades]}))
            minute = second - second % MINUTE
            frames.append((f"candle:{COIN}:1m", self.candle(minute, second + 1000)))
        t, oi = tape.oi_at(second)
        self.served_oi.append((second, oi))
        frames.append((f"activeAssetCtx:{COIN}", {"channel": "activeAssetCtx",
                                                  "data": {"coin": COIN, "ctx": self.context(k, second, oi)}}))
        return frames

    def candle(self, minute: int, until: int) -> dict:
        """The minute's candle as its trades before ``until`` make it."""
        tape = self.tape
        a, b = np.searchsorted(tape.trade_time, [minute, min(until, minute + MINUTE)])
        p, q = tape.trade_price[a:b], tape.trade_qty[a:b]
        if b > a:
            o, h, low, c, v = p[0], p.max(), p.min(), p[-1], q.sum()
        else:  # nothing traded yet: the previous close, as the kline rows have it
            o = h = low = c = float(self.klines[(minute - tape.start_ms) // MINUTE - 1][4])
            v = 0.0
        return {"channel": "candle", "data": {"t": minute, "T": minute + MINUTE - 1, "s": COIN, "i": "1m",
                                              "o": f"{o:.1f}", "c": f"{c:.1f}", "h": f"{h:.1f}", "l": f"{low:.1f}",
                                              "v": f"{v:.3f}", "n": int(b - a)}}

    def final_frames(self, end_ms: int) -> list[tuple[str, object]]:
        return [(f"candle:{COIN}:1m", self.candle(end_ms, end_ms))]

"""A local exchange on 127.0.0.1 speaking Binance USDⓈ-M REST (HTTP) and market streams (WebSocket).

REST serves what is already in the past of the tape's clock, in Binance's documented formats; the
stream route is ``/market/stream?streams=...`` (streams named in the URL) and answers the combined
wrapper ``{"stream", "data"}``; the old routes accept and acknowledge but never serve.  Each second:
the closed kline at a minute boundary, the 1-second mark price, the aggregate trades (ids are the
tape's index + 1; ``Faults.unsent_trade_ids`` leaves some out, REST ``aggTrades`` has them) and the
forced liquidations.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import numpy as np

from .base import ExchangeServer
from .tape import MINUTE, Tape


class BinanceServer(ExchangeServer):
    ws_routes = ("/market/stream",)

    def refusal(self, status: int) -> object:
        return {"code": -1003, "msg": "Too many requests"}

    def answer(self, path: str, q: dict, body) -> tuple[int, object]:
        now, tape = self.cursor_ms, self.tape
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        limit = int(q.get("limit", 500))
        if path == "/fapi/v1/time":
            return 200, {"serverTime": now}
        if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
            last = path.endswith("/klines")
            rows = self.minute_rows(self.klines if last else self.mark_klines, start, end, now, limit)
            return 200, [_kline_row(r, last) for r in rows]
        if path == "/futures/data/openInterestHist":
            served = self.five_minute_oi(max(start, now - 30 * 86_400_000 + 1), end, now, limit)  # the latest 30 days
            return 200, [{"symbol": tape.symbol, "sumOpenInterest": f"{oi:.8f}",
                          "sumOpenInterestValue": f"{oi * 90000:.8f}", "timestamp": t} for t, oi in served]
        if path == "/fapi/v1/openInterest":
            t, oi = tape.oi_at(now)
            self.served_oi.append((t, oi))
            return 200, {"symbol": tape.symbol, "openInterest": f"{oi:.3f}", "time": t}
        if path == "/fapi/v1/aggTrades":
            first = int(q["fromId"]) - 1  # ids are index + 1
            stop = min(first + min(limit, 1000), self.trades_played)
            return 200, [_agg_trade(tape, i) for i in range(first, stop)]
        if path == "/fapi/v1/fundingRate":
            keep = (tape.funding_time >= start) & (tape.funding_time <= end) & (tape.funding_time <= now)
            return 200, [{"symbol": tape.symbol, "fundingTime": int(t), "fundingRate": f"{r:.8f}", "markPrice": "0"}
                         for t, r in zip(tape.funding_time[keep], tape.funding_rate[keep])][:limit]
        return 404, {"code": -1, "msg": f"no route {path}"}

    def url_streams(self, ws) -> set[str]:
        return set(parse_qs(urlparse(ws.request.path).query).get("streams", [""])[0].split("/"))

    async def other_route(self, ws, route: str) -> None:
        """The old routes: accepted, acknowledged, never served."""
        self.log["old route connections"] += 1
        async for _ in ws:
            await ws.send(json.dumps({"result": None, "id": 1}))

    def frames(self, k: int, second: int) -> list[tuple[str, object]]:
        tape = self.tape
        s = tape.symbol.lower()
        frames: list[tuple[str, object]] = []
        if second % MINUTE == 0 and second > tape.start_ms:
            frames.append((f"{s}@kline_1m", self._kline_frame(second - MINUTE, second)))
        frames.append((f"{s}@markPrice@1s", {
            "e": "markPriceUpdate", "E": second, "s": tape.symbol, "p": f"{tape.mark[k]:.1f}",
            "i": f"{tape.mark[k] - 3:.1f}", "P": f"{tape.mark[k]:.1f}", "r": "0.00010000",
            "T": second - second % 28_800_000 + 28_800_000}))
        for i in self.trades_in(second):
            if i + 1 not in self.faults.unsent_trade_ids:
                frames.append((f"{s}@aggTrade", {"e": "aggTrade", "E": int(tape.trade_time[i]) + 2, "s": tape.symbol,
                                                 **_agg_trade(tape, i)}))
        for t, side, price, qty in self.liquidations_in(second):
            frames.append((f"{s}@forceOrder", {"e": "forceOrder", "E": t + 5, "o": {
                "s": tape.symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": f"{qty:.3f}",
                "p": f"{price * (0.99 if side == 'SELL' else 1.01):.1f}", "ap": f"{price:.1f}",
                "X": "FILLED", "l": f"{qty:.3f}", "z": f"{qty:.3f}", "T": t}}))
        return frames

    def final_frames(self, end_ms: int) -> list[tuple[str, object]]:
        return [(f"{self.tape.symbol.lower()}@kline_1m", self._kline_frame(end_ms - MINUTE, end_ms))]

    def _kline_frame(self, t: int, event_time: int) -> dict:
        row = self.klines[(t - self.tape.start_ms) // MINUTE]
        return {"e": "kline", "E": event_time + 1, "s": self.tape.symbol, "k": {
            "t": t, "T": t + MINUTE - 1, "s": self.tape.symbol, "i": "1m", "f": 1, "L": 2,
            "o": f"{row[1]:.1f}", "c": f"{row[4]:.1f}", "h": f"{row[2]:.1f}", "l": f"{row[3]:.1f}",
            "v": f"{row[5]:.3f}", "n": 2, "x": True, "q": "0", "V": f"{row[6]:.3f}", "Q": "0", "B": "0"}}

    def wrap(self, name: str, data) -> str:
        """Binance's combined-stream wrapper."""
        return json.dumps({"stream": name, "data": data})


def _agg_trade(tape: Tape, i: int) -> dict:
    """Trade ``i`` as Binance's aggTrade fields (REST rows; the stream adds ``e, E, s``); its id is ``i + 1``."""
    return {"a": i + 1, "p": f"{tape.trade_price[i]:.1f}", "q": f"{tape.trade_qty[i]:.3f}", "f": 10 * i,
            "l": 10 * i + 1, "T": int(tape.trade_time[i]), "m": bool(tape.trade_buyer_maker[i])}


def _kline_row(r: np.ndarray, last: bool) -> list:
    t = int(r[0])
    volume, taker = (f"{r[5]:.3f}", f"{r[6]:.3f}") if last else ("0", "0")
    return [t, f"{r[1]:.1f}", f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.1f}", volume, t + MINUTE - 1, "0",
            60, taker, "0", "0"]

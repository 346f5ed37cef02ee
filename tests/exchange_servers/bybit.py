"""A local exchange on 127.0.0.1 speaking Bybit v5 (REST and the public linear WebSocket).

Answers are wrapped in ``{"retCode", "retMsg", "result", "time"}`` with newest-first string rows; topics
are subscribed by ``{"op": "subscribe"}``; tickers come as a snapshot then deltas; liquidations are
batched with ``S = Buy`` for a liquidated long.
"""

from __future__ import annotations

import json

from .base import ExchangeServer
from .tape import MINUTE

#: The requests a Bybit REST answer pages at (the real maxima).
LIMITS = {"/v5/market/kline": 1000, "/v5/market/mark-price-kline": 1000, "/v5/market/open-interest": 200,
          "/v5/market/funding/history": 200}

#: BTCUSDT's first three risk-limit tiers (Bybit's margin-parameters page, as shipped in liqmap's tiers).
RISK_LIMITS = [("2000000", "0.005", "0.01", "100.00", ""), ("2600000", "0.0056", "0.0112", "90.00", "1200"),
               ("3200000", "0.0063", "0.0125", "80.00", "3020")]


def ok(result: dict, now: int) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}


class BybitServer(ExchangeServer):
    """The tape in Bybit's formats (REST paths under /v5/market, WebSocket route /v5/public/linear)."""

    ws_routes = ("/v5/public/linear",)

    def refusal(self, status: int) -> object:
        return {"retCode": 10006, "retMsg": "Too many visits!"}

    def answer(self, path: str, q: dict, body) -> tuple[int, object]:
        now, tape = self.cursor_ms, self.tape
        if q.get("category") not in (None, "linear") and path != "/v5/market/time":
            return 200, {"retCode": 10001, "retMsg": f"category {q.get('category')} not served"}
        limit = min(int(q.get("limit", 200)), LIMITS.get(path, 200))
        start = int(q.get("start", q.get("startTime", 0)))
        end = int(q.get("end", q.get("endTime", 2**62)))
        if path == "/v5/market/time":
            return 200, ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}, now)
        if path in ("/v5/market/kline", "/v5/market/mark-price-kline"):
            last = path.endswith("/kline")
            rows = self.minute_rows(self.klines if last else self.mark_klines, start, end, now, 2**62)[::-1][:limit]
            return 200, ok({"symbol": tape.symbol, "category": "linear", "list": [
                [str(int(r[0]))] + [f"{x:.1f}" for x in r[1:5]] + ([f"{r[5]:.3f}", "0"] if last else [])
                for r in rows]}, now)  # newest first
        if path == "/v5/market/open-interest":
            rows = [{"openInterest": f"{oi:.8f}", "timestamp": str(t)}
                    for t, oi in self.five_minute_oi(start, end, now, limit, newest_first=True)]
            return 200, ok({"symbol": tape.symbol, "category": "linear", "list": rows, "nextPageCursor": ""}, now)
        if path == "/v5/market/tickers":
            t, oi = tape.oi_at(now)
            self.served_oi.append((t, oi))
            return 200, ok({"category": "linear", "list": [{"symbol": tape.symbol, "openInterest": f"{oi:.3f}",
                                                             "markPrice": "0"}]}, t)
        if path == "/v5/market/funding/history":
            keep = (tape.funding_time >= start) & (tape.funding_time <= end) & (tape.funding_time <= now)
            rows = [{"symbol": tape.symbol, "fundingRate": f"{r:.8f}", "fundingRateTimestamp": str(int(t))}
                    for t, r in zip(tape.funding_time[keep], tape.funding_rate[keep])][::-1][:limit]
            return 200, ok({"category": "linear", "list": rows}, now)
        if path == "/v5/market/risk-limit":
            rows = [{"id": i + 1, "symbol": tape.symbol, "riskLimitValue": cap, "maintenanceMargin": mmr,
                     "initialMargin": im, "isLowestRisk": int(i == 0), "maxLeverage": lev, "mmDeduction": ded}
                    for i, (cap, mmr, im, lev, ded) in enumerate(RISK_LIMITS)]
            return 200, ok({"category": "linear", "list": rows}, now)
        return 404, {"retCode": 10001, "retMsg": f"no route {path}"}

    async def on_message(self, client: dict, text: str) -> set[str]:
        message = json.loads(text)
        if message.get("op") == "ping":
            self.log["pings"] += 1
            await client["ws"].send(json.dumps({"success": True, "ret_msg": "pong", "op": "pong"}))
            return set()
        if message.get("op") != "subscribe":
            return set()
        client["tickers_sent"] = False
        await client["ws"].send(json.dumps({"success": True, "ret_msg": "", "conn_id": "c1", "op": "subscribe"}))
        return set(message["args"])

    def frames(self, k: int, second: int) -> list[tuple[str, object]]:
        tape = self.tape
        s = tape.symbol
        frames: list[tuple[str, object]] = []
        if second % MINUTE == 0 and second > tape.start_ms:
            frames.append((f"kline.1.{s}", self._bybit_kline(second - MINUTE, second)))
        trades = [{"T": int(tape.trade_time[i]), "s": s, "S": "Sell" if tape.trade_buyer_maker[i] else "Buy",
                   "v": f"{tape.trade_qty[i]:.3f}", "p": f"{tape.trade_price[i]:.1f}", "L": "PlusTick",
                   "i": f"id-{i}", "BT": False, "RPI": False, "seq": 1000 + i} for i in self.trades_in(second)]
        if trades:
            frames.append((f"publicTrade.{s}", {"topic": f"publicTrade.{s}", "type": "snapshot",
                                               "ts": trades[-1]["T"] + 2, "data": trades}))
        frames.append((f"tickers.{s}", ("ticker", second, k)))
        # Binance's SELL (a long liquidated) is Bybit's position side Buy; p is the bankruptcy price
        batch = [{"T": t, "s": s, "S": "Buy" if side == "SELL" else "Sell", "v": f"{qty:.3f}", "p": f"{price:.1f}"}
                 for t, side, price, qty in self.liquidations_in(second)]
        if batch:
            frames.append((f"allLiquidation.{s}", {"topic": f"allLiquidation.{s}", "type": "snapshot",
                                                  "ts": batch[-1]["T"] + 400, "data": batch}))
        return frames

    def final_frames(self, end_ms: int) -> list[tuple[str, object]]:
        return [(f"kline.1.{self.tape.symbol}", self._bybit_kline(end_ms - MINUTE, end_ms))]

    def for_client(self, client: dict, frames: list) -> list:
        return [self._ticker(client, f) if f[0].startswith("tickers.") else f for f in frames]

    def _ticker(self, client: dict, frame: tuple) -> tuple:
        """A snapshot on a client's first ticker, then deltas (open interest only when it moved)."""
        name, (_, second, k) = frame
        tape = self.tape
        t, oi = tape.oi_at(second)
        data = {"symbol": tape.symbol, "markPrice": f"{tape.mark[k]:.1f}", "indexPrice": f"{tape.mark[k] - 3:.1f}"}
        kind = "delta"
        if not client.get("tickers_sent"):
            client["tickers_sent"] = True
            kind = "snapshot"
            data.update({"fundingRate": "0.0001", "nextFundingTime": str(second - second % 28_800_000 + 28_800_000),
                         "openInterest": f"{oi:.3f}", "lastPrice": f"{tape.mark[k]:.1f}"})
        elif t == second:
            data["openInterest"] = f"{oi:.3f}"
        if "openInterest" in data:
            self.served_oi.append((second, oi))
        return name, {"topic": name, "type": kind, "data": data, "cs": k, "ts": second}

    def _bybit_kline(self, t: int, event_time: int) -> dict:
        row = self.klines[(t - self.tape.start_ms) // MINUTE]
        return {"topic": f"kline.1.{self.tape.symbol}", "type": "snapshot", "ts": event_time + 1, "data": [{
            "start": t, "end": t + MINUTE - 1, "interval": "1", "open": f"{row[1]:.1f}", "close": f"{row[4]:.1f}",
            "high": f"{row[2]:.1f}", "low": f"{row[3]:.1f}", "volume": f"{row[5]:.3f}", "turnover": "0",
            "confirm": True, "timestamp": event_time + 1}]}

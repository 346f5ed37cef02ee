"""A local exchange on 127.0.0.1 speaking OKX v5 (REST, and the public and business WebSocket routes).

Answers are ``{"code": "0", "msg": "", "data": [...]}`` with newest-first string rows; sizes are contracts of
``CT_VAL`` (the tape's quantities are base units: contracts = base / CT_VAL); channels are subscribed by
``{"op": "subscribe", "args": [...]}``; a text ``ping`` is answered ``pong``; candles go on the business
route; liquidations of every swap share one channel (a DOGE one is mixed in, to be dropped).
"""

from __future__ import annotations

import json

from .base import ExchangeServer
from .tape import MINUTE

CT_VAL = 0.01  # BTC-USDT-SWAP
INST = "BTC-USDT-SWAP"
LIMITS = {"/api/v5/market/history-candles": 100, "/api/v5/market/history-mark-price-candles": 100,
          "/api/v5/rubik/stat/contracts/open-interest-history": 100, "/api/v5/public/funding-rate-history": 100}
#: BTC-USDT-SWAP's first three isolated tiers as OKX publishes them (sizes in contracts).
TIERS = [("0", "20000", "0.004", "0.008", "125"), ("20001", "50000", "0.005", "0.01", "100"),
         ("50001", "100000", "0.007", "0.0133", "75")]


def ok(data: list) -> dict:
    return {"code": "0", "msg": "", "data": data}


def contracts(base: float) -> str:
    return f"{base / CT_VAL:.1f}"


class OkxServer(ExchangeServer):
    """The tape in OKX's formats (REST under /api/v5, WebSocket routes /ws/v5/public and /ws/v5/business)."""

    ws_routes = ("/ws/v5/public", "/ws/v5/business")

    def refusal(self, status: int) -> object:
        return {"code": "50011", "msg": "Too Many Requests", "data": []}

    def answer(self, path: str, q: dict, body) -> tuple[int, object]:
        now, tape = self.cursor_ms, self.tape
        if q.get("instId", INST) != INST:
            return 200, {"code": "51001", "msg": f"Instrument ID {q.get('instId')} does not exist", "data": []}
        limit = min(int(q.get("limit", 100)), LIMITS.get(path, 100))
        # after = rows older than it, before = rows newer than it (OKX's paging); begin/end inclusive
        hi = int(q["after"]) - 1 if "after" in q else int(q.get("end", 2**62))
        lo = int(q["before"]) + 1 if "before" in q else int(q.get("begin", 0))
        if path == "/api/v5/public/time":
            return 200, ok([{"ts": str(now)}])
        if path == "/api/v5/public/instruments":
            return 200, ok([{"instId": INST, "instType": "SWAP", "ctVal": str(CT_VAL), "ctValCcy": "BTC",
                             "tickSz": "0.1", "settleCcy": "USDT"}])
        if path in ("/api/v5/market/history-candles", "/api/v5/market/history-mark-price-candles"):
            last = path.endswith("/history-candles")
            rows = self.minute_rows(self.klines if last else self.mark_klines, lo, hi, now, 2**62)[::-1][:limit]
            out = []
            for r in rows:
                row = [str(int(r[0]))] + [f"{x:.1f}" for x in r[1:5]]
                out.append(row + ([contracts(r[5]), f"{r[5]:.3f}", "0", "1"] if last else ["1"]))
            return 200, ok(out)
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            return 200, ok([[str(t), contracts(oi), f"{oi:.3f}", f"{oi * 90000:.1f}"]
                            for t, oi in self.five_minute_oi(lo, hi, now, limit, newest_first=True)])
        if path == "/api/v5/public/open-interest":
            t, oi = tape.oi_at(now)
            self.served_oi.append((t, oi))
            return 200, ok([{"instId": INST, "instType": "SWAP", "oi": contracts(oi), "oiCcy": f"{oi:.3f}",
                             "ts": str(t)}])
        if path == "/api/v5/public/funding-rate-history":
            keep = (tape.funding_time >= lo) & (tape.funding_time <= hi) & (tape.funding_time <= now)
            rows = [{"instId": INST, "fundingRate": f"{r:.8f}", "fundingTime": str(int(t))}
                    for t, r in zip(tape.funding_time[keep], tape.funding_rate[keep])][::-1][:limit]
            return 200, ok(rows)
        if path == "/api/v5/public/position-tiers":
            return 200, ok([{"instFamily": "BTC-USDT", "tier": str(i + 1), "minSz": a, "maxSz": b, "mmr": mmr,
                             "imr": imr, "maxLever": lev} for i, (a, b, mmr, imr, lev) in enumerate(TIERS)])
        return 404, {"code": "50000", "msg": f"no route {path}", "data": []}

    def connection_number(self, route: str) -> int:
        """Faults strike the first public connection (the business route only carries candles: 0)."""
        self.log[f"connections {route}"] += 1
        return self.log[f"connections {route}"] if route.endswith("public") else 0

    async def on_message(self, client: dict, text: str) -> set[str]:
        if text == "ping":
            self.log["pings"] += 1
            await client["ws"].send("pong")
            return set()
        message = json.loads(text)
        if message.get("op") != "subscribe":
            return set()
        for arg in message["args"]:
            await client["ws"].send(json.dumps({"event": "subscribe", "arg": arg, "connId": "a1"}))
        return {f"{a['channel']}:{a.get('instId') or a.get('instType')}" for a in message["args"]}

    def frames(self, k: int, second: int) -> list[tuple[str, object]]:
        tape = self.tape
        frames: list[tuple[str, object]] = []
        if second % MINUTE == 0 and second > tape.start_ms:
            frames.append(self._candle(second - MINUTE))
        trades = [{"instId": INST, "tradeId": str(i + 1), "px": f"{tape.trade_price[i]:.1f}",
                   "sz": contracts(tape.trade_qty[i]), "side": "sell" if tape.trade_buyer_maker[i] else "buy",
                   "ts": str(int(tape.trade_time[i])), "count": "1"} for i in self.trades_in(second)]
        if trades:
            frames.append(self._push({"channel": "trades", "instId": INST}, trades))
        frames.append(self._push({"channel": "mark-price", "instId": INST},
                                 [{"instId": INST, "instType": "SWAP", "markPx": f"{tape.mark[k]:.1f}",
                                   "ts": str(second)}]))
        t, oi = tape.oi_at(second)
        if t == second:
            self.served_oi.append((second, oi))
            frames.append(self._push({"channel": "open-interest", "instId": INST},
                                     [{"instId": INST, "instType": "SWAP", "oi": contracts(oi), "oiCcy": f"{oi:.3f}",
                                       "ts": str(second)}]))
        batch = []
        for lt, side, price, qty in self.liquidations_in(second):
            # Binance's SELL order (a long liquidated) is OKX's side sell / posSide long
            batch.append({"instId": INST, "instFamily": "BTC-USDT", "instType": "SWAP", "uly": "BTC-USDT",
                          "details": [{"bkLoss": "0", "bkPx": f"{price:.1f}", "ccy": "",
                                       "posSide": "long" if side == "SELL" else "short",
                                       "side": side.lower(), "sz": contracts(qty), "ts": str(lt)}]})
            batch.append({"instId": "DOGE-USDT-SWAP", "instType": "SWAP", "details": [
                {"bkLoss": "0", "bkPx": "0.1", "ccy": "", "posSide": "long", "side": "sell", "sz": "3",
                 "ts": str(lt)}]})
        if batch:
            frames.append(self._push({"channel": "liquidation-orders", "instType": "SWAP"}, batch))
        return frames

    def final_frames(self, end_ms: int) -> list[tuple[str, object]]:
        return [self._candle(end_ms - MINUTE)]

    @staticmethod
    def _push(arg: dict, data: list) -> tuple:
        return f"{arg['channel']}:{arg.get('instId') or arg.get('instType')}", {"arg": arg, "data": data}

    def _candle(self, t: int) -> tuple:
        row = self.klines[(t - self.tape.start_ms) // MINUTE]
        return self._push({"channel": "candle1m", "instId": INST}, [[
            str(t), f"{row[1]:.1f}", f"{row[2]:.1f}", f"{row[3]:.1f}", f"{row[4]:.1f}", contracts(row[5]),
            f"{row[5]:.3f}", "0", "1"]])

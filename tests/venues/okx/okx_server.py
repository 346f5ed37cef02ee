"""A local exchange on 127.0.0.1 speaking OKX v5 (REST, and the public and business WebSocket routes).

It plays the same :class:`~tests.live.exchange_server.Tape` as the Binance server, with the same faults,
in OKX's formats: answers ``{"code": "0", "msg": "", "data": [...]}`` with newest-first string rows, sizes
in contracts of ``CT_VAL`` (the tape's quantities are base units: contracts = base / CT_VAL), channels
subscribed by ``{"op": "subscribe", "args": [...]}``, a text ``ping`` answered ``pong``, candles on the
business route, liquidations of every swap on one channel (a DOGE one is mixed in, to be dropped).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

import numpy as np

from tests.live.exchange_server import MINUTE, ExchangeServer

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

    def start(self) -> None:
        super().start()
        self.ws_url = self.ws_url.replace("/market/stream", "/ws/v5/public")

    def rest(self, path: str, query: dict) -> tuple[int, object, dict]:
        self.log[f"GET {path}"] += 1
        queued = self.faults.rest_status.get(path)
        if queued:
            status, retry_after = queued.pop(0)
            self.log[f"HTTP {status} {path}"] += 1
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return status, {"code": "50011", "msg": "Too Many Requests", "data": []}, headers
        now = self.cursor_ms
        q = {k: v[0] for k, v in query.items()}
        if q.get("instId", INST) != INST:
            return 200, {"code": "51001", "msg": f"Instrument ID {q.get('instId')} does not exist", "data": []}, {}
        limit = min(int(q.get("limit", 100)), LIMITS.get(path, 100))
        # after = rows older than it, before = rows newer than it (OKX's paging); begin/end inclusive
        hi = int(q["after"]) - 1 if "after" in q else int(q.get("end", 2**62))
        lo = int(q["before"]) + 1 if "before" in q else int(q.get("begin", 0))
        tape = self.tape
        if path == "/api/v5/public/time":
            return 200, ok([{"ts": str(now)}]), {}
        if path == "/api/v5/public/instruments":
            return 200, ok([{"instId": INST, "instType": "SWAP", "ctVal": str(CT_VAL), "ctValCcy": "BTC",
                             "tickSz": "0.1", "settleCcy": "USDT"}]), {}
        if path in ("/api/v5/market/history-candles", "/api/v5/market/history-mark-price-candles"):
            last = path.endswith("/history-candles")
            rows = self.klines if last else self.mark_klines
            t = rows[:, 0]
            pick = rows[(t >= lo) & (t <= hi) & (t + MINUTE <= now)][::-1][:limit]
            out = []
            for r in pick:
                row = [str(int(r[0]))] + [f"{x:.1f}" for x in r[1:5]]
                out.append(row + ([contracts(r[5]), f"{r[5]:.3f}", "0", "1"] if last else ["1"]))
            return 200, ok(out), {}
        if path == "/api/v5/rubik/stat/contracts/open-interest-history":
            five = tape.oi_time[(tape.oi_time % 300_000 == 0) & (tape.oi_time <= now)]
            five = five[(five >= lo) & (five <= hi)][::-1][:limit]
            rows = []
            for t in five:
                oi = tape.oi_at(int(t))[1]
                rows.append([str(int(t)), contracts(oi), f"{oi:.3f}", f"{oi * 90000:.1f}"])
                self.served_oi.append((int(t), oi))
            return 200, ok(rows), {}
        if path == "/api/v5/public/open-interest":
            t, oi = tape.oi_at(now)
            self.served_oi.append((t, oi))
            return 200, ok([{"instId": INST, "instType": "SWAP", "oi": contracts(oi), "oiCcy": f"{oi:.3f}",
                             "ts": str(t)}]), {}
        if path == "/api/v5/public/funding-rate-history":
            keep = (tape.funding_time >= lo) & (tape.funding_time <= hi) & (tape.funding_time <= now)
            rows = [{"instId": INST, "fundingRate": f"{r:.8f}", "fundingTime": str(int(t))}
                    for t, r in zip(tape.funding_time[keep], tape.funding_rate[keep])][::-1][:limit]
            return 200, ok(rows), {}
        if path == "/api/v5/public/position-tiers":
            return 200, ok([{"instFamily": "BTC-USDT", "tier": str(i + 1), "minSz": a, "maxSz": b, "mmr": mmr,
                             "imr": imr, "maxLever": lev} for i, (a, b, mmr, imr, lev) in enumerate(TIERS)]), {}
        return 404, {"code": "50000", "msg": f"no route {path}", "data": []}, {}

    async def _serve_ws(self, ws) -> None:
        route = urlparse(ws.request.path).path
        if route not in ("/ws/v5/public", "/ws/v5/business"):
            await ws.close(1008, "no such route")
            return
        self.log["connections"] += 1
        self.log[f"connections {route}"] += 1
        # faults strike the first public connection (the business route only carries candles)
        client = {"ws": ws, "streams": set(), "sent": 0,
                  "n": self.log[f"connections {route}"] if route.endswith("public") else 0}
        self._clients.append(client)
        try:
            async for text in ws:
                if text == "ping":
                    self.log["pings"] += 1
                    await ws.send("pong")
                    continue
                message = json.loads(text)
                if message.get("op") != "subscribe":
                    continue
                names = {f"{a['channel']}:{a.get('instId') or a.get('instType')}" for a in message["args"]}
                if client["n"] == 1:
                    names -= set(self.faults.unserved_first_connection)
                client["streams"] |= names
                for arg in message["args"]:
                    await ws.send(json.dumps({"event": "subscribe", "arg": arg, "connId": "a1"}))
                if not self._started:
                    self._started = True
                    asyncio.get_running_loop().create_task(self._pump())
        except Exception:  # noqa: BLE001 - a client cut by a fault ends here
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)

    def wrap(self, name: str, data) -> str:
        return json.dumps(data)

    async def _pump(self) -> None:
        tape = self.tape
        ti = int(np.searchsorted(tape.trade_time, self.cursor_ms))
        liqs = [x for x in tape.liquidations if x[0] >= self.cursor_ms]
        first = int(np.searchsorted(tape.tick_time, self.cursor_ms))
        for k in range(first, tape.tick_time.size):
            second = int(tape.tick_time[k])
            frames = []
            if second % MINUTE == 0 and second > tape.start_ms:
                frames.append(self._candle(second - MINUTE))
            trades = []
            while ti < tape.trade_time.size and tape.trade_time[ti] < second + 1000:
                trades.append({"instId": INST, "tradeId": str(ti + 1), "px": f"{tape.trade_price[ti]:.1f}",
                               "sz": contracts(tape.trade_qty[ti]), "side": "sell" if tape.trade_buyer_maker[ti] else "buy",
                               "ts": str(int(tape.trade_time[ti])), "count": "1"})
                ti += 1
            if trades:
                frames.append(self._push({"channel": "trades", "instId": INST}, trades))
            frames.append(self._push({"channel": "mark-price", "instId": INST},
                                     [{"instId": INST, "instType": "SWAP", "markPx": f"{tape.mark[k]:.1f}",
                                       "ts": str(second)}]))
            t, oi = tape.oi_at(second)
            if t == second:
                self.served_oi.append((second, oi))
                frames.append(self._push({"channel": "open-interest", "instId": INST},
                                         [{"instId": INST, "instType": "SWAP", "oi": contracts(oi),
                                           "oiCcy": f"{oi:.3f}", "ts": str(second)}]))
            batch = []
            while liqs and liqs[0][0] < second + 1000:
                lt, side, price, qty = liqs.pop(0)
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
            self.cursor_ms = second
            for client in list(self._clients):
                await self._send(client, frames, second)
            await asyncio.sleep(1 / self.speed)
        last = tape.end_ms
        for client in list(self._clients):
            await self._send(client, [self._candle(last - MINUTE)], last)
        self.cursor_ms = last
        self.finished.set()

    @staticmethod
    def _push(arg: dict, data: list) -> tuple:
        return f"{arg['channel']}:{arg.get('instId') or arg.get('instType')}", {"arg": arg, "data": data}

    def _candle(self, t: int) -> tuple:
        row = self.klines[(t - self.tape.start_ms) // MINUTE]
        return self._push({"channel": "candle1m", "instId": INST}, [[
            str(t), f"{row[1]:.1f}", f"{row[2]:.1f}", f"{row[3]:.1f}", f"{row[4]:.1f}", contracts(row[5]),
            f"{row[5]:.3f}", "0", "1"]])

"""A local exchange on 127.0.0.1 speaking Binance USDⓈ-M REST (HTTP) and market streams (WebSocket).

It plays a :class:`Tape` (a synthetic market: a mark price every second,
aggregate trades, 1-minute klines made from them, open interest every 5 s,
funding, forced liquidations) forward in compressed time once the first
stream client connects: ``speed`` data seconds per wall second.  REST serves
what is already in the past of the tape's clock, in Binance's documented
formats; the stream route is ``/market/stream?streams=...`` and answers the
combined wrapper ``{"stream", "data"}``.

Faults a test can switch on (all counted in :attr:`ExchangeServer.log`):
dropping the connection after N frames, a stall, garbage and truncated
frames, a stream acknowledged but never served, HTTP 429 with Retry-After,
failing open-interest polls, trades left out of the stream (REST ``aggTrades`` has them).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

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


@dataclass
class Faults:
    """What goes wrong, switched on by a test before or while the tape plays."""

    drop_after_frames: int | None = None  # the first connection is cut (no close frame) after N frames
    stall_at_ms: int | None = None  # at this data time the connection stops sending ...
    stall_wall_s: float = 0.0  # ... for this long (wall time), then closes; the tape plays on
    garbage_every: int | None = None  # every Nth frame is preceded by a garbage and a truncated frame
    unserved_first_connection: tuple[str, ...] = ()  # acknowledged, never sent, on the first connection
    rest_status: dict = field(default_factory=dict)  # path -> list of (status, retry_after_s) for next calls
    unsent_trade_ids: frozenset = frozenset()  # aggregate trades never sent on the stream (REST serves them)


class ExchangeServer:
    """HTTP + WebSocket on 127.0.0.1 (ephemeral ports), run in a background thread."""

    def __init__(self, tape: Tape, live_start_ms: int, speed: float = 600.0, faults: Faults | None = None):
        self.tape, self.speed, self.faults = tape, speed, faults or Faults()
        self.cursor_ms = live_start_ms
        self.live_start_ms = live_start_ms
        self.klines = tape.klines()
        self.mark_klines = tape.mark_klines()
        self.log: dict = defaultdict(int)
        self.served_oi: list[tuple[int, float]] = []
        self.trades_played = int(np.searchsorted(tape.trade_time, live_start_ms))  # REST has trades up to here
        self.finished = threading.Event()
        self._clients: list = []
        self._started = False
        self._pump_task: asyncio.Task | None = None

    # ------------------------------------------------------------ lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.rest_url = f"http://127.0.0.1:{self._http.server_address[1]}"
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run_loop, args=(ready,), daemon=True).start()
        ready.wait(5)
        self.ws_url = f"ws://127.0.0.1:{self._ws_port}/market/stream"

    def _run_loop(self, ready: threading.Event) -> None:
        from websockets.asyncio.server import serve

        async def main():
            self._stop = asyncio.Event()
            async with serve(self._serve_ws, "127.0.0.1", 0, ping_interval=None) as server:
                self._ws_port = server.sockets[0].getsockname()[1]
                ready.set()
                await self._stop.wait()
                if self._pump_task is not None:  # the market stops with the server, not later
                    self._pump_task.cancel()
                    await asyncio.gather(self._pump_task, return_exceptions=True)

        self._loop.run_until_complete(main())
        self._loop.close()

    def drop_connections(self) -> None:
        """Cut every stream connection now (no close frame), as a network fault would; the tape plays on."""
        def drop():
            for client in list(self._clients):
                self.log["dropped connections"] += 1
                client["ws"].transport.abort()
                self._clients.remove(client)

        self._loop.call_soon_threadsafe(drop)

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._loop.call_soon_threadsafe(self._stop.set)

    # ------------------------------------------------------------ REST
    def rest(self, path: str, query: dict) -> tuple[int, object, dict]:
        self.log[f"GET {path}"] += 1
        queued = self.faults.rest_status.get(path)
        if queued:
            status, retry_after = queued.pop(0)
            self.log[f"HTTP {status} {path}"] += 1
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return status, {"code": -1003, "msg": "Too many requests"}, headers
        now = self.cursor_ms
        q = {k: v[0] for k, v in query.items()}
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        limit = int(q.get("limit", 500))
        if path == "/fapi/v1/time":
            return 200, {"serverTime": now}, {}
        if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
            rows = self.klines if path.endswith("/klines") else self.mark_klines
            t = rows[:, 0]
            pick = rows[(t >= start) & (t <= end) & (t + MINUTE <= now)][:limit]
            return 200, [_kline_row(r, path.endswith("/klines")) for r in pick], {}
        if path == "/futures/data/openInterestHist":
            tape = self.tape
            five = tape.oi_time[(tape.oi_time % 300_000 == 0) & (tape.oi_time <= now)]
            five = five[(five >= start) & (five <= end) & (five > now - 30 * 86_400_000)][:limit]
            rows = []
            for t in five:
                oi = tape.oi_at(int(t))[1]
                rows.append({"symbol": tape.symbol, "sumOpenInterest": f"{oi:.8f}",
                             "sumOpenInterestValue": f"{oi * 90000:.8f}", "timestamp": int(t)})
                self.served_oi.append((int(t), oi))
            return 200, rows, {}
        if path == "/fapi/v1/openInterest":
            t, oi = self.tape.oi_at(now)
            self.served_oi.append((t, oi))
            return 200, {"symbol": self.tape.symbol, "openInterest": f"{oi:.3f}", "time": t}, {}
        if path == "/fapi/v1/aggTrades":
            first = int(q["fromId"]) - 1  # ids are index + 1
            stop = min(first + min(limit, 1000), self.trades_played)
            return 200, [_agg_trade(self.tape, i) for i in range(first, stop)], {}
        if path == "/fapi/v1/fundingRate":
            tape = self.tape
            keep = (tape.funding_time >= start) & (tape.funding_time <= end) & (tape.funding_time <= now)
            return 200, [{"symbol": tape.symbol, "fundingTime": int(t), "fundingRate": f"{r:.8f}",
                          "markPrice": "0"} for t, r in zip(tape.funding_time[keep], tape.funding_rate[keep])][:limit], {}
        return 404, {"code": -1, "msg": f"no route {path}"}, {}

    # ------------------------------------------------------------ streams
    async def _serve_ws(self, ws) -> None:
        path = urlparse(ws.request.path)
        if path.path != "/market/stream":
            # the old routes: accepted, acknowledged, never served
            self.log["old route connections"] += 1
            async for _ in ws:
                await ws.send(json.dumps({"result": None, "id": 1}))
            return
        streams = set(parse_qs(path.query).get("streams", [""])[0].split("/"))
        self.log["connections"] += 1
        client = {"ws": ws, "streams": streams, "sent": 0, "n": self.log["connections"]}
        if client["n"] == 1:
            client["streams"] = streams - set(self.faults.unserved_first_connection)
        self._clients.append(client)
        if not self._started:
            self._started = True
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())
        try:
            await ws.wait_closed()
        finally:
            if client in self._clients:
                self._clients.remove(client)

    async def _pump(self) -> None:
        tape = self.tape
        s = tape.symbol.lower()
        ti = int(np.searchsorted(tape.trade_time, self.cursor_ms))
        liqs = [x for x in tape.liquidations if x[0] >= self.cursor_ms]
        first = int(np.searchsorted(tape.tick_time, self.cursor_ms))
        for k in range(first, tape.tick_time.size):
            second = int(tape.tick_time[k])
            frames = []
            if second % MINUTE == 0 and second > tape.start_ms:
                frames.append((f"{s}@kline_1m", self._kline_frame(second - MINUTE, second)))
            frames.append((f"{s}@markPrice@1s", {
                "e": "markPriceUpdate", "E": second, "s": tape.symbol, "p": f"{tape.mark[k]:.1f}",
                "i": f"{tape.mark[k] - 3:.1f}", "P": f"{tape.mark[k]:.1f}", "r": "0.00010000",
                "T": second - second % 28_800_000 + 28_800_000}))
            while ti < tape.trade_time.size and tape.trade_time[ti] < second + 1000:
                if ti + 1 not in self.faults.unsent_trade_ids:
                    frames.append((f"{s}@aggTrade", {"e": "aggTrade", "E": int(tape.trade_time[ti]) + 2,
                                                     "s": tape.symbol, **_agg_trade(tape, ti)}))
                ti += 1
            self.trades_played = ti
            while liqs and liqs[0][0] < second + 1000:
                t, side, price, qty = liqs.pop(0)
                frames.append((f"{s}@forceOrder", {"e": "forceOrder", "E": t + 5, "o": {
                    "s": tape.symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": f"{qty:.3f}",
                    "p": f"{price * (0.99 if side == 'SELL' else 1.01):.1f}", "ap": f"{price:.1f}",
                    "X": "FILLED", "l": f"{qty:.3f}", "z": f"{qty:.3f}", "T": t}}))
            self.cursor_ms = second
            for client in list(self._clients):
                await self._send(client, frames, second)
            await asyncio.sleep(1 / self.speed)
        last = tape.end_ms
        for client in list(self._clients):
            await self._send(client, [(f"{s}@kline_1m", self._kline_frame(last - MINUTE, last))], last)
        self.cursor_ms = last
        self.finished.set()

    def _kline_frame(self, t: int, event_time: int) -> dict:
        row = self.klines[(t - self.tape.start_ms) // MINUTE]
        return {"e": "kline", "E": event_time + 1, "s": self.tape.symbol, "k": {
            "t": t, "T": t + MINUTE - 1, "s": self.tape.symbol, "i": "1m", "f": 1, "L": 2,
            "o": f"{row[1]:.1f}", "c": f"{row[4]:.1f}", "h": f"{row[2]:.1f}", "l": f"{row[3]:.1f}",
            "v": f"{row[5]:.3f}", "n": 2, "x": True, "q": "0", "V": f"{row[6]:.3f}", "Q": "0", "B": "0"}}

    def wrap(self, name: str, data) -> str:
        """One frame on the wire: Binance's combined-stream wrapper (other venues' servers override it)."""
        return json.dumps({"stream": name, "data": data})

    async def _send(self, client: dict, frames: list, second: int) -> None:
        from websockets.exceptions import ConnectionClosed

        faults, ws = self.faults, client["ws"]
        try:
            if client["n"] == 1 and faults.stall_at_ms is not None and second >= faults.stall_at_ms:
                if not client.get("stalled"):
                    client["stalled"] = True
                    self.log["stalls"] += 1
                    asyncio.get_running_loop().call_later(faults.stall_wall_s, lambda: ws.transport.abort())
                return
            for name, data in frames:
                if name not in client["streams"]:
                    continue
                client["sent"] += 1
                text = self.wrap(name, data)
                if faults.garbage_every and client["sent"] % faults.garbage_every == 0:
                    await ws.send("<html>502 Bad Gateway</html>")
                    await ws.send(text[: len(text) // 2])
                    self.log["garbage frames"] += 2
                await ws.send(text)
                if client["n"] == 1 and faults.drop_after_frames and client["sent"] >= faults.drop_after_frames:
                    self.log["dropped connections"] += 1
                    ws.transport.abort()
                    self._clients.remove(client)
                    return
        except ConnectionClosed:
            if client in self._clients:
                self._clients.remove(client)


def _agg_trade(tape: Tape, i: int) -> dict:
    """Trade ``i`` as Binance's aggTrade fields (REST rows; the stream adds ``e, E, s``); its id is ``i + 1``."""
    return {"a": i + 1, "p": f"{tape.trade_price[i]:.1f}", "q": f"{tape.trade_qty[i]:.3f}", "f": 10 * i,
            "l": 10 * i + 1, "T": int(tape.trade_time[i]), "m": bool(tape.trade_buyer_maker[i])}


def _kline_row(r: np.ndarray, last: bool) -> list:
    t = int(r[0])
    volume, taker = (f"{r[5]:.3f}", f"{r[6]:.3f}") if last else ("0", "0")
    return [t, f"{r[1]:.1f}", f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.1f}", volume, t + MINUTE - 1, "0",
            60, taker, "0", "0"]


def _handler(server: ExchangeServer):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            url = urlparse(self.path)
            status, body, headers = server.rest(url.path, parse_qs(url.query))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler

"""The plumbing every local exchange of the tests shares: HTTP and WebSocket on 127.0.0.1, the fault
switches, and the pump that plays a :class:`~tests.exchange_servers.tape.Tape` forward frame by frame.

A venue's module subclasses :class:`ExchangeServer` and says only what differs: how it answers REST
(:meth:`answer`), how a client subscribes (:meth:`on_message`, or streams named in the URL), which frames
one second of the tape makes (:meth:`frames`) and how a frame looks on the wire (:meth:`wrap`).

Faults a test can switch on (all counted in :attr:`ExchangeServer.log`): dropping the first connection
after N frames, a stall, garbage and truncated frames, a stream acknowledged but never served on the
first connection, and queued REST statuses (HTTP 429 with Retry-After, 500s) per request.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from .tape import MINUTE, Tape


@dataclass
class Faults:
    """What goes wrong, switched on by a test before or while the tape plays."""

    drop_after_frames: int | None = None  # the first connection is cut (no close frame) after N frames
    stall_at_ms: int | None = None  # at this data time the connection stops sending ...
    stall_wall_s: float = 0.0  # ... for this long (wall time), then closes; the tape plays on
    garbage_every: int | None = None  # every Nth frame is preceded by a garbage and a truncated frame
    unserved_first_connection: tuple[str, ...] = ()  # acknowledged, never sent, on the first connection
    rest_status: dict = field(default_factory=dict)  # request key -> list of (status, retry_after_s) for next calls
    unsent_trade_ids: frozenset = frozenset()  # trades (by id, index + 1) never sent on the stream (REST has them)


class ExchangeServer:
    """HTTP + WebSocket on 127.0.0.1 (ephemeral ports), run in background threads."""

    #: the WebSocket routes served; ``ws_url`` points at the first
    ws_routes: tuple[str, ...] = ("/ws",)

    def __init__(self, tape: Tape, live_start_ms: int, speed: float = 600.0, faults: Faults | None = None):
        self.tape, self.speed, self.faults = tape, speed, faults or Faults()
        self.cursor_ms = live_start_ms
        self.live_start_ms = live_start_ms
        self.klines = tape.klines()
        self.mark_klines = tape.mark_klines()
        self.log: dict = defaultdict(int)
        self.served_oi: list[tuple[int, float]] = []
        self.finished = threading.Event()
        self._clients: list = []
        self._started = False
        self._pump_task: asyncio.Task | None = None
        self.trades_played = int(np.searchsorted(tape.trade_time, live_start_ms))  # REST has trades up to here
        self._liquidations: list = []

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
        self.ws_url = f"ws://127.0.0.1:{self._ws_port}{self.ws_routes[0]}"

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
    def http(self, method: str, path: str, query: dict, body) -> tuple[int, object, dict]:
        """One request: a queued fault status for its key, else the venue's :meth:`answer`."""
        key = self.request_key(path, body)
        self.log[f"{method} {key}"] += 1
        queued = self.faults.rest_status.get(key)
        if queued:
            status, retry_after = queued.pop(0)
            self.log[f"HTTP {status} {key}"] += 1
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return status, self.refusal(status), headers
        status, payload = self.answer(path, {k: v[0] for k, v in query.items()}, body)
        return status, payload, {"Date": formatdate(self.cursor_ms / 1000, usegmt=True)}

    def request_key(self, path: str, body) -> str:
        """What faults and the log name a request by (the path; a venue with one route names the body)."""
        return path

    def refusal(self, status: int) -> object:
        """The body sent with a queued fault status."""
        return {"msg": "Too many requests" if status == 429 else "Internal error"}

    def answer(self, path: str, query: dict, body) -> tuple[int, object]:
        raise NotImplementedError

    # ------------------------------------------------------------ streams
    def url_streams(self, ws) -> set[str] | None:
        """Streams named in the connection's URL (None: the venue subscribes by message)."""
        return None

    async def on_message(self, client: dict, text: str) -> set[str]:
        """A client's message (subscriptions, pings): answer it and return the streams it asks for."""
        return set()

    async def _serve_ws(self, ws) -> None:
        route = urlparse(ws.request.path).path
        if route not in self.ws_routes:
            await self.other_route(ws, route)
            return
        self.log["connections"] += 1
        client = {"ws": ws, "streams": set(), "sent": 0, "n": self.connection_number(route)}
        self._clients.append(client)
        named = self.url_streams(ws)
        if named is not None:
            self._subscribe(client, named)
        try:
            async for text in ws:
                wanted = await self.on_message(client, text)
                if wanted:
                    self._subscribe(client, wanted)
        except Exception:  # noqa: BLE001 - a client cut by a fault ends here
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)

    def connection_number(self, route: str) -> int:
        """Which connection this is (faults strike number 1)."""
        return self.log["connections"]

    async def other_route(self, ws, route: str) -> None:
        await ws.close(1008, "no such route")

    def _subscribe(self, client: dict, names: set[str]) -> None:
        if client["n"] == 1:
            names = names - set(self.faults.unserved_first_connection)
        client["streams"] |= names
        if not self._started:
            self._started = True
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    def trades_in(self, second: int) -> range:
        """Indices of the tape's trades in ``[second, second + 1 s)`` not streamed yet."""
        first = self.trades_played
        self.trades_played = max(first, int(np.searchsorted(self.tape.trade_time, second + 1000)))
        return range(first, self.trades_played)

    def liquidations_in(self, second: int) -> list:
        """The tape's liquidations before ``second + 1 s`` not streamed yet."""
        out = []
        while self._liquidations and self._liquidations[0][0] < second + 1000:
            out.append(self._liquidations.pop(0))
        return out

    def frames(self, k: int, second: int) -> list[tuple[str, object]]:
        """The frames ``(stream, payload)`` of the tape's second ``k`` (data time ``second``)."""
        raise NotImplementedError

    def final_frames(self, end_ms: int) -> list[tuple[str, object]]:
        """What closes the last bar once the tape has ended."""
        return []

    def for_client(self, client: dict, frames: list) -> list:
        """The frames as one client gets them (a venue sending snapshots then deltas adapts them here)."""
        return frames

    async def _pump(self) -> None:
        tape = self.tape
        self._liquidations = [x for x in tape.liquidations if x[0] >= self.cursor_ms]
        first = int(np.searchsorted(tape.tick_time, self.cursor_ms))
        for k in range(first, tape.tick_time.size):
            second = int(tape.tick_time[k])
            frames = self.frames(k, second)
            self.cursor_ms = second
            for client in list(self._clients):
                await self._send(client, self.for_client(client, frames), second)
            await asyncio.sleep(1 / self.speed)
        last = tape.end_ms
        for client in list(self._clients):
            await self._send(client, self.final_frames(last), last)
        self.cursor_ms = last
        self.finished.set()

    def wrap(self, name: str, data) -> str:
        """One frame on the wire."""
        return json.dumps(data)

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

    def minute_rows(self, rows: np.ndarray, start: int, end: int, now: int, limit: int) -> np.ndarray:
        """Complete bars (by the server's clock ``now``) opening in ``[start, end]``, oldest first."""
        t = rows[:, 0]
        return rows[(t >= start) & (t <= end) & (t + MINUTE <= now)][:limit]

    def five_minute_oi(self, start: int, end: int, now: int, limit: int,
                       newest_first: bool = False) -> list[tuple[int, float]]:
        """The tape's 5-minute open-interest snapshots in ``[start, end]`` already taken at ``now``, as an
        open-interest history serves them (at most ``limit``), each recorded in ``served_oi``."""
        tape = self.tape
        five = tape.oi_time[(tape.oi_time % 300_000 == 0) & (tape.oi_time <= now)]
        five = five[(five >= start) & (five <= end)]
        served = [(int(t), tape.oi_at(int(t))[1]) for t in (five[::-1] if newest_first else five)[:limit]]
        self.served_oi.extend(served)
        return served


def _handler(server: ExchangeServer):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            url = urlparse(self.path)
            self._reply(*server.http("GET", url.path, parse_qs(url.query), None))

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                self._reply(400, {"error": "the body is not JSON"}, {})
                return
            self._reply(*server.http("POST", url.path, parse_qs(url.query), body))

        def _reply(self, status: int, body, headers: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response_only(status)  # no automatic Date: the venue's clock is the tape's
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler

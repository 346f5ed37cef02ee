"""One WebSocket feed that never dies silently: reconnects, rotation, a watchdog per stream.

* A dropped or failed connection is reopened with exponential backoff and
  jitter; the new connection subscribes again (the streams are in its URL, or in
  the ``subscribe`` messages it sends on opening).
* Exchanges cut connections after a fixed age (Binance: 24 hours): before
  ``max_age_s`` a second connection is opened, and the first is closed only
  once the second delivers, so nothing is missed (the consumer drops the
  duplicates of the overlap).
* A watched stream silent for ``silence_s`` while others flow is reported
  and the connection recycled: that is how a route that acknowledges a
  subscription but serves nothing shows itself.  All streams silent is a
  stall, handled the same way.
* A malformed frame is logged with its stream and an excerpt, counted and
  skipped.  Pings are answered by the WebSocket layer; ``ping_s`` keeps our
  own keepalive.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..frames import DataError
from .health import Health

#: Health name of the connection itself.
CONNECTION = "connection"
_STREAM_NAME = re.compile(r'"(?:stream|topic)"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class FeedConfig:
    """Where to connect and how patient to be (seconds of wall time)."""

    url: str
    streams: tuple[str, ...]
    watched: tuple[str, ...]  # streams that flow steadily when healthy (e.g. the 1-second mark price)
    silence_s: float = 10.0
    max_age_s: float = 23.5 * 3600
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    ping_s: float = 20.0
    tick_s: float = 0.1
    subscribe: tuple[str, ...] = ()  # text frames sent on opening (venues that subscribe by message)
    heartbeat: str = ""  # a text frame sent every ping_s (venues that want their own keepalive)


@dataclass(eq=False)
class _Connection:
    ws: object
    opened: float
    last: dict = field(default_factory=dict)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    ended: str = ""


class StreamFeed:
    """Runs one combined-stream connection (two during a rotation) until cancelled."""

    def __init__(self, config: FeedConfig, parse: Callable[[str], tuple[str, object]], health: Health,
                 clock: Callable[[], float] = time.monotonic):
        self.config, self.parse, self.health, self.clock = config, parse, health, clock
        for name in (CONNECTION, *config.streams):
            health.stream(name)
        for name in config.watched:  # silent longer than the watchdog allows: shown as stale
            health.stream(name).steady_s = config.silence_s

    async def run(self, emit: Callable[[str, object], None], on_disconnect: Callable[[], None]) -> None:
        """Deliver ``emit(stream, event)`` for every parsed message; ``on_disconnect()`` whenever no
        connection is up (the consumer then knows data may be missing until the next message)."""
        conns: list[_Connection] = []
        failures = 0
        while True:
            if not conns:
                if failures:
                    wait = min(self.config.max_backoff_s, self.config.backoff_s * 2 ** (failures - 1))
                    await asyncio.sleep(wait * (0.5 + random.random() / 2))
                try:
                    conns.append(await self._open(emit))
                except Exception as exc:  # any failure to connect is retried
                    failures += 1
                    self.health.fault(CONNECTION, f"connect failed ({_describe(exc)}); retry {failures}")
                    continue
            await asyncio.sleep(self.config.tick_s)
            now = self.clock()
            for conn in [c for c in conns if c.task is not None and c.task.done()]:
                conns.remove(conn)
                failures = 1 if conn.delivered.is_set() else failures + 1
                self._reconnecting(f"connection closed ({conn.ended or 'by the server'}); reconnecting")
                if not conns:
                    on_disconnect()
            if not conns:
                continue
            newest = conns[-1]
            problem = self._watchdog(newest, now)
            if problem:
                await self._close(newest)
                conns.remove(newest)
                self._reconnecting(problem)
                if not conns:
                    on_disconnect()
                continue
            if len(conns) == 1 and now - newest.opened > self.config.max_age_s:
                try:
                    conns.append(await self._open(emit))
                    self.health.rotations += 1
                    self.health.events.append(f"{CONNECTION}: rotating before the exchange's cut "
                                              f"(age {now - newest.opened:.0f}s)")
                except Exception as exc:  # the old connection carries on
                    self.health.fault(CONNECTION, f"rotation failed ({_describe(exc)}); keeping the old connection")
            if len(conns) == 2 and conns[1].delivered.is_set():
                await self._close(conns[0])
                conns.pop(0)

    def _watchdog(self, conn: _Connection, now: float) -> str:
        """A reason to recycle ``conn``, or ''."""
        silence = self.config.silence_s
        ages = {s: now - conn.last.get(s, conn.opened) for s in self.config.streams}
        flowing = [s for s, age in ages.items() if age <= silence]
        silent = [s for s in self.config.watched if ages[s] > silence]
        if not silent:
            return ""
        if not flowing:
            text = f"no message on any stream for {min(ages.values()):.1f}s (stall); connection recycled"
            self.health.fault(CONNECTION, text)
            return text
        for s in silent:
            self.health.fault(s, f"silent for {ages[s]:.1f}s while {', '.join(flowing)} flow "
                                 "(subscribed but not served); connection recycled")
        return f"{', '.join(silent)} silent while others flow; connection recycled"

    def _reconnecting(self, reason: str) -> None:
        for name in self.config.streams:
            self.health.stream(name).reconnects += 1
        self.health.stream(CONNECTION).reconnects += 1
        self.health.fault(CONNECTION, reason)

    async def _open(self, emit) -> _Connection:
        from websockets.asyncio.client import connect

        ws = await asyncio.wait_for(connect(self.config.url, ping_interval=self.config.ping_s, max_size=2**22,
                                            open_timeout=10), 15)
        for message in self.config.subscribe:
            await ws.send(message)
        conn = _Connection(ws=ws, opened=self.clock())
        conn.task = asyncio.get_running_loop().create_task(self._read(conn, emit))
        self.health.clear_fault(CONNECTION)
        return conn

    async def _read(self, conn: _Connection, emit) -> None:
        from websockets.exceptions import ConnectionClosed

        beat = asyncio.get_running_loop().create_task(self._heartbeat(conn)) if self.config.heartbeat else None
        try:
            async for text in conn.ws:  # type: ignore[attr-defined]
                now = self.clock()
                try:
                    name, event = self.parse(text)
                except DataError as exc:
                    match = _STREAM_NAME.search(text if isinstance(text, str) else text.decode("utf-8", "replace"))
                    self.health.malformed(match.group(1) if match else CONNECTION, str(text), str(exc))
                    continue
                if event is None:
                    continue
                conn.last[name] = now
                self.health.seen(name)
                conn.delivered.set()
                if self.health.streams[name].fault:
                    self.health.clear_fault(name)
                for item in event if isinstance(event, list) else (event,):  # a frame may batch several
                    emit(name, item)
        except ConnectionClosed as exc:
            conn.ended = _describe(exc)
        except OSError as exc:
            conn.ended = _describe(exc)
        finally:
            if beat is not None:
                beat.cancel()

    async def _heartbeat(self, conn: _Connection) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await asyncio.sleep(self.config.ping_s)
                await conn.ws.send(self.config.heartbeat)  # type: ignore[attr-defined]
        except ConnectionClosed:
            return  # the reader sees the close and reports it

    async def _close(self, conn: _Connection) -> None:
        if conn.task is not None:
            conn.task.cancel()
        try:
            await asyncio.wait_for(conn.ws.close(), 2)  # type: ignore[attr-defined]
        except Exception:  # a connection being dropped may fail to close in many ways; it is gone either way
            pass


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class FeedGroup:
    """Several connections run as one feed (a venue serving its channels on more than one route)."""

    def __init__(self, feeds: list[StreamFeed]):
        self.feeds = feeds

    async def run(self, emit: Callable[[str, object], None], on_disconnect: Callable[[], None]) -> None:
        """Each feed's messages go to ``emit``; a feed without a connection tells ``on_disconnect``."""
        await asyncio.gather(*(feed.run(emit, on_disconnect) for feed in self.feeds))

"""A local exchange in a process of its own (benchmarks: the server does not compete with the loop for the GIL)."""

from __future__ import annotations

import multiprocessing

from .tape import synthetic_tape

SERVERS = {"binance": ("binance", "BinanceServer"), "bybit": ("bybit", "BybitServer"), "okx": ("okx", "OkxServer"),
           "hyperliquid": ("hyperliquid", "HyperliquidServer")}


def _serve(venue: str, tape_args: dict, live_start_ms: int, speed: float, conn) -> None:
    """Build the tape, serve it, send the URLs and the tape's end, serve until told to stop."""
    import importlib

    module, name = SERVERS[venue]
    server_class = getattr(importlib.import_module(f"tests.exchange_servers.{module}"), name)
    tape = synthetic_tape(**tape_args)
    with server_class(tape, live_start_ms, speed=speed) as server:
        conn.send((server.rest_url, server.ws_url, tape.end_ms))
        conn.recv()


class Remote:
    """``venue``'s local exchange over ``synthetic_tape(**tape_args)`` in a child process, as a context manager
    with ``rest_url``, ``ws_url`` and ``end_ms``."""

    def __init__(self, venue: str, tape_args: dict, live_start_ms: int, speed: float = 1e9):
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=_serve, args=(venue, tape_args, live_start_ms, speed, child),
                                                daemon=True)

    def __enter__(self):
        self._process.start()
        self.rest_url, self.ws_url, self.end_ms = self._conn.recv()
        return self

    def __exit__(self, *exc):
        self._conn.send("stop")
        self._process.join(10)

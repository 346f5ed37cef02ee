"""Hyperliquid's ``POST /info`` endpoint: account states and asset contexts, politely.

Every request waits for the previous one to be ``min_interval_s`` old (the
public endpoint allows about 1200 weight a minute; ``clearinghouseState``
weighs 2), and transient failures (5xx, 429, timeouts) are retried with
backoff by :func:`liqmap.net.with_retries`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ...frames import DataError
from ...net import raise_for_transient, with_retries

DEFAULT_INFO_URL = "https://api.hyperliquid.xyz"


@dataclass(frozen=True)
class AssetContext:
    """One perpetual's live context from ``metaAndAssetCtxs``: mark price, open interest (coins), hourly funding."""

    coin: str
    mark: float
    open_interest: float
    funding: float
    max_leverage: float

    @property
    def open_interest_usd(self) -> float:
        return self.open_interest * self.mark


def parse_asset_contexts(payload, where: str = "metaAndAssetCtxs") -> dict[str, AssetContext]:
    """``[{universe: [...]}, [ctx, ...]]`` (index-aligned) -> coin -> :class:`AssetContext`."""
    try:
        universe, contexts = payload[0]["universe"], payload[1]
        if len(universe) != len(contexts):
            raise DataError(f"{where}: {len(universe)} coins in the universe but {len(contexts)} contexts")
        return {u["name"]: AssetContext(u["name"], float(c["markPx"]), float(c["openInterest"]), float(c["funding"]),
                                        float(u["maxLeverage"]))
                for u, c in zip(universe, contexts)}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{where}: not the documented [{{universe}}, [contexts]] shape ({type(exc).__name__}: {exc})") from None


class InfoClient:
    """``POST {base_url}/info`` with a minimum interval between requests and retries."""

    def __init__(self, base_url: str = DEFAULT_INFO_URL, *, min_interval_s: float = 0.5, timeout_s: float = 10.0,
                 retries: int = 4, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url.rstrip("/")
        self.min_interval_s = min_interval_s
        self.retries = retries
        self.sleep, self.clock = sleep, clock
        self.requests = 0
        self._last: float | None = None
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def post(self, body: dict, what: str):
        def call():
            if self._last is not None:
                wait = self._last + self.min_interval_s - self.clock()
                if wait > 0:
                    self.sleep(wait)
            self._last = self.clock()
            self.requests += 1
            response = raise_for_transient(self._http.post(f"{self.base_url}/info", json=body), "")
            if response.status_code != 200:
                raise DataError(f"POST {self.base_url}/info {what}: HTTP {response.status_code}: {response.text[:200]}")
            try:
                return response.json()
            except ValueError:
                raise DataError(f"POST {self.base_url}/info {what}: the body is not JSON: {response.text[:80]!r}") from None

        return with_retries(call, what=f"POST {self.base_url}/info {what}", retries=self.retries, sleep=self.sleep,
                            clock=self.clock)

    def clearinghouse_state(self, address: str) -> dict:
        state = self.post({"type": "clearinghouseState", "user": address}, f"clearinghouseState {address}")
        if not isinstance(state, dict) or not isinstance(state.get("assetPositions"), list):
            raise DataError(f"clearinghouseState {address}: no assetPositions list in the answer")
        return state

    def asset_contexts(self) -> dict[str, AssetContext]:
        return parse_asset_contexts(self.post({"type": "metaAndAssetCtxs"}, "metaAndAssetCtxs"))

"""Where alerts go: the terminal, a JSON-lines file, a webhook (a deadline per request, retries).

A sink has a ``name`` (the outbox remembers which sinks still owe an alert
by it, across runs) and ``deliver(alert)``, which returns once the alert is
delivered or raises ``DeliveryError`` (or ``OSError``).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import httpx

from ..net import TransientError, raise_for_transient, with_retries
from .rules import Alert

#: The request header carrying the alert's key, for receivers that de-duplicate (the body's ``key`` is the same).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: 307/308 redirects (which keep the method and body) followed per request.
MAX_REDIRECTS = 5


class DeliveryError(RuntimeError):
    """An alert could not be delivered (after all retries)."""


class TerminalSink:
    """One line per alert on a text stream (stdout by default)."""

    name = "terminal"

    def __init__(self, stream=None):
        self.stream = stream

    def deliver(self, alert: Alert) -> None:
        print(alert.text(), file=self.stream or sys.stdout, flush=True)


class JsonlSink:
    """Appends each alert as one JSON object per line."""

    def __init__(self, path):
        self.path = Path(path)
        self.name = f"jsonl {self.path.resolve()}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the folder of the JSON-lines file {self.path}: "
                             f"{exc.strerror or exc}") from None
        if self.path.is_dir():
            raise ValueError(f"the JSON-lines file {self.path} is a folder")

    def deliver(self, alert: Alert) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(alert.to_dict()) + "\n")


class WebhookSink:
    """POSTs each alert as JSON to ``url``, with the alert's key in the ``Idempotency-Key`` header.

    Each request, from connecting to the last byte of the answer, must end
    within ``timeout_s`` (a receiver that trickles its answer cannot hold the
    watch).  A request past its deadline, a connection error, HTTP 429 or 5xx
    is retried up to ``retries`` times, waiting ``backoff_s``, then twice
    that, and so on (within ``budget_s``); other answers are final.  307/308 redirects are followed;
    other 3xx (which would turn the POST into a GET) and 4xx are failures.
    ``attempts`` counts requests made.

    ``deliver`` blocks; it runs its request on an event loop of its own, so
    call it where no event loop is running.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https://, not {url!r}")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"webhook timeout must be a positive number of seconds, not {timeout_s!r}")
        if retries < 0:
            raise ValueError(f"webhook retries must be 0 or more, not {retries}")
        self.url = url
        self.name = f"webhook {url}"
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.attempts = 0

    @property
    def budget_s(self) -> float:
        """The most one ``deliver`` takes: every try to its deadline and every backoff wait.  A ``Retry-After``
        that does not fit ends the tries (the alert then waits in the outbox rather than holding the watch)."""
        return (self.retries + 1) * self.timeout_s + self.backoff_s * (2**self.retries - 1)

    def deliver(self, alert: Alert) -> None:
        def post() -> httpx.Response:
            self.attempts += 1
            return raise_for_transient(asyncio.run(self._post(alert)), "")

        what = f"webhook {self.url}: alert {alert.key} not delivered"
        try:
            response = with_retries(post, what=what, retries=self.retries, backoff_s=self.backoff_s,
                                    deadline_s=self.budget_s)
        except TransientError as exc:
            raise DeliveryError(str(exc)) from None
        if response.status_code >= 300:
            hint = " (a redirect that would turn the POST into a GET: give the final URL)" \
                if response.is_redirect else ""
            raise DeliveryError(f"{what}: HTTP {response.status_code}{hint}")

    async def _post(self, alert: Alert) -> httpx.Response:
        """One request (and its 307/308 redirects), bounded as a whole by ``timeout_s``."""
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            try:
                return await asyncio.wait_for(self._send(client, alert), self.timeout_s)
            except asyncio.TimeoutError:
                raise TransientError(f"no complete answer within {self.timeout_s:g}s") from None

    async def _send(self, client: httpx.AsyncClient, alert: Alert) -> httpx.Response:
        response = await client.post(self.url, json=alert.to_dict(), headers={IDEMPOTENCY_HEADER: alert.key})
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in (307, 308) or response.next_request is None:
                break
            response = await client.send(response.next_request)
        return response

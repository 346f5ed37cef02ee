"""Where alerts go: the terminal, a JSON-lines file, a webhook (with timeout and retries)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .engine import Alert


class DeliveryError(RuntimeError):
    """An alert could not be delivered (after all retries)."""


class TerminalSink:
    """One line per alert on a text stream (stdout by default)."""

    def __init__(self, stream=None):
        self.stream = stream

    def deliver(self, alert: Alert) -> None:
        print(alert.text(), file=self.stream or sys.stdout, flush=True)


class JsonlSink:
    """Appends each alert as one JSON object per line."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def deliver(self, alert: Alert) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(alert.to_dict()) + "\n")


class WebhookSink:
    """POSTs each alert as JSON to ``url``.

    A timeout, a connection error, HTTP 429 or 5xx is retried up to
    ``retries`` times, waiting ``backoff_s``, then twice that, and so on;
    other 4xx answers are not retried.  ``attempts`` counts requests made.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5):
        import httpx

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https://, not {url!r}")
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.attempts = 0
        self._client = httpx.Client(timeout=timeout_s)

    def deliver(self, alert: Alert) -> None:
        from ..net import TransientError, raise_for_transient, with_retries

        def post():
            self.attempts += 1
            return raise_for_transient(self._client.post(self.url, json=alert.to_dict()), "")

        what = f"webhook {self.url}: alert {alert.key} not delivered"
        try:
            response = with_retries(post, what=what, retries=self.retries, backoff_s=self.backoff_s)
        except TransientError as exc:
            raise DeliveryError(str(exc)) from None
        if response.status_code >= 300:
            raise DeliveryError(f"{what}: HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()


def deliver(alerts: list[Alert], sinks, on_error=None) -> int:
    """Send every alert to every sink; a failing sink is reported and does not stop the others.

    Returns how many (alert, sink) deliveries failed.
    """
    failures = 0
    for alert in alerts:
        for sink in sinks:
            try:
                sink.deliver(alert)
            except (DeliveryError, OSError) as exc:
                failures += 1
                print(f"liqmap watch: warning: {exc}", file=on_error or sys.stderr, flush=True)
    return failures

"""Alert sinks: a real HTTP receiver on 127.0.0.1 for the webhook, real files for JSON lines."""

from __future__ import annotations

import io
import json
import time

import pytest

from liqmap.alerts.delivery import IDEMPOTENCY_HEADER, DeliveryError, JsonlSink, TerminalSink, WebhookSink
from liqmap.alerts.rules import Alert

from .receiver import Receiver

ALERT = Alert(key="BTCUSDT|near|cluster_near|102000.00|7200000", rule="near", kind="cluster_near", symbol="BTCUSDT",
              view="all", as_of_ms=7_200_000, message="cluster Z 2.50 at 102,000.00 is +0.99% from price",
              data={"peak": 102_000.0, "z": 2.5})


@pytest.fixture
def receiver_factory():
    receivers = []

    def make(script=()):
        receivers.append(Receiver(script))
        return receivers[-1]

    yield make
    for r in receivers:
        r.close()


def test_webhook_retries_until_the_receiver_recovers(receiver_factory):
    receiver = receiver_factory([500, 503, 200])
    sink = WebhookSink(receiver.url, timeout_s=2.0, retries=3, backoff_s=0.01)
    sink.deliver(ALERT)
    assert sink.attempts == 3
    assert receiver.bodies == [ALERT.to_dict()] * 3
    assert receiver.bodies[-1]["as_of"] == "1970-01-01T02:00:00Z"
    # Every try carries the alert's key in the header too: the receiver can de-duplicate the three.
    assert [h[IDEMPOTENCY_HEADER] for h in receiver.headers] == [ALERT.key] * 3


def test_webhook_gives_up_after_its_retries(receiver_factory):
    receiver = receiver_factory([500, 500, 500])
    sink = WebhookSink(receiver.url, timeout_s=2.0, retries=2, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="HTTP 500"):
        sink.deliver(ALERT)
    assert sink.attempts == 3


def test_webhook_does_not_retry_a_client_error(receiver_factory):
    receiver = receiver_factory([400])
    sink = WebhookSink(receiver.url, timeout_s=2.0, retries=3, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="HTTP 400"):
        sink.deliver(ALERT)
    assert sink.attempts == 1


def test_webhook_follows_a_307_and_refuses_a_303(receiver_factory):
    receiver = receiver_factory(["redirect", 200])
    WebhookSink(receiver.url, timeout_s=2.0, retries=0).deliver(ALERT)
    # The POST was repeated, body and key included, at the new address.
    assert receiver.paths == ["/hook", "/moved"] and receiver.bodies == [ALERT.to_dict()] * 2
    assert receiver.headers[1][IDEMPOTENCY_HEADER] == ALERT.key

    receiver = receiver_factory(["see-other"])
    with pytest.raises(DeliveryError, match="HTTP 303 .*give the final URL"):
        WebhookSink(receiver.url, timeout_s=2.0, retries=0).deliver(ALERT)
    assert receiver.paths == ["/hook"]


def test_a_trickling_receiver_is_cut_at_the_deadline(receiver_factory):
    """A byte every 0.1 s keeps every single read alive; the deadline bounds the request as a whole."""
    receiver = receiver_factory([("trickle", 0.1), ("trickle", 0.1)])
    sink = WebhookSink(receiver.url, timeout_s=0.5, retries=1, backoff_s=0.01)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"no complete answer within 0.5s \(gave up after 2 tries\)"):
        sink.deliver(ALERT)
    # Two tries of 0.5 s and a 0.01 s wait, with some slack for a loaded machine.
    assert 1.0 <= time.monotonic() - started < 2.5
    assert sink.attempts == 2


def test_a_receiver_slower_than_the_deadline_gets_the_alert_under_one_key(receiver_factory):
    receiver = receiver_factory([("slow", 0.8), ("slow", 0.8)])
    sink = WebhookSink(receiver.url, timeout_s=0.3, retries=1, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="no complete answer within 0.3s"):
        sink.deliver(ALERT)
    # It read the alert twice (it was merely slow), both times under the same key.
    assert receiver.keys() == {ALERT.key: 2}
    assert {h[IDEMPOTENCY_HEADER] for h in receiver.headers} == {ALERT.key}


def test_a_retry_after_beyond_the_budget_ends_the_tries(receiver_factory):
    """An hour's Retry-After does not hold the watch: the alert is reported undelivered (and waits in the outbox)."""
    receiver = receiver_factory([("retry-after", 3600)])
    sink = WebhookSink(receiver.url, timeout_s=1.0, retries=3, backoff_s=0.5)
    assert sink.budget_s == 4 * 1.0 + 0.5 + 1.0 + 2.0
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"HTTP 503 \(gave up after deadline of 7.5s\)"):
        sink.deliver(ALERT)
    assert time.monotonic() - started < 2 and sink.attempts == 1


def test_webhook_connection_refused_is_reported():
    import socket

    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", timeout_s=1.0, retries=1, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="connection failed"):
        sink.deliver(ALERT)


@pytest.mark.parametrize("url, kwargs, message", [
    ("ftp://example.org/hook", {}, "must start with http"),
    ("http://127.0.0.1/hook", {"timeout_s": 0.0}, "timeout must be a positive number"),
    ("http://127.0.0.1/hook", {"timeout_s": float("inf")}, "timeout must be a positive number"),
    ("http://127.0.0.1/hook", {"retries": -1}, "retries must be 0 or more"),
])
def test_webhook_settings_are_checked(url, kwargs, message):
    with pytest.raises(ValueError, match=message):
        WebhookSink(url, **kwargs)


def test_jsonl_and_terminal_sinks(tmp_path):
    path = tmp_path / "out" / "alerts.jsonl"
    stream = io.StringIO()
    for sink in (JsonlSink(path), TerminalSink(stream)):
        sink.deliver(ALERT)
        sink.deliver(ALERT)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [ALERT.key, ALERT.key]
    assert stream.getvalue().splitlines()[0] == (
        "[1970-01-01T02:00:00Z] BTCUSDT near (cluster_near, all): cluster Z 2.50 at 102,000.00 is +0.99% from price")
    assert JsonlSink(path).name == f"jsonl {path.resolve()}"


def test_a_jsonl_path_that_cannot_be_a_file_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot create the folder of the JSON-lines file .*file/alerts.jsonl"):
        JsonlSink(tmp_path / "file" / "alerts.jsonl")
    with pytest.raises(ValueError, match=f"the JSON-lines file {tmp_path} is a folder"):
        JsonlSink(tmp_path)

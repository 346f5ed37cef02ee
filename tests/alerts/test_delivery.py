"""Alert delivery: a real HTTP server on 127.0.0.1 for the webhook, real files for JSON lines."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from liqmap.alerts.delivery import DeliveryError, JsonlSink, TerminalSink, WebhookSink, deliver
from liqmap.alerts.engine import Alert

ALERT = Alert(key="near|cluster_near|102000.00|7200000", rule="near", kind="cluster_near", symbol="BTCUSDT",
              view="all", as_of_ms=7_200_000, message="cluster Z 2.50 at 102,000.00 is +0.99% from price",
              data={"peak": 102_000.0, "z": 2.5})


class Server:
    """A local HTTP server whose answers follow a script: a list of status codes, or 'hang'."""

    def __init__(self, script):
        self.script = list(script)
        self.bodies = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                step = server.script.pop(0) if server.script else 200
                if step == "hang":
                    server.release.wait(10)
                    return
                server.bodies.append(json.loads(body))
                self.send_response(step)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def make(script):
        servers.append(Server(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_webhook_retries_until_the_server_recovers(server_factory):
    server = server_factory([500, 503, 200])
    sink = WebhookSink(server.url, timeout_s=2.0, retries=3, backoff_s=0.01)
    sink.deliver(ALERT)
    assert sink.attempts == 3
    assert server.bodies[-1] == ALERT.to_dict()
    assert server.bodies[-1]["as_of"] == "1970-01-01T02:00:00Z"


def test_webhook_gives_up_after_its_retries(server_factory):
    server = server_factory([500, 500, 500])
    sink = WebhookSink(server.url, timeout_s=2.0, retries=2, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="HTTP 500"):
        sink.deliver(ALERT)
    assert sink.attempts == 3


def test_webhook_times_out_on_a_hanging_server(server_factory):
    server = server_factory(["hang", "hang"])
    sink = WebhookSink(server.url, timeout_s=0.2, retries=1, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="timed out"):
        sink.deliver(ALERT)
    assert sink.attempts == 2


def test_webhook_does_not_retry_a_client_error(server_factory):
    server = server_factory([400])
    sink = WebhookSink(server.url, timeout_s=2.0, retries=3, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="HTTP 400"):
        sink.deliver(ALERT)
    assert sink.attempts == 1


def test_webhook_connection_refused_is_reported():
    import socket

    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", timeout_s=1.0, retries=1, backoff_s=0.01)
    with pytest.raises(DeliveryError, match="connection failed"):
        sink.deliver(ALERT)


def test_webhook_url_must_be_http():
    with pytest.raises(ValueError, match="must start with http"):
        WebhookSink("ftp://example.org/hook")


def test_jsonl_and_terminal_sinks(tmp_path):
    path = tmp_path / "out" / "alerts.jsonl"
    stream = io.StringIO()
    assert deliver([ALERT, ALERT], [JsonlSink(path), TerminalSink(stream)]) == 0
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [ALERT.key, ALERT.key]
    assert stream.getvalue().splitlines()[0] == (
        "[1970-01-01T02:00:00Z] BTCUSDT near (cluster_near, all): cluster Z 2.50 at 102,000.00 is +0.99% from price")


def test_a_failing_sink_does_not_stop_the_others(server_factory, tmp_path):
    server = server_factory([500, 500])
    errors = io.StringIO()
    path = tmp_path / "alerts.jsonl"
    failures = deliver([ALERT], [WebhookSink(server.url, retries=1, backoff_s=0.01), JsonlSink(path)], errors)
    assert failures == 1
    assert "not delivered: HTTP 500" in errors.getvalue()
    assert len(path.read_text().splitlines()) == 1

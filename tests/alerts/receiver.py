"""A webhook receiver on 127.0.0.1 whose answers follow a script, recording every alert it reads.

Script steps, one per request (200 once the script is used up):

* an HTTP status (``500``, ``400``, ...): answer it;
* ``"redirect"``: answer 307 to ``/moved`` (which then follows the script);
* ``"see-other"``: answer 303 to ``/moved``;
* ``("slow", s)``: wait ``s`` seconds, then 200;
* ``("retry-after", s)``: 503 with ``Retry-After: s``;
* ``("trickle", s)``: send the status line one byte every ``s`` seconds, for ever;
* ``"hold"``: record the alert, then keep the connection open until ``close()``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, script=()):
        self.script = list(script)
        self.bodies: list[dict] = []  # every alert read, in arrival order
        self.headers: list[dict] = []
        self.paths: list[str] = []
        self.held = threading.Event()  # set when a "hold" step has read its alert
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else 200
                    receiver.bodies.append(body)
                    receiver.headers.append(dict(self.headers))
                    receiver.paths.append(self.path)
                if step == "hold":
                    receiver.held.set()
                    receiver.release.wait(30)
                    self.close_connection = True
                    return
                if isinstance(step, tuple) and step[0] == "trickle":
                    for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                        if receiver.release.wait(step[1]):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                if isinstance(step, tuple) and step[0] == "slow":
                    time.sleep(step[1])
                    step = 200
                if isinstance(step, tuple) and step[0] == "retry-after":
                    self.send_response(503)
                    self.send_header("Retry-After", str(step[1]))
                else:
                    self.send_response({"redirect": 307, "see-other": 303}.get(step, step))
                if step in ("redirect", "see-other"):
                    self.send_header("Location", "/moved")
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

    def keys(self) -> Counter:
        """How many times each alert key arrived."""
        return Counter(body["key"] for body in self.bodies)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

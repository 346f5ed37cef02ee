"""Fetching accounts from a local server speaking Hyperliquid's /info: polite, resumable, failures kept."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from liqmap.cli import main
from liqmap.frames import DataError
from liqmap.net import TransientError
from liqmap.venues.hyperliquid.accounts import fetch_states, read_addresses
from liqmap.venues.hyperliquid.info import InfoClient

A, B, C, D = (f"0x{k * 40}" for k in "abcd")


class InfoServer:
    """POST /info: clearinghouseState per address from recorded answers, metaAndAssetCtxs, scripted faults."""

    def __init__(self, answers: dict, meta):
        self.answers, self.meta = answers, meta
        self.calls: list[str] = []
        self.fail: dict[str, list[int]] = {}  # address -> statuses to send first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                user = body.get("user", "")
                outer.calls.append(f"{body['type']} {user}".strip())
                status = outer.fail.get(user, []).pop(0) if outer.fail.get(user) else 200
                if body["type"] == "metaAndAssetCtxs":
                    payload = outer.meta
                elif user in outer.answers:
                    payload = outer.answers[user]
                else:
                    status, payload = 422, "Failed to deserialize the JSON body into the target type"
                data = json.dumps(payload).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(shared_dir):
    folder = shared_dir / "fixtures/frames/hyperliquid"
    load = lambda name: json.loads((folder / name).read_text())  # noqa: E731
    meta = load("rest_metaAndAssetCtxs_doc.json")
    # the documented example's values are illustrative: BTC's context set to the 2023 account's era
    meta[1][0].update(markPx="26951.0", openInterest="1000.0")
    s = InfoServer({A: load("rest_clearinghouseState_isolated.json"), B: load("rest_clearinghouseState_cross.json"),
                    C: load("rest_clearinghouseState_cross_2023.json")}, meta)
    yield s
    s.close()


def test_addresses_file(tmp_path):
    f = tmp_path / "wallets.csv"
    f.write_text(f"address,pnl\n{A.upper().replace('0X', '0x')},1\n# a comment\n\n{A},2\n{B}\n")
    assert read_addresses(f) == [A, B]
    f.write_text(f"{A}\n0x123\n")
    with pytest.raises(DataError, match=r"wallets.csv, line 2: '0x123' is not an address"):
        read_addresses(f)


def test_fetch_resumes_and_keeps_failures_for_the_next_run(server, tmp_path):
    cache = tmp_path / "states.jsonl"
    waits = []
    client = InfoClient(server.url, min_interval_s=0.0, retries=1, sleep=waits.append)
    server.fail[B] = [429]            # one rate limit: retried after the backoff
    states, failures = fetch_states(client, [A, B, D], cache)
    assert list(states) == [A, B] and list(failures) == [D]
    assert "HTTP 422" in failures[D]
    assert waits == [1.0]             # the backoff (Retry-After 0 is shorter)
    assert len(cache.read_text().splitlines()) == 2
    server.calls.clear()
    server.answers[D] = server.answers[C]
    states, failures = fetch_states(client, [A, B, D], cache)
    assert server.calls == [f"clearinghouseState {D}"] and not failures and list(states) == [A, B, D]
    client.close()


def test_requests_are_spaced():
    clock = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    client = InfoClient("http://127.0.0.1:9", min_interval_s=0.5, retries=0, sleep=sleep, clock=lambda: clock[0])
    client._last = 0.2               # a request went out at 0.2 s
    clock[0] = 0.3
    with pytest.raises(TransientError, match="connection failed"):
        client.post({"type": "meta"}, "meta")  # nothing listens on port 9: the spacing came first
    assert slept == [pytest.approx(0.4)]
    client.close()


def test_measured_command_against_the_local_server(server, tmp_path, capsys):
    wallets = tmp_path / "wallets.txt"
    wallets.write_text(f"{A}\n{B}\n{C}\n")
    out = tmp_path / "measured.json"
    code = main(["measured", "BTC", "--venue", "hyperliquid", "--addresses", str(wallets), "--base-url", server.url,
                 "--interval", "0", "--json", str(out), "--png", str(tmp_path / "m.png")])
    assert code == 0
    payload = json.loads(out.read_text())
    m = payload["measured"]
    # one BTC position (the 2023 cross short, 211.64542 USD, liquidation 173198.7: off the grid)
    assert m["counts"]["positions"] == 1 and m["counts"]["off_grid"] == 1 and m["counts"]["cross"] == 1
    assert m["sample_share_of_open_interest"] == pytest.approx(211.64542 / (1000 * 26951))
    assert payload["modelled"]["exchange"] == "hyperliquid" and payload["fetched"] == 3
    assert (tmp_path / "m.png").stat().st_size > 10_000
    assert "1 positions in 1 of 3 accounts" in capsys.readouterr().out

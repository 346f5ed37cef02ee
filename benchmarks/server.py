"""The dashboard server under its budget: the heaviest heatmap it allows, and map latency beside heatmap traffic.

Runs ``liqmap serve`` in a child process on 127.0.0.1 and prints medians:

* **heaviest**: over 10 days of 1-minute klines (``benchmarks/workloads.py``),
  the largest heatmap the 48 MB budget allows: 1-minute columns over the
  longest span that fits (the server's refusal gives the bins), built cold
  three times (``refresh`` drops the caches between runs): request time,
  body size, and the server's peak resident memory (``VmHWM``).
* **load**: over the bundled sample, ``--clients`` threads request maps (the
  five views, cached) for ``--seconds``; then again while another process
  asks for the dashboard's heatmap figure (30 days of 1h columns, built once)
  at a ninth of that map rate (10 % of the requests).  Map
  latency p50/p90 in both, so heatmap requests can be seen not to stall the
  others.

    .venv/bin/python benchmarks/server.py [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402  (a sibling module, not an installed package)

from liqmap.options import SERVED_HEATMAP_MAX_BYTES  # noqa: E402

MINUTES_10D = workloads.KlineYear("klines-10d", "2024-01-01", 10)
VIEWS = ("all", "high", "medium", "low", "optical")
#: What the dashboard asks for: the heatmap figure, 30 days of 1h columns (the sample's default).
DASHBOARD_HEATMAP = "/api/figure/heatmap"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``liqmap serve`` over ``source`` in a child process."""

    def __init__(self, source: str):
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([sys.executable, "-m", "liqmap", "serve", "--port", str(port),
                                         "--source", source], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"{self.base}/api/info", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("liqmap serve did not start")

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(_match(r"VmHWM:\s+(\d+) kB", status)) / 1024

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=10)


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"{pattern!r} not found in {text[:200]!r}")
    return found.group(1)


def heaviest(work: Path, runs: int) -> None:
    folder = workloads.ensure_klines(MINUTES_10D, work)
    with Server(str(folder)) as server, httpx.Client(base_url=server.base, timeout=600) as client:
        # 1-minute columns from the first day on; the span is shortened until the grids fit the budget
        start_ms = MINUTES_10D.first_ms
        params = {"resolution": "1m", "start": str(start_ms), "end": str(start_ms + MINUTES_10D.days * 86_400_000)}
        r = client.get("/api/heatmap", params=params)
        while r.status_code == 400 and "over the" in r.json()["error"]:
            print(f"refused: {r.json()['error']}")
            bins = int(_match(r"x ([\d,]+) bins", r.json()["error"]).replace(",", ""))
            columns = SERVED_HEATMAP_MAX_BYTES // (bins * 8)
            params["end"] = str(min(int(params["end"]) - 60_000, start_ms + (columns - 1) * 60_000))
            r = client.get("/api/heatmap", params=params)
        r.raise_for_status()
        shape = r.json()["long"]["shape"]
        times = []
        for _ in range(runs):
            client.get("/api/map", params={"refresh": "true"}).raise_for_status()  # drops the cached heatmap
            began = time.perf_counter()
            body = client.get("/api/heatmap", params=params)
            times.append(time.perf_counter() - began)
        began = time.perf_counter()
        client.get("/api/heatmap", params=params).raise_for_status()
        cached = time.perf_counter() - began
        print(f"heaviest: 1m columns, {shape[0]:,} columns x {shape[1]:,} bins "
              f"({shape[0] * shape[1] * 8 / 1e6:.1f} MB of float32 grids), body {len(body.content) / 1e6:.1f} MB; "
              f"cold median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
              f"{runs} runs), cached {cached:.2f} s; server peak RSS {server.peak_rss_mib():.0f} MiB")


def load(seconds: float, clients: int) -> None:
    with Server("sample") as server:
        with httpx.Client(base_url=server.base, timeout=600) as warm:
            for view in VIEWS:
                warm.get("/api/map", params={"view": view}).raise_for_status()
            warm.get(DASHBOARD_HEATMAP).raise_for_status()
        alone = _drive(server.base, seconds, clients)
        print(f"load, {clients} clients, maps only: map p50 {_ms(alone, 50)} ms, p90 {_ms(alone, 90)} ms over "
              f"{len(alone):,} map requests")
        # heatmap requests at a ninth of that map rate (10 % of all requests), from another process, so that
        # reading their bodies does not compete with the map clients for this process's interpreter
        period = 9 * seconds / len(alone)
        heat = multiprocessing.Process(target=_heatmaps, args=(server.base, seconds + 1, period))
        heat.start()
        mixed = _drive(server.base, seconds, clients)
        heat.join()
        print(f"load, {clients} clients, 10 % heatmap requests: map p50 {_ms(mixed, 50)} ms, p90 {_ms(mixed, 90)} ms "
              f"over {len(mixed):,} map requests (a heatmap every {period * 1000:.0f} ms)")


def _heatmaps(base: str, seconds: float, period: float) -> None:
    stop = time.perf_counter() + seconds
    with httpx.Client(base_url=base, timeout=600) as c:
        while time.perf_counter() < stop:
            began = time.perf_counter()
            c.get(DASHBOARD_HEATMAP).raise_for_status()
            time.sleep(max(0.0, period - (time.perf_counter() - began)))


def _drive(base: str, seconds: float, clients: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=600) as c:
            i = k
            while time.perf_counter() < stop:
                i += 1
                began = time.perf_counter()
                c.get("/api/map", params={"view": VIEWS[i % len(VIEWS)]}).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _ms(values: list[float], pct: int) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] * 1000:.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="where workloads are written")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    os.environ.setdefault("LIQMAP_CACHE", str(args.work / "cache-server"))
    heaviest(args.work, args.runs)
    load(args.seconds, args.clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())

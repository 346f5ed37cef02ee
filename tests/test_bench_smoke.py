"""The benchmark command at tiny sizes, so it cannot rot (speed is not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_smoke_runs_every_case_and_prints_the_table(shared_dir, tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--work", str(tmp_path / "work"),
         "--shared", str(shared_dir), "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["case", "phase", "what", "runs"]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["failures"] == []
    phases = [(r["case"], r["phase"]) for r in report["results"]]
    assert phases == [("a", "cold"), ("a", "warm"), ("b", "cold"), ("b", "warm"), ("c", "in-process"),
                      ("d", "cold"), ("d", "warm"), ("e", "cold"), ("e", "warm"),
                      ("f", "1d history"), ("f", "3d history"), ("f", "replay"), ("g", "cold"), ("g", "warm"),
                      ("g", "floor")]
    for result in report["results"]:
        assert all(run["wall_s"] > 0 and run["peak_mib"] > 10 for run in result["runs"]), result
        assert f"\n{result['case']}  " in "\n" + proc.stdout  # every result is a table row
    # the smoke heatmap: 3 days of 1m klines -> 15m rows x >= 1000 bins, checked by the harness
    heatmap = next(r for r in report["results"] if r["case"] == "d")
    assert "4,320 steps" in heatmap["note"]
    # the book in place: the smoke replay's map equals a whole build
    replay = next(r for r in report["results"] if (r["case"], r["phase"]) == ("f", "replay"))
    assert "map vs whole build" in replay["note"]
    assert float(replay["note"].rsplit(" ", 1)[1]) <= 1e-9


def test_live_benchmark_runs_at_a_tiny_size():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "live.py"), "--hours", "0.5", "--trades", "3000"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "0.5 h live (3,000 trades)" in out
    # wall and CPU percentiles of the book update, in the loop and alone, and where the wall time went
    for line in ("book update in loop wall p50", "book update         wall p50", "of which GC", "preempted  "):
        assert line in out, out
    assert out.count("CPU p50") == 3

#!/usr/bin/env python3
"""liqmap benchmarks: the standard workloads, each case in fresh processes, one table.

    python benchmarks/run.py                 # everything, full size (make bench)
    python benchmarks/run.py --smoke         # tiny sizes, well under a minute (make bench-smoke, CI)
    python benchmarks/run.py --cases a,b --runs 5 --json results.json
    python benchmarks/run.py --cases g --runs 7 --baseline ../main   # before/after, run for run

Cases (see docs/benchmarks.md):
  a  W1 (1M trades): book-model map, all five views, JSON out        (CLI)
  b  W1 peer-compatible map, like for like with the peer's call      (CLI)
  c  the map computation alone, data already loaded                  (in-process)
  d  heatmap over a year of 1m klines + 5m OI, 15m rows x 1000 bins  (API, whole process)
  e  W2 (10M trades): book-model map within bounded memory           (CLI)
  f  the book updated in place: one 1m candle (OI every 5m), 30d window (in-process)
  g  W1 peer-compatible map with its LiqMap PNG (--png)               (CLI)

Every run is a fresh process; wall time is measured around it and peak RSS
is the child's ``ru_maxrss`` from ``wait4`` (the figure ``/usr/bin/time -v``
prints as "Maximum resident set size").  "cold" runs start with an empty
parse cache (``LIQMAP_CACHE`` pointed at a new folder); "warm" runs share one
cache filled by an unrecorded first run.  The OS file cache is warm in both.
liqmap's bytecode is compiled before anything is timed, as an installed
package has it (the environment may set PYTHONDONTWRITEBYTECODE, and then
every run would compile the sources again).  ``--baseline DIR`` times another
checkout's liqmap too (DIR holds its ``liqmap`` package), alternating with
this one run for run, so both sets of medians come from the same conditions.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import gzip
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402  (a sibling module, not an installed package)

#: The peer's whole-process wall time for its README-default W1 map call (shared/bench/README.md).
PEER_W1_MAP_WALL_S = 130.6
VIEWS = "all,high,medium,low,optical"
#: Warm whole-process time of case (g) with the previous (price-up) LiqMap: the new chart must stay within it.
PNG_MAP_LIMIT_S = 1.2
#: Case (g)'s goal: the map with its picture 300x faster than the peer's map with its picture.
PNG_MAP_GOAL_S = PEER_W1_MAP_WALL_S / 300


@dataclass
class Run:
    wall_s: float
    peak_mib: float
    stdout: str = field(repr=False, default="")


@dataclass
class Result:
    case: str
    phase: str
    title: str
    runs: list
    target: str
    passed: bool | None
    note: str = ""
    trades: int = 0  # input trades, for the per-trade scaling of (a) vs (e)
    code: str = ""  # whose liqmap ran: "" this checkout, else the --baseline folder

    def times(self) -> list:
        return [r["wall_s"] for r in self.runs]

    @property
    def median_s(self) -> float:
        return statistics.median(self.times())

    @property
    def peak_mib(self) -> float:
        return max(r["peak_mib"] for r in self.runs)


class BenchError(RuntimeError):
    """A case failed (non-zero exit or wrong output): the benchmark exits 1 after the table."""


def run_process(argv: list, env: dict, workdir: Path) -> Run:
    """One fresh process: wall time around it, its peak RSS, its stdout (stderr shown on failure)."""
    out_path, err_path = workdir / "stdout", workdir / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace")[-2000:]
        raise BenchError(f"exit {proc.returncode}: {' '.join(map(str, argv))}\n{tail}")
    return Run(wall_s=wall, peak_mib=usage.ru_maxrss / 1024, stdout=out_path.read_text())


def liqmap_cli(*args) -> list:
    return [sys.executable, "-m", "liqmap", *map(str, args)]


def inprocess(*args) -> list:
    return [sys.executable, str(HERE / "inprocess.py"), *map(str, args)]


# ---------------------------------------------------------------- output checks


def check_maps(stdout: str) -> str:
    maps = json.loads(stdout)["maps"]
    views = [m["view"] for m in maps]
    if views != VIEWS.split(","):
        raise BenchError(f"expected maps for views {VIEWS}, got {views}")
    return ""


def reference_bins(shared: Path) -> dict:
    with gzip.open(shared / "bench" / "peer_reference" / "w1_peer_levels.csv.gz", "rt") as handle:
        return {(r["side"], int(r["leverage"]), float(r["bin_left"])): (float(r["bin_width"]), float(r["amount_usdt"]))
                for r in csv.DictReader(handle)}


def compare_peer_bins(records: list, reference: dict) -> str:
    """'' when every (side, leverage, bin_left) matches the peer's with amounts within 1e-9 relative."""
    ours = {(r["side"], int(r["leverage"]), float(r["bin_left"])): (float(r["bin_width"]), float(r["amount_usdt"]))
            for r in records}
    if ours.keys() != reference.keys():
        return f"bins differ: {len(ours.keys() - reference.keys())} extra, {len(reference.keys() - ours.keys())} missing"
    for key, (width, amount) in reference.items():
        our_width, our_amount = ours[key]
        if our_width != width or abs(our_amount - amount) > 1e-9 * abs(amount):
            return f"bin {key}: ours {ours[key]}, peer {(width, amount)}"
    return ""


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class Plan:
    """What one benchmark invocation runs: sizes and folders resolved."""

    smoke: bool
    runs: int
    work: Path
    shared: Path
    baseline: Path | None = None

    def codes(self) -> list:
        """(label, PYTHONPATH to put first) for each liqmap timed: this checkout, then the baseline if given."""
        return [("", None)] + ([(str(self.baseline), self.baseline)] if self.baseline else [])


def _trade_map_argv(folder: Path, workload: workloads.TradeWorkload, *extra) -> list:
    return liqmap_cli("map", workloads.SYMBOL, "--source", folder, "--from", workload.date,
                      "--as-of", f"{workload.last_day}T23:59:59", "--format", "json", *extra)


def _cold_and_warm(case: str, title: str, argv: list, plan: Plan, target, check, trades: int = 0) -> list:
    """The same command with an empty parse cache each run, then with one shared, filled cache.

    With a baseline each run is made once per liqmap, alternating, so slow spells on a shared
    machine fall on both alike; each liqmap has its own warm cache.
    """
    results = []
    codes = plan.codes()
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-") as tmp:
        tmp = Path(tmp)
        envs = [_env_for(path) for _, path in codes]
        runs: dict = {(phase, k): [] for phase in ("cold", "warm") for k in range(len(codes))}
        for i in range(plan.runs):
            for k, env in enumerate(envs):
                env["LIQMAP_CACHE"] = str(tmp / f"cold-cache-{k}-{i}")
                runs["cold", k].append(run_process(argv, env, tmp))
        for k, env in enumerate(envs):
            env["LIQMAP_CACHE"] = str(tmp / f"warm-cache-{k}")
            run_process(argv, env, tmp)  # fills the warm cache; not recorded
        for _ in range(plan.runs):
            for k, env in enumerate(envs):
                runs["warm", k].append(run_process(argv, env, tmp))
    for k, (label, _) in enumerate(codes):
        for phase in ("cold", "warm"):
            phase_runs = runs[phase, k]
            note = check(phase_runs[-1].stdout)
            limit, description = target(phase)
            median = statistics.median(r.wall_s for r in phase_runs)
            peak = max(r.peak_mib for r in phase_runs)
            passed = None if plan.smoke else limit(median, peak)
            results.append(Result(case, phase, title, [{"wall_s": r.wall_s, "peak_mib": r.peak_mib} for r in phase_runs],
                                  description, passed, note, trades, label))
    return results


def _env_for(pythonpath: Path | None) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return env


def compile_bytecode(plan: Plan) -> None:
    """Compile the bytecode of every liqmap timed, as installing a package does, so runs do not compile it."""
    here = importlib.util.find_spec("liqmap")
    folders = [Path(here.origin).parent] if here and here.origin else []
    folders += [plan.baseline / "liqmap"] if plan.baseline else []
    for folder in folders:
        if not compileall.compile_dir(folder, quiet=1):
            raise BenchError(f"could not compile the bytecode of {folder}")


def case_a(plan: Plan) -> list:
    workload = workloads.SMOKE_1DAY if plan.smoke else workloads.W1
    folder = workloads.ensure_trades(workload, plan.work, plan.shared / "bench" / "gen_aggtrades.py")
    targets = {"cold": 3.0, "warm": 1.0}

    def target(phase):
        return (lambda median, peak: median <= targets[phase]), f"<= {targets[phase]:.1f} s"

    return _cold_and_warm("a", f"{workload.name} book map, 5 views, JSON", _trade_map_argv(folder, workload, "--view", VIEWS),
                          plan, target, check_maps, workload.trades)


def case_b(plan: Plan) -> list:
    workload = workloads.SMOKE_1DAY if plan.smoke else workloads.W1
    folder = workloads.ensure_trades(workload, plan.work, plan.shared / "bench" / "gen_aggtrades.py")
    reference = None if plan.smoke else reference_bins(plan.shared)
    limit_s = PEER_W1_MAP_WALL_S / 50

    def target(phase):
        return (lambda median, peak: median <= limit_s), f">= 50x peer (<= {limit_s:.2f} s), bins match"

    def check(stdout):
        records = json.loads(stdout)["peer_levels"]
        if reference is None:
            return f"{len(records)} bins"
        mismatch = compare_peer_bins(records, reference)
        if mismatch:
            raise BenchError(f"case b: output differs from the peer reference: {mismatch}")
        return f"matches the peer's {len(reference)} bins"

    return _cold_and_warm("b", f"{workload.name} peer-compatible map", _trade_map_argv(folder, workload, "--model", "peer"),
                          plan, target, check)


def case_c(plan: Plan) -> list:
    workload = workloads.SMOKE_1DAY if plan.smoke else workloads.W1
    folder = workloads.ensure_trades(workload, plan.work, plan.shared / "bench" / "gen_aggtrades.py")
    repeat = 3 if plan.smoke else max(plan.runs, 7)
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-") as tmp:
        env = dict(os.environ, LIQMAP_CACHE=str(Path(tmp) / "cache"))
        run = run_process(inprocess("map", "--source", folder, "--start", workload.date,
                                    "--end", f"{workload.last_day}T23:59:59", "--repeat", repeat), env, Path(tmp))
    report = json.loads(run.stdout)
    runs = [{"wall_s": t, "peak_mib": run.peak_mib} for t in report["times_s"]]
    median = statistics.median(report["times_s"])
    return [Result("c", "in-process", f"{workload.name} book + 5 maps, data loaded", runs, "<= 0.100 s",
                   None if plan.smoke else median <= 0.100, f"first call {report['warmup_s']:.3f} s")]


def case_d(plan: Plan) -> list:
    spec = workloads.SMOKE_KLINES if plan.smoke else workloads.KLINE_YEAR
    folder = workloads.ensure_klines(spec, plan.work)
    argv = inprocess("heatmap", "--source", folder, "--start", spec.date, "--end", spec.end_date, "--resolution", "15m",
                     "--bins", 1000)
    rows_expected = spec.minutes // 15

    def target(phase):
        return (lambda median, peak: median <= 5.0 and peak <= 2048), "<= 5 s, <= 2 GiB"

    def check(stdout):
        report = json.loads(stdout)
        rows, bins = report["shape"]
        if report["candles"] != spec.minutes or rows < rows_expected or bins < 1000:
            raise BenchError(f"case d: {report['candles']} candles -> {rows} x {bins}; expected "
                             f"{spec.minutes} candles -> >= {rows_expected} x >= 1000")
        return f"{report['candles']:,} steps -> {rows:,} x {bins:,}; compute {report['compute_s']:.2f} s (API)"

    return _cold_and_warm("d", f"heatmap {spec.name}, 15m x 1000 bins", argv, plan, target, check)


def case_e(plan: Plan) -> list:
    workload = workloads.SMOKE_3DAYS if plan.smoke else workloads.W2
    folder = workloads.ensure_trades(workload, plan.work, plan.shared / "bench" / "gen_aggtrades.py")

    def target(phase):
        return (lambda median, peak: peak <= 4096), "<= 4 GiB, linear"

    def check(stdout):
        return check_maps(stdout) or f"{workload.trades:,} trades"

    return _cold_and_warm("e", f"{workload.name} book map, 5 views, JSON", _trade_map_argv(folder, workload, "--view", VIEWS),
                          plan, target, check, workload.trades)


def case_f(plan: Plan) -> list:
    days, window, updates = (3, 1, 200) if plan.smoke else (90, 30, 2000)
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-") as tmp:
        run = run_process([sys.executable, str(HERE / "book_state.py"), "--days", str(days), "--window-days",
                           str(window), "--updates", str(updates)], dict(os.environ), Path(tmp))
    report = json.loads(run.stdout)
    results = []
    ratio = report["cpu_p50_ratio"]
    for row in report["latency"]:
        flat = 0.8 <= ratio <= 1.2
        last = row is report["latency"][-1]
        results.append(Result(
            "f", f"{row['history_days']:g}d history", f"update: 1 candle, {window}d window (p50)",
            [{"wall_s": row["wall_p50_ms"] / 1000, "peak_mib": run.peak_mib}],
            "p99 <= 5 ms" + (", flat +-20%" if last else ""),
            None if plan.smoke else row["cpu_p99_ms"] <= 5.0 and (flat or not last),
            f"wall p50 {row['wall_p50_ms']:.2f} / p99 {row['wall_p99_ms']:.2f} ms; CPU p50 {row['cpu_p50_ms']:.2f} / "
            f"p99 {row['cpu_p99_ms']:.2f} ms; {row['levels']:,} levels"
            + (f"; CPU p50 ratio {days}d/1d {ratio:.2f}" if last else "")))
    r = report["replay"]
    first_full = next((s for s in r["samples"] if s["day"] >= window), r["samples"][-1])
    end = r["samples"][-1]
    growth = end["rss_mib"] / first_full["rss_mib"]
    results.append(Result(
        "f", "replay", f"{days}d replay from empty, 1 candle per update",
        [{"wall_s": r["replay_s"], "peak_mib": r["peak_mib"]}], "RSS flat +-20%, = whole build",
        None if plan.smoke else growth <= 1.2 and r["equal_rel"] <= 1e-9,
        f"RSS day {first_full['day']} {first_full['rss_mib']:.0f} -> day {end['day']} {end['rss_mib']:.0f} MiB "
        f"(x{growth:.2f}); levels {first_full['levels']:,} -> {end['levels']:,}; "
        f"map vs whole build {r['equal_rel']:.1e}"))
    return results


def case_g(plan: Plan) -> list:
    """Case (b) plus the default LiqMap PNG: drawing the chart must not slow the main job."""
    workload = workloads.SMOKE_1DAY if plan.smoke else workloads.W1
    folder = workloads.ensure_trades(workload, plan.work, plan.shared / "bench" / "gen_aggtrades.py")

    def target(phase):
        # the limit is the warm whole-process time the previous chart took; cold runs parse on top
        if phase == "cold":
            return (lambda median, peak: None), "none (parsing on top of warm)"
        return (lambda median, peak: median <= PNG_MAP_LIMIT_S), f"<= {PNG_MAP_LIMIT_S:.1f} s"

    def check(stdout):
        return f"{len(json.loads(stdout)['peer_levels'])} peer bins, PNG written"

    results = _cold_and_warm("g", f"{workload.name} peer map + LiqMap PNG",
                             _trade_map_argv(folder, workload, "--model", "peer", "--png", "liqmap.png"), plan, target,
                             check)
    if not plan.smoke:
        for r in results:
            if r.phase == "warm":
                r.note += "; " + goal_verdict(r.median_s)
    return results + [import_floor(plan)]


def import_floor(plan: Plan) -> Result:
    """What a PNG costs before any work: a fresh interpreter importing numpy and matplotlib's Agg figure."""
    argv = [sys.executable, "-c", "import numpy, matplotlib.figure, matplotlib.backends.backend_agg"]
    with tempfile.TemporaryDirectory(prefix="liqmap-bench-") as tmp:
        runs = [run_process(argv, dict(os.environ), Path(tmp)) for _ in range(plan.runs)]
    median = statistics.median(r.wall_s for r in runs)
    left = PNG_MAP_GOAL_S - median
    note = (f"leaves {left:.3f} s of the goal for reading, computing, drawing and encoding" if left > 0
            else f"the imports alone exceed the goal by {-left:.3f} s")
    return Result("g", "floor", "python + numpy + matplotlib imports", [{"wall_s": r.wall_s, "peak_mib": r.peak_mib}
                                                                        for r in runs], "-", None, note)


def goal_verdict(median_s: float) -> str:
    """Case (g)'s goal and whether the median meets it."""
    verdict = "met" if median_s <= PNG_MAP_GOAL_S else f"NOT met ({median_s / PNG_MAP_GOAL_S:.2f}x the goal)"
    return f"goal <= {PNG_MAP_GOAL_S:.3f} s (300x peer): {verdict}"


CASES = {"a": case_a, "b": case_b, "c": case_c, "d": case_d, "e": case_e, "f": case_f, "g": case_g}


# ---------------------------------------------------------------- report


def peer_ratio(result: Result, smoke: bool) -> str:
    """How many times faster than the peer's W1 map call (only where the work is comparable)."""
    if not smoke and result.case in ("a", "b", "g"):
        return f"{PEER_W1_MAP_WALL_S / result.median_s:,.0f}x"
    return ""


def linearity_note(results: list) -> str:
    """Warm time per million input trades for (a) and (e): close figures mean time linear in trades."""
    per_million = {r.case: r.median_s / (r.trades / 1e6) for r in results
                   if r.case in ("a", "e") and r.phase == "warm" and not r.code}
    if len(per_million) < 2:
        return ""
    return (f"warm whole-process seconds per million trades: (a) {per_million['a']:.3f}, (e) {per_million['e']:.3f}"
            f" (ratio {per_million['e'] / per_million['a']:.2f}; process start-up weighs more in the smaller case)")


def print_table(results: list, smoke: bool) -> None:
    header = ("case", "phase", "what", "runs", "median s", "min s", "max s", "peak MiB", "target", "pass", "vs peer", "note")
    rows = [header]
    for r in results:
        verdict = "n/a" if r.passed is None else ("PASS" if r.passed else "FAIL")
        rows.append((r.case, r.phase + (f" [{r.code}]" if r.code else ""), r.title, str(len(r.runs)), f"{r.median_s:.3f}", f"{min(r.times()):.3f}",
                     f"{max(r.times()):.3f}", f"{r.peak_mib:,.0f}", r.target, verdict, peer_ratio(r, smoke), r.note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for k, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    if smoke:
        print("smoke sizes: targets apply to the full-size run only")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--smoke", action="store_true", help="tiny workloads: checks the harness, not the speed")
    parser.add_argument("--cases", default="a,b,c,d,e,f,g", help="comma list of case letters (default: all)")
    parser.add_argument("--runs", type=int, default=None, help="runs per case and phase (default 3, smoke 1)")
    parser.add_argument("--json", type=Path, default=None, help="also save the results to this JSON file")
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="where workloads are generated (default benchmarks/.work)")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared folder (bench generator, peer reference)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also time the liqmap package in DIR (another checkout), alternating run for run with "
                             "this one (cases a, b, d, e, g); its rows are marked [DIR]")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    runs = args.runs if args.runs is not None else (1 if args.smoke else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    if not (args.shared / "bench" / "gen_aggtrades.py").is_file():
        parser.error(f"no workload generator at {args.shared / 'bench' / 'gen_aggtrades.py'}; pass --shared")
    warning = workloads.numpy_warning()
    if warning:
        print(warning, file=sys.stderr)
    if args.baseline is not None and not (args.baseline / "liqmap" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no liqmap package there (expected {args.baseline / 'liqmap'})")
    plan = Plan(smoke=args.smoke, runs=runs, work=args.work.resolve(), shared=args.shared.resolve(),
                baseline=args.baseline.resolve() if args.baseline else None)
    plan.work.mkdir(parents=True, exist_ok=True)
    compile_bytecode(plan)

    results, failures = [], []
    for case in cases:
        print(f"case {case} ...", file=sys.stderr, flush=True)
        try:
            results.extend(CASES[case](plan))
        except BenchError as exc:
            failures.append(f"case {case}: {exc}")
    print_table(results, args.smoke)
    note = linearity_note(results)
    if note:
        print(note)
    if args.json:
        args.json.write_text(json.dumps({
            "smoke": args.smoke, "numpy": workloads.np.__version__, "date": time.strftime("%Y-%m-%d"),
            "results": [asdict(r) | {"median_s": r.median_s, "peak_mib": r.peak_mib} for r in results],
            "failures": failures,
        }, indent=1) + "\n")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

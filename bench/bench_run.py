"""A whole `nore run --sim` through the real processes and queues: memory, CPU and tick -> fill latency.

Starts `python -m minibot run --sim --speed 1` with 20 symbols for 30 minutes (defaults), samples every
role process (psutil, by the pid files the supervisor writes) every `--sample-s`, and at the end prints:
- RSS per role at start (first sample after `--warmup-s`) and at the end, and the growth per hour of run
  clock (so `--speed 60 --minutes 420` gives the growth over a whole sped-up night);
- CPU % per role (of one core) over the measured span;
- tick -> fill latency p50 / p99 (wall-clock ms from a tick's receipt by market_role to the fill it caused
  being written by execution_role, from the run's `timing` queue), against the 50 ms p99 target;
- the baseline measured in the same run: the loopback REST ping round trip p50 of health_role's probes,
  and the ratio tick -> fill p50 / ping p50 (how many loopback round trips the whole chain costs).

Usage (the full benchmark takes 30 minutes):
    .venv/bin/python bench/bench_run.py                        # 30 min, 20 symbols, speed 1
    .venv/bin/python bench/bench_run.py --minutes 3 --keep     # shortened; keep the run folder
    .venv/bin/python bench/bench_run.py --minutes 420 --speed 60 --symbols 2   # a whole night in 7 min
    .venv/bin/python bench/bench_run.py --minutes 120 --symbols 2 --tracemalloc 600   # memory soak + growth
With --tracemalloc S every process (roles, supervisor, simulator) reports its top allocation growth by
traceback (minibot/memtrace.py); the supervisor and the simulator are sampled too.
Windows: .venv\\Scripts\\python.exe bench\\bench_run.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_idle import machine_load  # same folder

from minibot.config.loader import load_config, with_overrides
from minibot.journal.atomic import read_critical_json
from minibot.journal.layout import INBOX
from minibot.journal.reader import decode_event, iter_lines
from minibot.memtrace import DIR_ENV, INTERVAL_ENV
from minibot.watchdog.procs import pid_file, run_roles

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = [
    "BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "TRXUSDT", "LTCUSDT", "LINKUSDT",
    "DOTUSDT", "AVAXUSDT", "ATOMUSDT", "UNIUSDT", "ETCUSDT", "XLMUSDT", "NEARUSDT", "FILUSDT", "APTUSDT", "BCHUSDT",
]  # fmt: skip
TARGET_P99_MS = 50.0
TARGET_TOTAL_RSS_MB = 350.0
TARGET_GROWTH_MB_PER_H = 2.0  # per process, after its first run hour (issue 14, item 4)
MB = float(1 << 20)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered) + 0.5) - 1))]


class Sampler:
    """RSS and CPU time of each role's current process, sampled over the run."""

    def __init__(self, run_dir: Path, roles: list[str], supervisor: int) -> None:
        self.run_dir = run_dir
        self.roles = roles
        self.supervisor = supervisor
        # role -> (t, rss_mb, cpu_s, pid) of every sample of its current process (a restart starts a new one)
        self.series: dict[str, list[tuple[float, float, float, int]]] = {}
        self.peak_total_mb = 0.0
        self.peak_live_mb = 0.0  # without the simulator: the processes of a live night
        # Shared library pages counted once: PSS (Linux) sums to the memory the processes really take; where
        # there is no PSS (Windows), USS, the private memory Task Manager's Memory column shows.
        self.peak_shared_once_mb = 0.0

    def pids(self) -> dict[str, int]:
        """Every NORE process of the run: the roles (pid files), the supervisor and its simulator."""
        out = {"supervisor": self.supervisor}
        for role in self.roles:
            path = pid_file(self.run_dir, role)
            if path.exists():
                out[role] = int(path.read_text())
        try:
            for child in psutil.Process(self.supervisor).children():
                if any(arg.startswith("minibot.sim") for arg in child.cmdline()):  # `-m minibot.sim.serve`
                    out["simulator"] = child.pid
        except psutil.Error:
            pass
        return out

    def sample(self) -> None:
        """One sample of every process that is running."""
        total = live = shared_once = 0.0
        for role, pid in self.pids().items():
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:  # ended, not yet reaped: no memory to report
                        continue
                    times = proc.cpu_times()
                    full = proc.memory_full_info()  # rss, and pss (Linux) or uss, in one read
                    point = (time.monotonic(), full.rss / MB, times.user + times.system, pid)
                    shared_once += getattr(full, "pss", full.uss) / MB
            except psutil.Error:
                continue
            series = self.series.get(role)
            if series is None or series[0][3] != pid:
                series = self.series[role] = []  # a restarted role starts a new span
            series.append(point)
            total += point[1]
            live += 0.0 if role == "simulator" else point[1]
        self.peak_total_mb = max(self.peak_total_mb, total)
        self.peak_live_mb = max(self.peak_live_mb, live)
        self.peak_shared_once_mb = max(self.peak_shared_once_mb, shared_once)


def growth_after_first_hour(series: dict[str, list[tuple[float, float, float, int]]], speed: float) -> dict[str, float]:
    """RSS growth (MB per run hour) of each process from its first run hour to its last sample.

    Only processes that were sampled for at least 1.5 run hours count: the first hour is when bounded
    windows (ids seen, trade history) fill, which is not growth.
    """
    out = {}
    for role, points in series.items():
        t0 = points[0][0]
        after = [(t, rss) for t, rss, _, _ in points if (t - t0) * speed >= 3600.0]
        if not after or (points[-1][0] - t0) * speed < 5400.0:
            continue
        # the median of the first and the last five samples, so one allocator swing is not a trend
        head = statistics.median(rss for _, rss in after[:5])
        tail = statistics.median(rss for _, rss in after[-5:])
        hours = (statistics.median(t for t, _ in after[-5:]) - statistics.median(t for t, _ in after[:5])) * speed
        out[role] = (tail - head) / max(hours / 3600.0, 1e-9)
    return out


def write_config(folder: Path, minutes: float, symbols: int) -> Path:
    """The shipped config for the benchmark: duration, symbol count."""
    cfg = with_overrides(
        load_config(), {"duration_ms": int(minutes * 60_000), "binance": {"symbols": SYMBOLS[:symbols]}}
    )
    path = folder / "bench.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def tick_to_fill(run_dir: Path, run_id: str) -> list[float]:
    """Every tick -> fill latency (ms) of the run's timing queue."""
    out = []
    for raw in iter_lines(run_dir / "queues" / "timing", INBOX):
        payload = decode_event(raw.data, None, run_id=run_id)[1]["payload"]
        if payload.get("kind") == "tick_to_fill":
            out.append(float(payload["latency_ms"]))
    return out


def main() -> int:
    """Run, sample, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="run duration (run clock = wall at speed 1)")
    ap.add_argument("--symbols", type=int, default=20, choices=range(1, len(SYMBOLS) + 1), metavar="1..20")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--sample-s", type=float, default=10.0, help="wall seconds between samples")
    ap.add_argument("--warmup-s", type=float, default=30.0, help="wall seconds before the start sample")
    ap.add_argument("--keep", action="store_true", help="keep the run folder (printed)")
    ap.add_argument(
        "--tracemalloc",
        type=float,
        default=0.0,
        metavar="S",
        help="every process traces its allocations and reports its top growth by traceback every S wall seconds",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_run_"))
    config = write_config(work, args.minutes, args.symbols)
    cmd = [sys.executable, "-m", "minibot", "run", "--sim", "--config", str(config), "--speed", str(args.speed)]
    env = dict(os.environ)
    if args.tracemalloc > 0:
        env.update({DIR_ENV: str(work / "tracemalloc"), INTERVAL_ENV: repr(args.tracemalloc)})
    proc = subprocess.Popen([*cmd, "--var", str(work / "var")], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    if not first.startswith("run_dir: "):
        print(f"nore run did not start: {first}{proc.stdout.read()}")
        return 1
    print(machine_load())
    run_dir = Path(first.removeprefix("run_dir: "))
    roles = run_roles(load_config(config))
    sampler = Sampler(run_dir, roles, proc.pid)
    started = time.monotonic()
    while proc.poll() is None:
        if time.monotonic() - started >= args.warmup_s:
            sampler.sample()
        time.sleep(min(args.sample_s, 1.0) if time.monotonic() - started < args.warmup_s else args.sample_s)
    summary = proc.stdout.read()
    run = read_critical_json(run_dir / "run.json")
    metrics = read_critical_json(run_dir / "metrics.json")
    latencies = tick_to_fill(run_dir, run["run_id"])
    ping = metrics["binance"]["latency_ms"]
    print(
        f"nore run --sim, {args.symbols} symbols, {args.minutes:g} min at speed {args.speed:g} (exit {proc.returncode})"
    )
    print(summary.strip())
    spans = [points[-1][0] - points[0][0] for points in sampler.series.values()]
    span_min = max(spans, default=0.0) / 60
    print(f"process figures over {span_min:.1f} wall min = {span_min * args.speed / 60:.2f} h of run clock")
    print(f"{'role':<16}{'rss start MB':>14}{'rss end MB':>12}{'MB per run h':>14}{'cpu %':>8}")
    for role in [*roles, "supervisor", "simulator"]:
        if role not in sampler.series:
            print(f"{role:<16}  not sampled")
            continue
        t0, rss0, cpu0, _ = sampler.series[role][0]
        t1, rss1, cpu1, _ = sampler.series[role][-1]
        run_h = max(t1 - t0, 1e-9) * args.speed / 3600.0  # growth per hour of the night, also under --speed
        cpu_pct = (cpu1 - cpu0) / max(t1 - t0, 1e-9) * 100.0
        print(f"{role:<16}{rss0:>14.1f}{rss1:>12.1f}{(rss1 - rss0) / run_h:>14.1f}{cpu_pct:>8.1f}")
    print(f"total RSS: peak {sampler.peak_total_mb:.1f} MB over all processes (goal <= {TARGET_TOTAL_RSS_MB:g})")
    print(f"  without the simulator (a live night's processes): peak {sampler.peak_live_mb:.1f} MB")
    kind = "PSS" if hasattr(psutil.Process().memory_full_info(), "pss") else "USS (private)"
    print(f"  {kind}, shared library pages counted once: peak {sampler.peak_shared_once_mb:.1f} MB")
    growth = growth_after_first_hour(sampler.series, args.speed)
    for role, rate in growth.items():
        print(f"  {role}: {rate:+.2f} MB per run hour after its first run hour")
    for report in sorted((work / "tracemalloc").glob("*.txt")):
        print(f"tracemalloc {report.stem}: " + "\n  ".join(report.read_text(encoding="utf-8").splitlines()[:12]))
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"tick -> fill: {len(latencies)} fills, p50 {p50} ms, p99 {p99} ms (target p99 < {TARGET_P99_MS:g} ms)")
    if len(latencies) < 100:
        print(f"  only {len(latencies)} fills: p99 is the largest few values, not a stable percentile")
    if p99 is not None:
        print(f"  p99 / target = {p99 / TARGET_P99_MS:.2f}  ({'met' if p99 < TARGET_P99_MS else 'NOT met'})")
    base = ping.get("p50")
    if base and p50 is not None:
        print(
            f"baseline (same run): loopback REST ping p50 {base:.2f} ms; tick -> fill p50 / ping p50 = {p50 / base:.1f}"
        )
    if latencies:
        print(f"  tick -> fill mean {statistics.fmean(latencies):.2f} ms, max {max(latencies):.2f} ms")
    print(f"run folder: {run_dir}" + ("" if args.keep else " (removed)"))
    print(machine_load())
    peak_met = "met" if sampler.peak_total_mb <= TARGET_TOTAL_RSS_MB else "not met"
    print(f"target rss_total_peak: {sampler.peak_total_mb:.1f} MB (goal <= {TARGET_TOTAL_RSS_MB:g}): {peak_met}")
    if growth:
        worst = max(growth, key=lambda r: growth[r])
        met = "met" if growth[worst] <= TARGET_GROWTH_MB_PER_H else "not met"
        print(
            f"target rss_growth_after_first_hour: {growth[worst]:.2f} MB/h ({worst}) "
            f"(goal <= {TARGET_GROWTH_MB_PER_H:g}): {met}"
        )
    else:
        print("target rss_growth_after_first_hour: n/a (the run was shorter than 1.5 run hours): not met")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

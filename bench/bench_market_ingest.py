"""Benchmark: market_role ingesting bookTicker for 200 symbols into `market_ticks`, and its WS reconnect time.

Run from the repository root:

    .venv/bin/python bench/bench_market_ingest.py                  # 200 symbols, 10 s per row
    .venv/bin/python bench/bench_market_ingest.py --symbols 200 --seconds 10 --drops 20

Everything is a real process, as in `nore run --sim`: the simulator (`python -m minibot.sim`) and
`python -m minibot.roles.market_role --run-dir RUN` with a run directory written like the supervisor's
(run.json with the shipped config, pointed at the simulator, streams = bookTicker only). The `binance`
schema caps a production config at 50 symbols; the bench writes run.json directly to follow the issue's 200,
and relaxes the REST timeout and unreachable threshold so a loaded machine cannot STOP a measurement.
Offered = the bookTicker messages the simulator served on the role's connection (/sim/stats `ws.served`):
one book update per symbol per 100 ms of run clock, i.e. about symbols x 10 x speed.

Per row: messages/s offered, the simulator's own sent rate (/sim/stats: the baseline measured in the same
run), and messages/s ingested: ticks written to market_ticks whose receipt time (`recv_perf_ns`) falls in the
window, plus the updates they conflated (`conflated`), so every bookTicker the role took in counts once.
Rows with conflation 0 write one tick per message (the write path at full load); the last row uses the
shipped conflation_ms (250) as in production. The role's own ingest ceiling is in the "max" row.

Reconnect: a `ws_disconnect` every 2 s of run clock; for each drop, (a) the feed's own measure from
losing the connection to the next one being open (reported by market_role's health events, run-clock ms /
speed), and (b) from the last tick before the drop to the first tick after it (`recv_perf_ns`),
which includes the client's full-jitter backoff (reconnect.backoff_base_ms = 500 ms of run clock).
Figures depend on the machine; this is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import psutil
from bench_sim_ws import start_sim, stop_sim  # same folder: the simulator start/stop helpers

from minibot.config.loader import load_config
from minibot.contracts.codec import split_line
from minibot.ids import cmdline_hash, new_run_id
from minibot.journal.atomic import write_critical_json
from minibot.journal.layout import INBOX, QueuePaths
from minibot.journal.reader import iter_lines
from minibot.roles.latency_samples import quantile
from minibot.runlayout import RUN_FILE, SHUTDOWN_FILE

REPO = Path(__file__).resolve().parents[1]
WARMUP_S = 2.0
RECONNECT_SPEED = 4.0


def sim_stats(base: str) -> dict[str, Any]:
    """The simulator's /sim/stats document."""
    with urllib.request.urlopen(base + "/sim/stats", timeout=30) as resp:
        stats: dict[str, Any] = json.loads(resp.read())
    return stats


def served(base: str) -> int:
    """Messages the simulator queued for subscribers, all streams (/sim/stats `ws.served`)."""
    return sum(sim_stats(base)["ws"]["served"].values())


def write_run(
    run_dir: Path,
    base: str,
    symbols: list[str],
    speed: float,
    conflation_ms: int,
    streams: tuple[str, ...] = ("bookTicker",),
    depth_levels: int = 0,
) -> None:
    """A run directory as the supervisor writes it, with the binance section pointed at the simulator."""
    config = load_config()
    config["binance"].update(
        rest_base_url=base,
        ws_base_url=base.replace("http://", "ws://"),
        symbols=symbols,
        streams=list(streams),
        depth_levels=depth_levels,
        conflation_ms=conflation_ms,
        # Speed compresses run-clock timeouts too (10 s at speed 10 is 1 s of real time): on a loaded machine
        # the health policy could STOP the measurement. Health is not what this bench measures.
        rest_timeout_s=60,
    )
    config["binance"]["health"]["unreachable_threshold_ms"] = 24 * 3_600_000
    command_line = f"nore run --run-dir {run_dir}"
    run = {
        "run_id": new_run_id(),
        "cmdline_hash": cmdline_hash(command_line),
        "command_line": command_line,
        "config": config,
        "clock": {"start_ms": int(time.time() * 1000), "speed": speed, "anchor_unix_s": time.time()},
    }
    run_dir.mkdir(parents=True)
    write_critical_json(run_dir / RUN_FILE, run)
    for name in config["queues"]["names"]:
        QueuePaths.of(run_dir / "queues", name).create()


def start_role(run_dir: Path) -> subprocess.Popen[bytes]:
    """`python -m minibot.roles.market_role --run-dir RUN`."""
    cmd = [sys.executable, "-m", "minibot.roles.market_role", "--run-dir", str(run_dir)]
    return subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def end_role(run_dir: Path, proc: subprocess.Popen[bytes]) -> None:
    """Graceful end through the control file; the role must exit 0."""
    (run_dir / SHUTDOWN_FILE).parent.mkdir(exist_ok=True)
    (run_dir / SHUTDOWN_FILE).touch()
    code = proc.wait(timeout=60)
    if code != 0:
        raise RuntimeError(f"market_role exited {code}")


def payloads(run_dir: Path, queue: str) -> list[dict[str, Any]]:
    """Every event of a queue (framing and hash checked; the role validated the contract when writing)."""
    folder = QueuePaths.of(run_dir / "queues", queue).folder
    return [orjson.loads(split_line(raw.data)[1]) for raw in iter_lines(folder, INBOX)]


def wait_for_ticks(run_dir: Path, timeout_s: float = 30.0) -> None:
    """Until market_role has written its first ticks."""
    inbox = run_dir / "queues" / "market_ticks" / f"{INBOX}.jsonl"
    deadline = time.monotonic() + timeout_s
    while inbox.stat().st_size == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("market_role wrote no tick in time")
        time.sleep(0.05)


def throughput(tmp: Path, symbols: list[str], speed: float, conflation_ms: int, seconds: float) -> dict[str, float]:
    """One row: fresh simulator and market_role; `seconds` of measurement after a warm-up."""
    scenario = tmp / f"deep_{speed}_{conflation_ms}.json"
    # A deep send queue keeps the simulator from dropping a lagging client (as Binance would) so the
    # "max" row measures the role's ceiling instead of a disconnect.
    scenario.write_text(json.dumps({"ws": {"max_queue": 20_000_000}}))
    sim, base = start_sim(symbols, speed, scenario)
    run_dir = tmp / f"run_{speed}_{conflation_ms}"
    try:
        write_run(run_dir, base, symbols, speed, conflation_ms)
        role = start_role(run_dir)
        try:
            wait_for_ticks(run_dir)
            time.sleep(WARMUP_S)
            cpu = psutil.Process(role.pid)
            t0, sent0, cpu0 = time.perf_counter_ns(), sim_stats(base)["ws"]["messages_sent"], sum(cpu.cpu_times()[:2])
            served0 = served(base)
            time.sleep(seconds)
            t1, sent1, cpu1 = time.perf_counter_ns(), sim_stats(base)["ws"]["messages_sent"], sum(cpu.cpu_times()[:2])
            served1 = served(base)
        finally:
            end_role(run_dir, role)
    finally:
        stop_sim(sim)
    window = [e["payload"] for e in payloads(run_dir, "market_ticks") if t0 <= e["payload"]["recv_perf_ns"] < t1]
    ingested = sum(1 + p["conflated"] for p in window)
    elapsed = (t1 - t0) / 1e9
    offered = (served1 - served0) / elapsed
    return {
        "offered": offered,
        "sent": (sent1 - sent0) / elapsed,
        "ingested": ingested / elapsed,
        "ticks": len(window) / elapsed,
        "ratio": ingested / elapsed / offered,
        "cpu": (cpu1 - cpu0) / elapsed,
    }


def reconnects(tmp: Path, symbols: list[str], drops: int) -> tuple[list[float], list[float]]:
    """Reconnect times after `drops` server-side drops: (feed lost->open, last tick->first tick), real ms."""
    scenario = tmp / "drops.json"
    scenario.write_text(json.dumps({"faults": [{"kind": "ws_disconnect", "at_ms": 4000, "every_ms": 2000}]}))
    sim, base = start_sim(symbols, RECONNECT_SPEED, scenario)
    run_dir = tmp / "run_drops"
    try:
        write_run(run_dir, base, symbols, RECONNECT_SPEED, 0)
        role = start_role(run_dir)
        try:
            wait_for_ticks(run_dir)
            deadline = time.monotonic() + 60 + drops
            while sim_stats(base)["faults_injected"].get("ws_disconnect", 0) < drops + 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not drop the connection often enough")
                time.sleep(0.2)
            time.sleep(1.5)  # let the last reconnect and a health round happen
        finally:
            end_role(run_dir, role)
    finally:
        stop_sim(sim)
    open_ms: list[float] = []
    seen = 0
    for health in payloads(run_dir, "health"):
        market = health["payload"].get("market")
        if market is None or market["reconnects"] <= seen:
            continue
        new = min(market["reconnects"] - seen, len(market["reconnect_ms_last"]))
        open_ms += [ms / RECONNECT_SPEED for ms in market["reconnect_ms_last"][-new:]]
        seen = market["reconnects"]
    recv = sorted(
        e["payload"]["recv_perf_ns"] for e in payloads(run_dir, "market_ticks") if e["payload"]["origin"] == "ws"
    )
    gaps = sorted((b - a) / 1e6 for a, b in pairwise(recv))
    return open_ms, gaps[-len(open_ms) :] if open_ms else []


def main() -> None:
    """Run every measurement and print the figures."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--symbols", type=int, default=200, help="number of synthetic symbols")
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement time per row")
    ap.add_argument("--drops", type=int, default=20, help="server-side WS drops to time")
    args = ap.parse_args()
    symbols = [f"S{i:03d}USDT" for i in range(args.symbols - 2)] + ["BTCUSDT", "ETHUSDT"]
    rows = [(5.0, 0), (10.0, 0), (15.0, 0), (5.0, 250)]
    print(
        f"market_role: bookTicker for {len(symbols)} symbols from the simulator, {args.seconds:.0f} s per row, "
        f"{os.cpu_count()} CPUs shared by simulator, role and this script"
    )
    header = (
        f"{'offered/s':>10} {'conflation':>10} {'sim sent/s':>11} {'ingested/s':>11} {'ticks/s':>9} {'ratio':>6} "
        f"{'role CPU':>8}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for speed, conflation_ms in rows:
            r = throughput(tmp, symbols, speed, conflation_ms, args.seconds)
            print(
                f"{r['offered']:>10,.0f} {conflation_ms:>8} ms {r['sent']:>11,.0f} {r['ingested']:>11,.0f} "
                f"{r['ticks']:>9,.0f} {r['ratio']:>6.2f} {r['cpu']:>8.0%}"
            )
        open_ms, gap_ms = reconnects(tmp, symbols, args.drops)
    if not open_ms:
        print("reconnect: no reconnect was reported")
        return
    open_ms.sort()
    gap_ms.sort()
    print(f"reconnect after a server drop ({len(open_ms)} drops, {len(symbols)} streams, speed {RECONNECT_SPEED:g}):")
    for label, values in (
        ("connection lost -> open (feed)", open_ms),
        ("last tick -> first tick after (wall)", gap_ms),
    ):
        p50, p95 = quantile(values, 0.5), quantile(values, 0.95)
        print(f"  {label:<38} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()

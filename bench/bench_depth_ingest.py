"""Benchmark: market_role with depth 20 on 50 symbols: events/s ingested vs offered, bytes per tick, and the
disk a 7-hour night takes at the shipped conflation.

Run from the repository root:

    .venv/bin/python bench/bench_depth_ingest.py                    # 50 symbols, speeds 1 and 5, 10 s per row
    .venv/bin/python bench/bench_depth_ingest.py --seconds 5 --speeds 1
    .venv/bin/python bench/bench_depth_ingest.py --depth 0                # the same without depth, to compare

Real processes, as in `nore run --sim`: the simulator and `python -m minibot.roles.market_role` with the
shipped config (streams bookTicker + aggTrade, conflation_ms 250) plus `binance.depth_levels` = 20, so the
role follows `<symbol>@depth20@100ms` for every symbol and each market_tick carries 20 levels per side.

Per row (one speed): offered = messages the simulator served on the role's connection per second
(/sim/stats `ws.served`: bookTicker on every book update, aggTrade on every trade, depth20 every 100 ms of
run clock); ingested = messages the role parsed and handled per second (its `ws_messages` counter, from its
health events); ticks/s written to market_ticks; bytes per tick (the whole journal line: envelope, payload,
framing) and the share of ticks carrying levels; role CPU. The 7-hour figure scales the speed-1 row (the
market's real-time rate) to 25,200 s: ticks/s x bytes/tick x 25,200. Faster rows show headroom; on a
loaded machine the simulator itself may not keep up with them (offered then falls short of speed x the
speed-1 rate), so only the speed-1 row makes the night estimate. Synthetic symbols other than the
well-known ones get hash-derived trade rates, so the figure is an order of magnitude, not a promise.
Figures depend on the machine; this is not a test and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from bench_market_ingest import end_role, payloads, served, start_role, wait_for_ticks, write_run
from bench_sim_ws import start_sim, stop_sim

from minibot.journal.layout import INBOX

WARMUP_S = 3.0
NIGHT_S = 7 * 3600
SHIPPED_CONFLATION_MS = 250
DEPTH = 20


def role_messages(run_dir: Path) -> list[tuple[int, int]]:
    """(run-clock ts, ws_messages) from every market_role health event that carries its counters."""
    out = []
    for event in payloads(run_dir, "health"):
        market = event["payload"].get("market")
        if event["source"] == "market_role" and market is not None:
            out.append((event["ts"], market["ws_messages"]))
    return out


def measure(tmp: Path, symbols: list[str], speed: float, seconds: float, depth: int) -> dict[str, Any]:
    """One row: fresh simulator and market_role at `speed`; `seconds` of measurement after a warm-up."""
    scenario = tmp / f"deep_{speed}.json"
    scenario.write_text(json.dumps({"ws": {"max_queue": 20_000_000}}))
    sim, base = start_sim(symbols, speed, scenario)
    run_dir = tmp / f"run_{speed}"
    try:
        write_run(run_dir, base, symbols, speed, SHIPPED_CONFLATION_MS, ("bookTicker", "aggTrade"), depth)
        role = start_role(run_dir)
        try:
            wait_for_ticks(run_dir)
            time.sleep(WARMUP_S)
            cpu = psutil.Process(role.pid)
            t0, served0, cpu0 = time.perf_counter_ns(), served(base), sum(cpu.cpu_times()[:2])
            time.sleep(seconds)
            t1, served1, cpu1 = time.perf_counter_ns(), served(base), sum(cpu.cpu_times()[:2])
        finally:
            end_role(run_dir, role)
    finally:
        stop_sim(sim)
    elapsed = (t1 - t0) / 1e9
    ticks = [e["payload"] for e in payloads(run_dir, "market_ticks")]
    window = [t for t in ticks if t0 <= t["recv_perf_ns"] < t1]
    journal = run_dir / "queues" / "market_ticks" / f"{INBOX}.jsonl"
    bytes_per_tick = journal.stat().st_size / max(1, len(ticks))
    health = role_messages(run_dir)
    # Health rounds come every 5 s of run clock (and one at shutdown): the rate between the first and the
    # last is the role's average over the run, start-up included.
    (ts_a, msgs_a), (ts_b, msgs_b) = health[0], health[-1]
    ingested = (msgs_b - msgs_a) / ((ts_b - ts_a) / 1000 / speed) if ts_b > ts_a else float("nan")
    return {
        "speed": speed,
        "offered": (served1 - served0) / elapsed,
        "ingested": ingested,
        "ticks": len(window) / elapsed,
        "bytes": bytes_per_tick,
        "with_levels": sum("bids" in t for t in window) / max(1, len(window)),
        "cpu": (cpu1 - cpu0) / elapsed,
    }


def main() -> None:
    """Measure each speed and print the figures, then the 7-hour disk estimate."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--symbols", type=int, default=50, help="number of symbols (the binance schema's maximum)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement time per row")
    ap.add_argument("--speeds", type=float, nargs="+", default=[1.0, 5.0], help="simulator speeds, one row each")
    ap.add_argument("--depth", type=int, default=DEPTH, choices=(0, 5, 10, 20), help="binance.depth_levels")
    args = ap.parse_args()
    known = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "LTCUSDT", "LINKUSDT"]
    symbols = (known + [f"S{i:03d}USDT" for i in range(args.symbols)])[: args.symbols]
    print(
        f"market_role: bookTicker + aggTrade + depth{args.depth}@100ms for {len(symbols)} symbols, conflation "
        f"{SHIPPED_CONFLATION_MS} ms, {args.seconds:.0f} s per row, {os.cpu_count()} CPUs shared by simulator, "
        "role and this script"
    )
    print(
        f"{'speed':>5} {'offered/s':>10} {'ingested/s':>11} {'ticks/s':>8} {'bytes/tick':>10} {'levels':>7} "
        f"{'role CPU':>8}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as name:
        for speed in args.speeds:
            r = measure(Path(name), symbols, speed, args.seconds, args.depth)
            rows.append(r)
            print(
                f"{r['speed']:>5g} {r['offered']:>10,.0f} {r['ingested']:>11,.0f} {r['ticks']:>8,.0f} "
                f"{r['bytes']:>10,.0f} {r['with_levels']:>7.0%} {r['cpu']:>8.0%}"
            )
    for r in rows:
        if r["speed"] != 1:
            continue  # faster rows show headroom; the night is lived at the market's own pace
        night = r["ticks"] * r["bytes"] * NIGHT_S
        print(
            f"7-hour night (speed-1 rates, conflation {SHIPPED_CONFLATION_MS} ms): {r['ticks']:,.0f} ticks/s x "
            f"{r['bytes']:,.0f} B x {NIGHT_S:,} s = {night / 1e9:,.2f} GB in market_ticks"
        )


if __name__ == "__main__":
    main()

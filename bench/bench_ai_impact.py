"""Does the AI slow the trading core? Tick -> fill latency of the real role processes, with and without ai_role.

Each run is a fresh run directory (tests/roles/core_run.py: shipped config, `exchange_info.json`, clock at
speed 60) with strategy_role, risk_role and execution_role as real processes (`python -m
minibot.roles.<role> --run-dir RUN_DIR`), and in the "with AI" runs ai_role too, configured for these
recordings so it really works during the run: features and a recommendation per second on every tick, a
training round every minute of run clock once 400 rows are in (tests/ai/aidata.py TRADES_CFG). A
market_role stand-in replays the real BTCUSDT trade recording live on the run clock, stamping `recv_perf_ns`;
execution_role publishes a `timing` event `tick_to_fill` per fill (wall-clock ms from the tick's receipt to
the fill's write, minibot/roles/fill_timing.py). Runs alternate without / with AI so drift on the machine
hits both; per mode the latencies of all its runs are pooled.

Printed: per mode the fill count and tick -> fill p50 / p95 / p99 / max, their ratios with AI / without
(target: within 10%, i.e. ratio <= 1.10), the CPU seconds each role process used, and what the AI did
(ticks, recommendations, snapshots trained / activated).

Usage: python bench/bench_ai_impact.py [--repeat N] [--ticks N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minibot.config.loader import with_overrides
from minibot.journal.atomic import read_critical_json, write_critical_json
from minibot.journal.context import RunContext
from minibot.rolenames import TRADING_CORE_ROLES, Role
from minibot.roles.core_role import ROLE_INPUTS
from minibot.roles.runner import queue_events, read_input_log
from minibot.runlayout import RUN_FILE
from tests.ai.aidata import TRADES_CFG, ai_cfg
from tests.roles.core_run import TickFeeder, make_run_dir, recorded_ticks, request_shutdown, start_role

LENIENT_GATE = {"max_log_loss_ratio": 2.0, "max_log_loss_vs_active": 2.0, "min_accuracy": 0.0, "max_ece": 1.0}
# The run's config on top of the shipped one: an AI that trains, activates and recommends on these
# recordings, and a strategy / risk layer that trade often enough for latency percentiles (hundreds of fills
# in 11 minutes instead of a handful), with small orders so fees never reach the loss limits.
OVERRIDES: dict[str, Any] = {
    "ai": ai_cfg(TRADES_CFG, gate=LENIENT_GATE, trainer={"alpha": 1.0, "epochs": 20}),
    "strategy": {
        "bar_interval_ms": 1000,
        "rsi_oversold": 45.0,
        "rsi_overbought": 55.0,
        "resignal_bars": 1,
        "warmup_bars": 10,
        "min_bar_ticks": 1,
    },
    "risk": {
        "sizing": {"mode": "fixed_quote", "quote_notional": 20.0, "equity_fraction": 0.05},
        "min_gap_per_symbol_ms": 1000,
        "max_trades_per_window": 100000,
    },
}
TIMEOUT_S = 300.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _all_consumed(ctx: RunContext, total_ticks: int) -> bool:
    """Every core role has logged every tick and every line of its other inputs as consumed."""
    done: dict[tuple[str, str], int] = {}
    for role in TRADING_CORE_ROLES:
        for batch in read_input_log(ctx.run_dir, role, ctx.run_id):
            done[(role, batch["queue"])] = batch["last_line"] + 1
    if any(done.get((role, "market_ticks"), 0) < total_ticks for role in TRADING_CORE_ROLES):
        return False
    lengths = {q: sum(1 for _ in queue_events(ctx, q)) for q in ("signals", "fills", "order_results", "order_intents")}
    return all(done.get((r, q), 0) >= lengths[q] for r in TRADING_CORE_ROLES for q in ROLE_INPUTS[r] if q in lengths)


def _wait_heartbeats(ctx: RunContext, roles: list[str], procs: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while {e["source"] for e in queue_events(ctx, "health")} < set(roles):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
            raise SystemExit("the role processes did not start; see <run>/<role>.out")
        time.sleep(0.05)


def one_run(with_ai: bool, ticks: list[dict[str, Any]]) -> dict[str, Any]:
    """One live run; its tick -> fill latencies, CPU seconds per role and the AI's metrics."""
    with tempfile.TemporaryDirectory(prefix="nore-bench-ai-") as tmp:
        run_dir = Path(tmp)
        ctx = make_run_dir(run_dir)
        run = read_critical_json(run_dir / RUN_FILE)
        run["config"] = with_overrides(run["config"], OVERRIDES)
        write_critical_json(run_dir / RUN_FILE, run)
        roles = [*TRADING_CORE_ROLES, *([Role.AI.value] if with_ai else [])]
        procs = {role: start_role(role, run_dir) for role in roles}
        try:
            _wait_heartbeats(ctx, roles, procs)
            feeder = TickFeeder(ctx, ticks)
            feeder.start()
            feeder.join(TIMEOUT_S)
            if feeder.is_alive() or feeder.error is not None:
                raise SystemExit(f"the feeder failed: {feeder.error!r}")
            deadline = time.monotonic() + TIMEOUT_S
            while not _all_consumed(ctx, len(ticks)):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
                    raise SystemExit("the roles did not consume every tick in time")
                time.sleep(0.02)
            cpu = {role: sum(psutil.Process(p.pid).cpu_times()[:2]) for role, p in procs.items()}
            latencies = [
                float(e["payload"]["latency_ms"])
                for e in queue_events(ctx, "timing")
                if e["payload"]["kind"] == "tick_to_fill"
            ]
            ai_path = run_dir / "ai" / "metrics.json"
            ai = read_critical_json(ai_path) if with_ai and ai_path.exists() else {}
        finally:
            request_shutdown(run_dir)
            for proc in procs.values():
                try:
                    proc.wait(timeout=60)
                except Exception:
                    proc.kill()
                    proc.wait(timeout=30)
    return {"latencies": latencies, "cpu": cpu, "ai": ai}


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": _pct(latencies, 0.95),
        "p99": _pct(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
    }


def main() -> None:
    """Alternate runs without and with ai_role; print the figures and the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mode (alternating)")
    ap.add_argument("--ticks", type=int, default=0, help="use only the first N ticks (0 = the whole recording)")
    args = ap.parse_args()
    ticks = recorded_ticks(args.ticks or None)
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for i in range(args.repeat):
        for with_ai in (False, True):
            r = one_run(with_ai, ticks)
            runs[with_ai].append(r)
            s = _summary(r["latencies"])
            print(
                f"run {i + 1} {'with AI   ' if with_ai else 'without AI'}: {len(r['latencies'])} fills, "
                f"p50 {s['p50']:.2f} ms, p95 {s['p95']:.2f} ms; cpu s "
                + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items()),
                flush=True,
            )
    print(f"ticks per run: {len(ticks)} (BTCUSDT trades, real recording, replayed live at the run clock's speed 60)")
    pooled = {mode: [x for r in rs for x in r["latencies"]] for mode, rs in runs.items()}
    sums = {mode: _summary(lat) for mode, lat in pooled.items()}
    for mode in (False, True):
        s = sums[mode]
        print(
            f"{'with AI   ' if mode else 'without AI'}: {len(pooled[mode])} fills, tick->fill p50 {s['p50']:.2f} ms, "
            f"p95 {s['p95']:.2f} ms, p99 {s['p99']:.2f} ms, max {s['max']:.2f} ms"
        )
    ratios = {k: sums[True][k] / sums[False][k] for k in ("p50", "p95", "p99")}
    print("ratio with AI / without: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()) + "  (target <= 1.10)")
    core_cpu = {
        mode: statistics.mean(sum(r["cpu"][c] for c in TRADING_CORE_ROLES) for r in rs) for mode, rs in runs.items()
    }
    ai_cpu = statistics.mean(r["cpu"][Role.AI.value] for r in runs[True])
    print(
        f"cpu s per run: core roles {core_cpu[False]:.2f} without AI, {core_cpu[True]:.2f} with AI; "
        f"ai_role {ai_cpu:.2f}"
    )
    ai = runs[True][-1]["ai"]
    keys = ("ticks", "recommendations", "snapshots_trained", "snapshots_activated", "dataset_rows")
    print("AI in the last run: " + ", ".join(f"{k} {ai.get(k)}" for k in keys))


if __name__ == "__main__":
    main()

"""`nore backtest` throughput on the shared recordings, and its ratio to the bare in-process chain.

Runs the backtest in this process over BTCUSDT + ETHUSDT spot trades (real recordings in
../shared/data/binance/trades; ~36k market ticks after book derivation), `--repeat` times in fresh var
folders, and reports the best core-loop rate: reading and merging the files, building ticks, journaling
them and every core output in batches, and the chain itself (run.json, metrics.json and the up-front file
validation are outside the loop and printed apart). Then the bare chain: `CoreChain` over the very ticks of
that run's market_ticks journal, already decoded in memory, nothing written. Machine load is printed first:
on a shared machine the figures move with it.

Usage: python bench/bench_backtest.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minibot.backtest.chain import CoreChain
from minibot.backtest.run import run_backtest
from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.roles.core_role import load_filters
from minibot.roles.runner import queue_events
from minibot.roles.timeline import MARKET
from tests.core.realdata import BINANCE_DIR

GOAL = 500_000
FILES = [BINANCE_DIR / "trades" / f"{s}-trades-20240808T2354Z-20240809T0005Z.csv" for s in ("BTCUSDT", "ETHUSDT")]


def backtest_once(var: Path) -> tuple[Path, dict[str, object], float]:
    """One backtest; returns its run dir, run.json's backtest figures and the wall seconds in all."""
    lines: list[str] = []
    t0 = time.perf_counter()
    assert run_backtest(FILES, None, var, lines.append) == 0, lines
    total = time.perf_counter() - t0
    run_dir = Path(lines[0].removeprefix("run_dir: "))
    return run_dir, read_critical_json(run_dir / "run.json")["backtest"], total


def bare_chain(run_dir: Path, repeat: int) -> tuple[float, int]:
    """Best seconds of CoreChain over the run's ticks (decoded beforehand), and the tick count."""
    doc = read_critical_json(run_dir / "run.json")
    ctx = RunContext(run_dir, doc["run_id"], doc["cmdline_hash"], lambda: 0, QueuesConfig.from_config(doc["config"]))
    ticks = list(queue_events(ctx, MARKET))
    filters, config = load_filters(run_dir), load_config()
    best = float("inf")
    for _ in range(repeat):
        chain = CoreChain(ctx.run_id, ctx.cmdline_hash, config, filters)
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            chain.run(ticks)
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best, len(ticks)


def main() -> None:
    """Measure, print the figures, the ratio and the target line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = ap.parse_args()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"machine: {os.cpu_count()} CPUs{load}")
    if not all(f.exists() for f in FILES):
        raise SystemExit(f"recordings missing: {FILES}")
    with tempfile.TemporaryDirectory(prefix="nore-bench-bt-") as tmp:
        runs = [backtest_once(Path(tmp) / f"var{i}") for i in range(args.repeat)]
        run_dir, figures, total = min(runs, key=lambda r: float(r[1]["loop_s"]))  # type: ignore[arg-type]
        ticks = int(figures["ticks"])  # type: ignore[call-overload]
        loop_s = float(figures["loop_s"])  # type: ignore[arg-type]
        bare_s, bare_ticks = bare_chain(run_dir, args.repeat)
    rate, bare_rate = ticks / loop_s, bare_ticks / bare_s
    print(f"data: {', '.join(f.name for f in FILES)} -> {ticks} market ticks")
    print(f"nore backtest core loop (read, build ticks, journal, chain): {rate:,.0f} ticks/s ({loop_s:.2f} s)")
    print(f"  whole command in process (validation, run.json, metrics.json included): {total:.2f} s")
    print(f"  counts: {figures['counts']}")
    print(f"bare in-process chain (CoreChain on decoded ticks, nothing written): {bare_rate:,.0f} ticks/s")
    print(f"ratio backtest / bare chain: {rate / bare_rate:.3f}")
    verdict = "met" if rate >= GOAL else "not met"
    print(f"target backtest_ticks_per_s: {rate:,.0f} ticks/s (goal >= {GOAL:,}): {verdict}")


if __name__ == "__main__":
    main()

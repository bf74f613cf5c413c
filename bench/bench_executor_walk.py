"""Executor cost per fill: a market order walking 20 depth levels vs one filled at the top of book.

In process, nothing written: `ExecutionCore` (shipped `execution` config, BTCUSDT filters of the core
tests) steps through pre-built envelopes. Each round is a BUY then a SELL of 0.02 BTC, each decided on one
tick and executed at the next (latency 100 ms). Walk: every tick carries 20 levels per side of 0.001 BTC,
so each order takes all 20 levels (20 fills). Top: the ticks carry no levels and 1 BTC at the best price,
so each order is one fill. Reported: µs per order and per fill (the ticks that fill them included, since
the walk happens on them) and the walk / top ratio per fill, the best of `--repeat` runs. Machine load is
printed first: on a shared machine the figures move with it. Not a test; the target line is informative.

Usage: python bench/bench_executor_walk.py [--rounds N] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minibot.execution import ExecutionCore
from tests.core.builders import T0, env, tick
from tests.core.fixtures import default_section, exchange_filters

LEVELS = 20
QTY = 0.02
GOAL_US_PER_FILL = 100.0


def book_tick(ts: int, n: int, depth: bool) -> dict[str, Any]:
    """A book tick around 60000 (spread 0.02); with `depth`, 20 levels of 0.001 BTC per side."""
    if not depth:
        return tick(60000.0, ts, n, kind="book")
    asks = [[round(60000.01 + 0.5 * i, 2), 0.001] for i in range(LEVELS)]
    bids = [[round(59999.99 - 0.5 * i, 2), 0.001] for i in range(LEVELS)]
    t = tick(60000.0, ts, n, kind="book", asks=asks, bids=bids, bid_qty=0.001, depth_update_id=n)
    t["payload"].update(ask_qty=0.001, bid_qty=0.001)
    return t


def events(rounds: int, depth: bool) -> list[dict[str, Any]]:
    """`rounds` x (BUY, SELL), each: its decision tick, the intent, the tick 100 ms later that fills it."""
    out: list[dict[str, Any]] = []
    n = 0
    for r in range(2 * rounds):
        ts = T0 + r * 1000
        side = "BUY" if r % 2 == 0 else "SELL"
        payload = {
            "symbol": "BTCUSDT",
            "side": side,
            "qty": QTY,
            "order_type": "MARKET",
            "client_order_id": f"nore-bench{r}",
            "notional": QTY * 60000.0,
            "cause_id": env("x", {}, ts, n)["id"],
            "bid": 59999.99,
            "ask": 60000.01,
            "bid_qty": 0.001,
            "ask_qty": 0.001,
        }
        out.append(book_tick(ts, n + 1, depth))
        out.append(env("order_intent", payload, ts, n + 2, source="risk_role"))
        out.append(book_tick(ts + 100, n + 3, depth))
        n += 3
    return out


def measure(rounds: int, depth: bool, repeat: int) -> tuple[float, int]:
    """Best wall time of `repeat` runs over fresh cores, and the fills one run makes."""
    evs = events(rounds, depth)
    best, fills = float("inf"), 0
    for _ in range(repeat):
        ex = ExecutionCore(exchange_filters(), default_section("execution"))
        gc.collect()
        start = time.perf_counter()
        outs = [o for e in evs for o in ex.step(e)]
        best = min(best, time.perf_counter() - start)
        fills = sum(1 for o in outs if o.type == "fill")
    return best, fills


def main() -> None:
    """Measure both books, print the figures, the ratio and the target line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=500, help="BUY + SELL rounds per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = ap.parse_args()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"machine: {os.cpu_count()} CPUs{load}")
    orders = 2 * args.rounds
    per_fill, per_order = {}, {}
    for name, depth in (("top of book", False), (f"{LEVELS}-level walk", True)):
        seconds, fills = measure(args.rounds, depth, args.repeat)
        if fills != orders * (LEVELS if depth else 1):
            raise SystemExit(f"{name}: {fills} fills for {orders} orders, the book is not what this bench assumes")
        per_fill[depth], per_order[depth] = seconds / fills * 1e6, seconds / orders * 1e6
        print(f"{name}: {orders} orders, {fills} fills, {per_order[depth]:.1f} µs/order, {per_fill[depth]:.1f} µs/fill")
    print(
        f"walk / top: {per_order[True] / per_order[False]:.2f}x per order, "
        f"{per_fill[True] / per_fill[False]:.2f}x per fill"
    )
    verdict = "met" if per_fill[True] <= GOAL_US_PER_FILL else "not met"
    print(f"target executor_walk20_us_per_fill: {per_fill[True]:.1f} µs (goal <= {GOAL_US_PER_FILL:.0f}): {verdict}")


if __name__ == "__main__":
    main()

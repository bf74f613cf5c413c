"""In-process replay speed of the whole trading core on real recorded Binance ticks (prints figures).

strategy -> risk -> executor -> portfolio, wired by tests/core/chain.py (no files, no queues), fed the
BTCUSDT trades + bookTicker recording from ../shared/data/binance. The baseline, measured in the same run,
is a bare loop that iterates the same tick dicts and reads the fields the cores read; the ratio says how
much of the per-tick cost is the core itself. Target: >= 200,000 ticks/s on one core.

Usage: python bench/bench_core.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.chain import Chain
from tests.core.fixtures import default_section, exchange_filters
from tests.core.realdata import load_ticks, merge_ticks

TARGET = 200_000


def baseline(ticks: list[dict[str, Any]]) -> float:
    """Seconds for a loop that only reads each tick's fields."""
    t0 = time.perf_counter()
    acc = 0.0
    for t in ticks:
        p = t["payload"]
        if t["type"] == "market_tick" and p["symbol"]:
            acc += p["price"] + p["bid"] + p["ask"] + t["ts"]
    return time.perf_counter() - t0


def core_run(ticks: list[dict[str, Any]]) -> tuple[float, Chain]:
    """Seconds for the whole chain over the ticks (fresh cores)."""
    chain = Chain(
        default_section("strategy"), default_section("risk"), default_section("execution"), exchange_filters()
    )
    t0 = time.perf_counter()
    chain.run(ticks)
    return time.perf_counter() - t0, chain


def main() -> None:
    """Measure, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each; the best is reported")
    args = ap.parse_args()
    ticks = merge_ticks(load_ticks("BTCUSDT", True), load_ticks("ETHUSDT", True))
    gc.collect()
    gc.disable()  # the cores allocate little per tick; keep collector pauses out of both measurements
    try:
        base = min(baseline(ticks) for _ in range(args.repeat))
        runs = [core_run(ticks) for _ in range(args.repeat)]
    finally:
        gc.enable()
    best, chain = min(runs, key=lambda r: r[0])
    n = len(ticks)
    core_rate, base_rate = n / best, n / base
    outputs = Counter(e["type"] for e in chain.events)
    print(f"ticks: {n} (BTCUSDT + ETHUSDT trades and bookTicker, real recording)")
    print(f"outputs per run: {dict(sorted(outputs.items()))}")
    print(f"baseline (bare loop reading tick fields): {base_rate:,.0f} ticks/s")
    print(f"core chain (strategy -> risk -> executor -> portfolio): {core_rate:,.0f} ticks/s")
    print(f"ratio baseline / core: {base_rate / core_rate:.1f}x  (core costs {1e6 / core_rate:.2f} us/tick)")
    print(f"target >= {TARGET:,} ticks/s: {'met' if core_rate >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()

"""`nore backtest` throughput on the shared recordings, and its ratio to the bare in-process chain.

Runs the backtest in this process over BTCUSDT + ETHUSDT spot trades (real recordings in
../shared/data/binance/trades; ~36k market ticks after book derivation), `--repeat` times in fresh var
folders, and reports the best core-loop rate: reading and merging the files, building ticks, journaling
them and every core output in batches, and the chain itself (run.json, metrics.json and the up-front file
validation are outside the loop and printed apart). Then the bare chain: `CoreChain` over the very ticks of
that run's market_ticks journal, already decoded in memory, nothing written. Machine load is printed first:
on a shared machine the figures move with it, so every rate is given twice: per wall second and per CPU
second of this process (`time.process_time`, much less sensitive to other load), and the ratio to the bare
chain on both clocks.

`--stages` adds the loop's cost by stage (CPU, cumulative, best of `--repeat`): reading and merging the
files; + TickBuilder; + the tick envelopes, ids and framed journal lines (not written); the whole loop.
`--floor` prints the CPython floor of the work every tick needs whatever the design (CPU per tick, best of
`--repeat`, on the same recording and on a real market_ticks line of the run): split and convert one row,
one payload dict, orjson of it, the line's template format, its sha256 hex (R-C1), the envelope dict the
cores read, three core steps that only look at the tick. Their sum against the goal's 2 us is the answer
to "how close can it get".

Usage: python bench/bench_backtest.py [--repeat N] [--stages] [--floor]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from minibot.backtest.chain import CoreChain
from minibot.backtest.recordings import Recording, load, messages
from minibot.backtest.run import run_backtest
from minibot.config.binance import BinanceConfig
from minibot.config.loader import load_config
from minibot.config.views import QueuesConfig
from minibot.contracts.codec import frame_all
from minibot.ids import sequential_ids
from minibot.journal.atomic import read_critical_json
from minibot.journal.context import RunContext
from minibot.journal.layout import INBOX
from minibot.roles.core_role import load_filters
from minibot.roles.runner import queue_events
from minibot.roles.tick_builder import TickBuilder
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


def bare_chain(run_dir: Path, repeat: int) -> tuple[float, float, int]:
    """Best wall and CPU seconds of CoreChain over the run's ticks (decoded beforehand), and the tick count."""
    doc = read_critical_json(run_dir / "run.json")
    ctx = RunContext(run_dir, doc["run_id"], doc["cmdline_hash"], lambda: 0, QueuesConfig.from_config(doc["config"]))
    ticks = list(queue_events(ctx, MARKET))
    filters, config = load_filters(run_dir), load_config()
    best = best_cpu = float("inf")
    for _ in range(repeat):
        chain = CoreChain(ctx.run_id, ctx.cmdline_hash, config, filters)
        gc.collect()
        gc.disable()
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            chain.run(ticks)
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        finally:
            gc.enable()
    return best, best_cpu, len(ticks)


def _stage(rec: Recording, upto: int) -> int:
    """The backtest loop up to stage `upto` (1 read+merge, 2 + TickBuilder, 3 + tick envelopes and framed
    lines); returns the ticks (messages at stage 1). Mirrors minibot/backtest/run.py's loop."""
    if upto == 1:
        return sum(1 for _ in messages(rec))
    builder = TickBuilder(BinanceConfig.from_config(load_config()).conflation_ms)
    tick_id, lines, n = sequential_ids("20240808_235400", MARKET), [], 0
    # run.py's template around orjson of the payload (the rest of the line is fixed ASCII)
    line = (
        b'{"schema":"nore.event","v":1,"ts":%d,"id":"%s","source":"market","type":"market_tick",'
        b'"run_id":"20240808_235400","cmdline_hash":"' + b"0" * 64 + b'","payload":%s}'
    )

    def emit(payloads: list[dict[str, object]], ts: int) -> None:
        nonlocal n
        for payload in payloads:
            n += 1
            if upto == 3:
                del payload["recv_perf_ns"]
                tick = {
                    "schema": "nore.event",
                    "v": 1,
                    "ts": ts,
                    "id": tick_id(n),
                    "source": "market",
                    "type": "market_tick",
                    "run_id": "20240808_235400",
                    "cmdline_hash": "0" * 64,
                    "payload": payload,
                }
                lines.append(line % (ts, tick["id"].encode(), orjson.dumps(payload)))  # type: ignore[attr-defined]
                if len(lines) >= 1000:
                    frame_all(lines)
                    lines.clear()

    last = 0
    for ts, item in messages(rec):
        emit(builder.due(ts), ts)
        emit(builder.on_trade(item, ts, 0) if type(item) is tuple else builder.on_message(item, ts, 0), ts)  # type: ignore[arg-type]
        last = ts
    emit(builder.flush(), last)
    frame_all(lines)
    return n


def stages(repeat: int, ticks: int, loop_cpu_s: float) -> None:
    """Print the loop's cumulative CPU cost by stage."""
    names = ["read + merge the files", "+ TickBuilder", "+ tick envelopes, ids, framed lines"]
    print("loop by stage (CPU, cumulative, best of --repeat):")
    rec = load(FILES)  # the up-front validation, outside the loop as in run.py
    for upto, name in enumerate(names, start=1):
        best = float("inf")
        for _ in range(repeat):
            gc.collect()
            c0 = time.process_time()
            _stage(rec, upto)
            best = min(best, time.process_time() - c0)
        print(f"  {name:40s} {best * 1e3:7.1f} ms  {best / ticks * 1e6:5.2f} us/tick")
    whole = "whole loop (+ chain, journal writes)"
    print(f"  {whole:40s} {loop_cpu_s * 1e3:7.1f} ms  {loop_cpu_s / ticks * 1e6:5.2f} us/tick")


def _cpu_us(fn: Callable[[], None], repeat: int, n: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best / n * 1e6


class _MinimalCore:
    """A core that reads the tick's type, payload and symbol and decides nothing: the least any step costs."""

    def step(self, event: dict[str, Any]) -> list[object]:
        if event["type"] == "market_tick":
            event["payload"]["symbol"]
        return []


def floor(run_dir: Path, repeat: int) -> list[str]:
    """The report lines of the per-tick CPU floor of the work no design can skip (module docstring)."""
    rows = FILES[0].read_text().splitlines(keepends=True)
    n = len(rows)
    with (run_dir / "queues" / MARKET / f"{INBOX}.jsonl").open("rb") as f:
        line = f.readline().rstrip(b"\n").split(b":", 2)[2]  # a real tick's JSON, its frame removed
    tick = orjson.loads(line)
    payload = tick["payload"]
    head, _, _ = line.partition(b',"payload":')
    template = head.replace(b"%", b"%%") + b',"payload":%s}'
    encoded = orjson.dumps(payload)
    dumps, sha256, core = orjson.dumps, hashlib.sha256, _MinimalCore()
    s_, k_, o_ = payload["symbol"], payload["kind"], payload["origin"]
    f_, i_ = 61234.12, 1723161240123
    made: list[object] = [None]  # each dict lands here, as a loop keeps what it builds

    def read() -> None:
        for r in rows:
            c = r.split(",")
            (int(c[0]), float(c[1]), float(c[2]), int(c[4]), c[5] == "True")

    def build() -> None:
        for _ in rows:
            made[0] = {
                "symbol": s_,
                "price": f_,
                "bid": f_,
                "ask": f_,
                "bid_qty": f_,
                "ask_qty": f_,
                "kind": k_,
                "exchange_ts": i_,
                "trade_id": i_,
                "qty": f_,
                "buyer_maker": True,
                "origin": o_,
            }

    def encode() -> None:
        for _ in rows:
            dumps(payload)

    def fmt() -> None:
        for _ in rows:
            template % encoded

    def hash_() -> None:
        for _ in rows:
            sha256(line).hexdigest().encode("ascii")

    def envelope() -> None:
        for _ in rows:
            tick.copy()

    def steps() -> None:
        for _ in rows:
            core.step(tick)
            core.step(tick)
            core.step(tick)

    parts = [
        ("split + int/float of one CSV row", read),
        ("a trade payload dict (12 keys)", build),
        ("orjson of the payload", encode),
        ("the line template's format", fmt),
        (f"sha256 hex of the {len(line)}-byte line (R-C1)", hash_),
        ("the envelope dict (a copy of one)", envelope),
        ("three core steps that decide nothing", steps),
    ]
    report = ["floor per tick (CPU, best of --repeat; no merge, no TickBuilder logic, no trading):"]
    total = 0.0
    for name, fn in parts:
        us = _cpu_us(fn, repeat, n)
        total += us
        report.append(f"  {name:45s} {us:5.2f} us")
    report.append(
        f"  {'sum':45s} {total:5.2f} us -> at most {1e6 / total:,.0f} ticks/s (goal {1e6 / GOAL:.2f} us/tick)"
    )
    return report


def main() -> None:
    """Measure, print the figures, the ratio and the target line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    ap.add_argument("--stages", action="store_true", help="also the loop's CPU cost by stage")
    ap.add_argument("--floor", action="store_true", help="also the per-tick CPU floor no design can skip")
    args = ap.parse_args()
    load_avg = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"machine: {os.cpu_count()} CPUs{load_avg}")
    if not all(f.exists() for f in FILES):
        raise SystemExit(f"recordings missing: {FILES}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [backtest_once(Path(tmp) / f"var{i}") for i in range(args.repeat)]
        run_dir, figures, total = min(runs, key=lambda r: float(r[1]["loop_s"]))  # type: ignore[arg-type]
        ticks = int(figures["ticks"])  # type: ignore[call-overload]
        loop_s = float(figures["loop_s"])  # type: ignore[arg-type]
        loop_cpu_s = min(float(r[1]["loop_cpu_s"]) for r in runs)  # type: ignore[arg-type]
        bare_s, bare_cpu_s, bare_ticks = bare_chain(run_dir, args.repeat)
        floor_lines = floor(run_dir, args.repeat) if args.floor else []
    rate, bare_rate = ticks / loop_s, bare_ticks / bare_s
    cpu_rate, bare_cpu_rate = ticks / loop_cpu_s, bare_ticks / bare_cpu_s
    print(f"data: {', '.join(f.name for f in FILES)} -> {ticks} market ticks")
    print(f"nore backtest core loop (read, build ticks, journal, chain): {rate:,.0f} ticks/s ({loop_s:.2f} s)")
    print(f"  per CPU second: {cpu_rate:,.0f} ticks/s ({loop_cpu_s:.2f} CPU s)")
    print(f"  whole command in process (validation, run.json, metrics.json included): {total:.2f} s")
    print(f"  counts: {figures['counts']}")
    print(f"bare in-process chain (CoreChain on decoded ticks, nothing written): {bare_rate:,.0f} ticks/s")
    print(f"  per CPU second: {bare_cpu_rate:,.0f} ticks/s")
    print(f"ratio backtest / bare chain: {rate / bare_rate:.3f} (CPU: {cpu_rate / bare_cpu_rate:.3f})")
    if args.stages:
        stages(args.repeat, ticks, loop_cpu_s)
    for text in floor_lines:
        print(text)
    verdict = "met" if rate >= GOAL else "not met"
    print(f"target backtest_ticks_per_s: {rate:,.0f} ticks/s (goal >= {GOAL:,}): {verdict}")


if __name__ == "__main__":
    main()
